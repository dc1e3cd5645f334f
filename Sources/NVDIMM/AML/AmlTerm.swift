/// One AML term (an object, a statement or an expression), built by the `Aml` constructors and
/// composed into larger terms; `encode(_:)` turns it into bytes.
///
/// Invariants:
/// - Construction never fails and never traps. Anything invalid (a bad name, a non-ASCII string,
///   a Local9) is kept as an error inside the term and thrown, with its context, by `encode`.
/// - Integers are encoded for the table they end up in: a revision 1 definition block has 32-bit
///   integers, so `0xFFFFFFFF` becomes `Ones` and anything wider is an error, never truncated.
/// - Every package-like term (scope, device, method, if/else, while, buffer, package, field)
///   gets the shortest PkgLength that holds it, which is what iasl emits.
public struct AmlTerm: Sendable {
    indirect enum Node: Sendable {
        /// Bytes emitted as they are.
        case bytes([UInt8])
        /// An Integer data object: Zero, One, Ones or the shortest prefixed constant.
        case integer(UInt64)
        /// A NameString.
        case name(AmlName)
        /// Terms emitted one after the other.
        case sequence([AmlTerm])
        /// `opcode PkgLength contents`.
        case package(opcode: [UInt8], what: String, contents: [AmlTerm])
        /// A FieldList: its bit offsets are resolved while encoding.
        case fieldList(owner: String, units: [AmlFieldUnit])
        /// Something that cannot be encoded, and why.
        case invalid(AmlError)
    }
    let node: Node
    init(_ node: Node) { self.node = node }

    /// Encodes the term for a definition block of the given integer width.
    public func encode(_ encoding: AmlEncoding = .init()) throws(AmlError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(into: &out, encoding)
        return out
    }

    func encode(into out: inout [UInt8], _ encoding: AmlEncoding) throws(AmlError) {
        switch node {
        case .bytes(let b):
            out.append(contentsOf: b)
        case .integer(let v):
            try Self.encodeInteger(v, into: &out, encoding)
        case .name(let n):
            try n.encode(into: &out)
        case .sequence(let terms):
            for t in terms { try t.encode(into: &out, encoding) }
        case let .package(opcode, what, contents):
            var body: [UInt8] = []
            for t in contents { try t.encode(into: &body, encoding) }
            out.append(contentsOf: opcode)
            out.append(contentsOf: try PkgLength.forPackage(contentLength: body.count, what: what))
            out.append(contentsOf: body)
        case let .fieldList(owner, units):
            var bit = 0
            for unit in units {
                switch unit.kind {
                case let .named(name, bits):
                    guard bits > 0 else { throw .invalidField(owner, reason: "\(name) is 0 bits wide") }
                    guard case .valid(rooted: false, parents: 0, segments: let raw) = name.storage, raw.count == 1 else {
                        if case .invalid(let e) = name.storage { throw e }
                        throw .invalidField(owner, reason: "field unit \(name) must be a single NameSeg")
                    }
                    LittleEndian.append(raw[0], to: &out)
                    out.append(contentsOf: try PkgLength.forValue(bits, what: "field unit \(name)"))
                    bit += bits
                case .reserved(let bits):
                    guard bits > 0 else { throw .invalidField(owner, reason: "a reserved gap is 0 bits wide") }
                    out.append(0x00)
                    out.append(contentsOf: try PkgLength.forValue(bits, what: "reserved field gap"))
                    bit += bits
                case .offset(let byte):
                    let target = byte * 8
                    guard byte >= 0, target >= bit else {
                        throw .invalidField(owner, reason: "Offset(\(byte)) is behind the current bit position \(bit)")
                    }
                    if target > bit {
                        out.append(0x00)
                        out.append(contentsOf: try PkgLength.forValue(target - bit, what: "Offset(\(byte))"))
                        bit = target
                    }
                }
            }
        case .invalid(let e):
            throw e
        }
    }

    static func encodeInteger(_ v: UInt64, into out: inout [UInt8], _ encoding: AmlEncoding) throws(AmlError) {
        let ones: UInt64 = encoding.integerBits == 32 ? 0xFFFF_FFFF : .max
        if v > ones { throw .integerTooWide(v, bits: encoding.integerBits) }
        switch v {
        case 0: out.append(AmlOpcode.zero)
        case 1: out.append(AmlOpcode.one)
        case ones: out.append(AmlOpcode.ones)
        case ...0xFF: out.append(contentsOf: [AmlOpcode.bytePrefix, UInt8(v)])
        case ...0xFFFF:
            out.append(AmlOpcode.wordPrefix)
            LittleEndian.append(UInt16(v), to: &out)
        case ...0xFFFF_FFFF:
            out.append(AmlOpcode.dwordPrefix)
            LittleEndian.append(UInt32(v), to: &out)
        default:
            out.append(AmlOpcode.qwordPrefix)
            LittleEndian.append(v, to: &out)
        }
    }
}

/// How integers are encoded: a definition block of revision < 2 has 32-bit integers.
public struct AmlEncoding: Sendable, Equatable {
    public let integerBits: Int
    /// 64-bit integers (definition block revision 2 and later).
    public init() { integerBits = 64 }
    /// The width a definition block of this compliance revision uses.
    public init(definitionBlockRevision revision: UInt8) { integerBits = revision < 2 ? 32 : 64 }
}

/// One entry of a Field's FieldList.
public struct AmlFieldUnit: Sendable {
    enum Kind: Sendable {
        case named(AmlName, bits: Int)
        case reserved(bits: Int)
        case offset(byte: Int)
    }
    let kind: Kind
    /// A named field unit, `bits` wide.
    public static func named(_ name: AmlName, bits: Int) -> AmlFieldUnit { .init(kind: .named(name, bits: bits)) }
    /// An unnamed gap of `bits` (ASL: `, 8`).
    public static func reserved(bits: Int) -> AmlFieldUnit { .init(kind: .reserved(bits: bits)) }
    /// Skip to a byte offset (ASL: `Offset (n)`), encoded as a reserved gap like iasl does.
    public static func offset(byte: Int) -> AmlFieldUnit { .init(kind: .offset(byte: byte)) }
}

/// Builds a term list from statements written one per line, with `if`, `for` and `switch`.
@resultBuilder public enum AmlBuilder {
    public static func buildExpression(_ term: AmlTerm) -> [AmlTerm] { [term] }
    public static func buildExpression(_ terms: [AmlTerm]) -> [AmlTerm] { terms }
    public static func buildBlock(_ parts: [AmlTerm]...) -> [AmlTerm] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [AmlTerm]?) -> [AmlTerm] { part ?? [] }
    public static func buildEither(first part: [AmlTerm]) -> [AmlTerm] { part }
    public static func buildEither(second part: [AmlTerm]) -> [AmlTerm] { part }
    public static func buildArray(_ parts: [[AmlTerm]]) -> [AmlTerm] { parts.flatMap { $0 } }
}

/// Builds a field unit list.
@resultBuilder public enum AmlFieldBuilder {
    public static func buildExpression(_ unit: AmlFieldUnit) -> [AmlFieldUnit] { [unit] }
    public static func buildBlock(_ parts: [AmlFieldUnit]...) -> [AmlFieldUnit] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[AmlFieldUnit]]) -> [AmlFieldUnit] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [AmlFieldUnit]?) -> [AmlFieldUnit] { part ?? [] }
}
