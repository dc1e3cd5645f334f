import GuestMemory

/// The kinds of range an ioreq server claims, one rangeset each (Xen's `XEN_DMOP_IO_RANGE_*`,
/// plus the write-protected-RAM kind that seed 001 argued over and Xen later removed).
///
/// What the values of each kind's rangeset are:
/// - `port`: IO port numbers, 0 to 0xFFFF; an access of `size` bytes at port p is claimed when
///   `[p, p + size - 1]` lies in one range.
/// - `mmio`: guest-physical byte addresses; claimed when `[addr, addr + size - 1]` lies in one
///   range. Consulted for pages of p2m type `mmio_dm`.
/// - `pciConfig`: PCI functions as 32-bit SBDF numbers (`PciSbdf.raw`); a config access is
///   claimed when its function is in the set.
/// - `wpMem`: guest frame numbers of write-protected RAM (`HVMOP_IO_RANGE_WP_MEM`); consulted
///   for writes to pages of p2m type `ioreq_server` that no server claims by type.
public enum IoRangeKind: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case port = 0
    case mmio = 1
    case pciConfig = 2
    case wpMem = 3

    /// Xen's spelling: "port", "mmio", "pci", "wp_mem".
    public var name: String {
        switch self {
        case .port: return "port"
        case .mmio: return "mmio"
        case .pciConfig: return "pci"
        case .wpMem: return "wp_mem"
        }
    }

    public var description: String { name }

    /// The largest value a range of this kind may reach.
    public var maxValue: UInt64 {
        switch self {
        case .port: return 0xFFFF
        case .mmio: return P2M.maxGfn.raw << PageOrder.frameShift | (PageOrder.frameBytes - 1)
        case .pciConfig: return UInt64(UInt32.max)
        case .wpMem: return P2M.maxGfn.raw
        }
    }

    /// Parses `name` ("port", "mmio", "pci", "wp_mem").
    public init?(name: String) {
        guard let k = IoRangeKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}
