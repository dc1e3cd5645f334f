import Testing
@testable import VpmemCLI

/// The CLI's value parsers: exactly the documented forms, 64-bit range checks, and round trips
/// against Swift's own formatting of random values.
@Suite struct ParsersTests {
    @Test func wholeNumbersAcceptDecimalAndHexOnly() throws {
        #expect(try Parsers.wholeNumber("0", in: 0...10) == 0)
        #expect(try Parsers.wholeNumber("0x0a", in: 0...10) == 10)
        #expect(try Parsers.wholeNumber("18446744073709551615", in: 0...UInt64.max) == UInt64.max)
        for bad in ["", "+1", "-1", " 1", "1 ", "0x", "0xg", "1_000", "1e3", "\u{663}", "0b1", "١"] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try Parsers.wholeNumber(bad, in: 0...UInt64.max) }
        }
        #expect(throws: ValueError.self) { try Parsers.wholeNumber("18446744073709551616", in: 0...UInt64.max) }
        #expect(throws: ValueError.self) { try Parsers.wholeNumber("11", in: 0...10) }
        #expect(try Parsers.integer("4294967295", as: UInt32.self) == UInt32.max)
        #expect(throws: ValueError.self) { try Parsers.integer("4294967296", as: UInt32.self) }
    }

    @Test func wholeNumbersRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let v = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)
            #expect(try Parsers.wholeNumber(String(v), in: 0...UInt64.max) == v)
            #expect(try Parsers.wholeNumber("0x" + String(v, radix: 16, uppercase: Bool.random(using: &rng)), in: 0...UInt64.max) == v)
        }
    }

    @Test func countsTakePowersOfAThousand() throws {
        #expect(try Parsers.count("10M", in: 1...UInt64.max) == 10_000_000)
        #expect(try Parsers.count("1k", in: 1...UInt64.max) == 1_000)
        for bad in ["", "M", "1.5M", "-1", "+1", "1T", "0x10", "99999999999999999999", "18446744073709552G"] {
            #expect(throws: ValueError.self, "\(bad)") { try Parsers.count(bad, in: 1...UInt64.max) }
        }
    }

    @Test func durationsAreExactAndBounded() throws {
        #expect(try Parsers.duration("0.5") == .milliseconds(500))
        #expect(try Parsers.duration("30") == .seconds(30))
        #expect(try Parsers.duration("0.000000001") == .nanoseconds(1))
        #expect(try Parsers.duration("9223372036") == .seconds(9_223_372_036))
        for bad in ["nan", "inf", "-inf", "1e300", "1e19", "-1", "0", "0.0", "", ".5", "5.", "1.5.5", "0.0000000001", "9223372037", "18446744073709551616", "1s", " 1", "+1"] {
            #expect(throws: ValueError.self, "\(bad)") { try Parsers.duration(bad) }
        }
    }

    @Test func fractionsAreDecimalsFromZeroToOne() throws {
        #expect(try Parsers.fraction("0") == 0 && Parsers.fraction("1") == 1 && Parsers.fraction("0.25") == 0.25 && Parsers.fraction("1.0") == 1)
        for bad in ["nan", "inf", "-0.1", "1.01", "2", "1e-1", ".5", "0.", "", "0x1", "+0.5", "0,5"] {
            #expect(throws: ValueError.self, "\(bad)") { try Parsers.fraction(bad) }
        }
    }

    @Test func hexDataIsPairsOfDigits() throws {
        #expect(try Parsers.hexBytes("0a1B", limit: 10) == [0x0a, 0x1b])
        #expect(try Parsers.hexBytes("0a:1b 2c", limit: 10) == [0x0a, 0x1b, 0x2c])
        #expect(try Parsers.hexBytes("", limit: 10) == [])
        for bad in ["+f+f", "f", "0g", ":0a", "0a:", "0a::0b", "0 a", "0x0a", "ｆｆ", "0a\u{0}"] {
            #expect(throws: ValueError.self, "\(bad.debugDescription)") { try Parsers.hexBytes(bad, limit: 10) }
        }
        #expect(throws: ValueError.hexTooLong("000000", bytes: 3, limit: 2)) { try Parsers.hexBytes("000000", limit: 2) }
    }

    @Test func uuidsAreEightFourFourFourTwelve() throws {
        #expect(try Parsers.uuid("4309ac30-0d11-11e4-9191-0800200c9a66") == "4309AC30-0D11-11E4-9191-0800200C9A66")
        for bad in ["", "nonsense", "4309ac30-0d11-11e4-9191-0800200c9a6", "4309ac300d1111e491910800200c9a66", "{4309ac30-0d11-11e4-9191-0800200c9a66}",
                    "4309ac30-0d11-11e4-9191-0800200c9a6g", "4309ac30_0d11-11e4-9191-0800200c9a66", " 4309ac30-0d11-11e4-9191-0800200c9a66"] {
            #expect(throws: ValueError.self, "\(bad)") { try Parsers.uuid(bad) }
        }
    }

    @Test func errorLinesAreOneLineAndCut() {
        let line = ErrorReport.oneLine("a\u{1b}[31mb\nc " + String(repeating: "x", count: 10_000) + ": fix it")
        #expect(!line.contains("\n") && !line.contains("\u{1b}") && line.contains("\\u{1B}") && line.hasSuffix(": fix it"))
        #expect(line.count < 400)
        let long = ErrorReport.oneLine(String(repeating: "word ", count: 2000) + "the fix")
        #expect(long.count <= ErrorReport.lineLimit + 5 && long.hasSuffix("the fix"))
        #expect(Echo.quoted(String(repeating: "y", count: 500)).hasSuffix("(380 more characters)"))
    }
}
