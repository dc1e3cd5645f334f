/// Little-endian appends and reads over byte arrays, bounds-checked by the callers' layouts.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendZeros(_ count: Int) { append(contentsOf: repeatElement(0, count: count)) }

    /// Reads a little-endian integer at `offset`; the caller guarantees `offset + size <= count`.
    func readLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: self[offset + i]) << (8 * i) }
        return v
    }

    mutating func writeLE<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
}
