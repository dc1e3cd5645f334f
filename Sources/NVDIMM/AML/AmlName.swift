/// An ACPI NameString: an optional root (`\`) or parent (`^`, repeatable) prefix and zero or more
/// 4-character NameSegs, e.g. `\_SB.NVDR`, `^^FOO`, `NV00`, `_DSM`.
///
/// Segments shorter than 4 characters are padded with `_` as iasl does (`A` is `A___`).
/// An invalid name never traps: parsing with `init(parsing:)` throws, and a literal written in
/// source (`let n: AmlName = "TOOLONG"`) keeps the error and reports it when the term that uses it
/// is encoded.
public struct AmlName: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    enum Storage: Sendable, Hashable {
        case valid(rooted: Bool, parents: Int, segments: [UInt32])
        case invalid(AmlError)
    }
    let storage: Storage
    /// The text it was written as.
    public let text: String

    /// Parses a NameString, throwing a precise error for an invalid one.
    public init(parsing text: String) throws(AmlError) {
        self.text = text
        let s = Self.parse(text)
        if case .invalid(let e) = s { throw e }
        storage = s
    }

    public init(stringLiteral value: String) {
        text = value
        storage = Self.parse(value)
    }

    public var description: String { text }

    /// The NameSegs as 4-byte ASCII strings (after padding), or nil for an invalid name.
    public var segments: [String]? {
        guard case .valid(_, _, let segs) = storage else { return nil }
        return segs.map { seg in
            String(decoding: LittleEndian.bytes(seg), as: UTF8.self)
        }
    }

    static func parse(_ text: String) -> Storage {
        var bytes = Array(text.utf8)[...]
        var rooted = false
        var parents = 0
        if bytes.first == UInt8(ascii: "\\") {
            rooted = true
            bytes = bytes.dropFirst()
        } else {
            while bytes.first == UInt8(ascii: "^") {
                parents += 1
                bytes = bytes.dropFirst()
            }
        }
        if bytes.isEmpty {
            if rooted || parents > 0 { return .valid(rooted: rooted, parents: parents, segments: []) }
            return .invalid(.invalidName(text, reason: "empty name"))
        }
        var segments: [UInt32] = []
        for part in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !part.isEmpty else { return .invalid(.invalidName(text, reason: "empty segment")) }
            guard part.count <= 4 else {
                return .invalid(.invalidName(text, reason: "segment '\(String(decoding: part, as: UTF8.self))' is longer than 4 characters"))
            }
            var seg: UInt32 = 0
            var shift: UInt32 = 0
            for (i, c) in part.enumerated() {
                let upperOrUnderscore = (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_")
                let digit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
                guard upperOrUnderscore || (digit && i > 0) else {
                    let what = digit ? "a segment cannot start with a digit" : "character '\(Character(Unicode.Scalar(c)))' is not A-Z, 0-9 or _"
                    return .invalid(.invalidName(text, reason: what))
                }
                seg |= UInt32(c) << shift
                shift += 8
            }
            while shift < 32 {
                seg |= UInt32(UInt8(ascii: "_")) << shift
                shift += 8
            }
            segments.append(seg)
        }
        if segments.count > 255 { return .invalid(.invalidName(text, reason: "more than 255 segments")) }
        return .valid(rooted: rooted, parents: parents, segments: segments)
    }

    /// The encoded NameString (prefix, then NullName, a NameSeg, DualNamePath or MultiNamePath).
    func encode(into out: inout [UInt8]) throws(AmlError) {
        switch storage {
        case .invalid(let e): throw e
        case let .valid(rooted, parents, segments):
            if rooted { out.append(AmlOpcode.rootChar) }
            for _ in 0..<parents { out.append(AmlOpcode.parentPrefixChar) }
            switch segments.count {
            case 0: out.append(AmlOpcode.nullName)
            case 1: break
            case 2: out.append(AmlOpcode.dualNamePrefix)
            default:
                out.append(AmlOpcode.multiNamePrefix)
                out.append(UInt8(segments.count))
            }
            for seg in segments { LittleEndian.append(seg, to: &out) }
        }
    }
}
