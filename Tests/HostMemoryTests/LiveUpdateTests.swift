import GuestMemory
import VpmemTestSupport
import Testing
@testable import HostMemory

/// Builds a host with d1 direct-mapped static, d2 static at ram base, d3/d4 dynamic and
/// fragmented (d4 laid on x86-style RAM regions), with real bytes written into some guest pages.
func builtHost(seed: UInt64, sink: RecordingPhysmap? = nil, xenHeap: Bool = false) throws -> HostMachine {
    var rng = SplitMix64(seed: seed)
    let h = try HostMachine.coldBoot(smallConfig(reservedXenHeap: xenHeap), physmapSink: sink)
    try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false)))
    try h.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: true)))
    try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x800 + rng.next() % 0x400)))
    try h.createDomain(HostDomainConfig(id: d4, memory: .dynamic(frames: 0x300), ramRegions: d4RamRegions))
    var gfn3: UInt64 = 0x100000, gfn4: UInt64 = 0x100000
    for _ in 0..<(50 + rng.next() % 100) {
        let a = 1 + rng.next() % 9, b = 1 + rng.next() % 5
        try h.populate(d3, at: Gfn(uncheckedRaw: gfn3), frames: a); gfn3 += a
        try h.populate(d4, at: Gfn(uncheckedRaw: gfn4), frames: b); gfn4 += b
    }
    for _ in 0..<20 {
        let d = h.domains[[d1, d2, d3, d4][Int(rng.next() % 4)]]!
        let e = d.physmap.extents[Int(rng.next() % UInt64(d.physmap.extents.count))]
        try? h.balloonOut(d.id, gfn: Gfn(uncheckedRaw: e.gfn.raw + rng.next() % e.count))
    }
    try h.balloonIn(d2, gfn: Gfn(uncheckedRaw: 0x200000))
    // Real contents in some guest pages.
    for id in [d1, d2, d3, d4] {
        for r in h.ownedRanges(of: id).prefix(6) {
            h.memory.write((0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: Int(rng.next() % 4000), to: r.first)
        }
    }
    return h
}

/// d4's RAM: below 640 KiB, then up to 0x300 frames in all from 1 MiB.
let d4RamRegions = [GfnRange(uncheckedFirst: 0, end: 0x9f), GfnRange(uncheckedFirst: 0x100, end: 0x100 + 0x300 - 0x9f)]

struct Preserved {
    let ranges: [DomainID: [MfnRange]]
    let digests: [DomainID: UInt64]
    let pages: [UInt64: [UInt8]]
    let physmaps: [DomainID: PhysmapExtents]
    init(_ h: HostMachine) {
        ranges = Dictionary(uniqueKeysWithValues: h.domains.keys.map { ($0, h.ownedRanges(of: $0)) })
        digests = ranges.mapValues { h.memory.digest(of: $0) }
        var p: [UInt64: [UInt8]] = [:]
        for rs in ranges.values { for r in rs { for m in r.first.raw..<r.end { p[m] = h.memory.readPage(mfn(m)) } } }
        pages = p
        physmaps = h.domains.mapValues(\.physmap)
    }
}

func handover(_ h: HostMachine, sink: RecordingPhysmap? = nil) throws -> HostMachine {
    _ = try h.writeLiveUpdateState()
    let boot = try LiveUpdateBoot(config: h.config, memory: h.memory)
    return try boot.parseState().rebuildFrameTable().handBackToHeap(physmapSink: sink)
}

