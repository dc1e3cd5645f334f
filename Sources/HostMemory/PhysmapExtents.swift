import GuestMemory

// A domain's gfn -> mfn mappings as the host records them: sorted extents.
//
// Invariants:
//  - `extents` is sorted by gfn; extents never overlap in gfn space; every count > 0.
//  - Two neighbours are merged when both their gfns and their mfns are contiguous, so a guest
//    mapped from one machine range is one extent however it was built.
//  - Lookups are binary searches; map/unmap of one extent is O(extents) (array insertion):
//    this is bookkeeping for allocation and live update, not a translation hot path.

/// One contiguous mapping: gfn + i -> mfn + i for i < count.
@frozen public struct PhysmapExtent: Hashable, Sendable {
    public let gfn: Gfn
    public let mfn: Mfn
    public let count: UInt64
    public init(gfn: Gfn, mfn: Mfn, count: UInt64) {
        self.gfn = gfn
        self.mfn = mfn
        self.count = count
    }
    public var mfnRange: MfnRange { MfnRange(uncheckedFirst: mfn.raw, end: mfn.raw + count) }
}

/// A domain's mappings, as sorted extents.
public struct PhysmapExtents: Sendable, Equatable {
    public private(set) var extents: [PhysmapExtent] = []
    public private(set) var mappedFrames: UInt64 = 0

    public init() {}

    /// Extents already sorted by gfn and not overlapping (checked by the caller); neighbours
    /// contiguous in both gfn and mfn are merged.
    init(sortedByGfn list: [PhysmapExtent]) {
        for e in list {
            if let last = extents.last, last.gfn.raw + last.count == e.gfn.raw, last.mfn.raw + last.count == e.mfn.raw {
                extents[extents.count - 1] = PhysmapExtent(gfn: last.gfn, mfn: last.mfn, count: last.count + e.count)
            } else {
                extents.append(e)
            }
            mappedFrames += e.count
        }
    }

    /// Index of the first extent whose end is above `gfn`.
    private func lowerIndex(_ gfn: UInt64) -> Int {
        var lo = 0, hi = extents.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if extents[mid].gfn.raw + extents[mid].count <= gfn { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func translate(_ gfn: Gfn) -> Mfn? {
        let i = lowerIndex(gfn.raw)
        guard i < extents.count, extents[i].gfn.raw <= gfn.raw else { return nil }
        return Mfn(uncheckedRaw: extents[i].mfn.raw + (gfn.raw - extents[i].gfn.raw))
    }

    /// True when any frame of [gfn, gfn + count) is mapped.
    public func anyMapped(_ gfn: Gfn, count: UInt64) -> Bool {
        let i = lowerIndex(gfn.raw)
        return i < extents.count && extents[i].gfn.raw < gfn.raw + count
    }

    /// Adds gfn + i -> mfn + i; the caller has checked nothing there is mapped.
    mutating func map(_ gfn: Gfn, to mfn: Mfn, count: UInt64) {
        precondition(count > 0 && !anyMapped(gfn, count: count), "physmap: \(gfn) already mapped")
        var i = lowerIndex(gfn.raw)
        var e = PhysmapExtent(gfn: gfn, mfn: mfn, count: count)
        if i > 0, extents[i - 1].gfn.raw + extents[i - 1].count == gfn.raw, extents[i - 1].mfn.raw + extents[i - 1].count == mfn.raw {
            e = PhysmapExtent(gfn: extents[i - 1].gfn, mfn: extents[i - 1].mfn, count: extents[i - 1].count + count)
            extents.remove(at: i - 1)
            i -= 1
        }
        if i < extents.count, e.gfn.raw + e.count == extents[i].gfn.raw, e.mfn.raw + e.count == extents[i].mfn.raw {
            e = PhysmapExtent(gfn: e.gfn, mfn: e.mfn, count: e.count + extents[i].count)
            extents.remove(at: i)
        }
        extents.insert(e, at: i)
        mappedFrames += count
    }

    /// Removes the mapping of one frame; returns the mfn it mapped, or nil.
    mutating func unmap(_ gfn: Gfn) -> Mfn? {
        let i = lowerIndex(gfn.raw)
        guard i < extents.count, extents[i].gfn.raw <= gfn.raw else { return nil }
        let e = extents[i]
        let off = gfn.raw - e.gfn.raw
        var pieces: [PhysmapExtent] = []
        if off > 0 { pieces.append(PhysmapExtent(gfn: e.gfn, mfn: e.mfn, count: off)) }
        if off + 1 < e.count {
            pieces.append(PhysmapExtent(gfn: Gfn(uncheckedRaw: gfn.raw + 1), mfn: Mfn(uncheckedRaw: e.mfn.raw + off + 1), count: e.count - off - 1))
        }
        extents.replaceSubrange(i...i, with: pieces)
        mappedFrames -= 1
        return Mfn(uncheckedRaw: e.mfn.raw + off)
    }
}
