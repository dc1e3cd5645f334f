import PropertyBased
import Testing
import GuestMemory
import VpmemCore

/// Seed 002's security question: a device model asks to map host frames into a guest; only
/// registered pmem/MMIO not owned by another guest is accepted, all or nothing.
@Suite struct CheckedMemoryMappingTests {
    static let pmemBase: UInt64 = 0x10_0000  // host pmem at 4 GiB, 4 GiB long
    static let pmemFrames: UInt64 = 0x10_0000
    static let barBase: UInt64 = 0x30_0000
    let a = try! DomainID(1)
    let b = try! DomainID(2)

    struct Setup {
        var control: CheckedMemoryMapping
        let p2mA: P2M
        let p2mB: P2M
        let pmemA: GpaRange  // the guest pmem region of each guest
        let pmemB: GpaRange
        let mmioA: GpaRange
        let physmapA: GuestPhysmap
    }

    func setup(nodeLimitA: Int? = nil) throws -> Setup {
        var control = CheckedMemoryMapping()
        try control.register(.ram, mfns(0, Self.pmemBase))
        try control.register(.pmem, mfns(Self.pmemBase, Self.pmemFrames))
        try control.register(.mmio, mfns(Self.barBase, 0x100))
        let config = GuestConfig(name: "g", memory: bytes(2 * GiB), pmemAperture: bytes(8 * GiB))
        var physmapA = try GuestPhysmap(config: config)
        let pmemA = try physmapA.placePmem(name: "pmem0", size: 2 * GiB)
        let mmioA = try sized(0x9000_0000, 1 * MiB)
        try physmapA.addMmio(name: "bar", at: mmioA)
        var physmapB = try GuestPhysmap(config: config)
        let pmemB = try physmapB.placePmem(name: "pmem0", size: 2 * GiB)
        let p2mA = try nodeLimitA.map { limit throws(P2MError) in try P2M(nodeLimit: limit) } ?? P2M()
        let p2mB = P2M()
        try control.addGuest(a, physmap: physmapA, p2m: p2mA)
        try control.addGuest(b, physmap: physmapB, p2m: p2mB)
        return Setup(control: control, p2mA: p2mA, p2mB: p2mB, pmemA: pmemA, pmemB: pmemB, mmioA: mmioA, physmapA: physmapA)
    }

    @Test func registeredPmemMapsAndUnmapReturnsExactlyWhatWasMapped() throws {
        var s = try setup()
        let registered = s.control.registry
        let gfn = s.pmemA.first.frame
        let extent = try s.control.map(a, gfn: gfn, mfn: Mfn.checked(Self.pmemBase), count: 0x4_0000, type: .pmem)
        #expect(extent.claimed == [try mfns(Self.pmemBase, 0x4_0000)])
        let t = try #require(s.p2mA.translate(try gfn.advanced(by: 0x1234)))
        #expect(t.mfn == (try Mfn.checked(Self.pmemBase + 0x1234)) && t.type == .pmem)
        #expect(t.order == .size1G, "1 GiB-aligned on both sides: superpages")
        #expect(s.control.registry.lookup(try Mfn.checked(Self.pmemBase))?.owner == a)
        let second = try s.control.map(a, gfn: gfn.advanced(by: 0x4_0000), mfn: Mfn.checked(Self.pmemBase + 0x9_0000), count: 0x10, type: .mmioDirect)
        let removed = try s.control.unmap(a, gfn: gfn, count: 0x4_0010)
        #expect(removed == [extent, second])
        #expect(try s.p2mA.mappings(gfn: gfn, count: 0x4_0010).isEmpty)
        #expect(s.control.registry == registered, "ownership handed back exactly")
        #expect(try s.control.extents(of: a).isEmpty)
        // Now another guest may have the frames.
        try s.control.map(b, gfn: s.pmemB.first.frame, mfn: Mfn.checked(Self.pmemBase), count: 0x10, type: .pmem)
    }

