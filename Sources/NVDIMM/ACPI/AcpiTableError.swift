/// Why an ACPI table could not be framed or parsed.
public enum AcpiTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A fixed-width ASCII header field given a value that does not fit it.
    case fieldTooLong(field: String, value: String, maxLength: Int)
    /// A header field with a non-ASCII or control character.
    case notPrintableASCII(field: String, value: String)
    /// The table would be longer than the 32-bit length field allows.
    case tableTooLong(signature: String, length: Int)
    /// Fewer bytes than a header (or than the header's length field says).
    case truncated(expected: Int, actual: Int)
    /// The bytes do not sum to zero.
    case badChecksum(signature: String, sum: UInt8)

    public var description: String {
        switch self {
        case let .fieldTooLong(field, value, max):
            return "ACPI header \(field) '\(value)' is \(value.utf8.count) characters; it holds at most \(max)"
        case let .notPrintableASCII(field, value):
            return "ACPI header \(field) \(value.debugDescription) must be printable ASCII"
        case let .tableTooLong(sig, length):
            return "\(sig) would be \(length) bytes; an ACPI table's length is a u32: describe fewer devices"
        case let .truncated(expected, actual):
            return "ACPI table truncated: expected \(expected) bytes, have \(actual)"
        case let .badChecksum(sig, sum):
            return "\(sig) checksum is wrong: bytes sum to 0x\(String(sum, radix: 16)) instead of 0"
        }
    }
}
