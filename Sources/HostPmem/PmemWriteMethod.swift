/// The ways libpmem can copy bytes into a mapping and make them durable, one case per call
/// sequence, so a benchmark can measure each on the same mapping.
///
/// On real pmem the flush-based cases are durable when they return and `msync` is not offered
/// (libpmem's msync on pmem is a system call that flushes nothing extra). On a mapping that is
/// not pmem only `msync` is durable: the flush-based cases still run (what a program that set
/// PMEM_IS_PMEM_FORCE would do) and are reported as not durable.
public enum PmemWriteMethod: String, CaseIterable, Codable, Sendable {
    /// pmem_memcpy_persist: libpmem picks temporal or non-temporal stores by size, then drains.
    case memcpyPersist = "memcpy_persist"
    /// pmem_memcpy(PMEM_F_MEM_NODRAIN), then pmem_drain: the batching form.
    case memcpyNoDrainThenDrain = "memcpy_nodrain+drain"
    /// pmem_memcpy(PMEM_F_MEM_NONTEMPORAL): streaming stores that bypass the cache, then drain.
    case nonTemporal = "memcpy_nontemporal"
    /// pmem_memcpy(PMEM_F_MEM_TEMPORAL): cached stores, flushed line by line, then drain.
    case temporal = "memcpy_temporal"
    /// Plain CPU stores (memcpy), then pmem_persist over the range.
    case storePersist = "store+persist"
    /// Plain CPU stores, then pmem_msync: the page-cache path.
    case msync = "store+msync"

    /// The libpmem calls, as a user would write them.
    public var calls: String {
        switch self {
        case .memcpyPersist: return "pmem_memcpy_persist"
        case .memcpyNoDrainThenDrain: return "pmem_memcpy(PMEM_F_MEM_NODRAIN); pmem_drain"
        case .nonTemporal: return "pmem_memcpy(PMEM_F_MEM_NONTEMPORAL)"
        case .temporal: return "pmem_memcpy(PMEM_F_MEM_TEMPORAL)"
        case .storePersist: return "memcpy; pmem_persist"
        case .msync: return "memcpy; pmem_msync"
        }
    }

    /// Whether the data is durable when this method returns, on a mapping libpmem calls pmem or not.
    public func isDurable(onPmem: Bool) -> Bool { onPmem ? self != .msync : self == .msync }

    /// The methods worth measuring on a mapping: every flush-based one, and msync where the
    /// mapping is not pmem.
    public static func offered(isPmem: Bool) -> [PmemWriteMethod] {
        isPmem ? allCases.filter { $0 != .msync } : allCases
    }
}

/// libpmem's copy and persist calls on raw pointers into a mapping, for measuring them one by
/// one. The caller keeps the pointers inside a live mapping (PmemMapping.withUnsafeMutableBytes);
/// nothing here checks bounds.
public enum PmemPrimitives {
    /// Copies `count` bytes with `method`. False only when msync failed (errno tells why).
    @inline(__always)
    public static func write(_ method: PmemWriteMethod, to d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, count n: Int) -> Bool {
        switch method {
        case .memcpyPersist: Libpmem.memcpyPersist(d, s, n)
        case .memcpyNoDrainThenDrain:
            Libpmem.memcpy(d, s, n, flags: Libpmem.flagNoDrain)
            Libpmem.drain()
        case .nonTemporal: Libpmem.memcpy(d, s, n, flags: Libpmem.flagNonTemporal)
        case .temporal: Libpmem.memcpy(d, s, n, flags: Libpmem.flagTemporal)
        case .storePersist:
            d.copyMemory(from: s, byteCount: n)
            Libpmem.persist(d, n)
        case .msync:
            d.copyMemory(from: s, byteCount: n)
            return Libpmem.msyncStatus(d, n) == 0
        }
        return true
    }

    /// Makes `[p, p+n)` durable the way a mapping that is (or is not) pmem does: pmem_persist,
    /// or pmem_msync. False only when msync failed.
    @inline(__always)
    public static func persist(_ p: UnsafeRawPointer, _ n: Int, isPmem: Bool) -> Bool {
        if isPmem { Libpmem.persist(p, n); return true }
        return Libpmem.msyncStatus(p, n) == 0
    }
}
