import Foundation
import GuestMemory
import HostPmem
import Testing
@testable import HostMemory

/// A fresh directory for backing files, removed by `remove()`.
struct BackingDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "vpmem-hostmem-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

let pmemPart = frames(0x9100, 0x9200)  // 1 MiB of the small host's pmem
let pmemGfn = Gfn(uncheckedRaw: 0x300000)

/// The small host with guests built as in `builtHost`, pmem configured, and `pmemPart` given to
/// d3 with known bytes written into its backing.
func pmemHost(_ dir: BackingDirectory, seed: UInt64 = 1, sink: (any GuestPhysmapSink)? = nil) throws -> (HostMachine, GuestPmem) {
    let h = try HostMachine.coldBoot(smallConfig(pmem: true), physmapSink: sink)
    try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false)))
    try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x400)))
    for k in 0..<40 { try h.populate(d3, at: Gfn(uncheckedRaw: 0x100000 + UInt64(k) * 3), frames: 2) }
    let region = try h.attachPmem(d3, frames: pmemPart, at: pmemGfn,
                                  backing: PmemMapping.create(path: dir.file("d3.pmem"), size: pmemPart.count * 4096))
    var rng = SplitMix64(seed: seed)
    let mapping = h.pmemMappings[region]!
    for page in [0, 1, 77, 255] as [UInt64] {
        try mapping.write((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: page * 4096)
    }
    return (h, region)
}

/// The outgoing half of a handover: state written, backings let go.
func handOver(_ h: HostMachine) throws {
    _ = try h.writeLiveUpdateState()
    h.releasePmemBackings()
}

@Suite struct PmemLiveUpdateTests {
    /// The pmem backing's bytes, its owner in the frame table and registry, and its p2m type
    /// all survive a live update, twice; RAM is preserved as before.
    @Test func pmemContentsSurviveTheHandover() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let (h, region) = try pmemHost(dir, sink: RecordingPhysmap())
        #expect(brokenInvariant(h, sink: h.physmapSink as? RecordingPhysmap) == nil)
        let before = try h.pmemChecksum(region)
        let ram = Preserved(h)
        try handOver(h)

        let sink = P2MPhysmapSink()
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap(physmapSink: sink)
        #expect(try n.pmemChecksum(region) == before)
        #expect(n.domains[d3]?.pmem == [region])
        #expect(n.frameTable.allFrames(in: pmemPart) { $0 == .owned(by: d3, extra: [.reserved, .pmem]) })
        #expect(n.hostRanges.lookup(pmemPart.first)?.owner == d3)
        #expect(sink.translate(d3, gfn: pmemGfn)! == (pmemPart.first, .pmem))
        #expect(sink.translate(d3, gfn: Gfn(uncheckedRaw: pmemGfn.raw + 0xff))! == (pmemPart.last, .pmem))
        #expect(p2mDisagreement(n, sink) == nil)
        for (id, rs) in ram.ranges { #expect(n.memory.digest(of: rs) == ram.digests[id]) }
        // The rest of the pmem range is still unattached, and never reached the heap.
        #expect(n.frameTable.allFrames(in: frames(0x9000, 0x9100)) { $0 == .pmemFree })
        #expect(!n.heapFreeRanges().contains { $0.overlaps(smallPmem) })

        // The new instance writes through its own mapping; a second handover keeps that too.
        try n.pmemMappings[region]!.write([1, 2, 3], at: 4096 * 200)
        let second = try n.pmemChecksum(region)
        #expect(second != before)
        try handOver(n)
        let recording = RecordingPhysmap()
        let n2 = try LiveUpdateBoot(config: n.config, memory: n.memory).parseState().rebuildFrameTable().handBackToHeap(physmapSink: recording)
        #expect(try n2.pmemChecksum(region) == second)
        #expect(brokenInvariant(n2, sink: recording) == nil)
        // Destroying the guest gives the frames back to unattached pmem and lets go of the file.
        try n2.destroyDomain(d3)
        #expect(n2.frameTable.allFrames(in: pmemPart) { $0 == .pmemFree })
        #expect(n2.pmemMappings.isEmpty)
        _ = try PmemMapping.open(path: region.backingPath, expectedSize: region.bytes)
    }

    /// A backing the incoming instance cannot map again (missing, another size, still held by
    /// the outgoing instance) is refused before the frame table is rebuilt: nothing preserved
    /// is written, RAM or pmem.
    @Test func aMissingResizedOrHeldBackingIsRefusedBeforeAnythingIsTouched() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let path = dir.file("d3.pmem")

