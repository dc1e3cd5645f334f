import Testing
@testable import NVDIMM

@Suite struct PfnInfoBlockTests {
    static let MiB: UInt64 = 1 << 20
    static let ns = NamespaceUUID("ba2a0e31-5646-406d-b5d0-a7f44d1dcb35")!
    static let pfn = NamespaceUUID("d3817527-dae6-4c94-85e1-997a58c1a8c4")!

    /// A 256 MiB fsdax namespace at a 1 GiB-aligned guest address, worked by hand from nd_pfn_init:
    /// npfns before the memmap = (256M - 8K) / 4K = 65534; memmap = 64 * 65534 = 4194176 bytes;
    /// 8K + 4194176 = 4202368 rounds up to the next 2M boundary, 6M: dataoff = 6291456;
    /// the end is 2M aligned: end_trunc = 0; npfns = (256M - 6M) / 4K = 64000; ndctl lists
    /// 256M - 6M = 250M (262144000 bytes).
    @Test func a256MiBNamespaceWorkedByHand() throws {
        let b = try PfnInfoBlock.fsdax(start: 0x9_0000_0000, size: 256 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns)
        #expect(b.dataoff == 6_291_456 && b.npfns == 64_000 && b.endTrunc == 0 && b.startPad == 0)
        #expect(b.align == 2_097_152 && b.mode == 2 && b.versionMajor == 1 && b.versionMinor == 4)
        #expect(b.pageSize == 4096 && b.pageStructSize == 64 && b.flags == 0)
        #expect(b.usableSize(namespaceSize: 256 * Self.MiB) == 262_144_000)
        let bytes = b.encode()
        #expect(bytes.count == 4096)
        #expect(Array(bytes[0..<16]) == Array("NVDIMM_PFN_INFO".utf8) + [0])
        #expect(Array(bytes[16..<32]) == [0xd3, 0x81, 0x75, 0x27, 0xda, 0xe6, 0x4c, 0x94, 0x85, 0xe1, 0x99, 0x7a, 0x58, 0xc1, 0xa8, 0xc4])
        #expect(Array(bytes[32..<48]) == Self.ns.bytes)
        #expect(bytes.readLE(UInt32.self, at: 48) == 0)
        #expect(bytes.readLE(UInt16.self, at: 52) == 1 && bytes.readLE(UInt16.self, at: 54) == 4)
        #expect(bytes.readLE(UInt64.self, at: 56) == 6_291_456)
        #expect(bytes.readLE(UInt64.self, at: 64) == 64_000)
        #expect(bytes.readLE(UInt32.self, at: 72) == 2)
        #expect(bytes.readLE(UInt32.self, at: 76) == 0 && bytes.readLE(UInt32.self, at: 80) == 0)
        #expect(bytes.readLE(UInt32.self, at: 84) == 2_097_152)
        #expect(bytes.readLE(UInt32.self, at: 88) == 4096 && bytes.readLE(UInt16.self, at: 92) == 64)
        #expect(bytes[94..<4088].allSatisfy { $0 == 0 })
        var zeroed = bytes
        for i in 4088..<4096 { zeroed[i] = 0 }
        #expect(bytes.readLE(UInt64.self, at: 4088) == LabelAreaTests.referenceFletcher(zeroed))
        #expect(PfnInfoBlock.decode(bytes) == { var c = b; c.checksum = bytes.readLE(UInt64.self, at: 4088); return c }())
        #expect(b.problems(parent: Self.ns, start: 0x9_0000_0000, size: 256 * Self.MiB).isEmpty)
    }

    /// The same namespace 1 MiB past a 2 MiB boundary: the end is cut back to a 2M boundary
    /// (end_trunc = 1M) and the data still starts on one: start + 8K + memmap lies 1M + 4202368
    /// = 5250944 bytes past the boundary below start, which rounds up to 6M; dataoff = 6M - 1M
    /// = 5242880; npfns = (256M - 5242880 - 1M) / 4K = 64000.
    @Test func aStartOffTheAlignmentIsPaddedLikeLinux() throws {
        let start: UInt64 = 0x9_0010_0000
        let b = try PfnInfoBlock.fsdax(start: start, size: 256 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns)
        #expect(b.endTrunc == 1_048_576 && b.dataoff == 5_242_880 && b.npfns == 64_000)
        #expect(b.usableSize(namespaceSize: 256 * Self.MiB) == 262_144_000)
        #expect(b.problems(parent: Self.ns, start: start, size: 256 * Self.MiB).isEmpty)
        // Moved by a page after the fact, Linux finds the data misaligned and refuses it.
        #expect(!b.problems(parent: Self.ns, start: start + 4096, size: 256 * Self.MiB).isEmpty)
    }

    /// The smallest fsdax namespace, 16M: memmap 64 * 4094 = 262016; 8K + 262016 rounds to 2M;
    /// npfns = 14M / 4K = 3584.
    @Test func theSmallestFsdaxNamespace() throws {
        let b = try PfnInfoBlock.fsdax(start: 1 << 32, size: 16 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns)
        #expect(b.dataoff == 2 * Self.MiB && b.npfns == 3584 && b.usableSize(namespaceSize: 16 * Self.MiB) == 14 * Self.MiB)
    }

    @Test func refusalsAndCorruptionAreErrorsNotCrashes() throws {
        #expect(throws: NamespaceError.pfnStartMisaligned(start: 0x1000_0200)) {
            try PfnInfoBlock.fsdax(start: 0x1000_0200, size: 16 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns)
        }
        #expect(throws: NamespaceError.self) { try PfnInfoBlock.fsdax(start: 0, size: 2 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns) }
        #expect(throws: NamespaceError.self) { try PfnInfoBlock.fsdax(start: .max - 4095, size: 16 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns) }
        let good = try PfnInfoBlock.fsdax(start: 0, size: 64 * Self.MiB, uuid: Self.pfn, parentUUID: Self.ns).encode()
        var flipped = good
        flipped[100] ^= 1
        #expect(PfnInfoBlock.decode(flipped) == nil, "checksum")
        #expect(PfnInfoBlock.decode(Array(good.dropLast())) == nil)
        #expect(PfnInfoBlock.decode([UInt8](repeating: 0, count: 4096)) == nil)
        let other = NamespaceUUID("00000000-0000-4000-8000-000000000001")!
        #expect(PfnInfoBlock.decode(good)!.problems(parent: other, start: 0, size: 64 * Self.MiB).first?.contains("parent_uuid") == true)
    }

    @Test func uuidsParseAndPrintAsLinuxDoes() {
        #expect(NamespaceUUID("BA2A0E31-5646-406D-B5D0-A7F44D1DCB35") == Self.ns)
        #expect(Self.ns.description == "ba2a0e31-5646-406d-b5d0-a7f44d1dcb35")
        for bad in ["", "ba2a0e31-5646-406d-b5d0-a7f44d1dcb3", "ba2a0e31-5646-406d-b5d0-a7f44d1dcb3g", "ba2a0e315646406db5d0a7f44d1dcb35", "ba2a0e31-5646-406d-b5d0a-7f44d1dcb35"] {
            #expect(NamespaceUUID(bad) == nil, "\(bad)")
        }
        #expect(NamespaceUUID("00000000-0000-0000-0000-000000000000")!.isNull)
        let r = NamespaceUUID.random()
        #expect(r.bytes[6] >> 4 == 4 && r.bytes[8] >> 6 == 2 && NamespaceUUID(r.description) == r)
    }
}
