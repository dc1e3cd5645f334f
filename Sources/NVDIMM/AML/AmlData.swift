/// Data objects: integers, strings, buffers, packages, UUIDs, locals and arguments.
/// `Aml` is the namespace for every term constructor; each returns an `AmlTerm`.
public enum Aml {
    /// An Integer, encoded as Zero, One, Ones or the shortest Byte/Word/DWord/QWord constant.
    public static func integer<T: BinaryInteger>(_ value: T) -> AmlTerm {
        guard let v = UInt64(exactly: value) else {
            return AmlTerm(.invalid(.integerTooWide(UInt64(truncatingIfNeeded: value), bits: 64)))
        }
        return AmlTerm(.integer(v))
    }
    public static let zero = AmlTerm(.bytes([AmlOpcode.zero]))
    public static let one = AmlTerm(.bytes([AmlOpcode.one]))
    /// All bits set at the table's integer width.
    public static let ones = AmlTerm(.bytes([AmlOpcode.ones]))

    /// A String (ASCII, no NUL).
    public static func string(_ s: String) -> AmlTerm {
        var out: [UInt8] = [AmlOpcode.stringPrefix]
        for b in s.utf8 {
            guard b != 0 else { return AmlTerm(.invalid(.invalidString(s, reason: "it contains NUL"))) }
            guard b < 0x80 else { return AmlTerm(.invalid(.invalidString(s, reason: "it contains non-ASCII characters"))) }
            out.append(b)
        }
        out.append(0)
        return AmlTerm(.bytes(out))
    }

    /// `Buffer () { bytes }`: the size is the number of bytes.
    public static func buffer(_ bytes: [UInt8]) -> AmlTerm {
        buffer(size: integer(bytes.count), bytes)
    }

    /// `Buffer (size) { bytes }` with an explicit (possibly computed) size.
    public static func buffer(size: AmlTerm, _ bytes: [UInt8]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.buffer], what: "Buffer", contents: [size, AmlTerm(.bytes(bytes))]))
    }

    /// `Package () { elements }`; more than 255 elements become a VarPackage, as in iasl.
    public static func package(_ elements: [AmlTerm]) -> AmlTerm {
        if elements.count <= 255 {
            return AmlTerm(.package(opcode: [AmlOpcode.package], what: "Package",
                                    contents: [AmlTerm(.bytes([UInt8(elements.count)]))] + elements))
        }
        return AmlTerm(.package(opcode: [AmlOpcode.varPackage], what: "VarPackage",
                                contents: [integer(elements.count)] + elements))
    }

    /// `Package () { ... }` written with the builder.
    public static func package(@AmlBuilder _ elements: () -> [AmlTerm]) -> AmlTerm { package(elements()) }

    /// `ToUUID ("...")`: a 16-byte buffer in the mixed-endian GUID byte order.
    public static func uuid(_ text: String) -> AmlTerm {
        guard let bytes = guidBytes(text) else { return AmlTerm(.invalid(.invalidUUID(text))) }
        return buffer(size: integer(16), bytes)
    }

    /// The 16 bytes of a GUID written 8-4-4-4-12: the first three fields little-endian, the rest
    /// in the order written (the EFI/ACPI GUID layout). Nil when the text is not a GUID.
    public static func guidBytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        var fields: [[UInt8]] = []
        for part in parts {
            var bytes: [UInt8] = []
            var chars = Array(part.utf8)[...]
            while !chars.isEmpty {
                guard let hi = hexValue(chars.removeFirst()), let lo = hexValue(chars.removeFirst()) else { return nil }
                bytes.append(hi << 4 | lo)
            }
            fields.append(bytes)
        }
        return fields[0].reversed() + fields[1].reversed() + fields[2].reversed() + fields[3] + fields[4]
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// `LocalN` (0-7).
    public static func local(_ n: Int) -> AmlTerm {
        guard (0...7).contains(n) else { return AmlTerm(.invalid(.invalidName("Local\(n)", reason: "methods have Local0 to Local7"))) }
        return AmlTerm(.bytes([AmlOpcode.local0 + UInt8(n)]))
    }

    /// `ArgN` (0-6).
    public static func arg(_ n: Int) -> AmlTerm {
        guard (0...6).contains(n) else { return AmlTerm(.invalid(.invalidName("Arg\(n)", reason: "methods have Arg0 to Arg6"))) }
        return AmlTerm(.bytes([AmlOpcode.arg0 + UInt8(n)]))
    }

    /// The `Debug` object.
    public static let debug = AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extDebug]))

    /// A reference to a named object (a NameString used as a term).
    public static func path(_ name: AmlName) -> AmlTerm { AmlTerm(.name(name)) }

    /// No target: the result of an operator is discarded (NullName).
    public static let noTarget = AmlTerm(.bytes([AmlOpcode.nullName]))

    /// Terms emitted one after the other (a TermList with no enclosing object).
    public static func sequence(@AmlBuilder _ terms: () -> [AmlTerm]) -> AmlTerm { AmlTerm(.sequence(terms())) }
    public static func sequence(_ terms: [AmlTerm]) -> AmlTerm { AmlTerm(.sequence(terms)) }
}
