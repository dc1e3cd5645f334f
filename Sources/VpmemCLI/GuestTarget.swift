import ArgumentParser
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import VpmemHost

/// `--host DIR`: which host a command acts on.
struct HostOption: ParsableArguments {
    @Option(name: .long, help: "The host directory (default: $VPMEM_HOST, else $XDG_STATE_HOME/vpmem/host).")
    var host: String?

    var directory: String { HostStore.directory(option: host) }

    /// Opens the host for `access`.
    func open(_ access: HostStore.Access) throws -> ModelledHost {
        try ModelledHost.open(HostStore(directory: directory, access: access))
    }
}

/// The guest a command names: a guest of the host by name, or a config file. A config that is
/// a host guest's config is that guest; any other config can be inspected through a private,
/// throw-away host, but changed only once admitted (`vpmem guest create`).
struct GuestTarget {
    let host: ModelledHost
    let name: String

    /// Whether `arg` names a config file rather than a guest.
    static func isPath(_ arg: String) -> Bool {
        arg.contains("/") || arg.hasSuffix(".toml") || FileManager.default.fileExists(atPath: arg)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }

    /// Resolves `arg` on the host `option` names. `change`: the command changes the guest, its
    /// config or its pmem, so it takes the host's exclusive lock and needs an admitted guest.
    static func resolve(_ arg: String, host option: HostOption, change: Bool) throws -> GuestTarget {
        try checkArgument(arg)
        let directory = option.directory
        let path = isPath(arg)
        if HostStore.exists(directory) {
            let host = try option.open(change ? .change : .inspect)
            if path {
                if let a = host.admittedGuest(configPath: absolute(arg)) { return GuestTarget(host: host, name: a.name) }
            } else {
                _ = try host.admittedGuest(arg)
                return GuestTarget(host: host, name: arg)
            }
        }
        guard path else { throw HostError.noHost(directory: directory) }
        if change { throw HostError.notAGuestOfHost(config: absolute(arg), host: directory) }
        let config = try GuestConfigFile.load(from: arg)
        let host = try ModelledHost.privateHost(for: [(absolute(arg), config)])
        return GuestTarget(host: host, name: config.name)
    }

    /// A guest name or config path is plain text of a sane length; anything else is refused
    /// before it reaches a file system call or a message.
    static func checkArgument(_ arg: String) throws {
        guard !arg.isEmpty else { throw UsageError(problem: "empty guest", fix: "give a guest's name or its config file") }
        guard arg.utf8.count <= Int(PATH_MAX) else {
            throw UsageError(problem: "guest \(Echo.quoted(arg)) is \(arg.utf8.count) bytes long", fix: "give a guest's name or a config path of at most \(PATH_MAX) bytes")
        }
        do { _ = try Parsers.plainText(arg) } catch {
            throw UsageError(problem: "guest \(Echo.quoted(arg)) contains a control character", fix: "give a guest's name or a config path without one")
        }
    }

    /// The guest's model; `access` says how its backings open (inspection: read-only, unlocked).
    func guest(_ access: BackingAccess) throws -> Guest {
        try host.guest(name, access: access)
    }
}

func addr(_ v: UInt64) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 13 - digits.count)) + digits
}
