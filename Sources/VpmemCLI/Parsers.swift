import Foundation
import VpmemCore

/// The CLI's value parsers, one per kind of value, each accepting exactly the forms its help
/// names and range-checking in 64 bits before narrowing. They are `transform:`s of options, so a
/// bad value stops the command before it touches anything (exit status 2).
///
/// Forms:
/// - size: ByteSize's (`4G`, `128KiB`, `0x200000`, `4096`); config files use the same parser.
/// - whole number: ASCII decimal digits, or `0x` and hex digits; no sign, no spaces.
/// - count: a whole number, optionally with K, M or G (powers of 1000): `10M`.
/// - duration: seconds, decimal digits with an optional fraction of up to 9 digits (`0.5`).
/// - fraction: a decimal from 0 to 1 (`0.3`), digits and one point only.
/// - hex data: two hex digits a byte, optionally separated by `:` or spaces between bytes.
/// - UUID: 8-4-4-4-12 hex digits.
enum ValueError: Error, Equatable, CustomStringConvertible {
    case size(ByteSize.ParseError)
    case notWholeNumber(String, range: String)
    case outOfRange(String, range: String)
    case notCount(String, range: String)
    case notDuration(String)
    case durationTooLong(String)
    case notFraction(String)
    case notHex(String, reason: String)
    case hexTooLong(String, bytes: Int, limit: Int)
    case notUUID(String)
    case empty(what: String, example: String)
    case controlCharacter(String)
    case notAddress(String)

    var description: String {
        switch self {
        case .size(let e):
            // ByteSize's own text repeats the value; the CLI's line names it once, before this.
            switch e {
            case .empty: return "empty: give a number with an optional K, M, G, T or P suffix, e.g. 4G"
            case .notANumber: return "not a size: give a number with an optional K, M, G, T or P suffix, e.g. 4G"
            case let .unknownSuffix(_, suffix):
                return "unknown size suffix \(Echo.quoted(suffix)): use K, M, G, T or P (powers of 1024, optionally with i, B or iB), or none for bytes"
            case .tooLarge: return "does not fit in 64 bits (the largest size is 16E - 1 bytes): give a smaller size"
            }
        case let .notWholeNumber(_, range):
            return "not a whole number: give \(range), in decimal or as 0x and hex digits"
        case let .outOfRange(_, range):
            return "out of range: give \(range)"
        case let .notCount(_, range):
            return "not a count: give \(range), a whole number optionally with K, M or G (powers of 1000: 10M is 10,000,000)"
        case .notDuration:
            return "not a duration: give seconds as digits with an optional fraction, e.g. 30 or 0.5"
        case .durationTooLong:
            return "too long: give at most \(Parsers.maxDurationSeconds) seconds"
        case .notFraction:
            return "not a fraction: give a decimal from 0 to 1, e.g. 0.3"
        case let .notHex(_, reason):
            return "not hex data (\(reason)): give two hex digits a byte, e.g. 0a1b2c or 0a:1b:2c"
        case let .hexTooLong(_, bytes, limit):
            return "\(bytes) bytes is too long: give at most \(limit)"
        case .notUUID:
            return "not a UUID: give 8-4-4-4-12 hex digits, e.g. 4309ac30-0d11-11e4-9191-0800200c9a66"
        case let .empty(what, example):
            return "empty: give \(what), e.g. \(example)"
        case .controlCharacter:
            return "contains a control character: remove it"
        case .notAddress:
            return "not an address: use up to 16 hex digits after 0x (0x140000000) or a size (5G)"
        }
    }
}

enum Parsers {
    /// `--seconds` and the like: at most this many (about 292 years in nanoseconds, Int64).
    static let maxDurationSeconds: UInt64 = UInt64(Int64.max) / 1_000_000_000

    static func size(_ text: String) throws(ValueError) -> ByteSize {
        do { return try ByteSize(parsing: text) } catch { throw .size(error) }
    }

