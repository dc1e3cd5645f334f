/// The one little-endian reader and writer for the bytes vNVDIMMs exchange with guests: ACPI
/// tables, the DSM page, label areas. Every module packs and unpacks those bytes through these,
/// never by shifting bytes by hand.
///
/// Reads from byte collections are checked: a read past the end is nil, never a trap. The
/// raw-memory forms are for hot paths whose callers have checked the bounds (the DSM handler).
public enum LittleEndian {
    /// `value`'s bytes, least significant first.
    @inlinable
    public static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    @inlinable
    public static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The `T` at `offset`, or nil when it does not lie wholly within `bytes`.
    @inlinable
    public static func read<T: FixedWidthInteger, C: RandomAccessCollection<UInt8>>(_ type: T.Type, from bytes: C, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        var i = bytes.index(bytes.startIndex, offsetBy: offset)
        for shift in 0..<size {
            value |= T(truncatingIfNeeded: bytes[i]) << (8 * shift)
            i = bytes.index(after: i)
        }
        return value
    }

    /// Overwrites the bytes at `offset`; the caller guarantees `offset + size <= bytes.count`.
    @inlinable
    public static func write<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    /// The `T` at `offset` of raw memory; the caller guarantees the bounds.
    @inlinable
    public static func load<T: FixedWidthInteger>(_ type: T.Type, from memory: UnsafeRawBufferPointer, at offset: Int) -> T {
        T(littleEndian: memory.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Stores `value` at `offset` of raw memory; the caller guarantees the bounds.
    @inlinable
    public static func store<T: FixedWidthInteger>(_ value: T, into memory: UnsafeMutableRawBufferPointer, at offset: Int) {
        memory.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

/// Shorthands over `LittleEndian` for this module's encoders (label blocks, tables).
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) { LittleEndian.append(v, to: &self) }

    mutating func appendZeros(_ count: Int) { append(contentsOf: repeatElement(0, count: count)) }

    /// Reads a little-endian integer at `offset`; the caller guarantees `offset + size <= count`
    /// (a read past the end is 0).
    func readLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T { LittleEndian.read(T.self, from: self, at: offset) ?? 0 }

    mutating func writeLE<T: FixedWidthInteger>(_ v: T, at offset: Int) { LittleEndian.write(v, into: &self, at: offset) }
}
