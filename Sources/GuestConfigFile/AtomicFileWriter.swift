#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GuestMemory

/// write(2), named so it does not clash with `AtomicFileWriter.write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// Replaces a file's contents atomically: a reader sees the old file or the new one, never a
/// mix, and a crash leaves one of the two. Used for the guest config and the host's host.toml.
///
/// Steps: resolve a symbolic link to its target; remove temporaries a killed writer left; create
/// a temporary file in the target's directory (same file system, so the rename is atomic); write
/// everything; give it the old file's mode (and owner, when root); fsync it; rename it over the
/// target; fsync the directory so the rename itself is durable. Before the rename any failure
/// removes the temporary file and leaves the target untouched.
///
/// Callers serialise writers of one file with a lock every writer takes: the first step removes
/// any `.NAME.tmp.XXXXXX` in the directory, which is only safe when no other writer is running
/// (an unlocked writer racing would at worst have its rename fail, leaving the file unchanged).
///
/// This file is the one place the config files' C calls live.
public enum AtomicFileWriter {
    /// A file that does not exist yet is created with this mode (not subject to the umask): a
    /// config is as readable as any other file the user writes.
    public static let newFileMode: UInt32 = 0o644

    /// Replaces the file at `path` with `text`. An existing file keeps its permission bits
    /// (`st_mode & 0o7777`) and, when running as root, its owner and group. When `path` is a
    /// symbolic link the link's target is replaced and the link stays a link; a link whose target
    /// does not exist is refused (`.danglingSymlink`) and nothing is created.
    public static func write(_ text: String, to path: String) throws(GuestConfigFileError) {
        let target = try resolve(path)
        _ = removeStaleTemporaries(target: target)
        let existing = status(target, followLinks: true)
        guard existing != nil || errno == ENOENT else { throw failure(path, "stat \(target)") }
        let directory = parentDirectory(of: target)
        var template = Array("\(directory == "/" ? "" : directory)/.\(baseName(of: target)).tmp.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure(path, "create temporary file in \(directory)") }
        let tempPath = String(cString: template.map { UInt8(bitPattern: $0) })
        var renamed = false
        defer {
            if !renamed { remove(tempPath) }
        }
        do {
            defer { closeFile(fd) }
            var bytes = Array(text.utf8)
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeMutableBytes { buf in
                    systemWrite(fd, buf.baseAddress! + written, buf.count - written)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure(path, "write \(tempPath)")
                }
                written += n
            }
            bytes.removeAll()
            // mkstemp creates 0600 owned by us. Owner first: chown clears set-id bits, chmod
            // then restores them.
            if let existing, geteuid() == 0 {
                guard fchown(fd, existing.st_uid, existing.st_gid) == 0 else { throw failure(path, "chown \(tempPath) to the old file's owner") }
            }
            let mode = existing.map { UInt32($0.st_mode) & 0o7777 } ?? newFileMode
            guard fchmod(fd, mode_t(mode)) == 0 else { throw failure(path, "chmod \(tempPath)") }
            guard fsync(fd) == 0 else { throw failure(path, "fsync \(tempPath)") }
        }
        guard rename(tempPath, target) == 0 else { throw failure(path, "rename \(tempPath) to \(target)") }
        renamed = true
        let dirFd = open(directory, O_RDONLY | O_DIRECTORY)
        guard dirFd >= 0 else { throw notDurable(path, "open directory \(directory) to fsync the rename") }
        defer { closeFile(dirFd) }
        guard fsync(dirFd) == 0 else { throw notDurable(path, "fsync directory \(directory)") }
    }

    /// Removes the temporary files (`.BASENAME.tmp.XXXXXX`) a killed writer left next to the file
    /// `path` names (its target, for a symbolic link); returns their paths. The caller holds the
    /// lock every writer of this file takes, so no such file belongs to a running writer.
    /// `write` calls this first.
    @discardableResult
    public static func removeStaleTemporaries(for path: String) -> [String] {
        removeStaleTemporaries(target: (try? resolve(path)) ?? path)
    }

