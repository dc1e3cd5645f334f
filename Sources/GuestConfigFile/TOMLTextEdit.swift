/// Text-preserving edits of a TOML file with arrays of tables (the guest config's `[[nvdimm]]`,
/// the host's `[[pmem]]`): each function changes only the lines it names and leaves every other
/// byte as it was, so the user's comments, key order, spacing and line endings survive.
///
/// The functions work on text and do not check that the result is valid TOML or means what the
/// caller wants: a caller parses the result and compares it with its model before writing it
/// (`GuestConfigFile.edit` does).
///
/// Tables are found by a line scanner that knows enough TOML not to be fooled: a header is a line
/// that starts with `[` outside any value, so a `[[nvdimm]]` inside a multi-line string (`"""`,
/// `'''`) or a multi-line array is not one; header keys may be spaced, quoted or dotted
/// (`[[ nvdimm ]]`, `[["nvdimm"]]`). `array` names a top-level array of tables (one key, not
/// dotted); its `index`th table is the `index`th `[[array]]` header in the file (0-based), which
/// is also its place in the parsed array.
///
/// What a table owns (what `removeTable` takes):
/// - its header line and every line up to the next header that is not one of its sub-tables
///   (`[array.x]`, `[[array.x]]` belong to the element above them);
/// - the comment lines directly above its header (no blank line between): a comment just above a
///   header is about that header;
/// - one blank line above those (the separator `appendTable` writes), so that appending a table
///   and removing it again gives back the original bytes.
/// Comment and blank lines at the end of a table, before the next header or the end of the file,
/// are not the table's: they stay, as the comment block of what follows or as a footer.
public enum TOMLTextEdit {
    /// Adds a `[[array]]` table holding `lines` (each a `key = value` line, written as given) at
    /// the end of `text`, after one blank line. A text not ending in a newline gets one first;
    /// the result ends in a newline. Lines end as the text's first line does (`\n` or `\r\n`).
    public static func appendTable(array: String, lines: [String], to text: String) -> String {
        var out = Array(text.utf8)
        let newline = TOMLLineScan.newline(of: out)
        if !out.isEmpty {
            if out.last != UInt8(ascii: "\n") { out += newline }
            out += newline
        }
        out += Array("[[\(renderKey(array))]]".utf8) + newline
        for line in lines { out += Array(line.utf8) + newline }
        return String(decoding: out, as: UTF8.self)
    }

    /// Removes the `index`th `[[array]]` table with what it owns (see the type's notes).
    public static func removeTable(array: String, index: Int, from text: String) throws(TOMLTextEditError) -> String {
        let scan = TOMLLineScan(text)
        let header = try scan.tableHeader(array: array, index: index)
        var first = header
        while first > 0, scan.lines[first - 1].kind == .comment { first -= 1 }
        if first > 0, scan.lines[first - 1].kind == .blank { first -= 1 }
        var end = scan.extentEnd(ofTableAt: header, array: array)
        while end - 1 > header, scan.lines[end - 1].kind.isCommentOrBlank { end -= 1 }
        return scan.replacingLines(first..<end, with: [])
    }

    /// Sets `key` in the `index`th `[[array]]` table to `valueText` (TOML as written, e.g.
    /// `"\"8G\""`): replaces the old value, multi-line or not, and keeps what follows it on the
    /// line (a `# comment`). An absent key gets a line after the table's last key line, indented
    /// like it. Keys are matched by their parsed name, so `"size" = 1` is `size`; a dotted key
    /// (`a.b = 1`) is not `a`.
    public static func setKey(array: String, index: Int, key: String, valueText: String, in text: String) throws(TOMLTextEditError) -> String {
        let scan = TOMLLineScan(text)
        let header = try scan.tableHeader(array: array, index: index)
        return scan.setting(key: key, valueText: valueText, in: (header + 1)..<scan.nextHeader(after: header), after: header)
    }

    /// Sets a top-level `key` (one before the first table header) to `valueText`, as `setKey`.
    /// An absent key gets a line after the last top-level key line; in a file with none, above the
    /// first table's comment block (or at the end when there is no table).
    public static func setTopLevelKey(key: String, valueText: String, in text: String) -> String {
        let scan = TOMLLineScan(text)
        let region = 0..<scan.nextHeader(after: -1)
        return scan.setting(key: key, valueText: valueText, in: region, after: nil)
    }

    /// Removes a top-level `key`'s line (and the lines its value continues on); the text unchanged
    /// when the key is absent. Comments above the key stay.
    public static func removeTopLevelKey(key: String, in text: String) -> String {
        let scan = TOMLLineScan(text)
        let region = 0..<scan.nextHeader(after: -1)
        guard let line = scan.keyLine(key, in: region) else { return text }
        return scan.replacingLines(line..<scan.valueLinesEnd(line), with: [])
    }

