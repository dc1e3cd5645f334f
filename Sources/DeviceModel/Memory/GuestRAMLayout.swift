import GuestMemory

/// Where a guest's memory lies in its p2m, worked out from its physmap and the machine frames
/// behind its RAM before anything is written. `GuestMemoryBuilder` writes it.
///
/// - RAM-like regions (`ram`, `acpi_tables`, `acpi_nvs`), in address order, take the machine
///   runs in the order given: each region the next frames of the runs, split where a run ends
///   (`extents`), mapped `ram_rw`. 2M/1G superpages apply wherever gfn and mfn are aligned alike.
/// - Emulated regions (`pci_mmio32`, `pci_mmio64`, `mmio`) are `mmio_dm` with no machine frame:
///   every access to them goes to an ioreq server.
/// - Everything else (grant table, firmware-reserved, pmem, the rest of the space) stays
///   unmapped: accesses fault until something maps it (pmem through `CheckedMemoryMapping`).
///
/// Invariants: the runs are pairwise disjoint and hold exactly the frames of the RAM-like
/// regions; the extents are in gfn order, cover exactly the RAM-like regions, and their machine
/// frames are the runs' frames in order, each once.
public struct GuestRAMLayout: Equatable, Sendable {
    /// A stretch of one RAM-like region on one machine run: `gfns` onto frames from `firstMfn`.
    public struct Extent: Equatable, Sendable {
        public let region: String
        public let gfns: GfnRange
        public let firstMfn: Mfn
    }

    /// The region kinds that are guest RAM (E820 RAM, ACPI tables, ACPI NVS).
    public static let ramKinds: Set<RegionKind> = [.ram, .acpiTables, .acpiNVS]
    /// The region kinds every access to which is emulated.
    public static let mmioKinds: Set<RegionKind> = [.pciMmio32, .pciMmio64, .mmio]

    /// The machine runs behind the guest's RAM, in the order they were given.
    public let ramRuns: [MfnRange]
    public let extents: [Extent]
    /// The `ram` regions' guest frames, ascending (where a workload may place its pages; the
    /// ACPI regions are RAM too but the firmware's).
    public let ramRegions: [GfnRange]
    /// The emulated MMIO regions (PCI apertures, MMIO regions), ascending.
    public let mmioRegions: [PhysmapRegion]
    /// Frames of guest RAM: every RAM-like region (what the admin declares as the guest's RAM).
    public let ramFrames: UInt64

    /// The frames of a guest's RAM-like regions: what the machine runs must hold.
    public static func ramFrames(of physmap: GuestPhysmap) -> UInt64 {
        physmap.regions.filter { ramKinds.contains($0.kind) }.reduce(0) { $0 + frames(of: $1).count }
    }

    /// Lays the RAM-like regions of `physmap` onto `ramRuns`, which must be pairwise disjoint
    /// and hold exactly `ramFrames(of: physmap)` frames.
    public init(physmap: GuestPhysmap, ramRuns: [MfnRange]) throws(GuestMemoryBuildError) {
        let guest = physmap.config.name
        let sorted = ramRuns.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.overlaps(b) {
            throw .overlappingRuns(guest: guest, a, b)
        }
        // Disjoint runs of a 2^52-frame space: the sum cannot overflow.
        let runFrames = ramRuns.reduce(UInt64(0)) { $0 + $1.count }
        let ram = physmap.regions.filter { Self.ramKinds.contains($0.kind) }
        let ramFrames = ram.reduce(UInt64(0)) { $0 + Self.frames(of: $1).count }
        guard runFrames == ramFrames else {
            throw .ramRunsMismatch(guest: guest, ramFrames: ramFrames, runFrames: runFrames)
        }
        var extents: [Extent] = []
        var run = 0, used: UInt64 = 0  // frames of ramRuns[run] already taken
        for region in ram {
            let gfns = Self.frames(of: region)
            var next = gfns.first.raw
            while next < gfns.end {
                let r = ramRuns[run]
                let n = min(gfns.end - next, r.count - used)
                extents.append(Extent(region: region.name, gfns: GfnRange(uncheckedFirst: next, end: next + n),
                                      firstMfn: Mfn(uncheckedRaw: r.first.raw + used)))
                next += n
                used += n
                if used == r.count { run += 1; used = 0 }
            }
        }
        self.ramRuns = ramRuns
        self.extents = extents
        self.ramFrames = ramFrames
        ramRegions = physmap.regions.filter { $0.kind == .ram }.map(Self.frames(of:))
        mmioRegions = physmap.regions.filter { Self.mmioKinds.contains($0.kind) }
    }

    /// RAM exactly where the host has it: every frame of `ramExtents` (guest frames and the
    /// machine frame of the first) must lie in a RAM-like region; frames of those regions no extent
    /// covers stay unmapped (a page the guest ballooned out). Extents are pairwise disjoint in
    /// guest and in machine frames.
    public init(physmap: GuestPhysmap, ramExtents: [(gfns: GfnRange, firstMfn: Mfn)]) throws(GuestMemoryBuildError) {
        let guest = physmap.config.name
        let ram = physmap.regions.filter { Self.ramKinds.contains($0.kind) }
        var extents: [Extent] = []
        for e in ramExtents.sorted(by: { $0.gfns.first < $1.gfns.first }) {
            if let last = extents.last, last.gfns.last >= e.gfns.first { throw .extentOutsideRAM(guest: guest, gfns: e.gfns) }
            // An extent may span adjacent RAM-like regions (low RAM, the tables, the NVS page):
            // it is split at their boundaries, and every frame must be in one of them.
            var next = e.gfns.first.raw
            while next < e.gfns.end {
                guard let region = ram.first(where: { Self.frames(of: $0).contains(Gfn(uncheckedRaw: next)) }) else {
                    throw .extentOutsideRAM(guest: guest, gfns: e.gfns)
                }
                let end = min(e.gfns.end, Self.frames(of: region).end)
                extents.append(Extent(region: region.name, gfns: GfnRange(uncheckedFirst: next, end: end),
                                      firstMfn: Mfn(uncheckedRaw: e.firstMfn.raw + (next - e.gfns.first.raw))))
                next = end
            }
        }
        let runs = ramExtents.map { MfnRange(uncheckedFirst: $0.firstMfn.raw, end: $0.firstMfn.raw + $0.gfns.count) }
        let sorted = runs.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.overlaps(b) {
            throw .overlappingRuns(guest: guest, a, b)
        }
        self.ramRuns = runs
        self.extents = extents
        self.ramFrames = runs.reduce(0) { $0 + $1.count }
        ramRegions = physmap.regions.filter { $0.kind == .ram }.map(Self.frames(of:))
        mmioRegions = physmap.regions.filter { Self.mmioKinds.contains($0.kind) }
    }

    /// The frames of the `ram` regions that are mapped: `ramRegions` without the pages no extent
    /// covers (ballooned out), ascending, adjacent frames merged. Where a workload may place
    /// pages that are `ram_rw` in the guest's p2m.
    public var mappedRAMRegions: [GfnRange] {
        GfnRange.merging(extents.flatMap { e in ramRegions.compactMap { e.gfns.intersection($0) } })
    }

    /// The guest frames of a region. Physmap regions are whole, non-empty pages below 2^48
    /// (GuestPhysmap's invariants), so the range is valid.
    static func frames(of region: PhysmapRegion) -> GfnRange {
        let first = region.range.first.raw >> PageOrder.frameShift
        return GfnRange(uncheckedFirst: first, end: first + (region.range.size >> PageOrder.frameShift))
    }
}
