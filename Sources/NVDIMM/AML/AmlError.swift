/// Why an AML term could not be encoded. Every case names the offending value and the fix.
public enum AmlError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A name string that is not a valid ACPI NameString.
    case invalidName(String, reason: String)
    /// A string literal with a byte AML strings cannot hold (NUL or non-ASCII).
    case invalidString(String, reason: String)
    /// A UUID that is not in the 8-4-4-4-12 hexadecimal form.
    case invalidUUID(String)
    /// An EISA ID that is not three upper-case letters followed by four hex digits.
    case invalidEisaId(String)
    /// A package, buffer, method body or field whose encoding exceeds the 28-bit PkgLength.
    case pkgLengthTooLarge(what: String, length: Int)
    /// An integer that does not fit the table's integer width (32 bits for revision < 2).
    case integerTooWide(UInt64, bits: Int)
    /// A method declared with more than 7 arguments or a sync level above 15.
    case invalidMethod(String, reason: String)
    /// A field unit list whose offsets go backwards or whose widths are zero.
    case invalidField(String, reason: String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason):
            return "invalid AML name '\(name)': \(reason); names are 1-4 characters A-Z, 0-9, _ (not starting with a digit) per segment, optionally prefixed by \\ or ^"
        case let .invalidString(s, reason):
            return "invalid AML string \(s.debugDescription): \(reason); AML strings are ASCII 0x01-0x7f"
        case .invalidUUID(let s):
            return "invalid UUID '\(s)': write it as 8-4-4-4-12 hexadecimal digits, e.g. 4309AC30-0D11-11E4-9191-0800200C9A66"
        case .invalidEisaId(let s):
            return "invalid EISA ID '\(s)': write three upper-case letters and four hex digits, e.g. PNP0A03"
        case let .pkgLengthTooLarge(what, length):
            return "\(what) is \(length) bytes; AML package lengths stop at 2^28 - 1 (268435455) bytes: split it"
        case let .integerTooWide(value, bits):
            return "integer 0x\(String(value, radix: 16)) does not fit the table's \(bits)-bit integers: use a revision 2 (64-bit) definition block"
        case let .invalidMethod(name, reason):
            return "invalid method \(name): \(reason)"
        case let .invalidField(name, reason):
            return "invalid field list on \(name): \(reason)"
        }
    }
}
