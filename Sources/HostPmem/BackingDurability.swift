/// Whether a write to a backing is durable when vpmem's write call returns, and by what.
///
/// The mechanisms are the three that work and the two set-ups that lose data without saying
/// so (the recurring reports in QEMU's and ndctl's trackers):
/// - a device-dax device: stores reach the persistence domain once CPU caches are flushed;
/// - a file on a DAX-mounted filesystem, mapped with MAP_SYNC (libpmem calls only such a file
///   pmem): the same, and the filesystem keeps its metadata in step;
/// - a page-cache file persisted with msync: durable when msync returns, at system-call cost;
/// - PMEM_IS_PMEM_FORCE=1 on a page-cache file: libpmem flushes CPU caches and calls it done,
///   but the pages reach storage only when the kernel writes them back;
/// - tmpfs or ramfs: RAM, gone at power-off whatever is called.
public struct BackingDurability: Codable, Equatable, Sendable {
    public enum Mechanism: String, Codable, Sendable {
        case deviceDax = "device-dax"
        case daxMapSync = "dax-file-map-sync"
        case msync
        case forcedFlushOnPageCache = "none-forced-flush-on-page-cache"
        case volatileMemory = "none-volatile-memory"
    }

    public var durable: Bool
    public var mechanism: Mechanism
    /// One sentence a user can act on.
    public var explanation: String
    /// Set-ups that lose data without saying so, each with its fix.
    public var warnings: [String]

    /// Judges a backing from what is known about it. `forced` is PMEM_IS_PMEM_FORCE=1 in the
    /// environment; `mount` is the filesystem a file lives on (nil for a device).
    public static func assess(kind: PmemInfo.Kind, isPmem: Bool, forced: Bool, mount: MountFacts?) -> BackingDurability {
        var warnings: [String] = []
        // Only when libpmem could not map the file with MAP_SYNC: a file with its own DAX
        // attribute on a dax=inode mount (xfs's and ext4's default now) is DAX, whatever the
        // mount options say.
        if let mount, mount.onPmemBlockDevice, !mount.dax, !isPmem {
            if mount.onSectorDevice {
                warnings.append("the filesystem is on \(mount.source), a pmem namespace in sector (BTT) mode, which cannot do DAX: every write goes through the page cache; reconfigure the namespace as fsdax (ndctl create-namespace -f -e NAMESPACE -m fsdax) or devdax")
            } else {
                warnings.append("the filesystem is on \(mount.source), a pmem block device, but this file is not DAX (mounted without -o dax, and no DAX attribute on the file): every write goes through the page cache; remount with -o dax (or set the file's DAX attribute on a dax=inode mount: xfs_io -c 'chattr +x') to map it with MAP_SYNC")
            }
        }
        if kind == .devdax {
            return BackingDurability(
                durable: isPmem, mechanism: .deviceDax,
                explanation: isPmem
                    ? "durable when the write returns: a device-dax device, CPU caches flushed from user space (pmem_persist)"
                    : "libpmem does not find this device to be pmem: check `vpmem host list`",
                warnings: warnings)
        }
        if mount?.volatile == true {
            return BackingDurability(
                durable: false, mechanism: .volatileMemory,
                explanation: "not durable: \(mount!.fsType) is RAM, so every byte is lost at power-off (fine for an emulated backing, never for data)",
                warnings: warnings)
        }
        if isPmem && !(forced && mount?.dax != true) {
            return BackingDurability(
                durable: true, mechanism: .daxMapSync,
                explanation: "durable when the write returns: a file on a DAX filesystem mapped with MAP_SYNC, CPU caches flushed from user space",
                warnings: warnings)
        }
        if isPmem {
            warnings.append("PMEM_IS_PMEM_FORCE=1 makes libpmem treat this page-cache file as pmem: it flushes CPU caches and skips msync, so a crash loses what the kernel has not written back; unset it, or use a file on a DAX mount")
            return BackingDurability(
                durable: false, mechanism: .forcedFlushOnPageCache,
                explanation: "not durable when the write returns: CPU caches are flushed, but the pages stay in the page cache until writeback",
                warnings: warnings)
        }
        return BackingDurability(
            durable: true, mechanism: .msync,
            explanation: "durable when the write returns, by msync of a page-cache file (pmem_msync: a system call per write)",
            warnings: warnings)
    }
}

/// The filesystem a file lives on, from /proc/self/mountinfo and /sys/dev/block.
public struct MountFacts: Codable, Equatable, Sendable {
    public var mountPoint: String
    public var fsType: String
    /// The mount source, e.g. /dev/pmem0.
    public var source: String
    /// Mounted with -o dax (or dax=always).
    public var dax: Bool
    /// The kernel's name of the block device under it (pmem0, vda1), when it has one.
    public var blockDevice: String?

    enum CodingKeys: String, CodingKey {
        case dax, source
        case mountPoint = "mount_point", fsType = "fs_type", blockDevice = "block_device"
    }

    public var volatile: Bool { fsType == "tmpfs" || fsType == "ramfs" }
    public var onPmemBlockDevice: Bool { blockDevice?.hasPrefix("pmem") == true }
    /// A BTT (sector mode) namespace: the kernel names its disk pmemNs (partitions pmemNsp1).
    public var onSectorDevice: Bool {
        guard let d = blockDevice, d.hasPrefix("pmem") else { return false }
        let rest = d.dropFirst(4).drop { $0.isNumber }
        return rest.first == "s"
    }

    /// The mount whose device number is `major:minor`, the longest mount point that is a prefix
    /// of `path` when several share it (bind mounts).
    static func find(major: UInt32, minor: UInt32, path: String, mountinfo: String) -> MountFacts? {
        var best: MountFacts?
        for line in mountinfo.split(separator: "\n") {
            let halves = String(line).components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let a = halves[0].split(separator: " ", omittingEmptySubsequences: true)
            let b = halves[1].split(separator: " ", omittingEmptySubsequences: true)
            guard a.count >= 6, b.count >= 3, a[2] == "\(major):\(minor)" else { continue }
            let point = unescape(String(a[4]))
            guard path == point || path.hasPrefix(point == "/" ? "/" : point + "/") else { continue }
            if let best, best.mountPoint.count >= point.count { continue }
            let options = (a[5].split(separator: ",") + b[2].split(separator: ",")).map(String.init)
            best = MountFacts(
                mountPoint: point, fsType: String(b[0]), source: String(b[1]),
                dax: options.contains("dax") || options.contains("dax=always"), blockDevice: nil)
        }
        return best
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count,
               let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// Splits on a whole separator string (Foundation-free).
    fileprivate func components(separatedBy sep: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: sep) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

extension Substring {
    fileprivate func range(of sep: String) -> Range<Substring.Index>? {
        guard !sep.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(sep) { return i..<index(i, offsetBy: sep.count) }
            i = index(after: i)
        }
        return nil
    }
}
