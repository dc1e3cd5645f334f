import TOMLKit

/// A TOML file's text parsed into its top-level table, the one way vpmem's TOML files (guest
/// configs, host.toml, steering scenarios) are read: a raw NUL byte, which TOML does not allow
/// and the C++ parser would stop at silently, is refused first (see TOMLControlCharacters).
public enum TOMLDocument {
    public static func parse(_ text: String) throws(TOMLSyntaxError) -> TOMLTable {
        let prepared: String
        do { prepared = try TOMLControlCharacters.prepare(text) } catch {
            throw TOMLSyntaxError(line: error.line, column: error.column, message: "a NUL byte, which TOML does not allow: remove it")
        }
        do { return try TOMLTable(string: prepared) } catch let e as TOMLParseError {
            throw TOMLSyntaxError(line: e.source.begin.line, column: e.source.begin.column, message: e.description)
        } catch {
            throw TOMLSyntaxError(line: 0, column: 0, message: String(describing: error))
        }
    }
}

/// Where a TOML text stops being TOML (line and column from 1; 0 when the parser gave none).
public struct TOMLSyntaxError: Error, Sendable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let message: String

    public var description: String {
        line > 0 ? "line \(line), column \(column): \(message)" : message
    }
}
