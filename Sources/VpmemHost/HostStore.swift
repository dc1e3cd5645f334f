#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuestConfigFile

/// A host on disk: a directory holding `host.toml` (the machine, written by `host init`, edited
/// by hand or by `host add-pmem`), `state.json` (the guests vpmem admitted, `HostState`) and
/// `lock`, the file every command locks: exclusively to change anything, shared to read. So
/// concurrent commands on one host serialise, and a reader never sees half a change.
///
/// The lock is flock(2) on an open file description: the kernel drops it when the process ends,
/// however it ends, so a killed command never leaves the host locked.
public final class HostStore {
    public enum Access: Sendable { case inspect, change }

    public let directory: String
    public let access: Access
    private let lockFD: Int32

    public var configPath: String { directory + "/host.toml" }
    public var statePath: String { directory + "/state.json" }
    static func lockPath(_ directory: String) -> String { directory + "/lock" }

    /// The host directory a command uses: `--host`, else `$VPMEM_HOST`, else
    /// `$XDG_STATE_HOME/vpmem/host` (`~/.local/state/vpmem/host` when XDG_STATE_HOME is unset).
    public static func directory(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let option, !option.isEmpty { return absolute(option) }
        if let v = environment["VPMEM_HOST"], !v.isEmpty { return absolute(v) }
        if let x = environment["XDG_STATE_HOME"], x.hasPrefix("/") { return x + "/vpmem/host" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/vpmem/host"
    }

    static func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: p).standardizedFileURL.path
    }

    /// Whether `directory` holds a host.
    public static func exists(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/host.toml")
    }

    /// Hosts this process has open, by the lock file's device and inode: flock locks of two
    /// open file descriptions conflict even within one process, so a second open here would
    /// wait for the first forever. It is refused instead.
    nonisolated(unsafe) private static var held: Set<[UInt64]> = []
    private static let heldLock = NSLock()
    private let heldKey: [UInt64]
    /// Whether this store holds the host's lock exclusively now: always for `.change`; for
    /// `.inspect` until `share()`, when no other command held the host at open.
    public private(set) var holdsExclusively = false

    /// Opens the host in `directory` and takes its lock (blocking until other commands are done:
    /// shared for `.inspect`, exclusive for `.change`). Creates nothing.
    public init(directory: String, access: Access) throws(HostError) {
        guard Self.exists(directory) else { throw .noHost(directory: directory) }
        // Read-write for a change: where flock is emulated with POSIX locks (NFS), an exclusive
        // lock needs a descriptor open for writing.
        let fd = open(Self.lockPath(directory), (access == .change ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            throw .cannotUse(path: Self.lockPath(directory), step: "open the host lock", reason: String(cString: strerror(errno)) + " (re-run `vpmem host init` in a new directory if it was removed)")
        }
        var st = stat()
        fstat(fd, &st)
        let key = [UInt64(st.st_dev), UInt64(st.st_ino)]
        Self.heldLock.lock()
        let fresh = Self.held.insert(key).inserted
        Self.heldLock.unlock()
        guard fresh else {
            close(fd)
            throw .cannotUse(path: directory, step: "open the host", reason: "this process has it open already; drop that ModelledHost (and its HostStore) first")
        }
        heldKey = key
        // Inspection first tries the exclusive lock without waiting: when nobody else uses the
        // host, it may remove what a killed command left (`holdsExclusively`), then shares.
        if access == .inspect && flock(fd, LOCK_EX | LOCK_NB) == 0 {
            holdsExclusively = true
        } else {
            while flock(fd, access == .change ? LOCK_EX : LOCK_SH) != 0 {
            if errno == EINTR { continue }
            let reason = String(cString: strerror(errno))
            close(fd)
            Self.heldLock.lock(); Self.held.remove(key); Self.heldLock.unlock()
            throw .cannotUse(path: Self.lockPath(directory), step: "lock the host", reason: reason)
            }
            holdsExclusively = access == .change
        }
        self.directory = directory
        self.access = access
        lockFD = fd
    }

    /// An inspection that got the lock exclusively lets other readers in (flock converts the
    /// lock in place).
    public func share() {
        guard access == .inspect, holdsExclusively else { return }
        while flock(lockFD, LOCK_SH) != 0 && errno == EINTR {}
        holdsExclusively = false
    }

    deinit {
        close(lockFD)
        Self.heldLock.lock()
        Self.held.remove(heldKey)
        Self.heldLock.unlock()
    }

    /// Makes a new host directory with `config` and an empty state, refusing one that holds a
    /// host already. The lock file is made first and host.toml last, so a host exists only
    /// once it is whole.
    public static func create(directory: String, config: HostConfig) throws(HostError) -> HostStore {
        guard !exists(directory) else { throw .hostExists(directory: directory) }
        if let e = makeDirectories(directory) {
            let reason = String(cString: strerror(e))
            throw .cannotUse(path: directory, step: "create the host directory",
                             reason: reason.prefix(1).lowercased() + reason.dropFirst() + ": choose another directory with --host")
        }
        let fd = open(lockPath(directory), O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotUse(path: lockPath(directory), step: "create the host lock", reason: String(cString: strerror(errno))) }
        close(fd)
        try write(HostState().encoded(), to: directory + "/state.json")
        try write(HostConfigFile.render(config), to: directory + "/host.toml")
        return try HostStore(directory: directory, access: .change)
    }

    /// mkdir -p with mkdir(2): nil, or the errno of the step that failed (ENOTDIR for a file
    /// in the way), so the error is the system's words and not Foundation's.
    private static func makeDirectories(_ path: String) -> Int32? {
        var st = stat()
        if stat(path, &st) == 0 { return st.st_mode & S_IFMT == S_IFDIR ? nil : ENOTDIR }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, let e = makeDirectories(parent) { return e }
        return mkdir(path, 0o755) == 0 || errno == EEXIST ? nil : errno
    }

    public func loadConfig() throws(HostError) -> HostConfig { try HostConfigFile.load(from: configPath) }

    public func loadState() throws(HostError) -> HostState {
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw .state(path: statePath, problem: "is missing or unreadable")
        }
        return try HostState.decode(data, path: statePath)
    }

    public func save(_ state: HostState) throws(HostError) {
        precondition(access == .change, "a host opened for inspection is never written")
        try Self.write(state.encoded(), to: statePath)
    }

    /// Appends a `[[pmem]]` table to host.toml, keeping every byte the user wrote.
    public func appendPmem(_ p: HostConfig.Pmem) throws(HostError) {
        precondition(access == .change, "a host opened for inspection is never written")
        guard let data = FileManager.default.contents(atPath: configPath), var text = String(data: data, encoding: .utf8) else {
            throw .cannotUse(path: configPath, step: "read the host config", reason: "it is missing or unreadable")
        }
        if !text.hasSuffix("\n") { text += "\n" }
        text += "\n" + HostConfigFile.pmemTable(p)
        _ = try HostConfigFile.parse(text, path: configPath)  // never write a file that does not load
        try Self.write(text, to: configPath)
    }

    static func write(_ text: String, to path: String) throws(HostError) {
        do { try AtomicFileWriter.write(text, to: path) } catch {
            // Renamed into place, only the directory fsync failed: the file holds the change, so
            // reporting a failure would make the caller undo what is already on disk.
            if case .notDurable = error { return }
            throw .guestConfig(error)
        }
    }
}