    /// How many `[[array]]` tables the file has.
    public static func tableCount(array: String, in text: String) -> Int {
        TOMLLineScan(text).tableHeaders(array: array).count
    }

    /// `key` as TOML: bare when it can be, else a basic string.
    static func renderKey(_ key: String) -> String {
        let bare = !key.isEmpty && key.utf8.allSatisfy(TOMLLineScan.isBareKeyByte)
        return bare ? key : GuestConfigFile.tomlString(key)
    }
}

/// A text edit that could not be made: the table asked for is not in the file.
public enum TOMLTextEditError: Error, Equatable, Sendable, CustomStringConvertible {
    /// There is no `index`th `[[array]]` table; the file has `count`.
    case noSuchTable(array: String, index: Int, count: Int)

    public var description: String {
        switch self {
        case let .noSuchTable(array, index, count):
            return "no [[\(array)]] table \(index) (0-based): the file has \(count)"
        }
    }
}

/// The lines of a TOML text, each classified by what it starts: the scanner behind
/// `TOMLTextEdit`. Offsets are UTF-8 byte offsets into `bytes`; every edit splices whole lines
/// or the bytes of one value, so the result is valid UTF-8 whenever the input is.
struct TOMLLineScan {
    enum Kind: Equatable {
        case blank
        case comment
        /// `[key]` or `[[key]]`; `path` nil when the key could not be read.
        case header(path: [String]?, isArray: Bool)
        /// `key = value`: the value's bytes are `valueStart..<valueEnd`, which may end on a later
        /// line; `key` nil when the key could not be read.
        case keyValue(key: [String]?, valueStart: Int, valueEnd: Int)
        /// A line inside a value begun on an earlier line (a multi-line string or array).
        case continuation

        var isCommentOrBlank: Bool { self == .blank || self == .comment }
        var isHeader: Bool { if case .header = self { true } else { false } }
    }

    struct Line {
        /// First byte, and the byte after its newline (or the end of the text).
        var start: Int, end: Int
        var kind: Kind
    }

    let bytes: [UInt8]
    private(set) var lines: [Line] = []

    init(_ text: String) {
        bytes = Array(text.utf8)
        scan()
    }

    // MARK: Scanning

    /// Where the scanner is: a line starting in `.normal` mode at depth 0 starts a new statement.
    private enum Mode { case normal, basic, literal, multiBasic, multiLiteral }

