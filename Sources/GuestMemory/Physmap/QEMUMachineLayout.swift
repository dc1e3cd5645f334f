import VpmemCore

/// How QEMU's x86 `pc` machine (i440fx, QEMU 7.2 and later) lays out a guest's RAM and its
/// device-memory window (where DIMMs and NVDIMMs go), for `-m RAM,slots=S,maxmem=M` and
/// `-machine max-ram-below-4g=L`:
/// - RAM below 4 GiB is L when RAM < L; otherwise min(L, 3 GiB) (the machine keeps low RAM
///   1 GiB-aligned once it is large), and the rest of RAM starts at 4 GiB;
/// - the device-memory window starts at the first 1 GiB boundary at or above the end of that
///   high RAM, and is M - RAM + S GiB long (a GiB of alignment slack per slot).
///
/// vpmem passes L = the guest's MMIO hole start, so QEMU's RAM below 4 GiB matches vpmem's
/// whenever the hole start is at most 3 GiB. The pmem aperture (GuestLayout) starts no lower
/// than `deviceMemoryBase`, so every vNVDIMM vpmem places is an address QEMU accepts.
public struct QEMUMachineLayout: Equatable, Sendable {
    /// The most RAM the pc machine puts below 4 GiB once RAM reaches `max-ram-below-4g`.
    public static let largeLowMemoryLimit: UInt64 = 3 * ByteSize.gib

    public let ramBelow4G: UInt64
    public let ramAbove4G: UInt64
    /// `max-ram-below-4g` as vpmem passes it.
    public let maxRamBelow4G: UInt64
    /// Start of the device-memory window.
    public let deviceMemoryBase: UInt64

    public init(memory: UInt64, holeStart: UInt64) {
        maxRamBelow4G = holeStart
        let low = memory >= holeStart ? min(holeStart, Self.largeLowMemoryLimit) : memory
        ramBelow4G = low
        ramAbove4G = memory - low
        // memory < 2^64 - 2^32 for any valid config (GuestConfig.validate bounds it).
        deviceMemoryBase = alignUp(GuestLayout.fourGiB + ramAbove4G, to: GuestLayout.highAlignment) ?? .max
    }

    /// `maxmem` for a window that reaches `end` (the first byte after the last vNVDIMM): RAM
    /// plus the window's length, at least 1 GiB more than RAM so the window exists.
    public func maxmem(memory: UInt64, windowEnd end: UInt64) -> UInt64 {
        memory + max(end > deviceMemoryBase ? end - deviceMemoryBase : 0, ByteSize.gib)
    }
}