@Suite struct LiveUpdateTests {
    @Test func preservedFramesKeepOwnerContentsAndMappings() async {
        await checkProperty(count: 12, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let h = try builtHost(seed: seed, xenHeap: seed % 2 == 0)
            let p = Preserved(h)
            let sink = RecordingPhysmap()
            let n = try handover(h, sink: sink)
            for (id, rs) in p.ranges {
                #expect(n.memory.digest(of: rs) == p.digests[id])
                for r in rs {
                    #expect(n.frameTable.allFrames(in: r) { $0.owner == id && $0.flags.contains(.inUse) && $0.refcount == 1 })
                    for m in r.first.raw..<r.end where p.pages[m] != n.memory.readPage(mfn(m)) {
                        Issue.record("contents of \(mfn(m)) changed")
                    }
                }
                #expect(n.domains[id]?.physmap == p.physmaps[id])
                #expect(n.domains[id]?.config == h.domains[id]?.config)
            }
            #expect(brokenInvariant(n, sink: sink) == nil)
            // The heap holds exactly the frames that are free: not preserved, not region, not static, not bad.
            var expected = n.layout.freeRanges
            for rs in p.ranges.values { for r in rs { expected = expected.flatMap { subtract($0, r) } } }
            #expect(n.heapFreeRanges() == MfnRange.merging(expected))
            // A second live update from the new instance preserves the same frames again.
            let sink2 = RecordingPhysmap()
            let n2 = try handover(n, sink: sink2)
            for (id, rs) in p.ranges { #expect(n2.memory.digest(of: rs) == p.digests[id]) }
            #expect(n2.heapFreeRanges() == MfnRange.merging(expected))
            #expect(brokenInvariant(n2, sink: sink2) == nil)
            // And the new host keeps working: destroy and recreate a static guest.
            try n2.destroyDomain(d2)
            try n2.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: true)))
            #expect(brokenInvariant(n2, sink: sink2) == nil)
        }
    }

    /// After the handover the incoming instance replays every guest into a fresh guest-memory
    /// p2m; direct-mapped guests still translate gfn == mfn.
    @Test func theIncomingP2MMatchesTheOutgoingOne() throws {
        let h = try builtHost(seed: 21)
        _ = try h.writeLiveUpdateState()
        let after = P2MPhysmapSink()
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap(physmapSink: after)
        #expect(p2mDisagreement(n, after) == nil)
        for (id, d) in h.domains {
            for e in d.physmap.extents {
                #expect(after.translate(id, gfn: e.gfn)?.mfn == e.mfn)
            }
        }
    }

    @Test func theBootAllocatorSeesOnlyTheRegion() throws {
        let h = try builtHost(seed: 7)
        let before = Preserved(h)
        _ = try h.writeLiveUpdateState()
        let boot = try LiveUpdateBoot(config: h.config, memory: h.memory)
        let region = h.config.liveUpdateRegion!
        #expect(boot.bootAllocatorRanges.allSatisfy { region.contains($0) })
        #expect(boot.bootAllocations.allSatisfy { region.contains($0) && !$0.contains(region.first) })
        for (id, rs) in before.ranges { #expect(h.memory.digest(of: rs) == before.digests[id]) }
    }

    /// Xen's boot allocator holds 512 ranges; the state holds any number.
    @Test func stateCarriesThousandsOfRanges() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        for (i, id) in [d3, d4].enumerated() { try h.createDomain(HostDomainConfig(id: id, memory: .dynamic(frames: 1 + UInt64(i)))) }
        for k in 0..<6000 {
            try h.populate(k % 2 == 0 ? d3 : d4, at: Gfn(uncheckedRaw: 0x100000 + UInt64(k)), frames: 1)
        }
        let p = Preserved(h)
        let summary = try h.writeLiveUpdateState()
        #expect(summary.ranges > 10 * BootAllocator.xenRangeLimit)
        #expect(summary.dataPages.count > 1)
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap()
        for (id, rs) in p.ranges { #expect(n.memory.digest(of: rs) == p.digests[id]) }
        #expect(n.domains[d3]?.physmap == p.physmaps[d3])
    }

    @Test func aChainOfMFNListPagesCarriesALargeState() throws {
        // > 506 data pages: more than one MFN-list page.
        let banks = [frames(0x100, 0x80000)]
        let config = HostMemoryConfig(banks: banks, liveUpdateRegion: frames(0x100, 0x900))
        let h = try HostMachine.coldBoot(config)
        try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 1)))
        try h.createDomain(HostDomainConfig(id: d4, memory: .dynamic(frames: 1)))
        for k in 0..<110_000 {
            try h.populate(k % 2 == 0 ? d3 : d4, at: Gfn(uncheckedRaw: 0x100000 + UInt64(k)), frames: 1)
        }
        let summary = try h.writeLiveUpdateState()
        #expect(summary.listPages.count >= 2)
        let n = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState().rebuildFrameTable().handBackToHeap()
        #expect(n.domains[d4]?.physmap == h.domains[d4]?.physmap)
    }

    @Test func aRegionTooSmallForTheFrameTableIsRefusedBeforeAnyWrite() throws {
        let h = try builtHost(seed: 3)
        let summary = try h.writeLiveUpdateState()
        let stateFrames = (UInt64(summary.records) * 24 + 4095) / 4096
        var small = h.config
        small.liveUpdateRegion = frames(0x5000, 0x5040)  // 63 usable frames; the table alone needs 64
        // Same region start, so the handover word is where the incoming looks.
        let written = h.memory.framesWritten
        let everything = [frames(0, UInt64(h.memory.frames))]
        let digest = h.memory.digest(of: everything)
        #expect(throws: LiveUpdateError.regionTooSmall(region: frames(0x5000, 0x5040), neededFrames: 64 + stateFrames, frameTableFrames: 64, stateFrames: stateFrames)) {
            _ = try LiveUpdateBoot(config: small, memory: h.memory)
        }
        #expect(h.memory.framesWritten == written)
        #expect(h.memory.digest(of: everything) == digest)
    }

    /// Any byte flipped anywhere in the state (list pages, data pages, the handover word) is
    /// refused with an error, never a crash, and never with a preserved frame written.
    @Test func corruptStateIsRefused() async {
        let h = try! builtHost(seed: 11)
        let summary = try! h.writeLiveUpdateState()
        let region = h.config.liveUpdateRegion!
        let statePages = [region.first] + summary.listPages + summary.dataPages
        let p = Preserved(h)
        await checkProperty(count: 150, input: Gen.int(in: 0...Int.max), Gen.uint8(in: 1...255)) { pick, xor in
            let page = statePages[pick % statePages.count]
            let offset = page == region.first ? (pick / 7) % 8 : (pick / 7) % 4096
            var bytes = h.memory.readPage(page)
            let original = bytes
            bytes[offset] ^= xor
            h.memory.writePage(bytes, to: page)
            defer { h.memory.writePage(original, to: page) }
            do {
                let boot = try LiveUpdateBoot(config: h.config, memory: h.memory)
                _ = try boot.parseState()
                Issue.record("flip of byte \(offset) in \(page) by 0x\(String(xor, radix: 16)) was accepted")
            } catch {
                // Refused. Preserved frames untouched.
            }
            for (id, rs) in p.ranges { #expect(h.memory.digest(of: rs) == p.digests[id]) }
        }
    }

    /// A state whose checksums are all valid but which lies is still refused.
    @Test func forgedStatesAreRefused() throws {
        let h = try builtHost(seed: 5)
        let region = h.config.liveUpdateRegion!
        let records = h.liveUpdateRecords()
        let firstRange = records.firstIndex { $0.kind == LiveUpdateFormat.Kind.ownedRange.rawValue }!

        func attempt(_ edit: (inout [LiveUpdateFormat.Record]) -> Void) throws -> LiveUpdateError? {
            try forgedStateRefusal(h, records, edit)
        }
        // Sanity: the unedited forgery is accepted.
        #expect(try attempt { _ in } == nil)
        // An in-use range overlapping the region.
        let overlap = try attempt { rs in
            rs[firstRange].a = region.first.raw + 4
            rs[firstRange].b = 1
            sortOwnedRanges(&rs)
        }
        if case .inUseRangeOverlapsRegion = overlap {} else { Issue.record("overlap gave \(String(describing: overlap))") }
        // Unsorted ranges.
        let unsorted = try attempt { rs in rs.swapAt(firstRange, firstRange + 1) }
        if case .corruptState = unsorted {} else { Issue.record("unsorted gave \(String(describing: unsorted))") }
        // A range on a bad page, in a hole, in another guest's static memory, past the host.
        for (a, b) in [(UInt64(0x20), UInt64(1)), (0x3500, 4), (0x6200, 2), (0x7fff, 0x10)] {
            let e = try attempt { rs in
                let i = rs.lastIndex { $0.kind == LiveUpdateFormat.Kind.ownedRange.rawValue }!
                rs[i] = LiveUpdateFormat.Record(kind: 3, domid: d3.raw, flags: 0, a: a, b: b, c: 0x900000)
                sortOwnedRanges(&rs)
            }
            if case .corruptState = e {} else { Issue.record("range at 0x\(String(a, radix: 16)) gave \(String(describing: e))") }
        }
        // A direct-mapped guest whose gfn is not its mfn.
        let direct = try attempt { rs in
            let i = rs.firstIndex { $0.kind == 3 && $0.domid == d1.raw && $0.c != LiveUpdateFormat.none }!
            rs[i].c += 1
        }
        if case .corruptState = direct {} else { Issue.record("direct map gave \(String(describing: direct))") }
        // A guest without its p2m root.
        let rootless = try attempt { rs in rs.removeAll { $0.kind == 2 && $0.domid == d4.raw } }
        if case .corruptState = rootless {} else { Issue.record("rootless gave \(String(describing: rootless))") }

        // d4's RAM regions: carried right after its domain record, checked against it.
        typealias F = LiveUpdateFormat
        let d4At = records.firstIndex { $0.kind == F.Kind.domain.rawValue && $0.domid == d4.raw }!
        #expect(records[d4At].c == 2)
        #expect(records[(d4At + 1)...(d4At + 2)].map { GfnRange(uncheckedFirst: $0.a, end: $0.a + $0.b) } == d4RamRegions)
        #expect(records[(d4At + 1)...(d4At + 2)].allSatisfy { $0.kind == F.Kind.ramRegion.rawValue })
        var ramProblems: [String: LiveUpdateError?] = [:]
        ramProblems["a region missing"] = try attempt { rs in rs.remove(at: d4At + 2) }
        ramProblems["a region too many"] = try attempt { rs in rs[d4At].c = 1 }
        ramProblems["regions swapped"] = try attempt { rs in rs.swapAt(d4At + 1, d4At + 2); rs[d4At + 1].flags = 0; rs[d4At + 2].flags = 1 }
        ramProblems["regions overlapping"] = try attempt { rs in rs[d4At + 2].a = 0x9e }
        ramProblems["regions short of the dynamic frames"] = try attempt { rs in rs[d4At + 2].b -= 1 }
        ramProblems["an empty region"] = try attempt { rs in rs[d4At + 1].b = 0 }
        ramProblems["a region leaving the frame space"] = try attempt { rs in rs[d4At + 2].a = maxFrameNumber }
        ramProblems["a region of another guest"] = try attempt { rs in rs[d4At + 2].domid = d3.raw }
        ramProblems["a region alone"] = try attempt { rs in rs[d4At].c = 0; rs.swapAt(d4At, d4At + 2); rs.swapAt(d4At, d4At + 1) }
        ramProblems["a region after the roots"] = try attempt { rs in
            let r = rs.remove(at: d4At + 2)
            rs.insert(r, at: rs.firstIndex { $0.kind == F.Kind.ownedRange.rawValue }!)
        }
        for (what, e) in ramProblems {
            if case .corruptState = e {} else { Issue.record("\(what) gave \(String(describing: e))") }
        }
        // Version 1 (no RAM regions, no pmem backing records) is not read as version 2, on the
        // list page or on a data page.
        for (list, data) in [(UInt32(1), UInt32(1)), (2, 1)] {
            let old = try forgedStateRefusal(h, records, version: data, listVersion: list) { _ in }
            guard case let .corruptState(place, problem) = old else {
                Issue.record("version \(list)/\(data) gave \(String(describing: old))")
                continue
            }
            #expect(place.hasPrefix(list == 1 ? "MFN-list page 0" : "data page 0"))
            #expect(problem == "format version 1 (this instance reads 2)")
        }
    }

    @Test func aLoopInTheMFNListChainIsRefused() throws {
        let h = try builtHost(seed: 9)
        let summary = try h.writeLiveUpdateState()
        // Point the last list page's "next" back at itself, resealed.
        var w = PageWriter(bytes: h.memory.readPage(summary.listPages[0]))
        w.put(summary.listPages[0].raw, at: 32)
        w.seal(checksumAt: LiveUpdateFormat.listChecksumOffset)
        h.memory.writePage(w.bytes, to: summary.listPages[0])
        #expect(throws: LiveUpdateError.self) { _ = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState() }
    }

    @Test func theDigestCheckCatchesAWriteToAPreservedPage() throws {
        let h = try builtHost(seed: 4)
        let p = Preserved(h)
        let victim = p.ranges[d3]![3]
        h.memory.fill(frames(victim.first.raw, victim.first.raw + 1), contentId: h.memory.newContentId())
        #expect(h.memory.digest(of: p.ranges[d3]!) != p.digests[d3])
    }
}

