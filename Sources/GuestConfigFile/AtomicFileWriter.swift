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
/// mix, and a crash leaves one of the two.
///
/// Steps: create a temporary file in the same directory (same file system, so the rename is
/// atomic), write everything, fsync it, rename it over the target, fsync the directory so the
/// rename itself is durable. On any failure the temporary file is removed and the target is
/// untouched. Each C call is wrapped once, here.
public enum AtomicFileWriter {
    public static func write(_ text: String, to path: String) throws(GuestConfigFileError) {
        let directory = parentDirectory(of: path)
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(directory)/.\(base).tmp.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure(path, "create temporary file in \(directory)") }
        let tempPath = String(cString: template.map { UInt8(bitPattern: $0) })
        var ok = false
        defer {
            if !ok { unlink(tempPath) }
        }
        do {
            defer { close(fd) }
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
            // mkstemp creates 0600; a config is as readable as any other file the user writes.
            guard fchmod(fd, 0o644) == 0 else { throw failure(path, "chmod \(tempPath)") }
            guard fsync(fd) == 0 else { throw failure(path, "fsync \(tempPath)") }
        }
        guard rename(tempPath, path) == 0 else { throw failure(path, "rename \(tempPath) to \(path)") }
        ok = true
        let dirFd = open(directory, O_RDONLY | O_DIRECTORY)
        guard dirFd >= 0 else { throw failure(path, "open directory \(directory) to fsync the rename") }
        defer { close(dirFd) }
        guard fsync(dirFd) == 0 else { throw failure(path, "fsync directory \(directory)") }
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    private static func failure(_ path: String, _ step: String) -> GuestConfigFileError {
        .cannotWrite(path: path, step: step, reason: String(cString: strerror(errno)))
    }
}

extension GuestConfig {
    /// Writes the config to `path` atomically (temporary file in the same directory, fsync,
    /// rename). `GuestConfigFile.load(from: path)` then returns an equal config.
    public func save(to path: String) throws(GuestConfigFileError) {
        do { try validate() } catch { throw .invalid(path: path, error: error, hint: nil) }
        try AtomicFileWriter.write(GuestConfigFile.render(self), to: path)
    }
}
