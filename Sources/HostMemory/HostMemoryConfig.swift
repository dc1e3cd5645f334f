import GuestMemory

/// The host's memory as firmware and the command line describe it: RAM banks, host pmem (NFIT
/// SPA ranges), per-guest static memory (`xen,static-mem`), an optional reserved Xen-heap region
/// (`xen,reserved-heap`), an optional live-update boot-memory region (`liveupdate=`) and
/// known-bad pages.
///
/// Both instances of a live update read the same configuration: it is the machine, not state.
public struct HostMemoryConfig: Sendable, Equatable {
    /// RAM banks (e820 / device-tree memory nodes). Frames between banks are holes.
    public var banks: [MfnRange]
    /// Host persistent memory: frames registered as pmem, outside every RAM bank, never given to
    /// any allocator. Guests get parts of it with `HostMachine.attachPmem`; its contents live on
    /// a backing (through libpmem), not in RAM, and survive a live update like static memory.
    /// Tracked by extents only (no frame-table records), so it may lie anywhere in the 52-bit
    /// frame space, above RAM as real hosts place it (6 TiB of pmem costs nothing per frame).
    public var pmem: [MfnRange]
    /// Static memory per guest: reserved at boot and never given to any allocator.
    public var staticMemory: [StaticMemoryRegion]
    /// When set, Xen-heap allocations come only from this region, domain-heap ones never do.
    public var reservedXenHeap: MfnRange?
    /// The `liveupdate=` region: the next instance boots on it alone. Its first 4 KiB frame
    /// holds the live-update state's MFN-list address.
    public var liveUpdateRegion: MfnRange?
    /// Frames known to be broken; never handed out.
    public var badPages: [Mfn]

    public init(banks: [MfnRange], pmem: [MfnRange] = [], staticMemory: [StaticMemoryRegion] = [],
                reservedXenHeap: MfnRange? = nil, liveUpdateRegion: MfnRange? = nil, badPages: [Mfn] = []) {
        self.banks = banks
        self.pmem = pmem
        self.staticMemory = staticMemory
        self.reservedXenHeap = reservedXenHeap
        self.liveUpdateRegion = liveUpdateRegion
        self.badPages = badPages
    }

    /// The largest RAM span vpmem models: 2^29 frames (2 TiB, so 1 TiB of RAM with the holes of
    /// any usual layout), a 4 GiB frame table reserved. Pmem is not counted: it has no records.
    public static let maxFrames: UInt64 = 1 << 29

    /// Frames the frame table covers: from 0 to the end of the highest RAM bank.
    public var frameCount: UInt64 { banks.map(\.end).max() ?? 0 }

    /// Frames of RAM in all banks.
    public var ramFrames: UInt64 { banks.reduce(0) { $0 + $1.count } }

    /// Static regions configured for `domain`, in configuration order.
    public func staticRegions(of domain: DomainID) -> [MfnRange] {
        staticMemory.filter { $0.domain == domain }.map(\.range)
    }

    /// Checks that the layout is coherent; every problem names the ranges involved.
    public func validate() throws(HostMemoryError) {
        guard !banks.isEmpty else { throw .noRAM }
        let sortedBanks = banks.sorted()
        for (a, b) in zip(sortedBanks, sortedBanks.dropFirst()) where a.overlaps(b) {
            throw .overlap(what: "RAM bank", a, other: "RAM bank", b)
        }
        let sortedPmem = pmem.sorted()
        for (a, b) in zip(sortedPmem, sortedPmem.dropFirst()) where a.overlaps(b) {
            throw .overlap(what: "pmem range", a, other: "pmem range", b)
        }
        for p in sortedPmem {
            if let b = sortedBanks.first(where: { $0.overlaps(p) }) { throw .overlap(what: "pmem range", p, other: "RAM bank", b) }
        }
        guard frameCount <= Self.maxFrames else { throw .hostTooLarge(frames: frameCount, limit: Self.maxFrames) }

        func inRAM(_ r: MfnRange) -> Bool { sortedBanks.contains { $0.contains(r) } }
        var named: [(String, MfnRange)] = []
        for s in staticMemory {
            guard s.domain.isGuest else { throw .mapping(.reservedDomainID(s.domain.raw)) }
            named.append(("static memory of \(s.domain)", s.range))
        }
        if let h = reservedXenHeap { named.append(("reserved Xen heap", h)) }
        if let r = liveUpdateRegion {
            guard r.count >= 2 else { throw .liveUpdateRegionTooSmall(region: r, minimumFrames: 2) }
            named.append(("liveupdate region", r))
        }
        for (what, r) in named where !inRAM(r) { throw .outsideRAM(what: what, range: r) }
        let sortedNamed = named.sorted { $0.1 < $1.1 }
        for (a, b) in zip(sortedNamed, sortedNamed.dropFirst()) where a.1.overlaps(b.1) {
            throw .overlap(what: a.0, a.1, other: b.0, b.1)
        }
        for p in badPages where !sortedBanks.contains(where: { $0.contains(p) }) {
            throw .badPageOutsideRAM(p)
        }
    }
}

/// One `xen,static-mem` entry: a host range that only `domain` may ever use.
public struct StaticMemoryRegion: Sendable, Equatable {
    public var domain: DomainID
    public var range: MfnRange
    public init(domain: DomainID, range: MfnRange) {
        self.domain = domain
        self.range = range
    }
}
