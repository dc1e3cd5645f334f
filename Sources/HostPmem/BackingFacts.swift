#if canImport(Glibc)
import Glibc
#endif

/// What a benchmark or `pmem info` says about where a backing lives: the device under it, its
/// NUMA node, the filesystem, the namespace libndctl knows it as, and whether writes to it are
/// durable. Facts that cannot be learnt are nil, with `numaSource` saying why.
public struct BackingFacts: Codable, Equatable, Sendable {
    public var path: String
    public var kind: PmemInfo.Kind
    public var isPmem: Bool
    /// The kernel's name of the device: dax0.0 for a device, the filesystem's block device
    /// (pmem0, vda1) for a file; nil for a file on tmpfs.
    public var device: String?
    public var mount: MountFacts?
    /// The libndctl namespace the device belongs to (namespace0.0), if any.
    public var namespace: String?
    public var numaNode: Int?
    /// Where the NUMA node came from, or why there is none.
    public var numaSource: String
    public var durability: BackingDurability

    enum CodingKeys: String, CodingKey {
        case path, kind, device, mount, namespace, durability
        case isPmem = "is_pmem", numaNode = "numa_node", numaSource = "numa_source"
    }

    /// Gathers the facts for a backing libpmem has mapped (`isPmem` is its answer).
    public static func gather(path: String, isPmem: Bool) -> BackingFacts {
        var st = stat()
        // fstat, since the name `stat` is the struct in Swift; opening read-only changes nothing.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        let statOK = fd >= 0 && fstat(fd, &st) == 0
        if fd >= 0 { close(fd) }
        let isChar = statOK && (st.st_mode & S_IFMT) == S_IFCHR
        let kind: PmemInfo.Kind = isChar ? .devdax : .file
        let forced = getenv("PMEM_IS_PMEM_FORCE").map { String(cString: $0) } == "1"
        let inventory = try? NdctlDiscovery.inventory()

        var device: String?
        var mount: MountFacts?
        var sysDir: String?
        if isChar {
            let dir = "/sys/dev/char/\(major(st.st_rdev)):\(minor(st.st_rdev))"
            device = realPath(dir).map(basename)
            sysDir = dir
        } else if statOK {
            let real = realPath(path) ?? path
            mount = SysfsText.read("/proc/self/mountinfo").flatMap {
                MountFacts.find(major: major(st.st_dev), minor: minor(st.st_dev), path: real, mountinfo: $0)
            }
            let dir = "/sys/dev/block/\(major(st.st_dev)):\(minor(st.st_dev))"
            if let block = realPath(dir).map(basename) {
                device = block
                mount?.blockDevice = block
                sysDir = dir
            }
        }

        let ns = device.flatMap { d in
            inventory?.namespaces.first { $0.chardev == d || $0.blockdev == d || ($0.blockdev.map { d.hasPrefix($0 + "p") } ?? false) }
        }
        var numa: Int?
        var source: String
        if let ns, let node = ns.numaNode {
            numa = Int(node)
            source = "libndctl: \(ns.dev)"
        } else if let sysDir, let node = sysfsNumaNode(sysDir) {
            numa = node
            source = "sysfs: \(device ?? sysDir)"
        } else if mount?.volatile == true {
            source = "none: \(mount!.fsType) pages are placed by the writing thread's memory policy"
        } else {
            source = "none: \(device ?? "the device") reports no NUMA node"
        }
        return BackingFacts(
            path: path, kind: kind, isPmem: isPmem, device: device, mount: mount, namespace: ns?.dev,
            numaNode: numa, numaSource: source,
            durability: .assess(kind: kind, isPmem: isPmem, forced: forced, mount: mount))
    }

    /// A device's node: its own numa_node, or its parent's (a partition's disk, a virtio
    /// disk's PCI function). -1 means the kernel does not know.
    static func sysfsNumaNode(_ dir: String) -> Int? {
        for candidate in ["/device/numa_node", "/numa_node", "/../device/numa_node", "/device/../numa_node"] {
            if let v = SysfsText.value(dir + candidate).flatMap({ Int($0) }), v >= 0 { return v }
        }
        return nil
    }

    static func major(_ dev: dev_t) -> UInt32 { UInt32(truncatingIfNeeded: ((UInt64(dev) >> 8) & 0xfff) | ((UInt64(dev) >> 32) & 0xffff_f000)) }
    static func minor(_ dev: dev_t) -> UInt32 { UInt32(truncatingIfNeeded: (UInt64(dev) & 0xff) | ((UInt64(dev) >> 12) & 0xffff_ff00)) }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    static func basename(_ p: String) -> String { p.split(separator: "/").last.map(String.init) ?? p }
}
