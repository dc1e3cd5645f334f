import Testing
import GuestMemory
import VpmemTestSupport
@testable import NVDIMM

@Suite struct InterleaveSetCookieTests {
    /// One memory device of an interleave set, as the cookie uses it.
    struct Record: Sendable {
        var handle: UInt32
        var offset: UInt64
        var serial: UInt32
        var vendor: UInt16
        var date: UInt16
        var location: UInt8
    }

    /// The cookie computed the slow, obvious way, sharing nothing with the library: records
    /// sorted by insertion, each turned into 32-bit words directly (v1.1: offset low, offset
    /// high, serial, 0; v1.2: offset low, offset high, serial, vendor | date << 16, location,
    /// then 7 zero words), then Fletcher-64 over the words.
    static func naiveCookie(_ records: [Record], v12: Bool, byOffsetBytes: Bool = false) -> UInt64 {
        func before(_ a: Record, _ b: Record) -> Bool {
            guard byOffsetBytes else { return a.offset < b.offset }
            for i in 0..<8 {  // memcmp of the little-endian bytes
                let x = UInt8(truncatingIfNeeded: a.offset >> (8 * UInt64(i))), y = UInt8(truncatingIfNeeded: b.offset >> (8 * UInt64(i)))
                if x != y { return x < y }
            }
            return false
        }
        var sorted: [Record] = []
        for r in records {
            var i = sorted.count
            while i > 0 && before(r, sorted[i - 1]) { i -= 1 }
            sorted.insert(r, at: i)
        }
        var words: [UInt32] = []
        for r in sorted {
            words += [UInt32(truncatingIfNeeded: r.offset), UInt32(truncatingIfNeeded: r.offset >> 32), r.serial]
            words += v12 ? [UInt32(r.vendor) | UInt32(r.date) << 16, UInt32(r.location)] + Array(repeating: 0, count: 7) : [0]
        }
        var lo: UInt32 = 0, hi: UInt64 = 0
        for w in words { lo &+= w; hi &+= UInt64(lo) }
        return hi << 32 | UInt64(lo)
    }

    /// A FIT written out by hand: one SPA range (index 2), a memory device map per record (in
    /// the order given) and a control region per record.
    static func fit(_ records: [Record]) -> [UInt8] {
        var b: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        le(UInt16(0)); le(UInt16(56)); le(UInt16(2)); le(UInt16(3)); le(UInt32(0)); le(UInt32(0))
        b += NFITBuilder.persistentMemoryRangeGUID
        le(UInt64(1 << 32)); le(UInt64(records.count) << 30); le(UInt64(0x8008))
        for (i, r) in records.enumerated() {
            le(UInt16(1)); le(UInt16(48)); le(r.handle); le(UInt16(0)); le(UInt16(0)); le(UInt16(2)); le(UInt16(10 + i))
            le(UInt64(1 << 30)); le(r.offset); le(UInt64(0)); le(UInt16(i)); le(UInt16(records.count)); le(UInt16(0)); le(UInt16(0))
        }
        for (i, r) in records.enumerated() {
            let start = b.count
            le(UInt16(4)); le(UInt16(80)); le(UInt16(10 + i)); le(r.vendor); le(UInt16(1)); le(UInt16(1))
            le(UInt16(0)); le(UInt16(0)); le(UInt16(0)); b.append(1); b.append(r.location); le(r.date); le(UInt16(0)); le(r.serial)
            b += [UInt8](repeating: 0, count: start + 80 - b.count)
        }
        return b
    }

    /// Worked by hand from Linux's algorithm for vpmem's vNVDIMM in slot 0 (region offset 0,
    /// serial 0x123456, vendor 0x8086, manufacturing date and location 0):
    /// - v1.1 record = words 0, 0, 0x00123456, 0. Running sums: lo = 0, 0, 0x123456, 0x123456;
    ///   hi = 0 + 0 + 0x123456 + 0x123456 = 0x2468AC. Cookie 0x002468AC_00123456.
    /// - v1.2 record = words 0, 0, 0x00123456, 0x00008086, then 8 zero words. lo ends at
    ///   0x123456 + 0x8086 = 0x12B4DC, reached at the 4th word and added to hi 9 times:
    ///   hi = 0x123456 + 9 * 0x12B4DC = 0x123456 + 0xA85BBC = 0xBA9012. Cookie 0x00BA9012_0012B4DC.
    @Test func workedExampleForTheNVDIMMInSlot0() throws {
        let fit = try NFITBuilder(nvdimms: [VirtualNVDIMM(slot: 0, base: Gpa(0x9_0000_0000), size: 1 << 30)], persistenceDomain: .cpu).structures()
        let c = try InterleaveSetCookie(fit: fit, rangeIndex: 2)
        #expect(c.v1_1 == 0x0024_68AC_0012_3456)
        #expect(c.v1_2 == 0x00BA_9012_0012_B4DC)
        #expect(c.v1_1Alternate == c.v1_1, "one device: both sort orders agree")
        #expect(c.positions == [1: 0])
        #expect(c.cookie(labelSize: 128) == c.v1_1 && c.cookie(labelSize: 256) == c.v1_2)
        let region = try NamespaceRegion(fit: fit, rangeIndex: 2, deviceHandle: 1)
        #expect(region.base == 0x9_0000_0000 && region.size == 1 << 30 && region.position == 0 && region.mappings == 1)
        #expect(region.typeGUID == NFITBuilder.persistentMemoryRangeGUID)
    }

