import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import CPmem

/// The C calls HostPmem makes, each wrapped once: an errno becomes a `HostPmemError` naming the
/// path and the operation, so nothing above this file sees errno or a raw return code.
enum SystemCalls {
    /// Turns an errno from `operation` on `path` into the most specific HostPmemError.
    static func error(_ errno: Errno, path: String, operation: String, size: UInt64 = 0) -> HostPmemError {
        switch errno {
        case .noSuchFileOrDirectory:
            let dir = parentDirectory(of: path)
            if !directoryExists(dir) { return .directoryMissing(path: path, directory: dir) }
            return .fileMissing(path: path)
        case .permissionDenied, .notPermitted, .readOnlyFileSystem:
            return .permissionDenied(path: path, operation: operation)
        case .noSpace, .diskQuotaExceeded, .fileTooLarge:
            return .noSpace(path: path, requested: size)
        case .isDirectory:
            return .notPmemCapable(path: path, reason: "it is a directory")
        case .notDirectory:
            return .directoryMissing(path: path, directory: parentDirectory(of: path))  // a parent is a file
        case .noSuchAddressOrDevice, Errno(rawValue: ENODEV):
            return .notPmemCapable(path: path, reason: "no such device")
        default:
            return .system(path: path, operation: operation, errno: errno.rawValue, message: errno.description)
        }
    }

    static func parentDirectory(of path: String) -> String {
        let dir = FilePath(path).removingLastComponent().string
        return dir.isEmpty ? "." : dir
    }

    static func directoryExists(_ dir: String) -> Bool {
        guard let st = try? FilePath(dir).stat() else { return false }
        return st.type == .directory
    }

    /// Opens `path` read-write; with `create`, makes a new file (and says whether it did).
    static func openReadWrite(_ path: String, create: Bool) throws(HostPmemError) -> (FileDescriptor, created: Bool) {
        let fp = FilePath(path)
        if create {
            do {
                let fd = try FileDescriptor.open(
                    fp, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: [.ownerReadWrite, .groupRead])
                return (fd, true)
            } catch let e as Errno where e == .fileExists {
                // Fall through: open what is there.
            } catch let e as Errno where e == .noSuchFileOrDirectory && directoryExists(parentDirectory(of: path)) {
                throw .cannotCreate(path: path, reason: "the filesystem refuses new files")
            } catch let e as Errno {
                throw error(e, path: path, operation: "create")
            } catch {
                throw .system(path: path, operation: "create", errno: 0, message: "\(error)")
            }
        }
        do {
            return (try FileDescriptor.open(fp, .readWrite, options: [.closeOnExec]), false)
        } catch let e as Errno {
            throw error(e, path: path, operation: "open for writing")
        } catch {
            throw .system(path: path, operation: "open", errno: 0, message: "\(error)")
        }
    }

    static func openReadOnly(_ path: String) throws(HostPmemError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        } catch let e as Errno {
            throw error(e, path: path, operation: "open")
        } catch {
            throw .system(path: path, operation: "open", errno: 0, message: "\(error)")
        }
    }

    static func stat(_ fd: FileDescriptor, path: String) throws(HostPmemError) -> Stat {
        do { return try fd.stat() } catch { throw self.error(error, path: path, operation: "stat") }
    }

    static func stat(path: String) throws(HostPmemError) -> Stat {
        do { return try FilePath(path).stat() } catch { throw self.error(error, path: path, operation: "stat") }
    }

    /// Sets a regular file's length without allocating blocks (a sparse file).
    static func resize(_ fd: FileDescriptor, to size: UInt64, path: String) throws(HostPmemError) {
        guard size <= UInt64(Int64.max) else {
            throw .invalidSize(path: path, size: size, reason: "larger than the largest file offset (2^63 - 1)")
        }
        do { try fd.resize(to: Int64(size)) } catch let e as Errno {
            throw error(e, path: path, operation: "set the file size", size: size)
        } catch {
            throw .system(path: path, operation: "set the file size", errno: 0, message: "\(error)")
        }
    }

    /// Allocates every block of a regular file now, so running out of space shows here.
    static func preallocate(_ fd: FileDescriptor, size: UInt64, path: String) throws(HostPmemError) {
        guard size <= UInt64(Int64.max) else {
            throw .invalidSize(path: path, size: size, reason: "larger than the largest file offset (2^63 - 1)")
        }
        let rc = posix_fallocate(fd.rawValue, 0, off_t(size))  // returns the error, not -1
        if rc != 0 { throw error(Errno(rawValue: rc), path: path, operation: "allocate", size: size) }
    }

    static func close(_ fd: FileDescriptor) { try? fd.close() }

    static func unlink(_ path: String) { _ = Glibc.unlink(path) }

    // MARK: Backing locks (CModules/CPmem/shim.h)

    /// Takes the exclusive backing lock, or reports who has it.
    ///
    /// A conflict is retried for about a second (1, 2, 4, ... 512 ms) before it is reported. A
    /// process that forks (any multithreaded program spawning a helper) hands its children
    /// copies of every descriptor, close-on-exec ones included, until they exec; for that
    /// instant (longer on a loaded machine) a lock whose owner has already closed its descriptor
    /// is still held. A real holder is still reported, a second later.
    static func lockExclusive(_ fd: FileDescriptor, path: String) throws(HostPmemError) {
        var delayMicroseconds: UInt32 = 1000
        while true {
            if vpmem_lock_exclusive(fd.rawValue) == 0 { return }
            let e = Errno(rawValue: Glibc.errno)
            guard e == .resourceTemporarilyUnavailable || e == .permissionDenied else {
                throw error(e, path: path, operation: "lock")
            }
            if delayMicroseconds > 512_000 { throw .locked(path: path, holderPid: lockHolder(fd)) }
            usleep(delayMicroseconds)
            delayMicroseconds *= 2
        }
    }

    /// Lets another process learn our pid (OFD locks report none). A POSIX lock, so any close
    /// of another descriptor for the file in this process drops it: call it after libpmem has
    /// mapped the file (pmem_map_file opens and closes its own). Losing it loses only the pid
    /// in someone else's message, never the exclusion, which is the OFD lock.
    static func setPidBeacon(_ fd: FileDescriptor) {
        _ = vpmem_set_pid_beacon(fd.rawValue)
    }

    /// The pid of the process holding `fd`'s file for writing, if the lock says.
    static func lockHolder(_ fd: FileDescriptor) -> Int32? {
        let pid = vpmem_pid_beacon_holder(fd.rawValue)
        return pid > 0 ? pid : nil
    }

    /// Whether some open file description holds the backing lock.
    static func isLocked(_ fd: FileDescriptor, path: String) throws(HostPmemError) -> Bool {
        let r = vpmem_lock_is_held(fd.rawValue)
        if r < 0 { throw error(Errno(rawValue: Glibc.errno), path: path, operation: "query the lock") }
        return r == 1
    }
}
