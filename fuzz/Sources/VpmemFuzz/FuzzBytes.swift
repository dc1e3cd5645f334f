/// A reader over a fuzzer input. Reading past the end yields zeros (for fixed fields) or a
/// shorter slice (for `take`), so every input, however short, decodes to some scenario: the
/// fuzzer never wastes executions on inputs a parser rejects.
struct FuzzBytes {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }
    var remaining: Int { max(0, bytes.count - position) }

    mutating func u8() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }

    mutating func u24() -> Int { Int(u8()) | Int(u8()) << 8 | Int(u8()) << 16 }

    /// Up to `count` bytes: fewer when the input ends first.
    mutating func take(_ count: Int) -> [UInt8] {
        let n = min(count, remaining)
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    /// Everything left.
    mutating func rest() -> [UInt8] { take(remaining) }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    /// A little-endian u32 at `offset` (the caller checks `offset + 4 <= count`).
    func le32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[offset + $1]) << (8 * UInt32($1)) }
    }
}
