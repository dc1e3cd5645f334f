import VpmemCore

/// A guest's physical address space: the build-time layout, the safe range chosen with it, and
/// the changes made afterwards (MMIO and RAM regions, pmem attached and detached).
///
/// Invariants (checked by every mutating method before it changes anything):
/// - `regions` is sorted by start and pairwise disjoint; names are unique;
/// - no region overlaps `safeRange`, which never changes after `init`;
/// - every pmem region lies inside `pmemAperture` and starts on a 1 GiB boundary; no other
///   region overlaps the aperture;
/// - every region ends below `physicalAddressLimit` (2^48: what the p2m maps).
/// A method that throws leaves the physmap unchanged.
///
/// Design: the physmap does not grow at run time. The pmem aperture and the safe range are both
/// sized and placed at build, aperture first; pmem attached later goes inside the aperture and is
/// rejected when it does not fit, rather than being placed above the safe range. That keeps the
/// guest's memory map what its firmware said at boot, the way seed 000 asks for safe ranges,
/// PCI apertures and DIMM hotplug regions to be known ahead of time.
public struct GuestPhysmap: Equatable, Sendable {
    public let config: GuestConfig
    public private(set) var regions: [PhysmapRegion]
    public let pmemAperture: GpaRange?
    public let holeStart: Gpa
    public let safeRange: SafeRange

    /// One past the last guest-physical address: the guest-physical address width is what the
    /// p2m maps (4 levels of 9 bits over 4 KiB pages: 48 bits, the width of x86's 4-level EPT),
    /// stated once here. x86 CPUs may report a MAXPHYADDR up to 52, but a gfn the p2m cannot hold
    /// could never be mapped, so the physmap refuses it up front.
    public static let physicalAddressLimit: UInt64 = (P2M.maxGfn.raw + 1) << PageOrder.frameShift
    /// The width in bits, for messages.
    public static let physicalAddressBits = 64 - (physicalAddressLimit - 1).leadingZeroBitCount
    /// Alignment of start and size for MMIO and RAM added later.
    public static let pageAlignment: UInt64 = PageOrder.frameBytes
    /// pmem regions start on 1 GiB boundaries and are whole 2 MiB pages long.
    public static let pmemStartAlignment: UInt64 = ByteSize.gib
    public static let pmemSizeAlignment: UInt64 = 2 * ByteSize.mib

    /// Validates `config`, lays the guest out and chooses its safe range.
    public init(config: GuestConfig) throws(PhysmapError) {
        do { try config.validate() } catch { throw .config(error) }
        let layout = try GuestLayout(config: config)
        let safe = try SafeRange(config: config, layout: layout)
        guard safe.range.last.raw < GuestPhysmap.physicalAddressLimit else {
            throw .beyondPhysicalAddressWidth(what: "safe range", range: safe.range)
        }
        self.config = config
        self.regions = layout.regions
        self.pmemAperture = layout.pmemAperture
        self.holeStart = layout.holeStart
        self.safeRange = safe
    }

    public var pmemRegions: [PhysmapRegion] { regions.filter { $0.kind == .pmem } }

    /// The region containing `address`, if any.
    public func region(containing address: Gpa) -> PhysmapRegion? {
        regions.first { $0.range.contains(address) }
    }

    // MARK: - Later actions

    /// Adds an MMIO region (a device or identity region appearing after build).
    public mutating func addMmio(name: String, at range: GpaRange) throws(PhysmapError) {
        try admit(.addMmio, name: name, range: range, alignment: GuestPhysmap.pageAlignment)
        insert(PhysmapRegion(name: name, kind: .mmio, range: range))
    }

    /// Adds RAM (memory hotplug or populate-on-demand outside the build-time banks).
    public mutating func addRam(name: String, at range: GpaRange) throws(PhysmapError) {
        try admit(.addRam, name: name, range: range, alignment: GuestPhysmap.pageAlignment)
        insert(PhysmapRegion(name: name, kind: .ram, range: range))
    }

