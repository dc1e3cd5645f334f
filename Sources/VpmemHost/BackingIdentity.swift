#if canImport(Glibc)
import Glibc
#endif
import HostPmem

/// What makes two backing paths the same backing: an emulated file's device and inode (so a
/// symlink, a hard link or a relative path name the same file), a real namespace's uuid (its
/// `/dev/pmemN` or `/dev/daxN.M` device through libndctl), never the path as written.
public enum BackingIdentity: Hashable, Sendable, CustomStringConvertible {
    case file(device: UInt64, inode: UInt64)
    case namespace(uuid: String)
    /// A device node libndctl does not know (a test, a loop device): its device number.
    case device(rdev: UInt64)

    /// The identity of what `path` names now, or nil when it does not exist.
    public static func of(path: String) -> BackingIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let type = st.st_mode & S_IFMT
        if type == S_IFCHR || type == S_IFBLK {
            let real = realpath(path, nil).map { p -> String in defer { free(p) }; return String(cString: p) } ?? path
            if let inventory = try? NdctlDiscovery.inventory() {
                for bus in inventory.buses {
                    for region in bus.regions {
                        for ns in region.namespaces where ns.devicePath == real {
                            if let uuid = ns.uuid { return .namespace(uuid: uuid.lowercased()) }
                        }
                    }
                }
            }
            return .device(rdev: UInt64(st.st_rdev))
        }
        return .file(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    public var description: String {
        switch self {
        case let .file(d, i): return "file \(d):\(i)"
        case .namespace(let u): return "namespace \(u)"
        case .device(let r): return "device \(r >> 8):\(r & 0xff)"
        }
    }
}
