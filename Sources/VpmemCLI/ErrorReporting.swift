#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation

/// A command line that cannot run as given (a bad value, a missing or contradictory option):
/// exit status 2. `problem` says what is wrong, `fix` what to type instead.
struct UsageError: Error, CustomStringConvertible {
    let problem: String
    let fix: String
    var description: String { "\(problem): \(fix)" }
}

/// A request vpmem understood but could not carry out, or whose result is a failure (a label
/// area with problems, a _DSM status under --fail-on-status): exit status 1.
struct RequestFailure: Error, CustomStringConvertible {
    let problem: String
    let fix: String
    var description: String { "\(problem): \(fix)" }
}

/// The exit statuses scripts may rely on (README, `vpmem --help`).
enum ExitStatus {
    static let success: Int32 = 0
    /// The request failed: a refusal, a missing file or host, a check that did not pass.
    static let failure: Int32 = 1
    /// The command line is wrong: nothing was attempted.
    static let usage: Int32 = 2
}

/// The one error path of the CLI: every failure, from parsing to the last line of `run()`,
/// becomes exactly one line `vpmem: <what is wrong>: <what to do>` on stderr and exit status 1
/// or 2. Usage text goes only to `--help` and to a command group run without a subcommand.
extension Vpmem {
    static func main() async {
        let arguments = CommandLineRepair.joinNegativeValues(Array(CommandLine.arguments.dropFirst()))
        var command: ParsableCommand
        do {
            command = try await asyncParseAsRoot(arguments)
        } catch {
            // --help, --version, `help SUBCOMMAND`: the library prints them (stdout, status 0).
            if exitCode(for: error) == .success { exit(withError: error) }
            finish(ErrorReport.usage(error, arguments: arguments))
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch is CleanExit {
            // A command group run without a subcommand: its usage, as a usage error.
            fflush(nil)
            FileHandle.standardError.write(Data((helpMessage(for: type(of: command)) + "\n").utf8))
            Foundation.exit(ExitStatus.usage)
        } catch {
            // The help command's request (`vpmem help nvdimm`) arrives here as a clean exit.
            if !(error is ExitCode), exitCode(for: error) == .success { exit(withError: error) }
            finish(ErrorReport.failure(error, arguments: arguments))
        }
        Foundation.exit(ExitStatus.success)
    }

    private static func finish(_ report: ErrorReport) -> Never {
        if let line = report.line {
            // stdout first: a report printed before the failure stays ahead of the error line.
            fflush(nil)
            FileHandle.standardError.write(Data(("vpmem: " + ErrorReport.oneLine(line) + "\n").utf8))
        }
        Foundation.exit(report.status)
    }
}

/// What a failure prints and how the process exits.
struct ErrorReport {
    /// Without the `vpmem: ` prefix; nil when the failure has spoken for itself (an `ExitCode`
    /// passed through, e.g. QEMU's status under `vpmem qemu --exec`).
    let line: String?
    let status: Int32

    /// A failure while parsing the command line: always a usage error.
    static func usage(_ error: Error, arguments: [String]) -> ErrorReport {
        let message = Vpmem.message(for: error)
        if let rewritten = ParserMessage.valueProblem(message, arguments: arguments) {
            return ErrorReport(line: rewritten, status: ExitStatus.usage)
        }
        guard ParserMessage.isLibraryMessage(message) else {
            // A validate() of vpmem's: its text names the problem and the fix.
            return ErrorReport(line: message, status: ExitStatus.usage)
        }
        // The library's own messages ("Missing expected argument '<path>'") name the problem
        // but no fix; the first line is the problem.
        let first = message.split(separator: "\n").first.map(String.init) ?? message
        let help = "see `\(CommandPath.of(arguments)) --help`"
        return ErrorReport(line: ParserMessage.lowercasedFirst(ParserMessage.trimmed(first)) + ": " + help, status: ExitStatus.usage)
    }

