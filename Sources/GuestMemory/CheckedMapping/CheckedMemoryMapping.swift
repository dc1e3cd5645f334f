/// One mapping of host frames into a guest, as made by `CheckedMemoryMapping.map`.
public struct MappedExtent: Hashable, Sendable, CustomStringConvertible {
    public let gfns: GfnRange
    public let mfns: MfnRange
    public let type: P2MType
    /// The host frames this mapping made the guest owner of (those that were unowned before);
    /// unmapping gives exactly these back.
    public let claimed: [MfnRange]

    public var description: String { "\(type.name) \(gfns) -> \(mfns)" }
}

/// The model of XEN_DOMCTL_memory_mapping with the checks seed 002 found missing ("the
/// current XEN_DOMCTL_memory_mapping does not make sanity check for the physical address and
/// size passed from the caller (QEMU). Can QEMU always be trusted?"): a device model asks to
/// map host frames into a guest, and the hypervisor decides.
///
/// `map` accepts a request only when all of these hold, and otherwise changes nothing:
/// - host side (`HostRangeRegistry`): every host frame is registered pmem or MMIO, never host
///   RAM, none unregistered (a range partly outside the registered pmem is refused), and none
///   owned by another guest; a `pmem` mapping takes host pmem only, `mmio_direct` host MMIO or
///   pmem (seed 002 maps pmem as an MMIO range);
/// - no host frame is mapped twice (a second mapping could outlive the ownership of the first);
/// - guest side (`GuestPhysmap`): the guest frames lie inside one region that takes the type
///   (`pmem` regions for pmem; MMIO regions, PCI apertures or pmem regions for mmio_direct),
///   never in the safe range, and nothing is mapped there yet.
/// Then the frames become the guest's and the p2m entries are written, all or nothing: the p2m
/// refuses before writing anything (its node budget is checked first), and a refusal hands the
/// ownership back.
///
/// `unmap` takes a guest range holding whole mappings and nothing else, removes them from the
/// p2m in one call (all or nothing) and returns exactly what was mapped, giving back the host
/// frames each mapping claimed.
///
/// Invariants: each recorded extent is in its guest's p2m with its type and frames; the frames
/// an extent claimed are owned by its guest in the registry; extents of one guest are disjoint
/// in gfn and in mfn. Not a hot path (a domctl): plain arrays and a dictionary are fine here.
public struct CheckedMemoryMapping {
    public private(set) var registry: HostRangeRegistry
    private var guests: [DomainID: Guest] = [:]

    struct Guest {
        let physmap: GuestPhysmap
        let p2m: P2M
        var extents: [MappedExtent]
    }

    public init(registry: HostRangeRegistry = HostRangeRegistry()) {
        self.registry = registry
    }

    /// Registers host frames (at host boot, from the E820 and the NFIT, or as BARs appear).
    public mutating func register(_ kind: HostMemoryKind, _ frames: MfnRange) throws(MappingError) {
        try registry.register(kind, frames)
    }

    /// Adds a guest with its physmap and its p2m. The p2m is the guest's: the mapping writes
    /// into it and reads it to see what is already mapped.
    public mutating func addGuest(_ domain: DomainID, physmap: GuestPhysmap, p2m: P2M) throws(MappingError) {
        guard guests[domain] == nil else { throw .domainExists(domain) }
        guests[domain] = Guest(physmap: physmap, p2m: p2m, extents: [])
    }

    /// Removes a guest (destroyed, or taken off the host): every extent it had mapped gives its
    /// host frames back to unowned. The guest's p2m is dropped whole by its owner.
    public mutating func removeGuest(_ domain: DomainID) throws(MappingError) {
        guard let guest = guests.removeValue(forKey: domain) else { throw .unknownDomain(domain) }
        // Cannot fail: each extent's claimed frames are owned by this guest (type invariant).
        try? registry.release(guest.extents.flatMap(\.claimed), from: domain)
    }

    /// The guests added, in domid order.
    public var domains: [DomainID] { guests.keys.sorted { $0.raw < $1.raw } }

    /// Unregisters host frames no guest owns (see `HostRangeRegistry.unregister`).
    public mutating func unregister(_ kind: HostMemoryKind, _ frames: MfnRange) throws(MappingError) {
        try registry.unregister(kind, frames)
    }

    /// Replaces `domain`'s physmap after a change (pmem attached or detached). Every recorded
    /// extent must still lie inside one region that takes its type; otherwise nothing changes.
    public mutating func updatePhysmap(_ domain: DomainID, _ physmap: GuestPhysmap) throws(MappingError) {
        guard let guest = guests[domain] else { throw .unknownDomain(domain) }
        for extent in guest.extents {
            let gpas = extent.gfns.gpas
            guard let region = physmap.region(containing: gpas.first), region.range.contains(gpas),
                  CheckedMemoryMapping.regionKinds(for: extent.type).contains(region.kind) else {
                throw .physmapDropsMapping(extent: extent)
            }
        }
        guests[domain] = Guest(physmap: physmap, p2m: guest.p2m, extents: guest.extents)
    }

