/// What a run of host frames is, as far as mapping it into guests goes.
public enum HostMemoryKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Ordinary host RAM: Xen's to allocate, never mapped into a guest by frame number.
    case ram
    /// Host persistent memory (an NFIT SPA range or a namespace on it) registered for guests.
    case pmem
    /// Device MMIO (a BAR, an iomem range) registered for guests.
    case mmio
    public var description: String { rawValue }
}

/// A run of host frames of one kind with at most one owning guest.
public struct HostRange: Hashable, Sendable, CustomStringConvertible {
    public let frames: MfnRange
    public let kind: HostMemoryKind
    public let owner: DomainID?

    public var description: String { "host \(kind) \(frames)" + (owner.map { " owned by \($0)" } ?? "") }
}

/// The host side of the checked mapping: which machine frames are RAM, pmem or MMIO, and
/// which guest owns each pmem or MMIO frame. This is what seed 002 says Xen must know ("make
/// Xen aware of the SPA range of pmem so that it can refuse to map physical addresses in
/// neither the normal RAM nor pmem") before it can trust a device model's
/// XEN_DOMCTL_memory_mapping.
///
/// Invariants (rangeset.c style):
/// - `ranges` is sorted by first frame and pairwise disjoint;
/// - adjacent entries differ in kind or owner (the list is coalesced, so it is canonical: two
///   registries holding the same frames the same way compare equal);
/// - RAM is never owned;
/// - every method that throws leaves the registry unchanged.
/// Frames not in any entry are unregistered: nothing may map them.
public struct HostRangeRegistry: Equatable, Sendable {
    public private(set) var ranges: [HostRange] = []

    public init() {}

    /// Registers `frames` as `kind`, unowned. Overlapping an existing entry is an error.
    public mutating func register(_ kind: HostMemoryKind, _ frames: MfnRange) throws(MappingError) {
        if let clash = ranges.first(where: { $0.frames.overlaps(frames) }) {
            throw .alreadyRegistered(frames: frames, existing: clash)
        }
        var next = ranges
        next.append(HostRange(frames: frames, kind: kind, owner: nil))
        next.sort { $0.frames.first < $1.frames.first }
        ranges = HostRangeRegistry.coalesced(next)
    }

    /// The entry holding `mfn`, if it is registered.
    public func lookup(_ mfn: Mfn) -> HostRange? {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].frames.last < mfn { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].frames.contains(mfn) ? ranges[low] : nil
    }

    /// The mapping rule: every frame of `frames` is registered, of a kind in `allowed` (never
    /// RAM), and unowned or owned by `domain`. The first broken rule, lowest frame first, is
    /// thrown; a RAM frame anywhere in the request wins over any other problem.
    public func checkMappable(_ frames: MfnRange, allowed: Set<HostMemoryKind>, into domain: DomainID) throws(MappingError) {
        let overlapping = ranges.filter { $0.frames.overlaps(frames) }
        if let ram = overlapping.first(where: { $0.kind == .ram }), let part = ram.frames.intersection(frames) {
            throw .hostRam(requested: frames, ram: part)
        }
        var cursor = frames.first
        for entry in overlapping {
            if cursor < entry.frames.first {
                throw .notRegistered(requested: frames, unregistered: try FrameRange(first: cursor, last: Mfn(uncheckedRaw: entry.frames.first.raw - 1)))
            }
            let part = entry.frames.intersection(frames) ?? entry.frames
            guard allowed.contains(entry.kind) else {
                throw .wrongHostKind(requested: frames, part: part, found: entry.kind, allowed: allowed.sorted { $0.rawValue < $1.rawValue })
            }
            if let owner = entry.owner, owner != domain {
                throw .ownedByAnotherGuest(requested: frames, part: part, owner: owner, requester: domain)
            }
            guard entry.frames.last < frames.last else { return }
            cursor = Mfn(uncheckedRaw: entry.frames.last.raw + 1)
        }
        throw .notRegistered(requested: frames, unregistered: try FrameRange(first: cursor, last: frames.last))
    }

    /// Makes `domain` the owner of `frames` (which must pass `checkMappable`) and returns the
    /// parts that were unowned before, so `release` can undo exactly this claim.
    public mutating func claim(_ frames: MfnRange, allowed: Set<HostMemoryKind>, for domain: DomainID) throws(MappingError) -> [MfnRange] {
        try checkMappable(frames, allowed: allowed, into: domain)
        let newlyClaimed = ranges.compactMap { entry -> MfnRange? in
            entry.owner == nil ? entry.frames.intersection(frames) : nil
        }
        ranges = HostRangeRegistry.coalesced(rewriting(frames) { HostRange(frames: $0.frames, kind: $0.kind, owner: domain) })
        return newlyClaimed
    }

    /// Gives up `domain`'s ownership of each of `parts`. Every frame must be owned by `domain`;
    /// otherwise nothing changes.
    public mutating func release(_ parts: [MfnRange], from domain: DomainID) throws(MappingError) {
        for part in parts where !covers(part, where: { $0.owner == domain }) {
            throw .notOwned(frames: part, domain: domain)
        }
        for part in parts {
            ranges = HostRangeRegistry.coalesced(rewriting(part) { HostRange(frames: $0.frames, kind: $0.kind, owner: nil) })
        }
    }

    /// Whether every frame of `frames` is registered in entries satisfying `predicate`.
    private func covers(_ frames: MfnRange, where predicate: (HostRange) -> Bool) -> Bool {
        var cursor = frames.first
        for entry in ranges where entry.frames.overlaps(frames) {
            guard entry.frames.first <= cursor, predicate(entry) else { return false }
            if entry.frames.last >= frames.last { return true }
            cursor = Mfn(uncheckedRaw: entry.frames.last.raw + 1)
        }
        return false
    }

    /// The entries with the frames of `frames` split out and passed through `change`.
    private func rewriting(_ frames: MfnRange, _ change: (HostRange) -> HostRange) -> [HostRange] {
        var out: [HostRange] = []
        for entry in ranges {
            guard let inside = entry.frames.intersection(frames) else { out.append(entry); continue }
            if entry.frames.first < inside.first, let before = try? MfnRange(first: entry.frames.first, last: Mfn(uncheckedRaw: inside.first.raw - 1)) {
                out.append(HostRange(frames: before, kind: entry.kind, owner: entry.owner))
            }
            out.append(change(HostRange(frames: inside, kind: entry.kind, owner: entry.owner)))
            if inside.last < entry.frames.last, let after = try? MfnRange(first: Mfn(uncheckedRaw: inside.last.raw + 1), last: entry.frames.last) {
                out.append(HostRange(frames: after, kind: entry.kind, owner: entry.owner))
            }
        }
        return out
    }

    /// Merges neighbours that touch and agree on kind and owner.
    private static func coalesced(_ sorted: [HostRange]) -> [HostRange] {
        var out: [HostRange] = []
        for entry in sorted {
            if let last = out.last, last.kind == entry.kind, last.owner == entry.owner,
               last.frames.last.raw + 1 == entry.frames.first.raw,
               let merged = try? MfnRange(first: last.frames.first, last: entry.frames.last) {
                out[out.count - 1] = HostRange(frames: merged, kind: last.kind, owner: last.owner)
            } else {
                out.append(entry)
            }
        }
        return out
    }
}
