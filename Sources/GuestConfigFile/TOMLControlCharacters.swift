/// Control characters in TOML text, found before TOMLKit sees it.
///
/// TOMLKit hands text to toml++ and strings and keys back to Swift as C strings, so a NUL cuts
/// them short: a raw NUL byte ends the document (the rest is never parsed), and a `\u0000`
/// escape in a basic string ends that string or key (`name = "a\u0000b"` reads as `a`,
/// `backing = "d1.pmem\u0000.bak"` as `d1.pmem`). `prepare` refuses the first and replaces each
/// NUL escape with an escape of `nulStandIn`, which survives the trip; `controlCharacter` then
/// finds it, and every other control character, in a value or a key, so the error names the key.
public enum TOMLControlCharacters {
    /// Stands for an escaped NUL after `prepare` (a noncharacter: no config means it).
    public static let nulStandIn: Unicode.Scalar = "\u{10FFFE}"

    public struct RawNUL: Error, Equatable, Sendable {
        public let line: Int
        public let column: Int
    }

    /// The text with every NUL escape in a basic string (`"..."`, `"""..."""`, quoted keys
    /// included) replaced by an escape of `nulStandIn`; literal strings and comments, which
    /// have no escapes, are left alone. A raw NUL byte anywhere is refused.
    public static func prepare(_ text: String) throws(RawNUL) -> String {
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0, line = 1, column = 1
        enum State { case normal, comment, basic, multiBasic, literal, multiLiteral }
        var state = State.normal
        func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }
        func triple(_ q: Unicode.Scalar, _ k: Int) -> Bool { at(k) == q && at(k + 1) == q && at(k + 2) == q }
        func copy(_ n: Int) {
            for _ in 0..<n where i < s.count {
                out.append(s[i])
                if s[i] == "\n" { line += 1; column = 1 } else { column += 1 }
                i += 1
            }
        }
        while i < s.count {
            let c = s[i]
            if c == "\0" { throw RawNUL(line: line, column: column) }
            switch state {
            case .normal:
                if c == "#" { state = .comment; copy(1) }
                else if triple("\"", i) { state = .multiBasic; copy(3) }
                else if c == "\"" { state = .basic; copy(1) }
                else if triple("'", i) { state = .multiLiteral; copy(3) }
                else if c == "'" { state = .literal; copy(1) }
                else { copy(1) }
            case .comment:
                if c == "\n" { state = .normal }
                copy(1)
            case .literal:
                if c == "'" || c == "\n" { state = .normal }
                copy(1)
            case .multiLiteral:
                if triple("'", i) {
                    state = .normal
                    copy(3)
                    // Up to two more quotes belong to the string's content.
                    if at(i) == "'" { copy(1) }
                    if at(i) == "'" { copy(1) }
                } else { copy(1) }
            case .basic, .multiBasic:
                if c == "\\" {
                    if let n = nulEscapeLength(s, i) {
                        out.append(contentsOf: "\\U0010FFFE".unicodeScalars)
                        i += n
                        column += n
                    } else {
                        copy(2)  // the backslash and the escaped character (`\\`, `\"`, ...)
                    }
                } else if state == .basic && (c == "\"" || c == "\n") {
                    state = .normal
                    copy(1)
                } else if state == .multiBasic && triple("\"", i) {
                    state = .normal
                    copy(3)
                    if at(i) == "\"" { copy(1) }
                    if at(i) == "\"" { copy(1) }
                } else { copy(1) }
            }
        }
        return String(out)
    }

    /// `\u0000` or `\U00000000` at `i`: its length.
    private static func nulEscapeLength(_ s: [Unicode.Scalar], _ i: Int) -> Int? {
        guard i + 1 < s.count else { return nil }
        let digits = s[i + 1] == "u" ? 4 : s[i + 1] == "U" ? 8 : 0
        guard digits > 0, i + 2 + digits <= s.count, s[(i + 2)..<(i + 2 + digits)].allSatisfy({ $0 == "0" }) else { return nil }
        return 2 + digits
    }

    /// The first control character (C0, DEL, C1, or an escaped NUL) in `text`, as `U+XXXX`
    /// with its offset in characters; nil when there is none.
    public static func controlCharacter(in text: String) -> (name: String, offset: Int)? {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            if scalar == nulStandIn { return ("U+0000 (NUL)", offset) }
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                return ("U+" + String(repeating: "0", count: 4 - hex.count) + hex, offset)
            }
        }
        return nil
    }

    /// `text` with control characters (and the NUL stand-in) shown as `\u{..}`, for messages.
    public static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == nulStandIn { out += "\\u{0}" }
            else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}" }
            else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
