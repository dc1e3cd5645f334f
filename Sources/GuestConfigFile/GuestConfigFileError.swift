import GuestMemory
import VpmemCore

/// Errors from reading or writing a guest config file. Each names the file, the key when there
/// is one, and the fix.
public enum GuestConfigFileError: Error, Equatable, CustomStringConvertible, Sendable {
    case cannotRead(path: String, reason: String)
    case syntax(path: String, line: Int, column: Int, message: String)
    case unknownKey(path: String, key: String, suggestion: String?)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String, found: String)
    case badSize(path: String, key: String, error: ByteSize.ParseError)
    case outOfRange(path: String, key: String, value: Int, rule: String)
    case invalid(path: String, error: GuestConfigError, hint: String?)
    /// A key that a later version of vpmem reads (e.g. `[[nvdimm]]` tables).
    case notYetSupported(path: String, key: String)
    case cannotWrite(path: String, step: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .syntax(path, line, column, message):
            return "\(path):\(line):\(column): not valid TOML: \(message)"
        case let .unknownKey(path, key, suggestion):
            let known = GuestConfigFile.keys.joined(separator: ", ")
            let hint = suggestion.map { "did you mean '\($0)'? " } ?? ""
            return "\(path): unknown key '\(key)': \(hint)known keys are \(known)"
        case let .missingKey(path, key):
            return "\(path): missing key '\(key)': add e.g. \(GuestConfigFile.example(for: key))"
        case let .wrongType(path, key, expected, found):
            return "\(path): '\(key)' is a \(found): write \(expected), e.g. \(GuestConfigFile.example(for: key))"
        case let .badSize(path, key, error):
            return "\(path): '\(key)': \(error)"
        case let .outOfRange(path, key, value, rule):
            return "\(path): \(key) = \(value) is not allowed: use \(rule)"
        case let .invalid(path, error, hint):
            return "\(path): \(error)" + (hint.map { " (\($0))" } ?? "")
        case let .notYetSupported(path, key):
            return "\(path): '\(key)' is reserved for a later vpmem version and not read by this one: remove it"
        case let .cannotWrite(path, step, reason):
            return "\(path): cannot save (\(step)): \(reason); the previous file is unchanged"
        }
    }
}
