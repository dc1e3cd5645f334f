import GuestMemory

/// The large pmem host the scale benchmark and the scale test boot: x86-like RAM (below 3 GiB
/// and from 4 GiB up, `ramBytes` in all, 1 TiB by default) and host pmem on two sockets at high
/// addresses (`pmemBytes` in all, 6 TiB by default: half from 2 TiB, half from 2 TiB + pmem/2 +
/// 1 TiB), as NFIT SPA ranges place it above RAM. No static memory or region: the point is what
/// the frame table, the heap and the pmem registry cost at this size.
public enum HostScaleWorkload {
    public static let defaultRAMBytes: UInt64 = 1 << 40
    public static let defaultPmemBytes: UInt64 = 6 << 40

    public static func config(ramBytes: UInt64 = defaultRAMBytes, pmemBytes: UInt64 = defaultPmemBytes) throws -> HostMemoryConfig {
        let gib: UInt64 = 1 << 18, tib: UInt64 = 1 << 28
        let low = MfnRange(uncheckedFirst: 0x100, end: 3 * gib)
        let high = try MfnRange(first: Mfn.checked(4 * gib), count: (ramBytes >> PageOrder.frameShift) - low.count)
        let half = (pmemBytes >> PageOrder.frameShift) / 2
        let socket0 = try MfnRange(first: Mfn.checked(2 * tib), count: half)
        let socket1 = try MfnRange(first: Mfn.checked(socket0.end + tib), count: half)
        return HostMemoryConfig(banks: [low, high], pmem: [socket0, socket1])
    }
}