    /// A failure inside `run()`.
    static func failure(_ error: Error, arguments: [String]) -> ErrorReport {
        switch error {
        case let e as ExitCode:
            // Already reported (or QEMU's own status): nothing more to say.
            return ErrorReport(line: nil, status: e.rawValue)
        case let e as UsageError:
            return ErrorReport(line: e.description, status: ExitStatus.usage)
        case let e as ValidationError:
            return ErrorReport(line: e.message, status: ExitStatus.usage)
        case let e as RequestFailure:
            return ErrorReport(line: e.description, status: ExitStatus.failure)
        case let e as CocoaError:
            return ErrorReport(line: SystemErrorText.describe(e as NSError), status: ExitStatus.failure)
        case let e as POSIXError:
            return ErrorReport(line: SystemErrorText.describe(e as NSError), status: ExitStatus.failure)
        default:
            // vpmem's own errors describe themselves; a Foundation NSError never does here.
            // (A metatype test: a cast of the value would bridge any error to NSError.)
            if !(type(of: error) is NSError.Type), type(of: error) is CustomStringConvertible.Type {
                return ErrorReport(line: String(describing: error), status: ExitStatus.failure)
            }
            return ErrorReport(line: SystemErrorText.describe(error as NSError), status: ExitStatus.failure)
        }
    }

    /// Longest run of non-space characters kept whole; longer ones (a 10 MB name) are cut.
    static let wordLimit = 256
    /// Longest line; a longer one keeps its start and its end (the fix).
    static let lineLimit = 2048

    /// `text` as one printable line: control characters escaped (`\n` as `\u{0A}`), very long
    /// words cut, and the whole cut to `lineLimit` characters keeping the start and the end.
    static func oneLine(_ text: String) -> String {
        let escaped = Echo.escaped(text)
        var words: [Substring] = []
        for word in escaped.split(separator: " ", omittingEmptySubsequences: false) {
            if word.count > wordLimit {
                // A colon ending the word still separates the problem from the fix.
                let end = word.last == ":" ? ":" : ""
                words.append(word.prefix(wordLimit) + "...(\(word.count - wordLimit) more characters)" + end)
            } else {
                words.append(word)
            }
        }
        let line = words.joined(separator: " ")
        guard line.count > lineLimit else { return line }
        return line.prefix(lineLimit / 2) + " ... " + line.suffix(lineLimit / 2 - 5)
    }
}

/// User text in messages: escaped and cut, so it can neither break the one-line rule nor send
/// escape sequences to a terminal.
enum Echo {
    /// How many characters of a value an error repeats.
    static let limit = 120

    /// `text` in single quotes, escaped, cut at `limit` characters.
    static func quoted(_ text: String, limit: Int = Echo.limit) -> String {
        let e = escaped(text)
        guard e.count > limit else { return "'" + e + "'" }
        return "'" + e.prefix(limit) + "'...(\(e.count - limit) more characters)"
    }