/// Sorts the owned-range records by first frame, in their own places (the other sections and
/// their order stay as they are).
func sortOwnedRanges(_ rs: inout [LiveUpdateFormat.Record]) {
    let places = rs.indices.filter { rs[$0].kind == LiveUpdateFormat.Kind.ownedRange.rawValue }
    let sorted = places.map { rs[$0] }.sorted { $0.a < $1.a }
    for (i, r) in zip(places, sorted) { rs[i] = r }
}

func subtract(_ a: MfnRange, _ b: MfnRange) -> [MfnRange] {
    guard a.overlaps(b) else { return [a] }
    var out: [MfnRange] = []
    if a.first.raw < b.first.raw { out.append(frames(a.first.raw, b.first.raw)) }
    if b.end < a.end { out.append(frames(b.end, a.end)) }
    return out
}

/// Forges a state from `records` after `edit` and boots on it: the refusal, or nil when accepted.
func forgedStateRefusal(_ h: HostMachine, _ records: [LiveUpdateFormat.Record], version: UInt32 = LiveUpdateFormat.version,
                        listVersion: UInt32? = nil, _ edit: (inout [LiveUpdateFormat.Record]) -> Void) throws -> LiveUpdateError? {
    var rs = records
    edit(&rs)
    try forge(h, rs, version: version, listVersion: listVersion ?? version)
    do {
        _ = try LiveUpdateBoot(config: h.config, memory: h.memory).parseState()
        return nil
    } catch { return error }
}