    /// A whole number in `range`: decimal digits, or `0x` then hex digits.
    static func wholeNumber(_ text: String, in range: ClosedRange<UInt64>) throws(ValueError) -> UInt64 {
        let rangeText = "\(range.lowerBound) to \(range.upperBound)"
        guard !text.isEmpty else { throw .empty(what: rangeText, example: "\(range.lowerBound)") }
        var digits = Substring(text)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && (radix == 16 ? $0.isHexDigit : $0.isNumber) }) else {
            throw .notWholeNumber(text, range: rangeText)
        }
        guard let v = UInt64(digits, radix: radix), range.contains(v) else { throw .outOfRange(text, range: rangeText) }
        return v
    }

    /// A whole number that fits `T` (and `range`, when given).
    static func integer<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as: T.Type, in range: ClosedRange<UInt64>? = nil) throws(ValueError) -> T {
        let v = try wholeNumber(text, in: range ?? 0...UInt64(T.max))
        return T(v)
    }

    /// A whole number in `range` as an Int (slots, pages, guests).
    static func int(_ text: String, in range: ClosedRange<Int>) throws(ValueError) -> Int {
        Int(try wholeNumber(text, in: UInt64(range.lowerBound)...UInt64(range.upperBound)))
    }

    /// A count with K, M, G (powers of 1000), in `range`.
    static func count(_ text: String, in range: ClosedRange<UInt64>) throws(ValueError) -> UInt64 {
        let rangeText = "\(range.lowerBound) to \(range.upperBound)"
        var digits = Substring(text)
        var multiplier: UInt64 = 1
        switch digits.last {
        case "K", "k": multiplier = 1_000
        case "M", "m": multiplier = 1_000_000
        case "G", "g": multiplier = 1_000_000_000
        default: break
        }
        if multiplier > 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .notCount(text, range: rangeText) }
        guard let v = UInt64(digits) else { throw .outOfRange(text, range: rangeText) }
        let (product, overflow) = v.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(product) else { throw .outOfRange(text, range: rangeText) }
        return product
    }

    /// Seconds with an optional fraction (at most nanoseconds), more than 0.
    static func duration(_ text: String) throws(ValueError) -> Duration {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        let ascii = { (s: Substring) in s.allSatisfy { $0.isASCII && $0.isNumber } }
        guard !whole.isEmpty, ascii(whole), ascii(fraction), fraction.count <= 9, parts.count == 1 || !fraction.isEmpty else {
            throw .notDuration(text)
        }
        guard let seconds = UInt64(whole), seconds <= maxDurationSeconds else { throw .durationTooLong(text) }
        let nanos = UInt64(fraction + String(repeating: "0", count: 9 - fraction.count)) ?? 0
        let (total, overflow) = (seconds * 1_000_000_000).addingReportingOverflow(nanos)
        guard !overflow, total <= UInt64(Int64.max) else { throw .durationTooLong(text) }
        guard total > 0 else { throw .notDuration(text) }
        return .nanoseconds(Int64(total))
    }

    /// A decimal from 0 to 1: `0`, `1`, `0.25`, `1.0`.
    static func fraction(_ text: String) throws(ValueError) -> Double {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let digits = { (s: Substring) in s.allSatisfy { $0.isASCII && $0.isNumber } }
        let wellFormed = parts.allSatisfy(digits) && !parts[0].isEmpty && (parts.count == 1 || !parts[1].isEmpty)
        guard wellFormed, let v = Double(text), v <= 1 else { throw .notFraction(text) }
        return v
    }

    /// Hex bytes: pairs of hex digits; a `:` or a space may separate two bytes.
    static func hexBytes(_ text: String, limit: Int) throws(ValueError) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        var separatorAllowed = false
        var endsWithSeparator = false
        for c in text.unicodeScalars {
            if c == ":" || c == " " {
                guard separatorAllowed else { throw .notHex(text, reason: "a separator must come between two bytes") }
                separatorAllowed = false
                endsWithSeparator = true
                continue
            }
            guard c.properties.isASCIIHexDigit, let d = UInt8(String(c), radix: 16) else {
                throw .notHex(text, reason: "\(Echo.quoted(String(c))) is not a hex digit")
            }
            endsWithSeparator = false
            if let h = high {
                out.append(h << 4 | d)
                high = nil
                separatorAllowed = true
                guard out.count <= limit else { throw .hexTooLong(text, bytes: out.count, limit: limit) }
            } else {
                high = d
                separatorAllowed = false
            }
        }
        guard high == nil else { throw .notHex(text, reason: "an odd number of digits") }
        guard !endsWithSeparator else { throw .notHex(text, reason: "a separator must come between two bytes") }
        return out
    }

    /// A UUID, returned in upper case (how the device models compare them).
    static func uuid(_ text: String) throws(ValueError) -> String {
        guard !text.isEmpty else { throw .empty(what: "a UUID", example: "4309ac30-0d11-11e4-9191-0800200c9a66") }
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12],
              groups.allSatisfy({ $0.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit) }) else {
            throw .notUUID(text)
        }
        return text.uppercased()
    }

    /// Text with no control characters (names, paths).
    static func plainText(_ text: String) throws(ValueError) -> String {
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw .controlCharacter(text)
        }
        return text
    }
}

// `transform:` adapters: ArgumentParser wants `(String) throws -> T`.
func parseSlot(_ text: String) throws -> Int { try Parsers.int(text, in: 0...255) }
func parseUInt32(_ text: String) throws -> UInt32 { try Parsers.integer(text, as: UInt32.self) }
func parseUInt64(_ text: String) throws -> UInt64 { try Parsers.integer(text, as: UInt64.self) }
func parseDuration(_ text: String) throws -> Duration { try Parsers.duration(text) }
func parseFraction(_ text: String) throws -> Double { try Parsers.fraction(text) }
func parseUUID(_ text: String) throws -> String { try Parsers.uuid(text) }
func parsePlainText(_ text: String) throws -> String { try Parsers.plainText(text) }
