@testable import GuestMemory
import Testing

@Suite struct P2MTests {
    func gfn(_ raw: UInt64) -> Gfn { Gfn(uncheckedRaw: raw) }
    func mfn(_ raw: UInt64) -> Mfn { Mfn(uncheckedRaw: raw) }

    @Test func translateReportsFrameTypeAccessAndLeafOrder() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0x100), count: 3, to: mfn(0x9000), type: .ramRW, access: .rwx)
        let t = try #require(p2m.translate(gfn(0x102)))
        #expect(t.mfn == mfn(0x9002))
        #expect(t.type == .ramRW)
        #expect(t.access == .rwx)
        #expect(t.order == .size4K)
        #expect(p2m.translate(gfn(0x103)) == nil)
        #expect(p2m.translate(gfn(0xff)) == nil)

        // A 2M-aligned gfn and mfn pair over 2 MiB becomes one 2M leaf; offsets inside it
        // come back added to the leaf's mfn.
        try p2m.set(gfn: gfn(0x200), count: 512, to: mfn(0x40000), type: .pmem, access: [.read, .write])
        let s = try #require(p2m.translate(gfn(0x3ff)))
        #expect(s.mfn == mfn(0x401ff))
        #expect(s.order == .size2M)
        #expect(s.type == .pmem)
        #expect(s.effectiveAccess == [.read, .write])
    }

    /// The prefetch hint names the very word the walk ends on: the 4K leaf, the superpage
    /// leaf, or the empty entry; nothing beyond the last gfn.
    @Test func lastEntryAddressIsTheWordTranslateReadsLast() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0x100), count: 3, to: mfn(0x9000), type: .ramRW, access: .rwx)
        try p2m.set(gfn: gfn(0x200), count: 512, to: mfn(0x40000), type: .pmem, access: [.read, .write])
        try p2m.set(gfn: gfn(0x40000), count: 1 << 18, to: mfn(0x80000), type: .ramRW, access: .rwx)
        for g: UInt64 in [0x100, 0x101, 0x102, 0x200, 0x3ff, 0x40000, 0x5ffff] {
            let t = try #require(p2m.translate(gfn(g)))
            let at = try #require(p2m.lastEntryAddress(gfn(g)))
            #expect(at.load(as: UInt64.self) == t.entry, "gfn \(g)")
        }
        let a = try #require(p2m.lastEntryAddress(gfn(0x100))), b = try #require(p2m.lastEntryAddress(gfn(0x101)))
        #expect(b == a + 8)
        #expect(p2m.lastEntryAddress(gfn(0x200)) == p2m.lastEntryAddress(gfn(0x3ff)), "one 2M leaf")
        #expect(p2m.lastEntryAddress(gfn(0x40000)) == p2m.lastEntryAddress(gfn(0x5ffff)), "one 1G leaf")
        // Unmapped: an entry with the leaf bit clear, as translate finds it.
        let empty = try #require(p2m.lastEntryAddress(gfn(0x103)))
        #expect(empty.load(as: UInt64.self) & (1 << 11) == 0 && p2m.translate(gfn(0x103)) == nil)
        #expect(p2m.lastEntryAddress(Gfn(uncheckedRaw: P2M.maxGfn.raw + 1)) == nil)
        // The walk's first half carries the level in the address's low bits; beyond the last
        // gfn it is 0, and the second half answers nil, as translate does.
        #expect(p2m.leafEntry(gfn(0x100)) & 3 == 0 && p2m.leafEntry(gfn(0x200)) & 3 == 1 && p2m.leafEntry(gfn(0x40000)) & 3 == 2)
        let beyond = Gfn(uncheckedRaw: P2M.maxGfn.raw + 1)
        #expect(p2m.leafEntry(beyond) == 0 && p2m.translate(beyond, from: 0) == nil)
    }

    /// The steering engine's shortcuts read the entry's bits directly: they must say exactly
    /// what the decoded type and access say, for every type and every set of rights, and a bit
    /// number past execute is no right (it must not read the bits above the access field).
    @Test func rawBitTestsAgreeWithTheDecodedTypeAndAccess() throws {
        let p2m = P2M()
        var g: UInt64 = 0x1000
        for type in P2MType.allCases where type != .invalid {
            for rights in 0...7 {
                let access = P2MAccess(rawValue: UInt8(rights))
                let frame: Mfn? = type == .mmioDM ? nil : mfn(0xfff_ffff)  // all ones above the access bits
                try p2m.set(gfn: gfn(g), count: 1, to: frame, type: type, access: access)
                let t = try #require(p2m.translate(gfn(g)))
                for other in P2MType.allCases {
                    #expect(t.isType(other) == (other == type), "\(type) isType(\(other))")
                }
                for bit: UInt8 in 0...7 {
                    let expected = bit < 3 && access.contains(P2MAccess(rawValue: 1 << bit))
                    #expect(t.grants(accessBit: bit) == expected, "\(type) \(access) bit \(bit)")
                }
                g += 1
            }
        }
    }

    @Test func largestLeavesAlignmentAllows() throws {
        let p2m = P2M()
        // gfn and mfn congruent mod 1G: 4K head, 2M run, 1G, 2M run, 4K tail.
        let start: UInt64 = (1 << 18) - 512 - 3
        let count: UInt64 = 3 + 512 + (1 << 18) + 1024 + 5
        try p2m.set(gfn: gfn(start), count: count, to: mfn(start + (5 << 18)), type: .ramRW)
        let st = p2m.stats
        #expect(st.leaves(.size1G) == 1)
        #expect(st.leaves(.size2M) == 1 + 2)
        #expect(st.leaves(.size4K) == 3 + 5)
        #expect(st.mappedFrames == count)
        // Same range with an mfn only 2M-congruent: no 1G leaf, 512 2M leaves in its place.
        let q = P2M()
        try q.set(gfn: gfn(start), count: count, to: mfn(start + 512 * 7), type: .ramRW)
        #expect(q.stats.leaves(.size1G) == 0)
        #expect(q.stats.leaves(.size2M) == 512 + 1 + 2)
        // And an mfn congruent to nothing: all 4K.
        let r = P2M()
        try r.set(gfn: gfn(start), count: count, to: mfn(start + 1), type: .ramRW)
        #expect(r.stats.leaves(.size4K) == Int(count))
        #expect(r.stats.levels[0].nodes == Int((count + 511 + 3) / 512) + 1)
    }

    @Test func partialOverwriteSplitsAndRefillRecoalesces() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(1 << 18), count: 1 << 18, to: mfn(1 << 18), type: .ramRW)
        #expect(p2m.stats.leaves(.size1G) == 1)
        #expect(p2m.stats.nodes == 2)

        // One frame retyped: 1G -> 511 2M + 1 L1 node of 512 4K leaves.
        try p2m.set(gfn: gfn((1 << 18) + 700), count: 1, to: mfn((1 << 18) + 700), type: .ioreqServer)
        var st = p2m.stats
        #expect(st.leaves(.size1G) == 0)
        #expect(st.leaves(.size2M) == 511)
        #expect(st.leaves(.size4K) == 512)
        #expect(st.nodes == 4)
        #expect(p2m.translate(gfn((1 << 18) + 700))?.type == .ioreqServer)
        #expect(p2m.translate(gfn((1 << 18) + 701))?.type == .ramRW)
        #expect(p2m.translate(gfn((1 << 18) + 701))?.mfn == mfn((1 << 18) + 701))

        // Put it back: the L1 and L2 nodes fold into one 1G leaf again and go to the free list.
        let changed = try p2m.changeType(gfn: gfn(1 << 18), count: 1 << 18, from: .ioreqServer, to: .ramRW)
        #expect(changed == 1)
        st = p2m.stats
        #expect(st.leaves(.size1G) == 1)
        #expect(st.nodes == 2)
        #expect(st.freeNodes >= 2)
        #expect(p2m.translate(gfn((1 << 18) + 700))?.order == .size1G)
    }

    @Test func removeSplitsAndFreesEmptyNodes() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0), count: 1 << 18, to: mfn(0), type: .ramRW)
        #expect(try p2m.remove(gfn: gfn(512), count: 1) == 1)
        #expect(p2m.translate(gfn(512)) == nil)
        #expect(p2m.translate(gfn(513))?.mfn == mfn(513))
        #expect(p2m.stats.mappedFrames == (1 << 18) - 1)
        #expect(try p2m.remove(gfn: gfn(0), count: 1 << 18) == (1 << 18) - 1)
        #expect(try p2m.remove(gfn: gfn(0), count: 1 << 18) == 0)
        let st = p2m.stats
        #expect(st.nodes == 1, "only the root is left")
        #expect(st.mappedFrames == 0)
        #expect(st.levels.allSatisfy { $0.entries == 0 })
        // Freed nodes are reused: mapping again takes no new memory from the host.
        let pool = st.poolBytes
        try p2m.set(gfn: gfn(5), count: 1, to: mfn(5), type: .ramRW)
        #expect(p2m.stats.poolBytes == pool)
    }

    @Test func populateOneTebibyteAt1GUsesTwoL3Nodes() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0), count: 1 << 28, to: mfn(1 << 28), type: .ramRW)
        let st = p2m.stats
        #expect(st.leaves(.size1G) == 1024)
        #expect(st.levels[3].tableEntries == 2)
        #expect(st.nodes == 3)
        #expect(st.tableBytes == 3 * 4096)
        #expect(p2m.translate(gfn((1 << 28) - 1))?.mfn == mfn((1 << 29) - 1))
    }

    @Test func changeTypeTouchesOnlyTheFromType() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0), count: 100, to: mfn(1000), type: .ramRW)
        try p2m.set(gfn: gfn(40), count: 10, to: mfn(7000), type: .grantMapRO, access: .read)
        let n = try p2m.changeType(gfn: gfn(30), count: 50, from: .ramRW, to: .ioreqServer)
        #expect(n == 40)
        #expect(p2m.translate(gfn(29))?.type == .ramRW)
        #expect(p2m.translate(gfn(30))?.type == .ioreqServer)
        #expect(p2m.translate(gfn(45))?.type == .grantMapRO)
        #expect(p2m.translate(gfn(45))?.mfn == mfn(7005))
        #expect(p2m.translate(gfn(79))?.type == .ioreqServer)
        #expect(p2m.translate(gfn(79))?.mfn == mfn(1079), "machine frames are kept")
        #expect(p2m.translate(gfn(80))?.type == .ramRW)
        #expect(try p2m.changeType(gfn: gfn(200), count: 10, from: .ramRW, to: .ioreqServer) == 0)
    }

    @Test func emulatedMMIOHasNoMachineFrame() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0xfee00), count: 1, to: nil, type: .mmioDM, access: [])
        let t = try #require(p2m.translate(gfn(0xfee00)))
        #expect(t.mfn == nil)
        #expect(t.type.isEmulated)
        #expect(t.effectiveAccess == [])
        // 2 MiB of it is one 2M leaf whatever the gfn: there are no frames to align.
        try p2m.set(gfn: gfn(0xc0000), count: 512, to: nil, type: .mmioDM)
        #expect(p2m.stats.leaves(.size2M) == 1)
        #expect(throws: P2MError.machineFrameMismatch(type: .mmioDM, gfn: gfn(1), mfn: mfn(2))) {
            try p2m.set(gfn: gfn(1), count: 1, to: mfn(2), type: .mmioDM)
        }
        #expect(throws: P2MError.machineFrameMismatch(type: .ramRW, gfn: gfn(1), mfn: nil)) {
            try p2m.set(gfn: gfn(1), count: 1, to: nil, type: .ramRW)
        }
        #expect(throws: P2MError.typeChangeLosesFrames(from: .ramRW, to: .mmioDM)) {
            try p2m.changeType(gfn: gfn(1), count: 1, from: .ramRW, to: .mmioDM)
        }
    }

    @Test func badRangesAreErrorsAndChangeNothing() throws {
        let p2m = P2M()
        try p2m.set(gfn: gfn(0), count: 8, to: mfn(8), type: .ramRW)
        let before = p2m.stats
        #expect(throws: P2MError.emptyRange(gfn: gfn(3))) {
            try p2m.set(gfn: gfn(3), count: 0, to: mfn(1), type: .ramRW)
        }
        #expect(throws: P2MError.gfnBeyondTable(first: gfn(1 << 36), count: 1, limit: P2M.maxGfn)) {
            try p2m.set(gfn: gfn(1 << 36), count: 1, to: mfn(1), type: .ramRW)
        }
        #expect(throws: P2MError.gfnBeyondTable(first: gfn((1 << 36) - 1), count: 2, limit: P2M.maxGfn)) {
            try p2m.remove(gfn: gfn((1 << 36) - 1), count: 2)
        }
        #expect(throws: P2MError.address(.overflow(what: "gfn", base: 5, offset: UInt64.max - 1))) {
            try p2m.remove(gfn: gfn(5), count: UInt64.max)
        }
        // The mfn field holds 40 bits: one frame past it is refused, not truncated.
        #expect(throws: P2MError.mfnBeyondEncoding(first: mfn((1 << 40) - 1), count: 2, limit: P2M.maxMfn)) {
            try p2m.set(gfn: gfn(0), count: 2, to: mfn((1 << 40) - 1), type: .ramRW)
        }
        #expect(throws: P2MError.mfnBeyondEncoding(first: mfn(1 << 44), count: 1, limit: P2M.maxMfn)) {
            try p2m.set(gfn: gfn(0), count: 1, to: mfn(1 << 44), type: .ramRW)
        }
        #expect(throws: P2MError.invalidTypeNotStorable(gfn: gfn(2))) {
            try p2m.set(gfn: gfn(2), count: 1, to: nil, type: .invalid)
        }
        #expect(throws: P2MError.accessBits(P2MAccess(rawValue: 0x10))) {
            try p2m.set(gfn: gfn(2), count: 1, to: mfn(2), type: .ramRW, access: P2MAccess(rawValue: 0x10))
        }
        #expect(p2m.stats == before)
        #expect(p2m.translate(gfn(0))?.mfn == mfn(8))
        // The last mfn and the last gfn themselves are fine.
        try p2m.set(gfn: P2M.maxGfn, count: 1, to: P2M.maxMfn, type: .ramRW)
        #expect(p2m.translate(P2M.maxGfn)?.mfn == P2M.maxMfn)
        #expect(p2m.translate(gfn(1 << 36)) == nil)
        #expect(p2m.translate(gfn(maxFrameNumber)) == nil)
    }

    @Test func nodeLimitRefusesBeforeWriting() throws {
        #expect(throws: P2MError.nodeLimitTooSmall(0)) { try P2M(nodeLimit: 0) }
        let p2m = try P2M(nodeLimit: 3)
        try p2m.set(gfn: gfn(0), count: 1 << 18, to: mfn(0), type: .ramRW)  // root + one L3 node
        // Splitting the 1G leaf down to one 4K needs an L2 and an L1 node: 4 > 3.
        let before = p2m.stats
        #expect(throws: P2MError.tableMemoryExhausted(needNodes: 2, freeNodes: 1, limitNodes: 3)) {
            try p2m.remove(gfn: gfn(7), count: 1)
        }
        #expect(p2m.stats == before)
        #expect(p2m.translate(gfn(7))?.mfn == mfn(7))
        // A 2M-aligned hole needs only the L2 node.
        #expect(try p2m.remove(gfn: gfn(512), count: 512) == 512)
        #expect(p2m.stats.nodes == 3)
    }

    @Test func errorsNameTheProblemAndTheFix() {
        let e = P2MError.mfnBeyondEncoding(first: mfn((1 << 40) - 1), count: 2, limit: P2M.maxMfn)
        #expect(e.description.contains("40-bit"))
        #expect(e.description.contains("mfn 0xffffffffff"))
        #expect(P2MError.invalidTypeNotStorable(gfn: gfn(1)).description.contains("remove("))
        #expect(P2MError.tableMemoryExhausted(needNodes: 4, freeNodes: 1, limitNodes: 9).description.contains("raise"))
    }
}

