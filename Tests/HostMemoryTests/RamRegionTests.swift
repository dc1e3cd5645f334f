import GuestMemory
import VpmemTestSupport
import Testing
@testable import HostMemory

/// The naive model of one guest's RAM: gfn -> mfn, and the reserved pool of its static frames
/// in configuration order.
struct GuestModel {
    var mapped: [UInt64: UInt64] = [:]
    var pool: [UInt64] = []
    let statics: [UInt64]
    let directMap: Bool
    let allowDynamic: Bool
    let isStatic: Bool

    init(statics: [MfnRange], directMap: Bool = false, allowDynamic: Bool = true, isStatic: Bool) {
        self.statics = statics.flatMap { Array($0.first.raw..<$0.end) }
        self.directMap = directMap
        self.allowDynamic = allowDynamic
        self.isStatic = isStatic
    }

    /// Returns `m` to the pool at its configuration-order place.
    mutating func giveBack(_ m: UInt64) {
        guard let rank = statics.firstIndex(of: m) else { return }
        let at = pool.firstIndex { statics.firstIndex(of: $0)! > rank } ?? pool.count
        pool.insert(m, at: at)
    }
}

/// Every gfn -> mfn the host's extents map, frame by frame.
func flattened(_ p: PhysmapExtents) -> [UInt64: UInt64] {
    var out: [UInt64: UInt64] = [:]
    for e in p.extents { for i in 0..<e.count { out[e.gfn.raw + i] = e.mfn.raw + i } }
    return out
}

func gfns(_ start: UInt64, _ end: UInt64) -> GfnRange { GfnRange(uncheckedFirst: start, end: end) }

/// Ascending, disjoint regions from random words, starting at or after `base`: each word gives
/// a gap (0, touching, to 3 frames) and a size of 1 to `maxSize` frames.
func ramRegions(_ words: [Int], base: UInt64, maxSize: UInt64, gapScale: UInt64 = 1) -> [GfnRange] {
    var out: [GfnRange] = []
    var at = base
    for w in words {
        at += UInt64(w % 4) * gapScale
        let size = 1 + UInt64(w / 4) % maxSize
        out.append(gfns(at, at + size))
        at += size
    }
    return out
}

