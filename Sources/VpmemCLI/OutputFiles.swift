#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Why an output file or directory was not written. Each names the path and what to do; errno
/// is turned into words here, so no Foundation text reaches the user.
enum OutputError: Error, CustomStringConvertible {
    case exists(path: String)
    case scratchExists(path: String)
    case symbolicLink(path: String)
    case notRegularFile(path: String)
    case notDirectory(path: String)
    case notEmpty(path: String, entry: String)
    case system(path: String, step: String, errno: Int32)

    var description: String {
        switch self {
        case .exists(let p):
            return "\(p) exists: give --force to replace it, or choose another place"
        case .scratchExists(let p):
            return "\(p) exists; vpmem never reuses a scratch file: remove it, or choose another directory"
        case .symbolicLink(let p):
            return "\(p) is a symbolic link; vpmem does not write through links: remove it, or choose another place"
        case .notRegularFile(let p):
            return "\(p) exists and is not a regular file: choose another place"
        case .notDirectory(let p):
            return "\(p) exists and is not a directory: give a directory"
        case let .notEmpty(p, entry):
            return "\(p) is not empty (it holds \(entry)): give a new or empty directory, or leave the option out for a fresh temporary one"
        case let .system(p, step, e):
            let reason = String(cString: strerror(e))
            let fix: String
            switch e {
            case EACCES, EPERM, EROFS: fix = "choose a place you can write to"
            case ENOSPC, EDQUOT: fix = "free space on that file system, or choose another"
            case ENOENT, ENOTDIR: fix = "check that every directory on the path exists"
            default: fix = "check the path"
            }
            return "\(p): cannot \(step): \(reason.prefix(1).lowercased() + reason.dropFirst()): \(fix)"
        }
    }
}

/// How vpmem writes files nobody else wrote: a new file is created exclusively (O_EXCL), an
/// existing one is replaced only with `force`, atomically (a temporary file renamed over it),
/// and a symbolic link at an output path is refused either way, so no write lands where the
/// user did not ask.
enum OutputFiles {
    /// Writes every file or none: all paths are checked before the first is created, and a
    /// failure removes what this call created (a file it replaced stays replaced).
    static func write(_ files: [(path: String, bytes: [UInt8])], force: Bool) throws(OutputError) {
        for f in files { try checkWritable(f.path, force: force) }
        var created: [String] = []
        do {
            for f in files {
                if try replace(f.path, with: f.bytes, force: force) { created.append(f.path) }
            }
        } catch {
            for p in created { unlink(p) }
            throw error
        }
    }

    /// Refuses a symbolic link, a non-regular file, and (without `force`) any existing file.
    static func checkWritable(_ path: String, force: Bool) throws(OutputError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            guard errno == ENOENT else { throw .system(path: path, step: "look at it", errno: errno) }
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFLNK: throw .symbolicLink(path: path)
        case S_IFREG: if !force { throw .exists(path: path) }
        default: throw .notRegularFile(path: path)
        }
    }

    /// Writes `bytes` to `path`: a new file with O_EXCL | O_NOFOLLOW, or with `force` a temporary
    /// file in the same directory renamed over the old one. Returns whether the file is new.
    private static func replace(_ path: String, with bytes: [UInt8], force: Bool) throws(OutputError) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd >= 0 {
            do { try writeAll(fd, bytes, path: path) } catch {
                close(fd)
                unlink(path)
                throw error
            }
            close(fd)
            return true
        }
        let e = errno
        guard e == EEXIST, force else {
            throw e == EEXIST ? .exists(path: path) : e == ELOOP ? .symbolicLink(path: path) : .system(path: path, step: "create it", errno: e)
        }
        try checkWritable(path, force: true)  // a link planted since the first check
        let directory = (path as NSString).deletingLastPathComponent
        var template = Array(((directory.isEmpty ? "." : directory) + "/.vpmem-out.XXXXXX").utf8CString)
        let tfd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard tfd >= 0 else { throw .system(path: path, step: "create a temporary file next to it", errno: errno) }
        let temp = String(cString: template.map { UInt8(bitPattern: $0) })
        do throws(OutputError) {
            try writeAll(tfd, bytes, path: path)
            guard fchmod(tfd, 0o644) == 0 else { throw OutputError.system(path: path, step: "set the mode", errno: errno) }
        } catch {
            close(tfd)
            unlink(temp)
            throw error
        }
        close(tfd)
        guard rename(temp, path) == 0 else {
            let e = errno
            unlink(temp)
            throw .system(path: path, step: "replace it", errno: e)
        }
        return false
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(OutputError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(path: path, step: "write it", errno: errno)
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw .system(path: path, step: "write it to disk", errno: errno) }
    }

    /// An output directory: missing (to be made), or a directory that is no symbolic link.
    static func checkDirectory(_ path: String) throws(OutputError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            guard errno == ENOENT else { throw .system(path: path, step: "look at it", errno: errno) }
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return
        case S_IFLNK: throw .symbolicLink(path: path)
        default: throw .notDirectory(path: path)
        }
    }

    /// Makes `path` a directory (and its missing parents); an existing directory is fine, a
    /// symbolic link to one is refused.
    static func makeDirectory(_ path: String) throws(OutputError) {
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFDIR: return
            case S_IFLNK: throw .symbolicLink(path: path)
            default: throw .notDirectory(path: path)
            }
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, parent != "/" {
            var pst = stat()
            if stat(parent, &pst) != 0 {
                guard errno == ENOENT else { throw .system(path: parent, step: "look at it", errno: errno) }
                try makeDirectory(parent)
            } else if pst.st_mode & S_IFMT != S_IFDIR {
                throw .notDirectory(path: parent)
            }
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw .system(path: path, step: "create the directory", errno: errno) }
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { throw .notDirectory(path: path) }
    }

    /// Makes `path` a new directory, or checks that it is an empty one: scratch files of a demo
    /// never land among files that were there before.
    static func emptyDirectory(_ path: String) throws(OutputError) {
        try makeDirectory(path)
        guard let dir = opendir(path) else { throw .system(path: path, step: "read the directory", errno: errno) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            var name = entry.pointee.d_name
            let s = withUnsafeBytes(of: &name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            if s != "." && s != ".." { throw .notEmpty(path: path, entry: s) }
        }
    }

    /// A new directory under $TMPDIR (mkdtemp: a name nobody had, mode 0700).
    static func freshTemporaryDirectory(prefix: String) throws(OutputError) -> String {
        let base = NSTemporaryDirectory()
        let dir = base.hasSuffix("/") ? String(base.dropLast()) : base
        var template = Array((dir + "/" + prefix + "XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .system(path: dir, step: "create a temporary directory", errno: errno)
        }
        return String(cString: template.map { UInt8(bitPattern: $0) })
    }

    /// A scratch file about to be created: nothing (not even a link) may be at `path` yet.
    static func requireAbsent(_ path: String) throws(OutputError) {
        var st = stat()
        guard lstat(path, &st) != 0 else {
            throw st.st_mode & S_IFMT == S_IFLNK ? .symbolicLink(path: path) : .scratchExists(path: path)
        }
        guard errno == ENOENT else { throw .system(path: path, step: "look at it", errno: errno) }
    }
}