@Suite struct P2MTypeTests {
    @Test func namesAreXensSpelling() {
        #expect(P2MType.ramRW.name == "ram_rw")
        #expect(P2MType.ramLogDirty.name == "ram_logdirty")
        #expect(P2MType.ioreqServer.name == "ioreq_server")
        #expect(P2MType.foreign.name == "map_foreign")
        #expect(P2MType(name: "p2m_mmio_dm") == .mmioDM)
        #expect(P2MType(name: "foreign") == .foreign)
        #expect(P2MType(name: "ram") == nil)
        for t in P2MType.allCases {
            #expect(P2MType(name: t.name) == t)
            #expect(t.rawValue <= P2MType.maxRawValue, "fits the 6-bit type field")
        }
    }

    @Test func rawValuesAreXens() {
        #expect(P2MType.ramRW.rawValue == 0)
        #expect(P2MType.invalid.rawValue == 1)
        #expect(P2MType.mmioDM.rawValue == 4)
        #expect(P2MType.grantMapRO.rawValue == 8)
        #expect(P2MType.foreign.rawValue == 14)
        #expect(P2MType.ioreqServer.rawValue == 15)
    }

    @Test func predicatesGroupTypesAsXenDoes() {
        #expect(P2MType.allCases.filter(\.isRAM) == [.ramRW, .ramLogDirty, .ramRO, .ioreqServer])
        #expect(P2MType.allCases.filter(\.isMMIO) == [.mmioDM, .mmioDirect])
        #expect(P2MType.allCases.filter(\.isGrant) == [.grantMapRW, .grantMapRO])
        #expect(P2MType.allCases.filter(\.isReadOnly) == [.ramLogDirty, .ramRO, .grantMapRO])
        #expect(P2MType.allCases.filter(\.isChangeable) == [.ramRW, .ramLogDirty, .ioreqServer])
        #expect(P2MType.allCases.filter { !$0.hasMachineFrame } == [.invalid, .mmioDM])
        #expect(P2MType.pmem.isAnyRAM && P2MType.foreign.isAnyRAM && !P2MType.mmioDirect.isAnyRAM)
        // Read-only types never allow writes in hardware; ioreq_server pages trap writes.
        for t in P2MType.allCases where t.isReadOnly { #expect(!t.hardwareAccess.contains(.write)) }
        #expect(!P2MType.ioreqServer.hardwareAccess.contains(.write))
        #expect(P2MAccess(letters: "r-x") == [.read, .execute])
        #expect(P2MAccess(letters: "rwz") == nil)
        #expect(P2MAccess.rwx.description == "rwx")
    }
}