    /// Every vNVDIMM of a guest gets the cookies of its own serial number, from the NFIT
    /// vpmem builds, and they agree with the naive computation.
    @Test func eachSlotsCookieFollowsItsSerial() throws {
        let slots = [0, 1, 7, 200, 255]
        let dimms = slots.enumerated().map { i, s in VirtualNVDIMM(slot: s, base: Gpa(0x10_0000_0000 + UInt64(i) << 32), size: 2 << 20) }
        let fit = try NFITBuilder(nvdimms: dimms).structures()
        for d in dimms {
            let c = try InterleaveSetCookie(fit: fit, rangeIndex: d.spaRangeIndex)
            let r = Record(handle: d.handle, offset: 0, serial: 0x123456 + UInt32(d.slot), vendor: 0x8086, date: 0, location: 0)
            #expect(c.v1_1 == Self.naiveCookie([r], v12: false), "slot \(d.slot)")
            #expect(c.v1_2 == Self.naiveCookie([r], v12: true), "slot \(d.slot)")
        }
        // Slot 3 by hand: serial 0x123459, lo1.1 = 0x123459, hi = 2 * lo; lo1.2 = 0x123459 + 0x8086 = 0x12B4DF, hi = 0x123459 + 9 * lo.
        let fit3 = try NFITBuilder(nvdimms: [VirtualNVDIMM(slot: 3, base: Gpa(1 << 32), size: 2 << 20)]).structures()
        let c3 = try InterleaveSetCookie(fit: fit3, rangeIndex: 8)
        #expect(c3.v1_1 == 0x0024_68B2_0012_3459 && c3.v1_2 == 0x00BA_9030_0012_B4DF)
    }

    /// Interleave sets with devices listed out of order: sorted by region offset (v1.1, v1.2),
    /// by the offset's bytes (the alternate v1.1 cookie), positions from the v1.2 sort.
    @Test func interleaveSetsSortByRegionOffset() async {
        let record = zip(Gen.uint64(in: 0...(1 << 40)), Gen.uint32(), Gen.uint16(), Gen.uint16(), Gen.uint8())
        await checkProperty(count: 200, input: record.array(of: 1...6)) { raw in
            var seen = Set<UInt64>()
            let records = raw.enumerated().compactMap { i, x -> Record? in
                guard seen.insert(x.0 << 12).inserted else { return nil }
                return Record(handle: UInt32(i + 1), offset: x.0 << 12, serial: x.1, vendor: x.2, date: x.3, location: x.4)
            }
            let c = try InterleaveSetCookie(fit: Self.fit(records), rangeIndex: 2)
            #expect(c.v1_1 == Self.naiveCookie(records, v12: false))
            #expect(c.v1_2 == Self.naiveCookie(records, v12: true))
            #expect(c.v1_1Alternate == Self.naiveCookie(records, v12: false, byOffsetBytes: true))
            let order = records.sorted { $0.offset < $1.offset }.map(\.handle)
            #expect(order.enumerated().allSatisfy { i, h in c.positions[h] == UInt16(i) })
        }
    }

    @Test func malformedOrIncompleteNFITsAreErrorsNotCrashes() throws {
        let good = Self.fit([Record(handle: 1, offset: 0, serial: 5, vendor: 1, date: 2, location: 3)])
        #expect(throws: NamespaceError.nfitNoRange(index: 4)) { try InterleaveSetCookie(fit: good, rangeIndex: 4) }
        #expect(throws: NamespaceError.self) { try InterleaveSetCookie(fit: Array(good.dropLast(1)), rangeIndex: 2) }
        var shortLength = good
        shortLength[2] = 3  // a structure claiming 3 bytes
        #expect(throws: NamespaceError.nfitMalformed(offset: 0, reason: "structure type 0 has length 3, past the end or below 4")) {
            try InterleaveSetCookie(fit: shortLength, rangeIndex: 2)
        }
        let noDCR = Array(good[0..<(56 + 48)])
        #expect(throws: NamespaceError.nfitNoControlRegion(rangeIndex: 2, controlRegionIndex: 10)) { try InterleaveSetCookie(fit: noDCR, rangeIndex: 2) }
        #expect(throws: NamespaceError.nfitNoMapping(index: 2)) { try InterleaveSetCookie(fit: Array(good[0..<56]), rangeIndex: 2) }
        for cut in 0..<good.count { _ = try? NFITStructureReader(fit: Array(good[0..<cut])) }
    }
}
