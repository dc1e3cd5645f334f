/// A count of bytes as people write it: `4G`, `128K`, `2MiB`, `0x200000`, `4096`.
///
/// Suffixes K, M, G, T, P (optionally followed by `i`, `B` or `iB`; nothing else, and none of
/// those alone) are powers of 1024, as in
/// QEMU's `-object memory-backend-file,size=` and ndctl's `--size`. A value that does not fit in
/// 64 bits is an error, never a wrapped number.
public struct ByteSize: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let bytes: UInt64

    public init(bytes: UInt64) { self.bytes = bytes }

    public static let kib: UInt64 = 1 << 10
    public static let mib: UInt64 = 1 << 20
    public static let gib: UInt64 = 1 << 30
    public static let tib: UInt64 = 1 << 40

    public enum ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        case empty
        case notANumber(String)
        case unknownSuffix(String, suffix: String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .empty:
                return "empty size: give a number with an optional K, M, G or T suffix, e.g. 4G"
            case .notANumber(let s):
                return "'\(s)' is not a size: give a number with an optional K, M, G or T suffix, e.g. 4G"
            case let .unknownSuffix(s, suffix):
                return "'\(s)': unknown size suffix '\(suffix)': use K, M, G, T or P (powers of 1024, optionally with i, B or iB), or none for bytes"
            case .tooLarge(let s):
                return "'\(s)' does not fit in 64 bits (the largest size is 16E - 1 bytes)"
            }
        }
    }

    /// Parses a size; see the type's documentation for the accepted forms. Digits are ASCII;
    /// `i` and `B` only follow a unit letter (`5i`, `5B` and `5iB` are errors, not 5 bytes).
    public init(parsing text: String) throws(ParseError) {
        let s = text.trimmingWhitespace()
        guard !s.isEmpty else { throw .empty }
        var digits = Substring(s)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        let isDigit = { (c: Character) -> Bool in
            guard c.isASCII else { return false }
            return radix == 16 ? c.isHexDigit : c.isNumber
        }
        let numberEnd = digits.firstIndex { !isDigit($0) } ?? digits.endIndex
        let number = digits[digits.startIndex..<numberEnd]
        let suffix = String(digits[numberEnd...])
        guard !number.isEmpty else { throw .notANumber(text) }
        guard let value = UInt64(number, radix: radix) else {
            // All digits but no UInt64: too many of them.
            throw .tooLarge(text)
        }
        var shift: UInt64 = 0
        if let unit = suffix.first {
            switch unit {
            case "K", "k": shift = 10
            case "M", "m": shift = 20
            case "G", "g": shift = 30
            case "T", "t": shift = 40
            case "P", "p": shift = 50
            default: throw .unknownSuffix(text, suffix: suffix)
            }
            // After the unit: nothing, "i", "B" or "iB" (KiB, KB); "b" would be bits.
            guard ["", "i", "B", "iB"].contains(suffix.dropFirst()) else { throw .unknownSuffix(text, suffix: suffix) }
        }
        guard shift == 0 || value <= (UInt64.max >> shift) else { throw .tooLarge(text) }
        self.bytes = value << shift
    }

    public static func < (a: ByteSize, b: ByteSize) -> Bool { a.bytes < b.bytes }

    /// The shortest exact form: `4G`, `1536M`, `4097` (bytes when no suffix divides evenly).
    public var description: String {
        if bytes == 0 { return "0" }
        for (shift, suffix) in [(50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] as [(UInt64, String)] {
            if bytes & ((1 << shift) - 1) == 0 { return "\(bytes >> shift)\(suffix)" }
        }
        return "\(bytes)"
    }

    /// A rounded human form with one decimal, e.g. `1.5 GiB`, for reports.
    public var humanReadable: String {
        let units: [(UInt64, String)] = [(ByteSize.tib, "TiB"), (ByteSize.gib, "GiB"), (ByteSize.mib, "MiB"), (ByteSize.kib, "KiB")]
        for (unit, name) in units where bytes >= unit {
            let tenths = (bytes % unit) * 10 / unit
            return tenths == 0 ? "\(bytes / unit) \(name)" : "\(bytes / unit).\(tenths) \(name)"
        }
        return "\(bytes) B"
    }

    // Encoded as a plain number of bytes, so scripts read it without parsing suffixes.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(UInt64.self) { self.bytes = n; return }
        let s = try c.decode(String.self)
        do { self = try ByteSize(parsing: s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(bytes)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