    /// Control characters (C0, DEL, C1) and the line and paragraph separators as `\u{..}`.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            if s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029 {
                out += "\\u{" + String(s.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

/// The words of the command line that name the (sub)command, e.g. `vpmem nvdimm attach`.
enum CommandPath {
    static func of(_ arguments: [String]) -> String {
        var type: ParsableCommand.Type = Vpmem.self
        var path = ["vpmem"]
        for arg in arguments {
            if arg.hasPrefix("-") { continue }
            guard let sub = type.configuration.subcommands.first(where: { name(of: $0) == arg }) else { break }
            type = sub
            path.append(arg)
        }
        return path.joined(separator: " ")
    }

    static func name(of type: ParsableCommand.Type) -> String {
        type.configuration.commandName ?? kebab(String(describing: type))
    }

    /// ArgumentParser's default command name: `InitLabels` -> `init-labels`.
    static func kebab(_ s: String) -> String {
        var out = ""
        for (i, c) in s.enumerated() {
            if c.isUppercase, i > 0 { out += "-" }
            out += c.lowercased()
        }
        return out
    }
}

/// Rewrites of ArgumentParser's messages into `<what is wrong>: <what to do>`.
enum ParserMessage {
    /// "The value 'V' is invalid for '--size <size>': DESC" -> "--size 'V': DESC". DESC is one
    /// of vpmem's parser errors (already "problem: fix"), or the library's text.
    static func valueProblem(_ message: String, arguments: [String]) -> String? {
        let prefix = "The value '"
        guard message.hasPrefix(prefix) else { return nil }
        // The value is one of the arguments (or the part after `=`): find the one that matches.
        let candidates = arguments + arguments.compactMap { a in a.firstIndex(of: "=").map { String(a[a.index(after: $0)...]) } }
        for value in candidates.sorted(by: { $0.count > $1.count }) {
            let head = prefix + value + "' is invalid for '"
            guard message.hasPrefix(head) else { continue }
            let rest = message.dropFirst(head.count)
            guard let close = rest.range(of: "'") else { continue }
            let synopsis = rest[..<close.lowerBound]
            let name = synopsis.split(separator: " ").first.map(String.init) ?? String(synopsis)
            var desc = String(rest[close.upperBound...])
            if desc.hasPrefix(": ") { desc.removeFirst(2) }
            if desc.hasPrefix(".") { desc.removeFirst() }
            desc = trimmed(desc)
            if desc.isEmpty { desc = "not a valid value: see `\(CommandPath.of(arguments)) --help`" }
            return "\(name) \(Echo.quoted(value)): \(desc)"
        }
        return nil
    }

    /// How ArgumentParser's own messages start (UsageGenerator's ErrorMessageGenerator);
    /// anything else came from a vpmem `validate()`.
    static let libraryPrefixes = [
        "Unknown option", "Missing value for", "Missing expected argument", "Missing one of", "Unexpected argument",
        "Invalid option", "Missing required subcommand", "Command '", "The option '", "The value '", "Internal error",
        "Error:", "Value to be set with", "Missing ", "Unknown ",
    ]

    static func isLibraryMessage(_ message: String) -> Bool {
        libraryPrefixes.contains { message.hasPrefix($0) } || message.range(of: #"^\d+ unexpected arguments"#, options: .regularExpression) != nil
    }

    static func trimmed(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }

    static func lowercasedFirst(_ s: String) -> String {
        guard let f = s.first, f.isUppercase else { return s }
        // Leave acronyms ("UUID") alone.
        if s.count > 1, s[s.index(after: s.startIndex)].isUppercase { return s }
        return f.lowercased() + s.dropFirst()
    }
}

/// Repairs of the command line before ArgumentParser sees it.
enum CommandLineRepair {
    /// `--slot -1` would read `-1` as an option and report "Missing value for '--slot'": a
    /// negative number right after a long option becomes `--slot=-1`, so the option's own
    /// parser reports the real problem (slots are 0 to 255).
    static func joinNegativeValues(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        var terminated = false
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" { terminated = true }
            if !terminated, a.hasPrefix("--"), a.count > 2, !a.contains("="), i + 1 < arguments.count,
               isNegativeNumber(arguments[i + 1]) {
                out.append(a + "=" + arguments[i + 1])
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out
    }

    static func isNegativeNumber(_ s: String) -> Bool {
        guard s.hasPrefix("-"), s.count > 1 else { return false }
        let rest = s.dropFirst()
        return rest.first.map { $0.isASCII && ($0.isNumber || $0 == ".") } ?? false
    }
}

/// Foundation and errno failures as one line naming the path, never Foundation's own text
/// (NSCocoaErrorDomain, UserInfo). A safety net: vpmem's own file operations throw typed
/// errors (OutputFiles.swift); this catches what a library might still throw.
enum SystemErrorText {
    static func describe(_ error: NSError) -> String {
        let path = (error.userInfo[NSFilePathErrorKey] as? String)
            ?? (error.userInfo[NSURLErrorKey] as? URL)?.path
        var code: Int32?
        if error.domain == NSPOSIXErrorDomain { code = Int32(error.code) }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            code = Int32(underlying.code)
        }
        let reason = code.map { String(cString: strerror($0)) } ?? "the operation failed"
        return "\(path ?? "a file"): \(reason.prefix(1).lowercased() + reason.dropFirst()): check the path and its permissions"
    }
}