    // MARK: Reading

    /// The file's text; an error names the file and the reason (strerror, or "not UTF-8").
    static func readText(from path: String) throws(GuestConfigFileError) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .cannotRead(path: path, reason: errorText()) }
        defer { closeFile(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(path: path, reason: errorText())
            }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .cannotRead(path: path, reason: "not UTF-8 text")
        }
        return text
    }

    // MARK: Steps

    private static let fileTypeMask: UInt32 = 0o170000
    private static let symbolicLinkType: UInt32 = 0o120000
    private static let directoryType: UInt32 = 0o040000

    /// The file to replace: `path`, or a symbolic link's final target.
    private static func resolve(_ path: String) throws(GuestConfigFileError) -> String {
        guard let link = status(path, followLinks: false) else {
            guard errno == ENOENT else { throw failure(path, "stat \(path)") }
            return path // a new file
        }
        guard UInt32(link.st_mode) & fileTypeMask == symbolicLinkType else { return path }
        guard let resolved = realpath(path, nil) else {
            guard errno == ENOENT else { throw failure(path, "resolve the symbolic link \(path)") }
            throw .danglingSymlink(path: path, target: linkText(path))
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What the link `path` says (readlink), for errors.
    private static func linkText(_ path: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return "(unreadable: \(errorText()))" }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func removeStaleTemporaries(target: String) -> [String] {
        let directory = parentDirectory(of: target)
        let prefix = ".\(baseName(of: target)).tmp."
        var removed: [String] = []
        for name in directoryEntries(directory) where isTemporary(name, prefix: prefix) {
            let file = (directory == "/" ? "" : directory) + "/" + name
            guard let st = status(file, followLinks: false), UInt32(st.st_mode) & fileTypeMask != directoryType else { continue }
            if remove(file) { removed.append(file) }
        }
        return removed.sorted()
    }

    /// `prefix` then the six characters mkstemp puts in place of `XXXXXX`.
    private static func isTemporary(_ name: String, prefix: String) -> Bool {
        guard name.hasPrefix(prefix) else { return false }
        let suffix = name.utf8.dropFirst(prefix.utf8.count)
        return suffix.count == 6 && suffix.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
        }
    }

    /// The names in `directory`; empty when it cannot be read (a write then fails at mkstemp,
    /// naming the step).
    private static func directoryEntries(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            var name = entry.pointee.d_name
            names.append(withUnsafeBytes(of: &name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return names
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    private static func baseName(of path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    // MARK: C calls used from more than one step

    /// stat(2) or lstat(2); nil with errno set when it fails.
    private static func status(_ path: String, followLinks: Bool) -> stat? {
        var st = stat()
        let rc = followLinks ? stat(path, &st) : lstat(path, &st)
        return rc == 0 ? st : nil
    }

    @discardableResult
    private static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    private static func closeFile(_ fd: Int32) { close(fd) }

    private static func errorText() -> String { String(cString: strerror(errno)) }

    private static func failure(_ path: String, _ step: String) -> GuestConfigFileError {
        .cannotWrite(path: path, step: step, reason: errorText())
    }

    private static func notDurable(_ path: String, _ step: String) -> GuestConfigFileError {
        .notDurable(path: path, step: step, reason: errorText())
    }
}

extension GuestConfig {
    /// Writes the config to `path` atomically (temporary file in the same directory, fsync,
    /// rename), as `render` lays it out: for a new file. To change an existing file keeping its
    /// comments and layout, use `GuestConfigFile.rewrite(path:from:to:)`.
    /// `GuestConfigFile.load(from: path)` then returns an equal config.
    public func save(to path: String) throws(GuestConfigFileError) {
        do { try validate() } catch { throw .invalid(path: path, error: error, hint: nil) }
        try AtomicFileWriter.write(GuestConfigFile.render(self), to: path)
    }
}
