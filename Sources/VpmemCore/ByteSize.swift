/// A count of bytes as people write it: `4G`, `128K`, `2MiB`, `0x200000`, `4096`.
///
/// Suffixes K, M, G, T, P (optionally followed by `i`, `B` or `iB`) are powers of 1024, as in
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
                return "'\(s)': unknown size suffix '\(suffix)': use K, M, G, T or P (powers of 1024)"
            case .tooLarge(let s):
                return "'\(s)' does not fit in 64 bits (the largest size is 16E - 1 bytes)"
            }
        }
    }

    /// Parses a size; see the type's documentation for the accepted forms.
    public init(parsing text: String) throws(ParseError) {
        let s = text.trimmingWhitespace()
        guard !s.isEmpty else { throw .empty }
        var digits = Substring(s)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        let numberEnd = digits.firstIndex { !$0.isHexDigit || (radix == 10 && !$0.isNumber) } ?? digits.endIndex
        let number = digits[digits.startIndex..<numberEnd]
        var suffix = String(digits[numberEnd...])
        guard !number.isEmpty else { throw .notANumber(text) }
        guard let value = UInt64(number, radix: radix) else {
            // All digits but no UInt64: too many of them.
            throw .tooLarge(text)
        }
        if suffix.hasSuffix("B") || suffix.hasSuffix("b") { suffix.removeLast() }
        if suffix.hasSuffix("i") { suffix.removeLast() }
        let shift: UInt64
        switch suffix.uppercased() {
        case "": shift = 0
        case "K": shift = 10
        case "M": shift = 20
        case "G": shift = 30
        case "T": shift = 40
        case "P": shift = 50
        default: throw .unknownSuffix(text, suffix: String(digits[numberEnd...]))
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