    private mutating func scan() {
        var mode = Mode.normal
        var depth = 0 // open `[` and `{` of a value
        var open: Int? // the keyValue line whose value is not finished
        var lastSignificant = -1 // last byte of the open value
        var i = 0
        while i < bytes.count {
            let start = i
            var contentEnd = start
            while contentEnd < bytes.count, bytes[contentEnd] != UInt8(ascii: "\n") { contentEnd += 1 }
            let end = contentEnd < bytes.count ? contentEnd + 1 : contentEnd
            if contentEnd > start, bytes[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            i = end
            if open != nil {
                scanValue(start..<contentEnd, mode: &mode, depth: &depth, lastSignificant: &lastSignificant)
                lines.append(Line(start: start, end: end, kind: .continuation))
            } else {
                // A UTF-8 byte order mark at the very start is not part of the first line's key.
                let bom = start == 0 && bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
                let p = skipSpace(from: start + bom, to: contentEnd)
                if p == contentEnd {
                    lines.append(Line(start: start, end: end, kind: .blank))
                    continue
                } else if bytes[p] == UInt8(ascii: "#") {
                    lines.append(Line(start: start, end: end, kind: .comment))
                    continue
                } else if bytes[p] == UInt8(ascii: "[") {
                    lines.append(Line(start: start, end: end, kind: header(at: p, to: contentEnd)))
                    continue
                }
                var valueStart = p
                var key: [String]?
                if let (path, after) = keyPath(at: p, to: contentEnd) {
                    let q = skipSpace(from: after, to: contentEnd)
                    if q < contentEnd, bytes[q] == UInt8(ascii: "=") {
                        key = path
                        valueStart = skipSpace(from: q + 1, to: contentEnd)
                    }
                }
                lastSignificant = valueStart - 1
                scanValue(valueStart..<contentEnd, mode: &mode, depth: &depth, lastSignificant: &lastSignificant)
                open = lines.count
                lines.append(Line(start: start, end: end, kind: .keyValue(key: key, valueStart: valueStart, valueEnd: valueStart)))
            }
            // Single-line strings end with their line (an unterminated one is a syntax error the
            // parser reports); the value is finished when nothing is left open.
            if mode == .basic || mode == .literal { mode = .normal }
            if mode == .normal, depth == 0, let line = open {
                if case let .keyValue(key, valueStart, _) = lines[line].kind {
                    lines[line].kind = .keyValue(key: key, valueStart: valueStart, valueEnd: max(valueStart, lastSignificant + 1))
                }
                open = nil
            }
        }
    }

    /// Scans value bytes, tracking strings and brackets; stops at a comment.
    private func scanValue(_ range: Range<Int>, mode: inout Mode, depth: inout Int, lastSignificant: inout Int) {
        var i = range.lowerBound
        func at(_ k: Int, _ c: Character) -> Bool { k < range.upperBound && bytes[k] == c.asciiValue }
        while i < range.upperBound {
            let c = bytes[i]
            switch mode {
            case .normal:
                switch c {
                case UInt8(ascii: "#"): return
                case UInt8(ascii: " "), UInt8(ascii: "\t"): i += 1; continue
                case UInt8(ascii: "\""):
                    if at(i + 1, "\""), at(i + 2, "\"") { mode = .multiBasic; lastSignificant = i + 2; i += 3; continue }
                    mode = .basic
                case UInt8(ascii: "'"):
                    if at(i + 1, "'"), at(i + 2, "'") { mode = .multiLiteral; lastSignificant = i + 2; i += 3; continue }
                    mode = .literal
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
                default: break
                }
            case .basic, .multiBasic:
                if c == UInt8(ascii: "\\") { lastSignificant = min(i + 1, range.upperBound - 1); i += 2; continue }
                if c == UInt8(ascii: "\"") {
                    if mode == .basic { mode = .normal } else if at(i + 1, "\""), at(i + 2, "\"") {
                        // `"""` closes; up to two more quotes before it are content.
                        var k = i + 3
                        while k < i + 5, at(k, "\"") { k += 1 }
                        mode = .normal; lastSignificant = k - 1; i = k; continue
                    }
                }
            case .literal, .multiLiteral:
                if c == UInt8(ascii: "'") {
                    if mode == .literal { mode = .normal } else if at(i + 1, "'"), at(i + 2, "'") {
                        var k = i + 3
                        while k < i + 5, at(k, "'") { k += 1 }
                        mode = .normal; lastSignificant = k - 1; i = k; continue
                    }
                }
            }
            lastSignificant = i
            i += 1
        }
    }

    /// A header line starting with `[` at `p`.
    private func header(at p: Int, to end: Int) -> Kind {
        let isArray = p + 1 < end && bytes[p + 1] == UInt8(ascii: "[")
        guard let (path, after) = keyPath(at: p + (isArray ? 2 : 1), to: end) else { return .header(path: nil, isArray: isArray) }
        var q = after
        for _ in 0..<(isArray ? 2 : 1) {
            guard q < end, bytes[q] == UInt8(ascii: "]") else { return .header(path: nil, isArray: isArray) }
            q += 1
        }
        return .header(path: path, isArray: isArray)
    }

    /// A dotted key (`a."b c".'d'`, spaces around the dots allowed) from `p`: its parts and the
    /// offset after it (and after the spaces that follow). Nil when no key can be read.
    private func keyPath(at p: Int, to end: Int) -> ([String], Int)? {
        var path: [String] = []
        var i = skipSpace(from: p, to: end)
        while true {
            guard let (part, after) = simpleKey(at: i, to: end) else { return nil }
            path.append(part)
            i = skipSpace(from: after, to: end)
            guard i < end, bytes[i] == UInt8(ascii: ".") else { return (path, i) }
            i = skipSpace(from: i + 1, to: end)
        }
    }

    private func simpleKey(at p: Int, to end: Int) -> (String, Int)? {
        guard p < end else { return nil }
        switch bytes[p] {
        case UInt8(ascii: "'"):
            var k = p + 1
            while k < end, bytes[k] != UInt8(ascii: "'") { k += 1 }
            guard k < end else { return nil }
            return (String(decoding: bytes[(p + 1)..<k], as: UTF8.self), k + 1)
        case UInt8(ascii: "\""):
            return basicStringKey(at: p, to: end)
        default:
            var k = p
            while k < end, Self.isBareKeyByte(bytes[k]) { k += 1 }
            guard k > p else { return nil }
            return (String(decoding: bytes[p..<k], as: UTF8.self), k)
        }
    }

    /// A quoted key `"..."` with its escapes decoded.
    private func basicStringKey(at p: Int, to end: Int) -> (String, Int)? {
        var out: [UInt8] = []
        var k = p + 1
        while k < end {
            let c = bytes[k]
            if c == UInt8(ascii: "\"") { return (String(decoding: out, as: UTF8.self), k + 1) }
            guard c == UInt8(ascii: "\\") else { out.append(c); k += 1; continue }
            guard k + 1 < end else { return nil }
            let e = bytes[k + 1]
            k += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "e"): out.append(0x1B)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(e)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let digits = e == UInt8(ascii: "u") ? 4 : 8
                guard k + digits <= end, let value = UInt32(String(decoding: bytes[k..<(k + digits)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(value) else { return nil }
                out += Array(String(Character(scalar)).utf8)
                k += digits
            default: return nil
            }
        }
        return nil
    }

    static func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    private func skipSpace(from p: Int, to end: Int) -> Int {
        var i = p
        while i < end, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
        return i
    }

    /// `\r\n` when the text's first line ends so, else `\n`.
    static func newline(of bytes: [UInt8]) -> [UInt8] {
        guard let nl = bytes.firstIndex(of: UInt8(ascii: "\n")), nl > 0, bytes[nl - 1] == UInt8(ascii: "\r") else { return [0x0A] }
        return [0x0D, 0x0A]
    }

    // MARK: Regions

    /// Line indices of the `[[array]]` headers, in file order.
    func tableHeaders(array: String) -> [Int] {
        lines.indices.filter { lines[$0].kind == .header(path: [array], isArray: true) }
    }

    func tableHeader(array: String, index: Int) throws(TOMLTextEditError) -> Int {
        let headers = tableHeaders(array: array)
        guard headers.indices.contains(index) else { throw .noSuchTable(array: array, index: index, count: headers.count) }
        return headers[index]
    }

    /// The first header line after `line` (`-1`: from the top), or the line count.
    func nextHeader(after line: Int) -> Int {
        var k = line + 1
        while k < lines.count, !lines[k].kind.isHeader { k += 1 }
        return k
    }

    /// The end of the `[[array]]` element whose header is at `header`: the next header that is not
    /// one of its sub-tables (a path longer than `[array]` starting with it), or the line count.
    func extentEnd(ofTableAt header: Int, array: String) -> Int {
        var k = nextHeader(after: header)
        while k < lines.count, case let .header(path?, _) = lines[k].kind, path.count > 1, path[0] == array {
            k = nextHeader(after: k)
        }
        return k
    }

    /// The first line in `region` setting `key` (a one-part key).
    func keyLine(_ key: String, in region: Range<Int>) -> Int? {
        region.first { if case let .keyValue(k, _, _) = lines[$0].kind, k == [key] { true } else { false } }
    }

    /// The line after a keyValue line's value: past the continuation lines it runs on to.
    func valueLinesEnd(_ line: Int) -> Int {
        var k = line + 1
        while k < lines.count, lines[k].kind == .continuation { k += 1 }
        return k
    }

    // MARK: Edits

    func replacingLines(_ range: Range<Int>, with new: [UInt8]) -> String {
        let from = range.lowerBound < lines.count ? lines[range.lowerBound].start : bytes.count
        let to = range.upperBound < lines.count ? lines[range.upperBound].start : bytes.count
        return splicing(from..<to, with: new)
    }

    /// The text with `bytes[range]` replaced by `new`.
    func splicing(_ range: Range<Int>, with new: [UInt8]) -> String {
        var out = Array(bytes[..<range.lowerBound])
        out += new
        out += bytes[range.upperBound...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Sets `key` among the statements of `region`; `header` is the table's header line (nil for
    /// the top level), after which an absent key goes when the table has no key line.
    func setting(key: String, valueText: String, in region: Range<Int>, after header: Int?) -> String {
        if let line = keyLine(key, in: region), case let .keyValue(_, start, end) = lines[line].kind {
            return splicing(start..<end, with: Array(valueText.utf8))
        }
        let lastKey = region.last { if case .keyValue = lines[$0].kind { true } else { false } }
        var indent: [UInt8] = []
        let insertAt: Int
        if let lastKey {
            insertAt = valueLinesEnd(lastKey)
            let start = lines[lastKey].start
            indent = Array(bytes[start..<skipSpace(from: start, to: lines[lastKey].end)])
        } else if let header {
            insertAt = header + 1
        } else if region.upperBound < lines.count {
            // Above the first table's comment block and the blank line separating it.
            var k = region.upperBound
            while k > 0, lines[k - 1].kind == .comment { k -= 1 }
            if k > 0, lines[k - 1].kind == .blank { k -= 1 }
            insertAt = k
        } else {
            insertAt = lines.count
        }
        let newline = Self.newline(of: bytes)
        var new = indent + Array("\(TOMLTextEdit.renderKey(key)) = \(valueText)".utf8) + newline
        // Inserting after a last line that has no newline: that line gets one first.
        if insertAt == lines.count, let last = bytes.last, last != UInt8(ascii: "\n") { new = newline + new }
        return replacingLines(insertAt..<insertAt, with: new)
    }
}