@Suite struct RamRegionTests {
    /// An x86-style physmap (low RAM below 640 KiB, RAM up to the MMIO hole, the ACPI tables and
    /// one NVS page after it, high RAM from 4 GiB) laid with dynamic memory: every region mapped
    /// in the p2m, nothing in the holes, the runs in order.
    @Test func anX86PhysmapIsLaidRegionByRegion() throws {
        let sink = P2MPhysmapSink()
        let h = try HostMachine.coldBoot(smallConfig(), physmapSink: sink)
        let regions = [gfns(0, 0x9f), gfns(0x100, 0x800), gfns(0x800, 0x810), gfns(0x810, 0x811), gfns(0x100000, 0x100300)]
        let total = regions.reduce(0) { $0 + $1.count }
        let d = try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: total), ramRegions: regions))
        #expect(d.physmap.mappedFrames == total)
        #expect(d.config.ramRegions == regions)
        #expect(p2mDisagreement(h, sink) == nil)
        let p2m = sink.p2m(d3)
        #expect(regions.allSatisfy { p2m.translate($0.first)?.mfn != nil && p2m.translate($0.last)?.mfn != nil })
        for hole in [0x9f, 0xff, 0x811, 0xfffff, 0x100300] as [UInt64] { #expect(p2m.translate(Gfn(uncheckedRaw: hole))?.mfn == nil) }
        // The same memory as one run from the ram base, on an identical host: the same machine
        // frames in the same order.
        let ref = try HostMachine.coldBoot(smallConfig())
        let r = try ref.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: total)))
        let flat = regions.flatMap { Array($0.first.raw..<$0.end) }
        let base = HostDomainConfig.defaultRamBase.raw
        #expect(flat.map { d.physmap.translate(Gfn(uncheckedRaw: $0)) } == (0..<total).map { r.physmap.translate(Gfn(uncheckedRaw: base + $0)) })
        #expect(h.frameTable.snapshot() == ref.frameTable.snapshot())
        #expect(brokenInvariant(h, sink: nil) == nil)
    }

    /// Every refusal names its figures and changes nothing.
    @Test func refusalsNameTheProblemAndChangeNothing() throws {
        let sink = RecordingPhysmap()
        let h = try HostMachine.coldBoot(smallConfig(), physmapSink: sink)
        let snap = HostSnapshot(h)
        func refused(_ dc: HostDomainConfig, _ expected: HostMemoryError) {
            #expect(throws: expected) { try h.createDomain(dc) }
            #expect(HostSnapshot(h) == snap)
            #expect(sink.tables.isEmpty)
        }
        refused(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x20), ramRegions: [gfns(0x100, 0x110), gfns(0x108, 0x118)]),
                .ramRegionsUnordered(d3, gfns(0x100, 0x110), next: gfns(0x108, 0x118)))
        refused(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x20), ramRegions: [gfns(0x200, 0x210), gfns(0x100, 0x110)]),
                .ramRegionsUnordered(d3, gfns(0x200, 0x210), next: gfns(0x100, 0x110)))
        refused(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x20), ramRegions: []), .emptyRange(what: "the RAM regions of d3"))
        refused(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x21), ramRegions: [gfns(0x100, 0x110), gfns(0x200, 0x210)]),
                .ramRegionsSize(d3, frames: 0x21, regionFrames: 0x20))
        // d2 has 0x20 static frames.
        refused(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: true), ramRegions: [gfns(0x100, 0x111), gfns(0x200, 0x210)]),
                .staticMemoryTooSmall(d2, staticFrames: 0x20, regionFrames: 0x21))
        // d1 is static at [0x6000, 0x6040) and [0x6100, 0x6110): the gap between is not its memory.
        let statics = [frames(0x6000, 0x6040), frames(0x6100, 0x6110)]
        refused(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false), ramRegions: [gfns(0x6000, 0x6010), gfns(0x6030, 0x6041)]),
                .ramRegionOutsideStaticMemory(d1, region: gfns(0x6030, 0x6041), staticRanges: statics))
        let e = HostMemoryError.ramRegionOutsideStaticMemory(d1, region: gfns(0x6030, 0x6041), staticRanges: statics)
        #expect(e.description.contains("[0x6030, 0x6040]") && e.description.contains("[0x6100, 0x610f]"))
        #expect(HostMemoryError.staticMemoryTooSmall(d2, staticFrames: 32, regionFrames: 33).description.contains("32 frame(s) of static memory but its RAM regions need 33"))
        // A p2m refusing undoes a guest laid on regions too, static or dynamic.
        sink.failNextMap = true
        refused(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: true), ramRegions: [gfns(0x100, 0x108), gfns(0x200, 0x208)]),
                .physmap(domain: d2, "Refused()"))
        sink.failNextMap = true
        refused(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x20), ramRegions: [gfns(0x100, 0x110), gfns(0x200, 0x210)]),
                .physmap(domain: d3, "Refused()"))
    }

    /// Guests laid on random RAM regions (dynamic, static, direct-mapped), then random
    /// ballooning and populating, step by step against the naive model; destroying them all
    /// gives back exactly the freshly booted host.
    @Test func guestsOnRamRegionsMatchTheNaiveModel() async {
        await checkProperty(count: 40, input: Gen.int(in: 0...Int(Int32.max)).array(of: 1...4),
                            Gen.int(in: 0...Int(Int32.max)).array(of: 1...3), Gen.int(in: 0...Int(Int32.max)).array(of: 0...50)) { w3, w2, ops in
            let sink = RecordingPhysmap()
            let h = try HostMachine.coldBoot(smallConfig(), physmapSink: sink)
            let boot = HostSnapshot(h)
            var models: [DomainID: GuestModel] = [:]

            // d3: dynamic on 1 to 4 regions, sometimes with a frame count that does not match.
            let r3 = ramRegions(w3, base: UInt64(w3[0] % 3) * 0x100, maxSize: 0x300, gapScale: 0x1000)
            let total3 = r3.reduce(0) { $0 + $1.count }
            let frames3 = w3[0] % 7 == 0 ? total3 + 1 : total3
            let dc3 = HostDomainConfig(id: d3, memory: .dynamic(frames: frames3), ramRegions: r3)
            if frames3 != total3 {
                #expect(throws: HostMemoryError.ramRegionsSize(d3, frames: frames3, regionFrames: total3)) { try h.createDomain(dc3) }
            } else {
                // The model: the machine frames a single run from the ram base gets on a fresh host.
                let ref = try HostMachine.coldBoot(smallConfig())
                let rd = try ref.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: total3)))
                var m = GuestModel(statics: [], isStatic: false)
                for (i, g) in r3.flatMap({ Array($0.first.raw..<$0.end) }).enumerated() {
                    m.mapped[g] = rd.physmap.translate(Gfn(uncheckedRaw: HostDomainConfig.defaultRamBase.raw + UInt64(i)))!.raw
                }
                try h.createDomain(dc3)
                #expect(h.frameTable.snapshot() == ref.frameTable.snapshot())
                models[d3] = m
            }

            // d2: static (0x20 frames at 0x6200), not direct-mapped, on 1 to 3 regions of up to
            // 0x10 frames: sometimes more than its static memory.
            let r2 = ramRegions(w2, base: 0x40000, maxSize: 0x10, gapScale: 0x10)
            let need2 = r2.reduce(0) { $0 + $1.count }
            let allow2 = w2[0] % 2 == 0
            let dc2 = HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: allow2), ramRegions: r2)
            if need2 > 0x20 {
                #expect(throws: HostMemoryError.staticMemoryTooSmall(d2, staticFrames: 0x20, regionFrames: need2)) { try h.createDomain(dc2) }
            } else {
                var m = GuestModel(statics: [frames(0x6200, 0x6220)], allowDynamic: allow2, isStatic: true)
                let flat = r2.flatMap { Array($0.first.raw..<$0.end) }
                for (i, g) in flat.enumerated() { m.mapped[g] = m.statics[i] }
                m.pool = Array(m.statics[flat.count...])
                try h.createDomain(dc2)
                models[d2] = m
            }

            // d1: direct-mapped on sub-ranges of its static memory; one in five shifted off it.
            let statics1 = [frames(0x6000, 0x6040), frames(0x6100, 0x6110)]
            var r1 = [gfns(0x6000 + UInt64(w3[0] % 0x20), 0x6000 + UInt64(w3[0] % 0x20) + 1 + UInt64(w2[0] % 0x20))]
            if w2[0] % 3 != 0 { r1.append(gfns(0x6100 + UInt64(w2[0] % 8), 0x6110)) }
            if w3[0] % 5 == 0 { r1[0] = gfns(r1[0].first.raw + 0x40, r1[0].end + 0x40) }
            let allow1 = w3[0] % 2 == 0
            let dc1 = HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: allow1), ramRegions: r1)
            if let bad = r1.first(where: { r in !statics1.contains { $0.contains(frames(r.first.raw, r.end)) } }) {
                #expect(throws: HostMemoryError.ramRegionOutsideStaticMemory(d1, region: bad, staticRanges: statics1)) { try h.createDomain(dc1) }
            } else {
                var m = GuestModel(statics: statics1, directMap: true, allowDynamic: allow1, isStatic: true)
                for r in r1 { for g in r.first.raw..<r.end { m.mapped[g] = g } }
                m.pool = m.statics.filter { m.mapped[$0] == nil }
                try h.createDomain(dc1)
                models[d1] = m
            }

            func disagreement() -> String? {
                for (id, m) in models {
                    guard let d = h.domains[id] else { return "\(id) is missing" }
                    if flattened(d.physmap) != m.mapped { return "the physmap of \(id) is not the model's" }
                    for p in m.pool where h.frameTable[mfn(p)] != .staticFree { return "pool frame \(mfn(p)) of \(id) is \(h.frameTable[mfn(p)])" }
                }
                if Set(h.domains.keys) != Set(models.keys) { return "guests \(h.domains.keys.sorted()) are not \(models.keys.sorted())" }
                return brokenInvariant(h, sink: sink)
            }
            #expect(disagreement() == nil)

            for op in ops {
                let id = [d1, d2, d3][op % 3]
                let before = HostSnapshot(h)
                let heapBefore = h.heapFreeRanges()
                guard var m = models[id] else {
                    #expect(throws: HostMemoryError.noSuchDomain(id)) { try h.balloonOut(id, gfn: Gfn(uncheckedRaw: 0x100)) }
                    continue
                }
                let keys = m.mapped.keys.sorted()
                switch (op / 3) % 3 {
                case 0 where !keys.isEmpty:
                    let g = keys[(op / 9) % keys.count]
                    try h.balloonOut(id, gfn: Gfn(uncheckedRaw: g))
                    let old = m.mapped.removeValue(forKey: g)!
                    m.giveBack(old)
                case 0, 1:
                    // A mapped gfn, a pool frame's own gfn (direct map), or somewhere new.
                    let g: UInt64
                    switch (op / 27) % 3 {
                    case 0 where !keys.isEmpty: g = keys[(op / 81) % keys.count]
                    case 1 where !m.pool.isEmpty: g = m.pool[(op / 81) % m.pool.count]
                    default: g = 0x200000 + UInt64(op / 81) % 0x40
                    }
                    let expected: HostMemoryError?
                    var want: UInt64?
                    if m.mapped[g] != nil {
                        expected = .gfnAlreadyMapped(id, Gfn(uncheckedRaw: g))
                    } else if m.directMap {
                        expected = m.pool.contains(g) ? nil : .directMapPageUnavailable(id, Gfn(uncheckedRaw: g))
                        want = g
                    } else if m.isStatic && !m.pool.isEmpty {
                        expected = nil
                        want = m.pool[0]
                    } else {
                        expected = m.allowDynamic ? nil : .staticPoolExhausted(id)
                    }
                    if let expected {
                        #expect(throws: expected) { try h.balloonIn(id, gfn: Gfn(uncheckedRaw: g)) }
                    } else {
                        let got = try h.balloonIn(id, gfn: Gfn(uncheckedRaw: g)).raw
                        if let want {
                            #expect(got == want)
                            m.pool.removeAll { $0 == want }
                        } else {
                            #expect(heapBefore.contains { $0.contains(mfn(got)) }, "balloon-in gave \(mfn(got)), not a heap page")
                        }
                        m.mapped[g] = got
                    }
                default:
                    let g = 0x300000 + UInt64(op / 9) % 0x80
                    let n = UInt64(1 + (op / 1000) % 8)
                    let expected: HostMemoryError? = m.directMap ? .directMapPageUnavailable(id, Gfn(uncheckedRaw: g))
                        : !m.allowDynamic ? .staticPoolExhausted(id)
                        : (g..<(g + n)).contains { m.mapped[$0] != nil } ? .gfnAlreadyMapped(id, Gfn(uncheckedRaw: g)) : nil
                    if let expected {
                        #expect(throws: expected) { try h.populate(id, at: Gfn(uncheckedRaw: g), frames: n) }
                    } else {
                        let runs = try h.populate(id, at: Gfn(uncheckedRaw: g), frames: n)
                        for (i, f) in runs.flatMap({ Array($0.first.raw..<$0.end) }).enumerated() {
                            #expect(heapBefore.contains { $0.contains(mfn(f)) })
                            m.mapped[g + UInt64(i)] = f
                        }
                    }
                }
                if models[id]!.mapped == m.mapped && models[id]!.pool == m.pool { #expect(HostSnapshot(h) == before, "a refused op changed the host") }
                models[id] = m
                if let problem = disagreement() {
                    Issue.record("after op \(op): \(problem)")
                    return
                }
            }
            for id in models.keys { try h.destroyDomain(id) }
            #expect(HostSnapshot(h) == boot)
            #expect(sink.tables.isEmpty)
        }
    }
}
