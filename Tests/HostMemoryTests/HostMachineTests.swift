import GuestMemory
import VpmemTestSupport
import Testing
@testable import HostMemory

@Suite struct HostMachineTests {
    @Test func coldBootKeepsStaticMemoryRegionAndBadPagesOutOfTheHeap() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        #expect(brokenInvariant(h, sink: nil) == nil)
        let heap = h.heapFreeRanges()
        for s in h.config.staticMemory { #expect(!heap.contains { $0.overlaps(s.range) }) }
        #expect(!heap.contains { $0.overlaps(frames(0x5000, 0x5080)) })
        #expect(!heap.contains { $0.contains(mfn(0x20)) })
        #expect(h.frameTable[mfn(0x6000)] == .staticFree)
        #expect(h.frameTable[mfn(0x4000)] == .hole)
        // The frame table itself came from the boot allocator: 0x8000 frames * 8 bytes = 64 frames.
        #expect(h.bootAllocations.map(\.count) == [64])
    }

    @Test func staticGuestIsMappedAtRamBaseOrOneToOne() throws {
        let sink = RecordingPhysmap()
        let h = try HostMachine.coldBoot(smallConfig(), physmapSink: sink)
        let a = try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false)))
        #expect(a.physmap.extents == [
            PhysmapExtent(gfn: Gfn(uncheckedRaw: 0x6000), mfn: mfn(0x6000), count: 0x40),
            PhysmapExtent(gfn: Gfn(uncheckedRaw: 0x6100), mfn: mfn(0x6100), count: 0x10),
        ])
        #expect(sink.translate(d1, gfn: Gfn(uncheckedRaw: 0x6105))?.mfn == mfn(0x6105))
        let b = try h.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: false)))
        #expect(b.physmap.extents == [PhysmapExtent(gfn: HostDomainConfig.defaultRamBase, mfn: mfn(0x6200), count: 0x20)])
        #expect(h.frameTable[mfn(0x6201)] == .owned(by: d2, extra: [.reserved, .staticMemory]))
        #expect(brokenInvariant(h, sink: sink) == nil)
    }

    @Test func aFailedStaticPageCheckAssignsNothing() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        try h.markBad(mfn(0x6105))
        let before = HostSnapshot(h)
        #expect(throws: HostMemoryError.staticPageCheckFailed(domain: d1, mfn: mfn(0x6105), .notFree([.bad, .reserved, .staticMemory]))) {
            try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false)))
        }
        #expect(HostSnapshot(h) == before)
        // A static page somebody holds a reference on fails too, naming the count.
        let h2 = try HostMachine.coldBoot(smallConfig())
        h2.frameTable[mfn(0x6201)] = FrameRecord(owner: .invalid, flags: [.free, .reserved, .staticMemory], refcount: 2)
        #expect(throws: HostMemoryError.staticPageCheckFailed(domain: d2, mfn: mfn(0x6201), .referenced(2))) {
            try h2.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: false)))
        }
        #expect(h2.frameTable[mfn(0x6200)] == .staticFree)
    }

    @Test func ballooningStaticMemoryStaysWithItsGuest() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        let heapAtBoot = h.heapFreeRanges()
        try h.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: false)))
        let heapBefore = h.heapFreeRanges()
        let gfn = Gfn(uncheckedRaw: HostDomainConfig.defaultRamBase.raw + 5)
        try h.balloonOut(d2, gfn: gfn)
        #expect(h.frameTable[mfn(0x6205)] == .staticFree)
        #expect(h.heapFreeRanges() == heapBefore)
        // Balloon-in reuses the reserved pool first.
        let got = try h.balloonIn(d2, gfn: Gfn(uncheckedRaw: 0x90000))
        #expect(got == mfn(0x6205))
        // With the pool empty and no dynamic memory allowed, balloon-in fails and changes nothing.
        let snap = HostSnapshot(h)
        #expect(throws: HostMemoryError.staticPoolExhausted(d2)) { try h.balloonIn(d2, gfn: Gfn(uncheckedRaw: 0x90001)) }
        #expect(HostSnapshot(h) == snap)
        // Destroying returns every static page to the pool, none to the heap.
        try h.destroyDomain(d2)
        #expect(h.frameTable.allFrames(in: frames(0x6200, 0x6220)) { $0 == .staticFree })
        #expect(h.heapFreeRanges() == heapAtBoot)  // only the p2m root page went back to the heap
        #expect(brokenInvariant(h, sink: nil) == nil)
    }

    @Test func staticGuestGetsDynamicPagesOnlyWhenAllowed() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        try h.createDomain(HostDomainConfig(id: d2, memory: .staticMemory(directMap: false, allowDynamic: true)))
        let got = try h.balloonIn(d2, gfn: Gfn(uncheckedRaw: 0x90000))
        #expect(!h.config.staticMemory.contains { $0.range.contains(got) })
        #expect(h.frameTable[got] == .owned(by: d2))
        try h.balloonOut(d2, gfn: Gfn(uncheckedRaw: 0x90000))
        #expect(h.domainHeap.contains(got))
    }

    @Test func directMappedGuestOnlyGetsItsOwnFrameBack() throws {
        let h = try HostMachine.coldBoot(smallConfig())
        try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: true)))
        try h.balloonOut(d1, gfn: Gfn(uncheckedRaw: 0x6003))
        #expect(throws: HostMemoryError.gfnAlreadyMapped(d1, Gfn(uncheckedRaw: 0x6004))) {
            try h.balloonIn(d1, gfn: Gfn(uncheckedRaw: 0x6004))
        }
        // Dynamic memory is allowed, but a heap page cannot keep gfn == mfn: refused.
        #expect(throws: HostMemoryError.directMapPageUnavailable(d1, Gfn(uncheckedRaw: 0x6050))) {
            try h.balloonIn(d1, gfn: Gfn(uncheckedRaw: 0x6050))
        }
        #expect(try h.balloonIn(d1, gfn: Gfn(uncheckedRaw: 0x6003)) == mfn(0x6003))
    }

    @Test func reservedXenHeapServesOnlyXenHeapAllocations() throws {
        let h = try HostMachine.coldBoot(smallConfig(reservedXenHeap: true))
        let x = try h.allocateXenHeapPage()
        #expect(frames(0x7000, 0x7400).contains(x))
        #expect(h.frameTable[x] == .owned(by: .xen, extra: .xenHeap))
        try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 0x2000)))
        #expect(brokenInvariant(h, sink: nil) == nil)
        try h.freeXenHeapPage(x)
        #expect(h.xenHeap!.contains(x))
        #expect(throws: HostMemoryError.notAXenHeapPage(x, .free)) { try h.freeXenHeapPage(x) }
        // Exhaust the domain heap: the reserved Xen heap still is not used for guests.
        #expect(throws: HostMemoryError.self) { try h.createDomain(HostDomainConfig(id: d4, memory: .dynamic(frames: 0x4000))) }
    }

    @Test func aRefusingP2MUndoesTheWholeGuest() throws {
        let sink = RecordingPhysmap()
        let h = try HostMachine.coldBoot(smallConfig(), physmapSink: sink)
        let before = HostSnapshot(h)
        sink.failNextMap = true
        #expect(throws: HostMemoryError.self) { try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 100))) }
        #expect(HostSnapshot(h) == before)
        #expect(sink.tables[d3]?.isEmpty ?? true)
    }

    @Test func configErrorsNameTheProblem() {
        var c = smallConfig()
        c.staticMemory.append(StaticMemoryRegion(domain: d3, range: frames(0x6010, 0x6020)))
        #expect(throws: HostMemoryError.overlap(what: "static memory of d1", frames(0x6000, 0x6040), other: "static memory of d3", frames(0x6010, 0x6020))) {
            try c.validate()
        }
        c = smallConfig()
        c.liveUpdateRegion = frames(0x2f00, 0x5100)
        #expect(throws: HostMemoryError.outsideRAM(what: "liveupdate region", range: frames(0x2f00, 0x5100))) { try c.validate() }
        c = smallConfig()
        c.badPages = [mfn(0x4000)]
        #expect(throws: HostMemoryError.badPageOutsideRAM(mfn(0x4000))) { try c.validate() }
        // The limit is on the RAM span; pmem, however high and large, does not count.
        c = smallConfig()
        c.banks.append(frames(HostMemoryConfig.maxFrames - 0x100, HostMemoryConfig.maxFrames + 1))
        #expect(throws: HostMemoryError.hostTooLarge(frames: HostMemoryConfig.maxFrames + 1, limit: HostMemoryConfig.maxFrames)) { try c.validate() }
        #expect(HostMemoryError.hostTooLarge(frames: HostMemoryConfig.maxFrames + 1, limit: HostMemoryConfig.maxFrames).description.contains("(2 TiB)"))
        c = smallConfig()
        c.pmem = [frames(0x1000_0000, 0x1000_0000 + (6 << 28)), frames(maxFrameNumber, maxFrameNumber + 1)]
        #expect(c.frameCount == 0x8000)
        #expect(throws: Never.self) { try c.validate() }
        c.pmem.append(frames(0x7ff0, 0x8010))
        #expect(throws: HostMemoryError.overlap(what: "pmem range", frames(0x7ff0, 0x8010), other: "RAM bank", frames(0x5000, 0x8000))) { try c.validate() }
    }

    /// A 1 TiB host with 6 TiB of pmem at high addresses: the frame table covers RAM only, a
    /// fresh table reads free where nothing was written, the heap holds every free RAM frame,
    /// pmem is two registry extents. (How long this takes is measured by HostScaleBench.)
    @Test func aOneTebibyteHostWithSixTebibytesOfPmem() throws {
        let c = try HostScaleWorkload.config()
        #expect(c.ramFrames == 1 << 28 && c.pmem.reduce(0) { $0 + $1.count } == 6 << 28)
        let h = try HostMachine.coldBoot(c)
        let ramEnd = c.frameCount
        #expect(ramEnd == (1 << 28) + (1 << 18) + 0x100)
        #expect(h.frameTable.count == Int(ramEnd) && h.memory.frames == Int(ramEnd))
        let ft = HostMachine.frameTableFrames(for: ramEnd)
        #expect(h.frameTable[mfn(0xff)] == .hole && h.frameTable[mfn(0x100)] == .free && h.frameTable[mfn(0xbffff)] == .free)
        #expect(h.frameTable[mfn(0xc0000)] == .hole && h.frameTable[mfn(0xfffff)] == .hole && h.frameTable[mfn(0x100000)] == .free)
        #expect(h.frameTable[mfn(ramEnd - ft - 1)] == .free && h.frameTable[mfn(ramEnd - ft)] == .owned(by: .xen, extra: .xenHeap))
        #expect(h.bootAllocations == [frames(ramEnd - ft, ramEnd)])
        #expect(h.domainHeap.freeFrames == c.ramFrames - ft)
        #expect(h.hostRanges.ranges.filter { $0.kind == .pmem }.map(\.frames) == c.pmem)
        let guest = try h.createDomain(HostDomainConfig(id: d1, memory: .dynamic(frames: 1 << 24)))
        #expect(guest.physmap.mappedFrames == 1 << 24)
        for e in guest.physmap.extents { #expect(h.frameTable.allFrames(in: e.mfnRange) { $0 == .owned(by: d1) }) }
        try h.destroyDomain(d1)
        #expect(h.domainHeap.freeFrames == c.ramFrames - ft)
    }

    /// Guest RAM through the guest memory core's p2m: direct-mapped guests have gfn == mfn in the
    /// p2m itself (1 GiB-aligned static memory as a 1 GiB leaf), under random ballooning.
    @Test func guestRAMIsMappedThroughTheP2M() async {
        await checkProperty(count: 12, input: Gen.int(in: 0...Int(Int32.max)).array(of: 1...40)) { ops in
            let sink = P2MPhysmapSink()
            var c = smallConfig()
            c.banks.append(frames(0x40000, 0x80000))
            c.staticMemory.append(StaticMemoryRegion(domain: d4, range: frames(0x40000, 0x80000)))
            let h = try HostMachine.coldBoot(c, physmapSink: sink)
            try h.createDomain(HostDomainConfig(id: d4, memory: .staticMemory(directMap: true, allowDynamic: false)))
            #expect(sink.p2m(d4).translate(Gfn(uncheckedRaw: 0x40123))?.order == .size1G)
            try h.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: true)))
            try h.createDomain(HostDomainConfig(id: d3, memory: .dynamic(frames: 700)))
            for op in ops {
                let id = [d1, d3, d4][op % 3]
                let d = h.domains[id]!
                if (op / 3) % 2 == 0, !d.physmap.extents.isEmpty {
                    let e = d.physmap.extents[(op / 8) % d.physmap.extents.count]
                    try h.balloonOut(id, gfn: Gfn(uncheckedRaw: e.gfn.raw + UInt64(op / 64) % e.count))
                } else {
                    let base: UInt64 = id == d4 ? 0x40000 : (id == d1 ? 0x6000 : 0x40000)
                    _ = try? h.balloonIn(id, gfn: Gfn(uncheckedRaw: base + UInt64(op / 8) % 0x200))
                }
                if let problem = p2mDisagreement(h, sink) {
                    Issue.record("\(problem)")
                    return
                }
            }
            #expect(brokenInvariant(h, sink: nil) == nil)
            try h.destroyDomain(d3)
            #expect(p2mDisagreement(h, sink) == nil)
        }
    }

    /// Random operation sequences: the invariants hold after every step, and every failed
    /// operation leaves the host exactly as it was.
    @Test func invariantsHoldUnderRandomOperations() async {
        await checkProperty(count: 30, input: Gen.int(in: 0...Int(Int32.max)).array(of: 1...60)) { ops in
            let sink = RecordingPhysmap()
            let h = try HostMachine.coldBoot(smallConfig(reservedXenHeap: ops.first.map { $0 % 2 == 0 } ?? false), physmapSink: sink)
            var xenPages: [Mfn] = []
            for op in ops {
                let id = DomainID(uncheckedRaw: UInt16(1 + (op / 16) % 4))
                let before = HostSnapshot(h)
                let sinkBefore = sink.tables
                do {
                    switch op % 9 {
                    case 0:
                        let memory: HostDomainConfig.Memory = id.raw <= 2
                            ? .staticMemory(directMap: (op / 64) % 2 == 0, allowDynamic: (op / 128) % 2 == 0)
                            : .dynamic(frames: UInt64(1 + (op / 64) % 3000))
                        // Half the guests on two RAM regions (sometimes more than static memory
                        // holds, or off a direct-mapped guest's static memory: refused).
                        var regions: [GfnRange]?
                        if (op / 4096) % 2 == 0 {
                            let n: UInt64
                            switch memory {
                            case .dynamic(let f): n = f
                            case .staticMemory(true, _): n = 0
                            case .staticMemory(false, _): n = 1 + UInt64(op / 8192) % 0x60
                            }
                            let a = UInt64(op / 8192) % 0x30
                            regions = n == 0 ? [GfnRange(uncheckedFirst: 0x6000 + a, end: 0x6000 + a + 1 + UInt64(op / 65536) % 0x30)]
                                : n == 1 ? [GfnRange(uncheckedFirst: 0x40000, end: 0x40001)]
                                : [GfnRange(uncheckedFirst: 0x40000, end: 0x40000 + n / 2), GfnRange(uncheckedFirst: 0x48000, end: 0x48000 + n - n / 2)]
                        }
                        try h.createDomain(HostDomainConfig(id: id, memory: memory, ramRegions: regions))
                    case 1, 2:
                        if let d = h.domains[id], !d.physmap.extents.isEmpty {
                            let e = d.physmap.extents[(op / 64) % d.physmap.extents.count]
                            try h.balloonOut(id, gfn: Gfn(uncheckedRaw: e.gfn.raw + UInt64(op / 1024) % e.count))
                        } else {
                            try h.balloonOut(id, gfn: Gfn(uncheckedRaw: 0x40000))
                        }
                    case 3:
                        let gfn = h.domains[id]?.config.isDirectMapped == true
                            ? Gfn(uncheckedRaw: 0x6000 + UInt64(op / 64) % 0x300)
                            : Gfn(uncheckedRaw: 0x40000 + UInt64(op / 64) % 0x4000)
                        try h.balloonIn(id, gfn: gfn)
                    case 4:
                        try h.populate(id, at: Gfn(uncheckedRaw: 0x80000 + UInt64(op / 64) % 0x1000), frames: UInt64(1 + (op / 8) % 40))
                    case 5:
                        try h.destroyDomain(id)
                    case 6:
                        try h.markBad(mfn(UInt64(op / 16) % 0x8000))
                    case 7:
                        xenPages.append(try h.allocateXenHeapPage())
                    default:
                        if let p = xenPages.popLast() { try h.freeXenHeapPage(p) }
                    }
                } catch {
                    #expect(HostSnapshot(h) == before, "failed \(error) changed the host")
                    #expect(sink.tables == sinkBefore, "failed \(error) changed the p2m")
                }
                let problem = brokenInvariant(h, sink: sink)
                #expect(problem == nil, "after op \(op % 9): \(problem ?? "")")
                if problem != nil { return }
            }
        }
    }
}
