import GuestMemory
import VpmemCore

/// Errors from reading or writing a guest config file. Each names the file, the key when there
/// is one, and the fix.
public enum GuestConfigFileError: Error, Equatable, CustomStringConvertible, Sendable {
    case cannotRead(path: String, reason: String)
    case syntax(path: String, line: Int, column: Int, message: String)
    case unknownKey(path: String, key: String, suggestion: String?)
    /// An unknown key inside the `index`th `[[nvdimm]]` table (0-based).
    case unknownNVDIMMKey(path: String, index: Int, key: String, suggestion: String?)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String, found: String)
    case badSize(path: String, key: String, error: ByteSize.ParseError)
    case outOfRange(path: String, key: String, value: Int, rule: String)
    case invalid(path: String, error: GuestConfigError, hint: String?)
    /// A write failed at `step` before the rename: the file is as it was.
    case cannotWrite(path: String, step: String, reason: String)
    /// The new file is in place but `step` (making the rename durable) failed.
    case notDurable(path: String, step: String, reason: String)
    /// `path` is a symbolic link to `target`, which does not exist: nothing was written.
    case danglingSymlink(path: String, target: String)
    /// An in-place edit could not be made so that the file loads as the new config (an unusual
    /// layout, e.g. an inline `nvdimm = [...]` array): the file is unchanged.
    case cannotEdit(path: String, reason: String)
    /// The file no longer holds the config the change was made from (someone edited it since it
    /// was loaded): the file is unchanged.
    case changedOnDisk(path: String)
    /// A string or key holds a control character (a NUL, an escape sequence...); `key` is
    /// escaped for printing.
    case controlCharacter(path: String, key: String, character: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "\(path): cannot read: \(reason): give a readable guest config file (TOML, see examples/*.toml)"
        case let .syntax(path, line, column, message):
            return "\(path):\(line):\(column): not valid TOML: \(message)"
        case let .unknownKey(path, key, suggestion):
            let known = GuestConfigFile.keys.joined(separator: ", ")
            let hint = suggestion.map { "did you mean '\($0)'? " } ?? ""
            return "\(path): unknown key '\(key)': \(hint)known keys are \(known)"
        case let .unknownNVDIMMKey(path, index, key, suggestion):
            let known = GuestConfigFile.nvdimmKeys.joined(separator: ", ")
            let hint = suggestion.map { "did you mean '\($0)'? " } ?? ""
            return "\(path): unknown key '\(key)' in [[nvdimm]] table \(index): \(hint)known keys are \(known)"
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
        case let .cannotWrite(path, step, reason):
            return "\(path): cannot save (\(step)): \(reason); the previous file is unchanged: fix the cause and run the command again"
        case let .notDurable(path, step, reason):
            return "\(path): saved, but \(step) failed: \(reason); the new contents may not survive a crash: run sync before relying on them"
        case let .danglingSymlink(path, target):
            return "\(path): is a symbolic link to \(target), which does not exist; nothing was written: create \(target), or point the link at an existing file"
        case let .cannotEdit(path, reason):
            return "\(path): cannot update in place: \(reason); the file is unchanged: make the change by hand, or move the file aside and save the config anew"
        case let .controlCharacter(path, key, character):
            return "\(path): '\(key)' contains a control character (\(character)): remove it"
        case let .changedOnDisk(path):
            return "\(path): changed on disk since it was loaded; nothing was written: run the command again"
        }
    }
}
