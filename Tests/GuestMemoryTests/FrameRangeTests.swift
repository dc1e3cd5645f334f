import VpmemTestSupport
import Testing
import GuestMemory

@Suite struct FrameRangeTests {
    @Test func aOneFrameRange() throws {
        let r = try MfnRange(first: Mfn.checked(0x1234), count: 1)
        #expect(r.first == r.last)
        #expect(r.count == 1)
        #expect(r.end == 0x1235)
        #expect(r == (try MfnRange(first: Mfn.checked(0x1234), last: Mfn.checked(0x1234))))
        #expect(r == MfnRange(uncheckedFirst: 0x1234, end: 0x1235))
        #expect(r.contains(Mfn(uncheckedRaw: 0x1234)))
        #expect(!r.contains(Mfn(uncheckedRaw: 0x1233)) && !r.contains(Mfn(uncheckedRaw: 0x1235)))
        #expect(r.intersection(r) == r)
        #expect(r.maddrs == (try MaddrRange(first: Maddr(0x123_4000), last: Maddr(0x123_4fff))))
        #expect(r.description == "mfn [0x1234, 0x1234]")
    }

    /// A range whose last frame is the last of the 52-bit frame space: `end` is 2^52 (one past,
    /// not a frame), nothing wraps, one more frame is refused.
    @Test func aRangeEndingAtTheTopOfTheFrameSpace() throws {
        let top = try Gfn.checked(maxFrameNumber)
        let r = try GfnRange(first: Gfn.checked(maxFrameNumber - 15), count: 16)
        #expect(r.last == top)
        #expect(r.end == 1 << 52)
        #expect(r.count == 16)
        #expect(r == GfnRange(uncheckedFirst: maxFrameNumber - 15, end: 1 << 52))
        #expect(r.gpas.last == Gpa(UInt64.max))
        #expect(throws: MappingError.beyondFrameSpace(first: maxFrameNumber - 15, count: 17)) {
            try GfnRange(first: Gfn.checked(maxFrameNumber - 15), count: 17)
        }
        let whole = try GfnRange(first: Gfn.checked(0), count: 1 << 52)
        #expect(whole.count == 1 << 52 && whole.end == 1 << 52 && whole.contains(r))
        #expect(throws: MappingError.beyondFrameSpace(first: 0, count: 1 << 52 + 1)) {
            try GfnRange(first: Gfn(uncheckedRaw: 0), last: Gfn(uncheckedRaw: 1 << 52))
        }
        #expect(throws: MappingError.emptyRange(first: 5, count: 0)) { try GfnRange(first: Gfn.checked(5), count: 0) }
        #expect(throws: MappingError.emptyRange(first: 5, count: 0)) { try GfnRange(first: Gfn.checked(5), last: Gfn.checked(4)) }
    }

    /// contains, overlaps, intersection, count, end and ordering against sets of frames.
    @Test func followsASetOfFrames() async {
        await checkProperty(count: 300, input: Gen.uint64(in: 0...60), Gen.uint64(in: 1...20), Gen.uint64(in: 0...60), Gen.uint64(in: 1...20)) { a0, an, b0, bn in
            let a = try MfnRange(first: Mfn.checked(a0), count: an)
            let b = MfnRange(uncheckedFirst: b0, end: b0 + bn)
            let sa = Set(a0..<(a0 + an)), sb = Set(b0..<(b0 + bn))
            #expect(a.count == UInt64(sa.count) && a.end == sa.max()! + 1)
            #expect(a.overlaps(b) == !sa.isDisjoint(with: sb))
            #expect(a.contains(b) == sb.isSubset(of: sa))
            let i = a.intersection(b)
            #expect(i.map { Set($0.first.raw...$0.last.raw) } ?? [] == sa.intersection(sb))
            #expect((a < b) == ((a0, a0 + an) < (b0, b0 + bn)))
            for m in UInt64(0)...81 { #expect(a.contains(Mfn(uncheckedRaw: m)) == sa.contains(m)) }
        }
    }

    /// `merging` gives the same frames as the union, sorted, with no two ranges touching.
    @Test func mergingIsTheUnionInCanonicalForm() async {
        await checkProperty(count: 200, input: Gen.uint64(in: 0...200).array(of: 0...30)) { words in
            let ranges = words.map { w in MfnRange(uncheckedFirst: w % 100, end: w % 100 + 1 + w / 100 * 3) }
            let merged = MfnRange.merging(ranges)
            var want = Set<UInt64>()
            for r in ranges { want.formUnion(r.first.raw..<r.end) }
            var got = Set<UInt64>()
            for r in merged { got.formUnion(r.first.raw..<r.end) }
            #expect(got == want)
            for (a, b) in zip(merged, merged.dropFirst()) { #expect(a.end < b.first.raw, "\(a) and \(b) touch or are unsorted") }
        }
    }
}

@Suite struct DomainIDTests {
    @Test func guestsAndXensReservedIds() throws {
        #expect(try DomainID(0).isGuest)
        #expect(try DomainID(0x7FEF).isGuest)
        #expect(throws: MappingError.reservedDomainID(0x7FF0)) { try DomainID(0x7FF0) }
        #expect(DomainID.xen.raw == 0x7FF2 && !DomainID.xen.isGuest)
        #expect(DomainID.invalid.raw == 0x7FF4 && !DomainID.invalid.isGuest)
        #expect(DomainID.xen.description == "DOMID_XEN")
        #expect(DomainID.invalid.description == "DOMID_INVALID")
        #expect(try DomainID(7).description == "d7")
        #expect(DomainID(uncheckedRaw: 0x7FF1).description == "domid 0x7ff1")
        #expect(try DomainID(3) < DomainID.xen)
    }
}
