import Testing
import GuestMemory

@Suite struct AddressTests {
    @Test func frameAndAddressConvertExplicitly() throws {
        let gfn = try Gfn.checked(0x12345)
        #expect(gfn.address == Gpa(0x12345000))
        #expect(Gpa(0x12345fff).frame == gfn)
        #expect(Gpa(0x12345fff).offsetInFrame == 0xfff)
        let mfn = try Mfn.checked(7)
        #expect(mfn.address == Maddr(0x7000))
    }

    @Test func frameNumbersStayInThe52BitSpace() throws {
        #expect(throws: AddressError.frameOutOfRange(what: "gfn", frame: 1 << 52)) { try Gfn.checked(1 << 52) }
        let top = try Gfn.checked(maxFrameNumber)
        #expect(top.address == Gpa(0xffff_ffff_ffff_f000))
        #expect(throws: AddressError.frameOutOfRange(what: "gfn", frame: 1 << 52)) { try top.advanced(by: 1) }
        #expect(throws: AddressError.overflow(what: "mfn", base: 5, offset: UInt64.max)) {
            try Mfn.checked(5).advanced(by: .max)
        }
    }

    @Test func addressArithmeticIsAnErrorNotAWrap() throws {
        #expect(throws: AddressError.overflow(what: "gpa", base: .max, offset: 1)) { try Gpa(.max).adding(1) }
        #expect(try Gpa(0x1000).lastByte(ofLength: 0x1000) == Gpa(0x1fff))
        #expect(try Gpa(0x1001).alignedUp(to: .size2M) == Gpa(0x200000))
        #expect(try Gpa(0x40000000).alignedUp(to: .size1G) == Gpa(0x40000000))
        #expect(throws: AddressError.self) { try Gpa(.max - 5).alignedUp(to: .size4K) }
        #expect(throws: AddressError.underflow(what: "gfn", base: 1, offset: 2)) {
            try Gfn.checked(1).distance(from: Gfn.checked(2))
        }
    }

    @Test func pageOrdersAreTheThreeLeafSizes() {
        #expect(PageOrder.size4K.bytes == 4096)
        #expect(PageOrder.size2M.bytes == 2 << 20)
        #expect(PageOrder.size1G.bytes == 1 << 30)
        #expect(PageOrder.size2M.frames == 512)
        #expect(Gfn(uncheckedRaw: 0x201).alignedDown(to: .size2M) == Gfn(uncheckedRaw: 0x200))
        #expect(Gfn(uncheckedRaw: 0x40000).isAligned(to: .size1G))
        #expect(!Gfn(uncheckedRaw: 0x40200).isAligned(to: .size1G))
    }
}