        func refusal(_ h: HostMachine, region: GuestPmem) throws -> LiveUpdateError? {
            let ram = Preserved(h)
            let boot = try LiveUpdateBoot(config: h.config, memory: h.memory)
            let written = h.memory.framesWritten
            defer {
                #expect(h.memory.framesWritten == written, "the refused instance wrote host memory")
                for (id, rs) in ram.ranges { #expect(h.memory.digest(of: rs) == ram.digests[id]) }
            }
            do {
                _ = try boot.parseState()
                return nil
            } catch { return error }
        }

        // Still held: the outgoing instance never let go of its mapping.
        do {
            let (h, region) = try pmemHost(dir)
            _ = try h.writeLiveUpdateState()
            let e = try refusal(h, region: region)
            guard case let .pmemBacking(domain, r, .locked(path: p, holderPid: _)) = e else {
                Issue.record("a held backing gave \(String(describing: e))")
                return
            }
            #expect(domain == d3 && r == region && p == path)
            #expect(e!.description.contains(path))
            h.releasePmemBackings()
        }
        // Resized to 2 MiB behind the host's back.
        do {
            let (h, region) = try pmemHost(dir)
            let checksum = try h.pmemChecksum(region)
            try handOver(h)
            try FileManager.default.removeItem(atPath: path)
            _ = try PmemMapping.create(path: path, size: 2 << 20)
            let e = try refusal(h, region: region)
            #expect(e == .pmemBacking(domain: d3, region: region, .sizeMismatch(path: path, existing: 2 << 20, requested: 1 << 20)))
            #expect(checksum != 0)
            try FileManager.default.removeItem(atPath: path)
        }
        // Missing.
        do {
            let (h, region) = try pmemHost(dir)
            try handOver(h)
            try FileManager.default.removeItem(atPath: path)
            let e = try refusal(h, region: region)
            #expect(e == .pmemBacking(domain: d3, region: region, .fileMissing(path: path)))
            #expect(e!.description.contains("restore the backing"))
        }
    }