/// Rewrites the host's state pages with `records`, checksums and record checks valid, in format
/// `version` (`listVersion` on the MFN-list page).
func forge(_ h: HostMachine, _ records: [LiveUpdateFormat.Record], version: UInt32 = LiveUpdateFormat.version,
           listVersion: UInt32 = LiveUpdateFormat.version) throws {
    typealias F = LiveUpdateFormat
    let region = h.config.liveUpdateRegion!
    let dataCount = (records.count + F.recordsPerPage - 1) / F.recordsPerPage
    var pages: [Mfn] = []
    for _ in 0...dataCount { pages.append(try h.allocateXenHeapPage()) }
    let list = pages.removeLast()
    for (seq, m) in pages.enumerated() {
        var w = PageWriter()
        let first = seq * F.recordsPerPage
        let n = min(F.recordsPerPage, records.count - first)
        w.put(F.dataMagic, at: 0); w.put(version, at: 8); w.put(UInt32(n), at: 12); w.put(UInt64(seq), at: 16)
        for i in 0..<n {
            let r = records[first + i], o = F.dataHeaderBytes + i * F.recordBytes
            w.put(r.kind, at: o); w.put(r.domid, at: o + 2); w.put(r.flags, at: o + 4)
            w.put(r.a, at: o + 8); w.put(r.b, at: o + 16); w.put(r.c, at: o + 24)
            w.put(r.check(index: UInt64(first + i)), at: o + 32)
        }
        w.seal(checksumAt: F.dataChecksumOffset)
        h.memory.writePage(w.bytes, to: m)
    }
    var w = PageWriter()
    w.put(F.listMagic, at: 0); w.put(listVersion, at: 8); w.put(UInt32(pages.count), at: 12)
    w.put(UInt64(pages.count), at: 16); w.put(UInt64(records.count), at: 24); w.put(F.none, at: 32)
    for (i, m) in pages.enumerated() { w.put(m.raw, at: F.listHeaderBytes + i * 8) }
    w.seal(checksumAt: F.listChecksumOffset)
    h.memory.writePage(w.bytes, to: list)
    var word = PageWriter()
    word.put(list.address.raw, at: 0)
    h.memory.write(Array(word.bytes[0..<8]), at: 0, to: region.first)
}
