/// Everything that can go wrong on the host side of persistent memory, with the path involved
/// and what to do about it. errno never escapes as a bare number.
public enum HostPmemError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileMissing(path: String)
    case directoryMissing(path: String, directory: String)
    case permissionDenied(path: String, operation: String)
    case cannotCreate(path: String, reason: String)
    case noSpace(path: String, requested: UInt64)
    case sizeMismatch(path: String, existing: UInt64, requested: UInt64)
    case notPmemCapable(path: String, reason: String)
    case locked(path: String, holderPid: Int32?)
    case invalidSize(path: String, size: UInt64, reason: String)
    case outOfBounds(path: String, offset: UInt64, length: UInt64, size: UInt64)
    case readOnly(path: String)
    /// A failure libpmem or the kernel reported that has no more specific case above.
    case system(path: String, operation: String, errno: Int32, message: String)
    case inventory(operation: String, errno: Int32, message: String)

    public var description: String {
        switch self {
        case .fileMissing(let path):
            return "\(path): no such file: create it first (vpmem pmem create \(path) --size SIZE)"
        case let .directoryMissing(path, dir):
            return "\(path): directory \(dir) does not exist (or is not a directory): create it or choose another path"
        case let .permissionDenied(path, op):
            return "\(path): permission denied while trying to \(op): check the file's owner and mode, or run with access to it"
        case let .cannotCreate(path, reason):
            return "\(path): cannot create a file there (\(reason)): choose a path on a regular filesystem, e.g. under /tmp or /dev/shm"
        case let .noSpace(path, requested):
            return "\(path): no space left for \(requested) bytes: free space on that filesystem or choose a smaller size"
        case let .sizeMismatch(path, existing, requested):
            return "\(path): the file is \(existing) bytes but \(requested) were asked for: omit the size to use the file as it is, or choose another path"
        case let .notPmemCapable(path, reason):
            return "\(path): not usable as pmem (\(reason)): give a regular file, a file on an fsdax mount, or a /dev/daxN.M device"
        case let .locked(path, pid):
            let who = pid.map { "process \($0)" } ?? "another mapping (in this process, or in one whose pid the lock does not tell)"
            return "\(path): in use: \(who) has it mapped for writing; stop that user first (the lock goes away when it exits)"
        case let .invalidSize(path, size, reason):
            return "\(path): size \(size) is not usable: \(reason)"
        case let .outOfBounds(path, offset, length, size):
            return "\(path): access of \(length) bytes at offset \(offset) runs past the end of the \(size)-byte mapping"
        case .readOnly(let path):
            return "\(path): mapping is read-only; open it for writing to change it"
        case let .system(path, op, errno, message):
            return "\(path): \(op) failed: \(message) (errno \(errno))"
        case let .inventory(op, errno, message):
            return "pmem inventory: \(op) failed: \(message) (errno \(errno))"
        }
    }
}