    /// The checksum is what proves the contents: a byte changed in the backing between the two
    /// instances is seen.
    @Test func aBackingWrittenBetweenTheInstancesIsSeenByTheChecksum() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let (h, region) = try pmemHost(dir)
        let before = try h.pmemChecksum(region)
        try handOver(h)
        try PmemMapping.open(path: region.backingPath).write([0xFF], at: 12345)
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap()
        #expect(try n.pmemChecksum(region) != before)
    }

    /// attachPmem checks everything first; every refusal leaves the host as it was.
    @Test func attachRefusalsChangeNothing() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let sink = RecordingPhysmap()
        let (h, region) = try pmemHost(dir, sink: sink)
        let snap = HostSnapshot(h)
        let tables = sink.tables
        func backing(_ name: String, _ size: UInt64) throws -> PmemMapping { try PmemMapping.create(path: dir.file(name), size: size) }

        #expect(throws: HostMemoryError.pmemBackingSize(path: dir.file("small"), bytes: 4096, frames: frames(0x9300, 0x9310))) {
            try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: backing("small", 4096))
        }
        // RAM frames are not pmem.
        #expect(throws: HostMemoryError.mapping(.hostRam(requested: frames(0x5100, 0x5110), ram: frames(0x5100, 0x5110)))) {
            try h.attachPmem(d3, frames: frames(0x5100, 0x5110), at: Gfn(uncheckedRaw: 0x400000), backing: backing("ram", 0x10000))
        }
        // Another guest's pmem.
        #expect(throws: HostMemoryError.mapping(.ownedByAnotherGuest(requested: frames(0x91f0, 0x9210), part: pmemPart.intersection(frames(0x91f0, 0x9210))!, owner: d3, requester: d1))) {
            try h.attachPmem(d1, frames: frames(0x91f0, 0x9210), at: Gfn(uncheckedRaw: 0x91f0), backing: backing("other", 0x20000))
        }
        // The same guest's pmem twice.
        #expect(throws: HostMemoryError.pmemNotFree(pmemPart.first, .owned(by: d3, extra: [.reserved, .pmem]))) {
            try h.attachPmem(d3, frames: pmemPart, at: Gfn(uncheckedRaw: 0x500000), backing: backing("twice", region.bytes))
        }
        // Guest frames already holding RAM, or the guest's other pmem.
        #expect(throws: HostMemoryError.gfnAlreadyMapped(d3, Gfn(uncheckedRaw: 0x100000))) {
            try h.attachPmem(d3, frames: frames(0x9000, 0x9010), at: Gfn(uncheckedRaw: 0x100000), backing: backing("ramgfn", 0x10000))
        }
        #expect(throws: HostMemoryError.gfnAlreadyMapped(d3, Gfn(uncheckedRaw: pmemGfn.raw + 0xf8))) {
            try h.attachPmem(d3, frames: frames(0x9000, 0x9010), at: Gfn(uncheckedRaw: pmemGfn.raw + 0xf8), backing: backing("pmemgfn", 0x10000))
        }
        // A direct-mapped guest gets pmem 1:1 only.
        #expect(throws: HostMemoryError.directMapPageUnavailable(d1, Gfn(uncheckedRaw: 0x9001))) {
            try h.attachPmem(d1, frames: frames(0x9000, 0x9010), at: Gfn(uncheckedRaw: 0x9001), backing: backing("direct", 0x10000))
        }
        // The p2m refusing.
        sink.failNextMap = true
        #expect(throws: HostMemoryError.self) {
            try h.attachPmem(d3, frames: frames(0x9000, 0x9010), at: Gfn(uncheckedRaw: 0x600000), backing: backing("p2m", 0x10000))
        }
        // Ballooning or populating over pmem gfns is refused too.
        #expect(throws: HostMemoryError.gfnAlreadyMapped(d3, pmemGfn)) { try h.balloonIn(d3, gfn: pmemGfn) }
        #expect(throws: HostMemoryError.gfnAlreadyMapped(d3, Gfn(uncheckedRaw: pmemGfn.raw - 1))) {
            try h.populate(d3, at: Gfn(uncheckedRaw: pmemGfn.raw - 1), frames: 2)
        }
        #expect(HostSnapshot(h) == snap)
        #expect(sink.tables == tables)
        #expect(brokenInvariant(h, sink: sink) == nil)
        // A direct-mapped guest's 1:1 pmem is fine.
        try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: backing("ok", 0x10000))
        #expect(brokenInvariant(h, sink: sink) == nil)
    }

    /// States that name pmem wrongly are refused, with valid checksums and record checks.
    @Test func forgedPmemRecordsAreRefused() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let (h, _) = try pmemHost(dir)
        let records = h.liveUpdateRecords()
        h.releasePmemBackings()
        let pmemAt = records.firstIndex { $0.kind == LiveUpdateFormat.Kind.pmemRegion.rawValue }!
        #expect(records[(pmemAt + 1)...].allSatisfy { $0.kind == LiveUpdateFormat.Kind.pathBytes.rawValue })

        func attempt(_ edit: (inout [LiveUpdateFormat.Record]) -> Void) throws -> LiveUpdateError? {
            try forgedStateRefusal(h, records, edit)
        }
        #expect(try attempt { _ in } == nil)
        var problems: [String: LiveUpdateError?] = [:]
        problems["pmem on RAM frames"] = try attempt { rs in rs[pmemAt].a = 0x5100 }
        problems["pmem past the host"] = try attempt { rs in rs[pmemAt].a = 0x93f0; rs[pmemAt].b = 0x100 }
        problems["path cut short"] = try attempt { rs in rs.removeLast() }
        problems["path chunk alone"] = try attempt { rs in rs.remove(at: pmemAt) }
        problems["path longer than its bytes"] = try attempt { rs in rs[pmemAt].flags -= 1 }
        problems["NUL in the path"] = try attempt { rs in rs[pmemAt + 1].a &= ~0xFF00 }
        problems["chunks swapped"] = try attempt { rs in rs.swapAt(pmemAt + 1, pmemAt + 2) }
        problems["pmem before ranges"] = try attempt { rs in let r = rs.remove(at: pmemAt); rs.insert(r, at: pmemAt - 1) }
        problems["pmem over RAM gfns"] = try attempt { rs in rs[pmemAt].c = 0x100000 }
        for (what, e) in problems {
            if case .corruptState = e {} else { Issue.record("\(what) gave \(String(describing: e))") }
        }
    }

    /// The simulation with pmem: contents, ownership and p2m type verified end to end.
    @Test func theSimulationChecksPmem() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let report = try LiveUpdateSimulation.run(.init(hostBytes: 4 << 30, guests: 3, fragmentation: 0.1, seed: 3,
                                                        pmemBytes: 64 << 20, pmemBackingPath: dir.file("d1.pmem")))
        #expect(report.verified)
        let p = try #require(report.pmem)
        #expect(p.contentsUnchanged && p.ownershipUnchanged && p.p2mTypeIsPmem)
        #expect(p.pagesWritten == (16384 + 60) / 61 + 1)
        #expect(p.checksumBefore == p.checksumAfter)
        #expect(throws: LiveUpdateSimulation.ParameterError.pmemSize(4097)) {
            try LiveUpdateSimulation.run(.init(hostBytes: 4 << 30, guests: 1, fragmentation: 0, pmemBytes: 4097, pmemBackingPath: dir.file("x")))
        }
    }
}
