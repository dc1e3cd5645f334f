import Testing
import VpmemCore

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("4096", UInt64(4096)), ("4K", 4096), ("4k", 4096), ("128KiB", 131_072), ("2M", 2 << 20),
        ("2MB", 2 << 20), ("4G", 4 << 30), ("1T", 1 << 40), ("0x200000", 0x200000), (" 8G ", 8 << 30),
        ("16383P", 16383 << 50),
    ])
    func parses(text: String, bytes: UInt64) throws {
        #expect(try ByteSize(parsing: text).bytes == bytes)
    }

    @Test func rejectsGarbageWithTheProblemNamed() {
        #expect(throws: ByteSize.ParseError.empty) { try ByteSize(parsing: "") }
        #expect(throws: ByteSize.ParseError.notANumber("G")) { try ByteSize(parsing: "G") }
        #expect(throws: ByteSize.ParseError.unknownSuffix("4X", suffix: "X")) { try ByteSize(parsing: "4X") }
        #expect(throws: ByteSize.ParseError.unknownSuffix("4.5G", suffix: ".5G")) { try ByteSize(parsing: "4.5G") }
    }

    @Test(arguments: ["4KiB", "4KB", "4Ki", "4k", "4kiB"])
    func aUnitTakesIAndB(text: String) throws {
        #expect(try ByteSize(parsing: text).bytes == 4096)
    }

    /// `i` and `B` belong to a unit: alone they used to vanish, so `5i` and `5iB` meant 5 bytes.
    @Test(arguments: ["5i", "5iB", "5B", "5b", "4Kb", "4KiBB", "4KBi", "4Ki B", "4ii"])
    func rejectsSuffixesWithoutAUnit(text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize(parsing: text) }
    }

    @Test func digitsAreASCII() {
        // U+0663 ARABIC-INDIC DIGIT THREE is a number to Character but not a size digit.
        #expect(throws: ByteSize.ParseError.notANumber("\u{663}M")) { try ByteSize(parsing: "\u{663}M") }
        #expect(throws: ByteSize.ParseError.notANumber("0x\u{FF11}")) { try ByteSize(parsing: "0x\u{FF11}") }
    }

    @Test func neverWrapsPast64Bits() {
        // 16384P is exactly 2^64: one past the largest value.
        #expect(throws: ByteSize.ParseError.tooLarge("16384P")) { try ByteSize(parsing: "16384P") }
        #expect(throws: ByteSize.ParseError.tooLarge("18446744073709551616")) {
            try ByteSize(parsing: "18446744073709551616")
        }
        #expect(throws: ByteSize.ParseError.tooLarge("17179869184G")) { try ByteSize(parsing: "17179869184G") }
    }

    @Test func printsTheShortestExactForm() throws {
        #expect(ByteSize(bytes: 4 << 30).description == "4G")
        #expect(ByteSize(bytes: 1536 << 20).description == "1536M")
        #expect(ByteSize(bytes: 4097).description == "4097")
        #expect(ByteSize(bytes: 1536 << 20).humanReadable == "1.5 GiB")
        for text in ["4G", "1536M", "4097", "3T", "0"] {
            #expect(try ByteSize(parsing: text).description == text)
        }
    }
}
