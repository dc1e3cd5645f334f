import GuestMemory

/// How a guest is built, as the host's memory sees it.
public struct HostDomainConfig: Sendable, Equatable {
    public enum Memory: Sendable, Equatable {
        /// `frames` frames from the domain heap, mapped from `ramBase`, or laid on `ramRegions`
        /// (then `frames` must be exactly the regions' total).
        case dynamic(frames: UInt64)
        /// The guest's `xen,static-mem` regions from the host configuration. `directMap`: guest
        /// frame == machine frame (seed 003's 1:1 direct map); `allowDynamic`: balloon-in may
        /// take domain-heap pages once the reserved pool is empty (seed 003 leaves this a policy).
        case staticMemory(directMap: Bool, allowDynamic: Bool)
    }

    public var id: DomainID
    public var memory: Memory
    /// Where RAM starts in the guest when it is not direct-mapped and has no `ramRegions`
    /// (Arm's GUEST_RAM0_BASE, 1 GiB): RAM is one run of gfns from here.
    public var ramBase: Gfn
    /// The guest's RAM regions, ascending and disjoint, as an x86-style physmap has them (low
    /// RAM below the MMIO hole, the ACPI tables and an NVS page after it, high RAM from 4 GiB).
    /// When set, RAM is laid on them in order instead of from `ramBase`; see `createDomain`.
    public var ramRegions: [GfnRange]?

    public static let defaultRamBase = Gfn(uncheckedRaw: 0x40000)

    public init(id: DomainID, memory: Memory, ramBase: Gfn = HostDomainConfig.defaultRamBase, ramRegions: [GfnRange]? = nil) {
        self.id = id
        self.memory = memory
        self.ramBase = ramBase
        self.ramRegions = ramRegions
    }

    public var isStatic: Bool { if case .staticMemory = memory { return true } else { return false } }
    public var isDirectMapped: Bool { if case .staticMemory(true, _) = memory { return true } else { return false } }
    public var allowsDynamicPages: Bool {
        switch memory {
        case .dynamic: return true
        case .staticMemory(_, let allow): return allow
        }
    }

    /// Checks `ramRegions` (when set): at least one, ascending and disjoint.
    func checkRamRegions() throws(HostMemoryError) {
        guard let regions = ramRegions else { return }
        guard !regions.isEmpty else { throw .emptyRange(what: "the RAM regions of \(id)") }
        for (a, b) in zip(regions, regions.dropFirst()) where b.first.raw < a.end {
            throw .ramRegionsUnordered(id, a, next: b)
        }
    }
}

/// A guest as the host's memory sees it: its mappings, its reserved (static) ranges, its p2m root
/// and its host pmem. (The whole modelled guest, devices and all, is DomainModel's `Guest`.)
public struct HostDomain: Sendable, Equatable {
    public let config: HostDomainConfig
    /// gfn -> mfn for every mapped page (RAM, static or dynamic).
    public internal(set) var physmap: PhysmapExtents
    /// Static memory assigned to this guest (Xen's reserved_page_list), whole configured regions.
    /// Frames of them not mapped in `physmap` are the guest's reserved pool (`.staticFree`).
    public let staticRegions: [MfnRange]
    /// The page holding the guest's p2m root, owned by the guest, never mapped in it.
    public let p2mRoot: Mfn
    /// Host pmem given to the guest (`HostMachine.attachPmem`), mapped with p2m type `pmem`:
    /// the guest's pmem extents (pmem frames have no frame-table records).
    public internal(set) var pmem: [GuestPmem] = []

    public var id: DomainID { config.id }
}

/// Lays runs of machine frames on runs of guest frames, both in order: each run is mapped at the
/// next free gfns, split where a gfn region ends. Pieces are contiguous in both spaces.
///
/// Invariants: `regions` ascending and disjoint (checked by the caller); `next` is in
/// `regions[index]` while `index < regions.count`; frames placed never exceed the regions'
/// total (what does not fit is left unplaced).
struct GfnLayout {
    private var regions: [GfnRange]
    private var index = 0
    private var next: UInt64

    init(_ regions: [GfnRange]) {
        self.regions = regions
        next = regions.first?.first.raw ?? 0
    }

    /// Places the first frames of `run` (all of it, or what the regions still hold) and
    /// returns the pieces as (gfn, machine frames).
    mutating func place(_ run: MfnRange) -> [(gfn: Gfn, frames: MfnRange)] {
        var out: [(Gfn, MfnRange)] = []
        var m = run.first.raw
        while m < run.end && index < regions.count {
            let n = min(run.end - m, regions[index].end - next)
            out.append((Gfn(uncheckedRaw: next), MfnRange(uncheckedFirst: m, end: m + n)))
            m += n
            next += n
            if next == regions[index].end {
                index += 1
                if index < regions.count { next = regions[index].first.raw }
            }
        }
        return out
    }
}
