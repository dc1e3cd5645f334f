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

/// One entry of the host's pmem ownership, by extent (pmem has no frame records).
struct PmemExtent: Equatable, CustomStringConvertible {
    let frames: MfnRange
    let owner: DomainID?
    var description: String { "\(frames) \(owner.map { "\($0)" } ?? "unowned")" }
}

/// The registry's pmem entries, in frame order.
func pmemExtents(_ h: HostMachine) -> [PmemExtent] {
    h.hostRanges.ranges.filter { $0.kind == .pmem }.map { PmemExtent(frames: $0.frames, owner: $0.owner) }
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
        // Ownership comes back by extent: d3 owns exactly its region, the rest is unattached.
        #expect(pmemExtents(n) == [PmemExtent(frames: frames(0x9000, 0x9100), owner: nil), PmemExtent(frames: pmemPart, owner: d3),
                                   PmemExtent(frames: frames(0x9200, 0x9400), owner: nil)])
        #expect(n.attachedPmem.map(\.owner) == [d3] && n.attachedPmem.map(\.region) == [region])
        #expect(sink.translate(d3, gfn: pmemGfn)! == (pmemPart.first, .pmem))
        #expect(sink.translate(d3, gfn: Gfn(uncheckedRaw: pmemGfn.raw + 0xff))! == (pmemPart.last, .pmem))
        #expect(p2mDisagreement(n, sink) == nil)
        for (id, rs) in ram.ranges { #expect(n.memory.digest(of: rs) == ram.digests[id]) }
        // Pmem is not in the frame table (it lies above RAM) and never reached the heap.
        #expect(!n.frameTable.contains(smallPmem.first) && n.frameTable.count == 0x8000)
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
        #expect(pmemExtents(n2) == [PmemExtent(frames: smallPmem, owner: nil)])
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

        #expect(throws: HostMemoryError.pmemBackingSize(path: dir.file("small"), bytes: 4096, offset: 0, frames: frames(0x9300, 0x9310))) {
            try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: backing("small", 4096))
        }
        // The region from its offset must fit the backing, and start on a page of it.
        let long = try backing("long", 0x11000)
        #expect(throws: HostMemoryError.pmemBackingSize(path: dir.file("long"), bytes: 0x11000, offset: 0x2000, frames: frames(0x9300, 0x9310))) {
            try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: long, offset: 0x2000)
        }
        #expect(throws: HostMemoryError.pmemBackingSize(path: dir.file("long"), bytes: 0x11000, offset: 0x12000, frames: frames(0x9300, 0x9310))) {
            try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: long, offset: 0x12000)
        }
        #expect(throws: HostMemoryError.pmemBackingOffsetUnaligned(path: dir.file("long"), offset: 0x800)) {
            try h.attachPmem(d1, frames: frames(0x9300, 0x9310), at: Gfn(uncheckedRaw: 0x9300), backing: long, offset: 0x800)
        }
        #expect(HostMemoryError.pmemBackingSize(path: "/b", bytes: 0x11000, offset: 0x2000, frames: frames(0x9300, 0x9310)).description
            .contains("at least \(0x12000) bytes"))
        // RAM frames are not pmem.
        #expect(throws: HostMemoryError.mapping(.hostRam(requested: frames(0x5100, 0x5110), ram: frames(0x5100, 0x5110)))) {
            try h.attachPmem(d3, frames: frames(0x5100, 0x5110), at: Gfn(uncheckedRaw: 0x400000), backing: backing("ram", 0x10000))
        }
        // Another guest's pmem.
        #expect(throws: HostMemoryError.mapping(.ownedByAnotherGuest(requested: frames(0x91f0, 0x9210), part: pmemPart.intersection(frames(0x91f0, 0x9210))!, owner: d3, requester: d1))) {
            try h.attachPmem(d1, frames: frames(0x91f0, 0x9210), at: Gfn(uncheckedRaw: 0x91f0), backing: backing("other", 0x20000))
        }
        // The same guest's pmem twice.
        #expect(throws: HostMemoryError.pmemAlreadyAttached(requested: pmemPart, region: region, owner: d3)) {
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
        #expect(records[pmemAt + 1] == LiveUpdateFormat.Record(kind: LiveUpdateFormat.Kind.pmemBacking.rawValue, domid: d3.raw, flags: 0,
                                                                 a: 0, b: pmemPart.count * 4096, c: 0))
        #expect(records[(pmemAt + 2)...].allSatisfy { $0.kind == LiveUpdateFormat.Kind.pathBytes.rawValue })

        func attempt(_ edit: (inout [LiveUpdateFormat.Record]) -> Void) throws -> LiveUpdateError? {
            try forgedStateRefusal(h, records, edit)
        }
        #expect(try attempt { _ in } == nil)
        var problems: [String: LiveUpdateError?] = [:]
        problems["pmem on RAM frames"] = try attempt { rs in rs[pmemAt].a = 0x5100 }
        problems["pmem past the configured range"] = try attempt { rs in rs[pmemAt].a = 0x93f0; rs[pmemAt].b = 0x100 }
        problems["pmem past the frame space"] = try attempt { rs in rs[pmemAt].a = maxFrameNumber; rs[pmemAt].b = 2 }
        problems["path cut short"] = try attempt { rs in rs.removeLast() }
        problems["path chunk alone"] = try attempt { rs in rs.removeSubrange(pmemAt...(pmemAt + 1)) }
        problems["path longer than its bytes"] = try attempt { rs in rs[pmemAt].flags -= 1 }
        problems["NUL in the path"] = try attempt { rs in rs[pmemAt + 2].a &= ~0xFF00 }
        problems["chunks swapped"] = try attempt { rs in rs.swapAt(pmemAt + 2, pmemAt + 3) }
        problems["pmem before ranges"] = try attempt { rs in let r = rs.remove(at: pmemAt); rs.insert(r, at: pmemAt - 1) }
        problems["pmem over RAM gfns"] = try attempt { rs in rs[pmemAt].c = 0x100000 }
        problems["no backing record"] = try attempt { rs in rs.remove(at: pmemAt + 1) }
        problems["backing record after the path"] = try attempt { rs in let b = rs.remove(at: pmemAt + 1); rs.append(b) }
        problems["offset off a page"] = try attempt { rs in rs[pmemAt + 1].a = 100; rs[pmemAt + 1].b += 100 }
        problems["region past the backing's end"] = try attempt { rs in rs[pmemAt + 1].a = 4096 }
        problems["backing record of another guest"] = try attempt { rs in rs[pmemAt + 1].domid = d1.raw }
        for (what, e) in problems {
            if case .corruptState = e {} else { Issue.record("\(what) gave \(String(describing: e))") }
        }
        // A backing longer than the region with the offset moved inside it is a valid state: it
        // reaches the backing, which is refused for its size (the state names a bigger one).
        let moved = try attempt { rs in rs[pmemAt + 1].a = 4096; rs[pmemAt + 1].b += 8192 }
        guard case .pmemBacking(d3, _, .sizeMismatch) = moved else {
            Issue.record("a valid offset gave \(String(describing: moved))")
            return
        }
    }

    /// A vNVDIMM-style backing: the region is the data part from an offset, a label area follows.
    /// The offset and the backing's size travel in the state; the region's checksum covers its
    /// bytes only (the label area can change without touching it); a resized backing is refused.
    @Test func aRegionIsThePartOfItsBackingFromItsOffset() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        let h = try HostMachine.coldBoot(smallConfig(pmem: true))
        try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x40)))
        let labelBytes: UInt64 = 128 << 10
        let regionFrames = frames(0x9000, 0x9040)  // 256 KiB
        let path = dir.file("nvdimm0")
        let region = try h.attachPmem(d3, frames: regionFrames, at: pmemGfn,
                                      backing: PmemMapping.create(path: path, size: 0x3000 + regionFrames.count * 4096 + labelBytes), offset: 0x3000)
        #expect(region.backingOffset == 0x3000 && region.backingBytes == 0x3000 + 0x40000 + labelBytes)
        // Only the host may hold the mapping at the handover: this test's reference ends here.
        let changed: UInt64 = try {
            let mapping = h.pmemMappings[region]!
            try mapping.write([UInt8](repeating: 0xA5, count: 4096), at: 0x3000 + 5 * 4096)
            let before = try h.pmemChecksum(region)
            try mapping.write([1, 2, 3], at: 0x3000 + 0x40000 + 17)  // the label area
            try mapping.write([9], at: 0x10)                       // before the region
            #expect(try h.pmemChecksum(region) == before)
            try mapping.write([7], at: 0x3000 + 0x3ffff)           // the region's last byte
            let changed = try h.pmemChecksum(region)
            #expect(changed != before)
            #expect(try PmemChecksum.of(mapping, offset: 0x3000, bytes: 0x40000) == changed)
            return changed
        }()

        try handOver(h)
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap()
        #expect(n.domains[d3]?.pmem == [region])
        #expect(try n.pmemChecksum(region) == changed)
        #expect(try #require(n.pmemMappings[region]).read(at: 0x3000 + 5 * 4096, count: 4096) == [UInt8](repeating: 0xA5, count: 4096))

        // Grown by one page behind the host's back: refused, naming the size the state carries.
        try handOver(n)
        try FileManager.default.removeItem(atPath: path)
        _ = try PmemMapping.create(path: path, size: region.backingBytes + 4096)
        do {
            _ = try LiveUpdateBoot(config: n.config, memory: n.memory).parseState()
            Issue.record("a resized backing was accepted")
        } catch {
            #expect(error == .pmemBacking(domain: d3, region: region, .sizeMismatch(path: path, existing: region.backingBytes + 4096, requested: region.backingBytes)))
            #expect(error.description.contains("\(region.backingBytes) bytes"))
        }
    }

    /// Host pmem far above RAM (at the top of the 52-bit frame space, and at 1 TiB as real hosts
    /// place it) costs no frame records: the table ends with RAM, attach and a live update work
    /// by extent.
    @Test func pmemAboveRAMNeedsNoFrameRecords() throws {
        let dir = try BackingDirectory()
        defer { dir.remove() }
        var c = smallConfig()
        let top = frames(maxFrameNumber + 1 - 0x400, maxFrameNumber + 1)
        let tib = frames(1 << 28, (1 << 28) + (6 << 28))  // 6 TiB from 1 TiB
        c.pmem = [top, tib]
        let sink = RecordingPhysmap()
        let h = try HostMachine.coldBoot(c, physmapSink: sink)
        #expect(h.frameTable.count == 0x8000 && h.memory.frames == 0x8000)
        try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x40)))
        let a = try h.attachPmem(d3, frames: frames(top.first.raw + 0x100, top.first.raw + 0x110), at: pmemGfn,
                                 backing: PmemMapping.create(path: dir.file("top"), size: 0x10000))
        let b = try h.attachPmem(d3, frames: frames(tib.last.raw - 0xf, tib.end), at: Gfn(uncheckedRaw: pmemGfn.raw + 0x1000),
                                 backing: PmemMapping.create(path: dir.file("tib"), size: 0x10000))
        #expect(brokenInvariant(h, sink: sink) == nil)
        #expect(pmemExtents(h) == [PmemExtent(frames: frames(tib.first.raw, tib.last.raw - 0xf), owner: nil), PmemExtent(frames: b.frames, owner: d3),
                                   PmemExtent(frames: frames(top.first.raw, top.first.raw + 0x100), owner: nil), PmemExtent(frames: a.frames, owner: d3),
                                   PmemExtent(frames: frames(top.first.raw + 0x110, top.end), owner: nil)])
        try h.pmemMappings[a]!.write([42], at: 4096 * 3)
        let sums = (try h.pmemChecksum(a), try h.pmemChecksum(b))
        try handOver(h)
        let sink2 = RecordingPhysmap()
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap(physmapSink: sink2)
        #expect(try (n.pmemChecksum(a), n.pmemChecksum(b)) == sums)
        #expect(pmemExtents(n) == pmemExtents(h))
        #expect(sink2.translate(d3, gfn: Gfn(uncheckedRaw: pmemGfn.raw + 0xf))! == (Mfn(uncheckedRaw: a.frames.last.raw), .pmem))
        #expect(brokenInvariant(n, sink: sink2) == nil)
        try n.destroyDomain(d3)
        #expect(pmemExtents(n) == [PmemExtent(frames: tib, owner: nil), PmemExtent(frames: top, owner: nil)])
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
