/// AML PkgLength encoding (ACPI 6.x, 20.2.4).
///
/// One byte holds lengths up to 63 (bits 0-5). Longer lengths use 1-3 following bytes: the lead
/// byte's bits 6-7 count them, its bits 0-3 hold the low nibble and each following byte the next
/// 8 bits, so the maximum is 2^28 - 1. A package's PkgLength counts its own bytes; a field unit's
/// bit width is written in the same format without counting itself.
enum PkgLength {
    static let maximum = (1 << 28) - 1

    /// The encoding of a package whose contents (after the PkgLength) are `contentLength` bytes.
    static func forPackage(contentLength: Int, what: @autoclosure () -> String) throws(AmlError) -> [UInt8] {
        for width in 1...4 {
            let total = contentLength + width
            if fits(total, width: width) { return encode(total, width: width) }
        }
        throw .pkgLengthTooLarge(what: what(), length: contentLength)
    }

    /// The encoding of a raw value (field unit widths): the smallest width that holds it.
    static func forValue(_ value: Int, what: @autoclosure () -> String) throws(AmlError) -> [UInt8] {
        for width in 1...4 where fits(value, width: width) { return encode(value, width: width) }
        throw .pkgLengthTooLarge(what: what(), length: value)
    }

    static func fits(_ value: Int, width: Int) -> Bool {
        width == 1 ? value <= 0x3F : value <= (1 << (4 + 8 * (width - 1))) - 1
    }

    static func encode(_ value: Int, width: Int) -> [UInt8] {
        if width == 1 { return [UInt8(value)] }
        var out: [UInt8] = [UInt8((width - 1) << 6) | UInt8(value & 0x0F)]
        var rest = value >> 4
        for _ in 1..<width {
            out.append(UInt8(rest & 0xFF))
            rest >>= 8
        }
        return out
    }
}
