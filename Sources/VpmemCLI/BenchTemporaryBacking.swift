import Foundation

/// A backing file `bench pmem` made for itself (--emulated, or a directory given as PATH). It
/// is removed when the run ends, and on SIGINT or SIGTERM: the handler unlinks it and exits 130
/// (128 + SIGINT) or 143, so Ctrl-C never leaves a multi-gigabyte file behind. The mapping may
/// still be live when the handler runs; unlinking a mapped file is safe, its blocks go when the
/// process does.
final class TemporaryBacking: @unchecked Sendable {
    let path: String
    private var sources: [DispatchSourceSignal] = []

    init(directory: String) {
        path = (directory.hasSuffix("/") ? directory : directory + "/")
            + "vpmem-bench-\(ProcessInfo.processInfo.processIdentifier).pmem"
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            let path = self.path
            source.setEventHandler {
                unlink(path)
                FileHandle.standardError.write(Data("\r\u{1B}[K\ninterrupted: removed \(path)\n".utf8))
                exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Removes the file and restores the default signal handling.
    func remove() {
        unlink(path)
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Where an emulated backing goes when no --dir is given: tmpfs when there is one, so the
    /// sweep measures memory rather than a disk's writeback, else the temporary directory.
    static var defaultDirectory: String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDir), isDir.boolValue, access("/dev/shm", W_OK) == 0 {
            return "/dev/shm"
        }
        return NSTemporaryDirectory()
    }
}
