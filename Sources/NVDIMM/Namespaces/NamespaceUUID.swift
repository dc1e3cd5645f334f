/// A namespace's (or a pfn device's) UUID as Linux keeps it (`uuid_t`): 16 bytes in the order
/// the text form writes them, which is how labels and info blocks store them and how
/// `ndctl list` prints them.
public struct NamespaceUUID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Nil unless exactly 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses the 8-4-4-4-12 hex form (either case), as ndctl's `--uuid` does (uuid_parse).
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        var out: [UInt8] = []
        for part in parts {
            var chars = Array(part.utf8)[...]
            while let hi = chars.popFirst() {
                guard let lo = chars.popFirst(), let h = Aml.hexValue(hi), let l = Aml.hexValue(lo) else { return nil }
                out.append(h << 4 | l)
            }
        }
        bytes = out
    }

    /// A random (version 4, RFC 4122 variant) UUID, as uuid_generate makes for ndctl.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> NamespaceUUID {
        var b = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        b[6] = b[6] & 0x0F | 0x40
        b[8] = b[8] & 0x3F | 0x80
        return NamespaceUUID(bytes: b)!
    }

    public static func random() -> NamespaceUUID {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    /// All zeros: Linux refuses it as a namespace uuid ("uuid not set").
    public var isNull: Bool { bytes.allSatisfy { $0 == 0 } }

    /// Lower-case 8-4-4-4-12.
    public var description: String {
        let h = bytes.map { b in String(b >> 4, radix: 16) + String(b & 0xF, radix: 16) }
        return [h[0..<4], h[4..<6], h[6..<8], h[8..<10], h[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}