    @Test func hostRamIsRefusedAndNothingChanges() throws {
        var s = try setup()
        let before = s.control.registry
        let gfn = s.pmemA.first.frame
        #expect(throws: MappingError.hostRam(requested: try mfns(0x1000, 16), ram: try mfns(0x1000, 16))) {
            try s.control.map(a, gfn: gfn, mfn: Mfn.checked(0x1000), count: 16, type: .pmem)
        }
        #expect(throws: MappingError.hostRam(requested: try mfns(0x1000, 16), ram: try mfns(0x1000, 16))) {
            try s.control.map(a, gfn: s.mmioA.first.frame, mfn: Mfn.checked(0x1000), count: 16, type: .mmioDirect)
        }
        #expect(s.control.registry == before)
        #expect(try s.p2mA.mappings(gfn: gfn, count: 16).isEmpty)
    }

    @Test func aRangePartlyOutsideTheRegisteredPmemIsRefused() throws {
        var s = try setup()
        let end = Self.pmemBase + Self.pmemFrames
        // Past the end of the pmem: unregistered frames.
        #expect(throws: MappingError.notRegistered(requested: try mfns(end - 8, 16), unregistered: try mfns(end, 8))) {
            try s.control.map(a, gfn: s.pmemA.first.frame, mfn: Mfn.checked(end - 8), count: 16, type: .pmem)
        }
        // Before its start: host RAM.
        #expect(throws: MappingError.hostRam(requested: try mfns(Self.pmemBase - 8, 16), ram: try mfns(Self.pmemBase - 8, 8))) {
            try s.control.map(a, gfn: s.pmemA.first.frame, mfn: Mfn.checked(Self.pmemBase - 8), count: 16, type: .pmem)
        }
        // A BAR is not pmem.
        #expect(throws: MappingError.wrongHostKind(requested: try mfns(Self.barBase, 1), part: try mfns(Self.barBase, 1), found: .mmio, allowed: [.pmem])) {
            try s.control.map(a, gfn: s.pmemA.first.frame, mfn: Mfn.checked(Self.barBase), count: 1, type: .pmem)
        }
        #expect(try s.control.extents(of: a).isEmpty)
    }

    @Test func framesOwnedByAnotherGuestAreRefused() throws {
        var s = try setup()
        try s.control.map(a, gfn: s.pmemA.first.frame, mfn: Mfn.checked(Self.pmemBase + 0x100), count: 0x100, type: .pmem)
        #expect(throws: MappingError.ownedByAnotherGuest(requested: try mfns(Self.pmemBase, 0x200), part: try mfns(Self.pmemBase + 0x100, 0x100), owner: a, requester: b)) {
            try s.control.map(b, gfn: s.pmemB.first.frame, mfn: Mfn.checked(Self.pmemBase), count: 0x200, type: .pmem)
        }
        #expect(try s.p2mB.mappings(gfn: s.pmemB.first.frame, count: 0x200).isEmpty)
        // The same guest cannot map the frames a second time either.
        #expect(throws: MappingError.hostFramesAlreadyMapped(requested: try mfns(Self.pmemBase + 0x100, 1), at: try GfnRange(first: s.pmemA.first.frame, count: 0x100))) {
            try s.control.map(a, gfn: s.pmemA.first.frame.advanced(by: 0x1000), mfn: Mfn.checked(Self.pmemBase + 0x100), count: 1, type: .pmem)
        }
    }

    @Test func theGuestSideIsCheckedToo() throws {
        var s = try setup()
        let mfn = try Mfn.checked(Self.pmemBase)
        let safe = s.physmapA.safeRange.range
        #expect(throws: MappingError.inSafeRange(gfns: try GfnRange(first: safe.first.frame, count: 1), safeRange: safe)) {
            try s.control.map(a, gfn: safe.first.frame, mfn: mfn, count: 1, type: .mmioDirect)
        }
        // Guest RAM is not a place for host frames, and pmem goes only in pmem regions.
        #expect(throws: MappingError.notInGuestRegion(gfns: try GfnRange(first: Gfn.checked(0x100), count: 1), type: .pmem, allowed: [.pmem])) {
            try s.control.map(a, gfn: Gfn.checked(0x100), mfn: mfn, count: 1, type: .pmem)
        }
        #expect(throws: MappingError.self) { try s.control.map(a, gfn: s.mmioA.first.frame, mfn: mfn, count: 1, type: .pmem) }
        // Running off the end of the guest's pmem region.
        #expect(throws: MappingError.self) {
            try s.control.map(a, gfn: Gfn.checked(s.pmemA.last.frame.raw), mfn: mfn, count: 2, type: .pmem)
        }
        #expect(throws: MappingError.unsupportedType(.ramRW)) { try s.control.map(a, gfn: s.pmemA.first.frame, mfn: mfn, count: 1, type: .ramRW) }
        // Something already mapped there.
        try s.control.map(a, gfn: s.mmioA.first.frame, mfn: Mfn.checked(Self.barBase), count: 0x100, type: .mmioDirect)
        #expect(throws: MappingError.self) {
            try s.control.map(a, gfn: s.mmioA.first.frame.advanced(by: 0xFF), mfn: Mfn.checked(Self.pmemBase), count: 1, type: .mmioDirect)
        }
        #expect(throws: MappingError.unknownDomain(try DomainID(9))) { try s.control.map(DomainID(9), gfn: Gfn.checked(0), mfn: mfn, count: 1, type: .pmem) }
    }

    @Test func aP2MRefusalLeavesNoPartialMappingOrOwnership() throws {
        // Room for the root only: any mapping needs table nodes the budget does not have.
        var s = try setup(nodeLimitA: 1)
        let before = s.control.registry
        let statsBefore = s.p2mA.stats
        #expect {
            try s.control.map(a, gfn: s.pmemA.first.frame, mfn: Mfn.checked(Self.pmemBase + 1), count: 0x1000, type: .pmem)
        } throws: { error in
            guard case MappingError.p2m(.tableMemoryExhausted) = error else { return false }
            return true
        }
        #expect(s.control.registry == before, "ownership handed back")
        #expect(s.p2mA.stats == statsBefore)
        #expect(try s.control.extents(of: a).isEmpty)
        #expect(try s.control.unmap(a, gfn: s.pmemA.first.frame, count: 0x1000).isEmpty)
    }

    @Test func unmapTakesWholeMappingsOnly() throws {
        var s = try setup()
        let gfn = s.pmemA.first.frame
        let extent = try s.control.map(a, gfn: gfn, mfn: Mfn.checked(Self.pmemBase), count: 0x200, type: .pmem)
        #expect(throws: MappingError.cutsMapping(gfns: try GfnRange(first: gfn, count: 0x100), mapping: extent.gfns)) {
            try s.control.unmap(a, gfn: gfn, count: 0x100)
        }
        // A p2m entry this interface did not make (RAM put there behind its back) blocks the unmap.
        try s.p2mA.set(gfn: gfn.advanced(by: 0x300), count: 1, to: Mfn.checked(0x10), type: .ramRW)
        #expect(throws: MappingError.self) { try s.control.unmap(a, gfn: gfn, count: 0x400) }
        #expect(try s.control.extents(of: a) == [extent])
        #expect(try s.control.unmap(a, gfn: gfn, count: 0x200) == [extent])
    }

    /// Random map/unmap sequences on two guests against a per-frame model of ownership and
    /// of each guest's mappings.
    @Test func followsAPerFrameModel() async {
        await propertyCheck(count: 150, input: Gen.int(in: 0...Int.max).array(of: 1...40)) { words in
            var s = try! setup()
            let guests = [(a, s.pmemA.first.frame.raw, s.p2mA), (b, s.pmemB.first.frame.raw, s.p2mB)]
            var owner: [UInt64: DomainID] = [:]      // host frame offset from pmemBase - 16
            var mapped: [[UInt64: UInt64]] = [[:], [:]]  // per guest: gfn offset -> mfn offset
            var extents: [[MappedExtent]] = [[], []]
            for word in words {
                let w = UInt64(word)
                let g = Int(w % 2)
                let (domain, gfnBase, p2m) = guests[g]
                let gfnOff = (w >> 1) % 64, count = (w >> 7) % 12 + 1
                let mfnOff = (w >> 11) % 96  // frames [pmemBase - 16, pmemBase + 80)
                if (w >> 18) % 3 != 0 {
                    let type: P2MType = (w >> 20) % 2 == 0 ? .pmem : .mmioDirect
                    let mfnFrames = (mfnOff..<(mfnOff + count))
                    let expectOK = (gfnOff..<(gfnOff + count)).allSatisfy { mapped[g][$0] == nil }
                        && mfnFrames.allSatisfy { $0 >= 16 && owner[$0] == nil }
                    let result = try? s.control.map(domain, gfn: Gfn.checked(gfnBase + gfnOff), mfn: Mfn.checked(Self.pmemBase - 16 + mfnOff), count: count, type: type)
                    #expect((result != nil) == expectOK, "map g\(g) gfn+\(gfnOff) mfn+\(mfnOff) x\(count)")
                    if let e = result {
                        for i in 0..<count { mapped[g][gfnOff + i] = mfnOff + i; owner[mfnOff + i] = domain }
                        extents[g].append(e)
                    }
                } else {
                    let range = gfnOff..<(gfnOff + count + 8)
                    let touched = extents[g].filter { e in
                        let first = e.gfns.first.raw - gfnBase, last = e.gfns.last.raw - gfnBase
                        return first < range.upperBound && last >= range.lowerBound
                    }
                    let whole = touched.allSatisfy { e in
                        e.gfns.first.raw - gfnBase >= range.lowerBound && e.gfns.last.raw - gfnBase < range.upperBound
                    }
                    let result = try? s.control.unmap(domain, gfn: Gfn.checked(gfnBase + gfnOff), count: count + 8)
                    #expect((result != nil) == whole)
                    if let removed = result {
                        #expect(Set(removed) == Set(touched), "unmap returns exactly what was mapped")
                        for e in removed {
                            for i in 0..<e.gfns.count {
                                let go = e.gfns.first.raw - gfnBase + i
                                if let mo = mapped[g].removeValue(forKey: go) { owner[mo] = nil }
                            }
                        }
                        extents[g].removeAll { removed.contains($0) }
                    }
                }
                // The p2m and the registry agree with the model.
                for i in UInt64(0)..<80 {
                    let t = p2m.translate(Gfn(uncheckedRaw: gfnBase + i))
                    #expect(t?.mfn?.raw == mapped[g][i].map { Self.pmemBase - 16 + $0 }, "gfn +\(i)")
                }
                for f in UInt64(16)..<96 {
                    #expect(s.control.registry.lookup(Mfn(uncheckedRaw: Self.pmemBase - 16 + f))?.owner == owner[f], "mfn +\(f)")
                }
            }
        }
    }
}