    /// Attaches a pmem region of `size` bytes at the lowest free 1 GiB boundary of the pmem
    /// aperture, which lies above RAM, the MMIO hole and the PCI apertures. Returns its range.
    @discardableResult
    public mutating func placePmem(name: String, size: UInt64) throws(PhysmapError) -> GpaRange {
        guard let aperture = pmemAperture else { throw .noPmemAperture(guest: config.name) }
        guard size > 0 else { throw .emptyRange(start: aperture.first.raw, size: 0) }
        let sizeCheck = (try? GpaRange(start: aperture.first, size: size)) ?? aperture
        guard size % GuestPhysmap.pmemSizeAlignment == 0 else {
            throw .misaligned(action: .addPmem, name: name, range: sizeCheck, alignment: GuestPhysmap.pmemSizeAlignment)
        }
        guard !regions.contains(where: { $0.name == name }) else { throw .duplicateName(name) }
        var largestFree: UInt64 = 0
        for gap in freeAlignedRanges(in: aperture) {
            if gap.size >= size {
                let range = try GpaRange(start: gap.first, size: size)
                insert(PhysmapRegion(name: name, kind: .pmem, range: range))
                return range
            }
            largestFree = max(largestFree, gap.size)
        }
        throw .pmemApertureFull(name: name, size: size, aperture: aperture, largestFree: largestFree)
    }

    /// Attaches a pmem region at a chosen range (for a guest rebuilt from a saved config, where
    /// a region must come back where it was).
    public mutating func addPmem(name: String, at range: GpaRange) throws(PhysmapError) {
        try admit(.addPmem, name: name, range: range, alignment: GuestPhysmap.pmemSizeAlignment)
        guard range.first.raw % GuestPhysmap.pmemStartAlignment == 0 else {
            throw .misaligned(action: .addPmem, name: name, range: range, alignment: GuestPhysmap.pmemStartAlignment)
        }
        insert(PhysmapRegion(name: name, kind: .pmem, range: range))
    }

    /// Detaches the pmem region called `name` and returns its range.
    @discardableResult
    public mutating func removePmem(name: String) throws(PhysmapError) -> GpaRange {
        guard let index = regions.firstIndex(where: { $0.kind == .pmem && $0.name == name }) else {
            throw .noSuchPmem(name: name, attached: pmemRegions.map(\.name))
        }
        return regions.remove(at: index).range
    }

    /// The rules every later action obeys, checked in this order so the most important one is
    /// the one reported: safe range, address width, alignment, pmem aperture, other regions, name.
    private func admit(_ action: PhysmapAction, name: String, range: GpaRange, alignment: UInt64) throws(PhysmapError) {
        if range.overlaps(safeRange.range) {
            throw .overlapsSafeRange(action: action, name: name, range: range, safeRange: safeRange.range)
        }
        guard range.last.raw < GuestPhysmap.physicalAddressLimit else {
            throw .beyondPhysicalAddressWidth(what: "\(action.rawValue) '\(name)' at", range: range)
        }
        guard range.first.raw % alignment == 0, range.size % alignment == 0 else {
            throw .misaligned(action: action, name: name, range: range, alignment: alignment)
        }
        if action == .addPmem {
            guard let aperture = pmemAperture else { throw .noPmemAperture(guest: config.name) }
            guard aperture.contains(range) else {
                throw .outsidePmemAperture(name: name, range: range, aperture: aperture)
            }
        } else if let aperture = pmemAperture, aperture.overlaps(range) {
            throw .overlapsPmemAperture(action: action, name: name, range: range, aperture: aperture)
        }
        if let existing = regions.first(where: { $0.range.overlaps(range) }) {
            throw .overlapsRegion(action: action, name: name, range: range, existing: existing)
        }
        guard !regions.contains(where: { $0.name == name }) else { throw .duplicateName(name) }
    }

    private mutating func insert(_ region: PhysmapRegion) {
        let index = regions.firstIndex { $0.range.first > region.range.first } ?? regions.endIndex
        regions.insert(region, at: index)
    }

    /// Free stretches of `aperture`, each starting on a 1 GiB boundary, lowest first.
    func freeAlignedRanges(in aperture: GpaRange) -> [GpaRange] {
        var free: [GpaRange] = []
        var candidate: UInt64? = aperture.first.raw
        for region in regions where region.range.overlaps(aperture) {
            if let start = candidate, start < region.range.first.raw,
               let gap = try? GpaRange(first: Gpa(start), last: Gpa(region.range.first.raw - 1)) {
                free.append(gap)
            }
            candidate = region.range.end.flatMap { alignUp($0.raw, to: GuestPhysmap.pmemStartAlignment) }
        }
        if let start = candidate, let gap = try? GpaRange(first: Gpa(start), last: aperture.last) {
            free.append(gap)
        }
        return free
    }
}
