#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DeviceModel
import SystemPackage

/// Writes an access trace a batch at a time. The trace goes to a temporary file beside `path`
/// and replaces `path` only when `finish()` succeeds: a run that fails or is interrupted leaves
/// whatever was at `path` untouched (and removes the temporary file).
public final class AccessTraceWriter {
    public let path: String
    public let format: AccessTraceFormat
    private let temporary: String
    private let fd: FileDescriptor
    private var pending: [UInt8] = []
    private var finished = false
    public private(set) var accessesWritten: UInt64 = 0

    static let flushBytes = 1 << 20

    public init(path: String, format: AccessTraceFormat) throws(AccessTraceError) {
        self.path = path
        self.format = format
        let file = FilePath(path)
        let name = file.lastComponent?.string ?? "trace"
        let directory = file.removingLastComponent()
        temporary = directory.appending(".\(name).tmp.\(getpid())").string
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .truncate],
                                         permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw .io(path: path, step: "create \(temporary) to write the trace", reason: "\(error)")
        }
        pending.reserveCapacity(Self.flushBytes + 4096)
        if format == .binary {
            pending += AccessTraceFormat.header
        } else {
            pending += Array("# vpmem access trace: mem|port ADDRESS SIZE r|w [DATA], pci SSSS:BB:DD.F REGISTER SIZE r|w [DATA]\n".utf8)
        }
    }

    deinit {
        try? fd.close()
        if !finished { _ = unlink(temporary) }
    }

    /// Appends `accesses`.
    public func write(_ accesses: UnsafeBufferPointer<GuestAccess>) throws(AccessTraceError) {
        for a in accesses {
            if format == .binary {
                let at = pending.count
                pending += repeatElement(0, count: AccessTraceFormat.recordBytes)
                pending.withUnsafeMutableBytes { AccessTraceFormat.encode(a, to: $0.baseAddress! + at) }
            } else {
                pending += Array(AccessTraceFormat.line(a).utf8)
                pending.append(0x0A)
            }
            if pending.count >= Self.flushBytes { try flush() }
        }
        accessesWritten += UInt64(accesses.count)
    }

    private func flush() throws(AccessTraceError) {
        guard !pending.isEmpty else { return }
        do { _ = try pending.withUnsafeBytes { try fd.writeAll($0) } } catch {
            throw .io(path: path, step: "write \(temporary)", reason: "\(error)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes what is pending, makes it durable and puts the trace at `path`.
    public func finish() throws(AccessTraceError) {
        try flush()
        if fsync(fd.rawValue) != 0 {
            throw .io(path: path, step: "fsync \(temporary)", reason: String(cString: strerror(errno)))
        }
        if rename(temporary, path) != 0 {
            throw .io(path: path, step: "rename \(temporary) to it", reason: String(cString: strerror(errno)))
        }
        finished = true
    }
}