    static func regionKinds(for type: P2MType) -> [RegionKind] {
        switch type {
        case .pmem: return [.pmem]
        case .mmioDirect: return [.mmio, .pciMmio32, .pciMmio64, .pmem]
        default: return []
        }
    }

    /// What is mapped into `domain` through this interface, in gfn order.
    public func extents(of domain: DomainID) throws(MappingError) -> [MappedExtent] {
        guard let guest = guests[domain] else { throw .unknownDomain(domain) }
        return guest.extents
    }

    /// Maps `count` host frames from `mfn` at guest frames from `gfn` as `type`, checked as the
    /// type's documentation says. Returns the new extent.
    @discardableResult
    public mutating func map(_ domain: DomainID, gfn: Gfn, mfn: Mfn, count: UInt64, type: P2MType) throws(MappingError) -> MappedExtent {
        guard var guest = guests[domain] else { throw .unknownDomain(domain) }
        let gfns = try GfnRange(first: gfn, count: count)
        let mfns = try MfnRange(first: mfn, count: count)
        let hostKinds: Set<HostMemoryKind>
        let regionKinds: [RegionKind]
        switch type {
        case .pmem:
            hostKinds = [.pmem]
            regionKinds = [.pmem]
        case .mmioDirect:
            hostKinds = [.mmio, .pmem]
            regionKinds = [.mmio, .pciMmio32, .pciMmio64, .pmem]
        default:
            throw .unsupportedType(type)
        }
        // Guest side.
        let gpas = gfns.gpas
        let safe = guest.physmap.safeRange.range
        guard !gpas.overlaps(safe) else { throw .inSafeRange(gfns: gfns, safeRange: safe) }
        guard let region = guest.physmap.region(containing: gpas.first), region.range.contains(gpas),
              regionKinds.contains(region.kind) else {
            throw .notInGuestRegion(gfns: gfns, type: type, allowed: regionKinds)
        }
        let present: [P2MMapping]
        do { present = try guest.p2m.mappings(gfn: gfn, count: count) } catch { throw .p2m(error) }
        if let first = present.first { throw .gfnsInUse(gfns: gfns, mapped: first) }
        // Host side.
        try registry.checkMappable(mfns, allowed: hostKinds, into: domain)
        if let twice = guest.extents.first(where: { $0.mfns.overlaps(mfns) }) {
            throw .hostFramesAlreadyMapped(requested: mfns, at: twice.gfns)
        }
        // Commit: ownership first, then the p2m; a p2m refusal hands the ownership back.
        let claimed = try registry.claim(mfns, allowed: hostKinds, for: domain)
        do {
            try guest.p2m.set(gfn: gfn, count: count, to: mfn, type: type)
        } catch {
            try? registry.release(claimed, from: domain)  // cannot fail: just claimed
            throw .p2m(error)
        }
        let extent = MappedExtent(gfns: gfns, mfns: mfns, type: type, claimed: claimed)
        let index = guest.extents.firstIndex { $0.gfns.first > gfn } ?? guest.extents.endIndex
        guest.extents.insert(extent, at: index)
        guests[domain] = guest
        return extent
    }

    /// Unmaps the mappings in `count` guest frames from `gfn`, which must hold whole mappings
    /// made by `map` and nothing else, and returns them in gfn order.
    public mutating func unmap(_ domain: DomainID, gfn: Gfn, count: UInt64) throws(MappingError) -> [MappedExtent] {
        guard var guest = guests[domain] else { throw .unknownDomain(domain) }
        let gfns = try GfnRange(first: gfn, count: count)
        let inside = guest.extents.filter { $0.gfns.overlaps(gfns) }
        if let cut = inside.first(where: { !gfns.contains($0.gfns) }) {
            throw .cutsMapping(gfns: gfns, mapping: cut.gfns)
        }
        let present: [P2MMapping]
        do { present = try guest.p2m.mappings(gfn: gfn, count: count) } catch { throw .p2m(error) }
        for entry in present {
            let entryLast = Gfn(uncheckedRaw: entry.gfn.raw + entry.count - 1)
            guard inside.contains(where: { $0.gfns.contains(entry.gfn) && $0.gfns.contains(entryLast) && $0.type == entry.type }) else {
                throw .foreignEntries(gfns: gfns, entry: entry)
            }
        }
        guard !inside.isEmpty else { return [] }
        do { try guest.p2m.remove(gfn: gfn, count: count) } catch { throw .p2m(error) }
        // Cannot fail: each extent's claimed frames are owned by this guest (type invariant).
        try registry.release(inside.flatMap(\.claimed), from: domain)
        guest.extents.removeAll { gfns.contains($0.gfns) }
        guests[domain] = guest
        return inside
    }
}
