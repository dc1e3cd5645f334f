/// Fletcher-64 as the NVDIMM label format uses it (Linux nd_fletcher64): over little-endian
/// 32-bit words, a wrapping 32-bit sum `lo` and a 64-bit sum of the running `lo` values `hi`;
/// the result is `hi << 32 | lo`. Trailing bytes that do not fill a word are ignored.
public enum Fletcher64 {
    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt64 {
        var lo: UInt32 = 0
        var hi: UInt64 = 0
        var word: UInt32 = 0
        var shift: UInt32 = 0
        for b in bytes {
            word |= UInt32(b) << shift
            shift += 8
            if shift == 32 {
                lo &+= word
                hi &+= UInt64(lo)
                word = 0
                shift = 0
            }
        }
        return hi << 32 | UInt64(lo)
    }

    /// The checksum of `bytes` with the 8 bytes at `field` taken as zero.
    public static func checksum(_ bytes: ArraySlice<UInt8>, zeroingFieldAt field: Int) -> UInt64 {
        var copy = Array(bytes)
        for i in field..<field + 8 { copy[i] = 0 }
        return checksum(copy)
    }
}
