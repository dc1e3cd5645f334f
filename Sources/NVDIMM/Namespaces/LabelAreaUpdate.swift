/// One write into a label area.
public struct LabelAreaWrite: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case label(slot: Int)
        case index(block: Int, seq: UInt32)
    }
    public let kind: Kind
    public let offset: Int
    public let bytes: [UInt8]
}

/// A change to a label area as Linux's label code makes it (drivers/nvdimm/label.c), as the
/// ordered writes that carry it out:
/// 1. a new label goes into a free slot first: the lowest slot the current index marks free;
/// 2. then the *other* index block is written: a copy of the current one with the next seq,
///    its own myoff/otheroff, and the free bitmap updated (the new label's slot in use, freed
///    slots free).
/// Until the second write is complete the current block still describes the old set (the
/// slot written in step 1 is free in it), so an update torn anywhere leaves the old namespaces
/// valid; once it lands, the seq rule makes it current.
public struct LabelAreaUpdate: Sendable, Hashable {
    public let writes: [LabelAreaWrite]
    /// The index block the update writes, and its number.
    public let index: LabelIndexBlock
    public let block: Int

    /// Adds `label` (its slot is chosen here) to the area `decoded` describes.
    public static func adding(_ label: NamespaceLabel, to decoded: LabelAreaDecoding) throws(NamespaceError) -> (LabelAreaUpdate, slot: Int) {
        let (layout, current, c) = try currentIndex(decoded)
        guard let slot = current.free.firstIndex(of: true) else { throw .noFreeSlot(free: 0, nslot: current.free.count) }
        var l = label
        l.slot = UInt32(slot)
        let bytes: [UInt8]
        do { bytes = try l.encode(labelSize: layout.labelSize) } catch { throw .label(error) }
        var free = current.free
        free[slot] = false
        let (index, n) = next(current, block: c, free: free, layout: layout)
        let writes = [LabelAreaWrite(kind: .label(slot: slot), offset: layout.labelOffset(slot: slot), bytes: bytes),
                      LabelAreaWrite(kind: .index(block: n, seq: index.seq), offset: layout.indexOffset(block: n),
                                     bytes: index.encode(size: layout.indexSize))]
        return (LabelAreaUpdate(writes: writes, index: index, block: n), slot)
    }

    /// Frees `slots` (Linux's del_labels: the labels' bytes stay; only the bitmap changes).
    public static func freeing(_ slots: [Int], in decoded: LabelAreaDecoding) throws(NamespaceError) -> LabelAreaUpdate {
        let (layout, current, c) = try currentIndex(decoded)
        var free = current.free
        for s in slots {
            guard free.indices.contains(s), !free[s] else { throw .slotNotInUse(slot: s) }
            free[s] = true
        }
        let (index, n) = next(current, block: c, free: free, layout: layout)
        return LabelAreaUpdate(writes: [LabelAreaWrite(kind: .index(block: n, seq: index.seq), offset: layout.indexOffset(block: n),
                                                       bytes: index.encode(size: layout.indexSize))],
                               index: index, block: n)
    }

    static func currentIndex(_ d: LabelAreaDecoding) throws(NamespaceError) -> (LabelAreaLayout, LabelIndexBlock, Int) {
        guard let layout = d.layout, let c = d.current, c < d.blocks.count, let current = d.blocks[c] else { throw .noLabelIndex }
        return (layout, current, c)
    }

    /// nd_label_write_index on the next block: the current block copied, then sig, flags (0),
    /// labelsize, seq, myoff, mysize, otheroff, labeloff, version rewritten; nslot kept.
    static func next(_ current: LabelIndexBlock, block c: Int, free: [Bool], layout: LabelAreaLayout) -> (LabelIndexBlock, Int) {
        let n = 1 - c
        var b = current
        b.flags = 0
        b.labelSizeCode = layout.labelSize == 256 ? 1 : 0
        b.seq = LabelSequence.next(current.seq)
        b.myoff = UInt64(layout.indexOffset(block: n))
        b.mysize = UInt64(layout.indexSize)
        b.otheroff = UInt64(layout.indexOffset(block: c))
        b.labeloff = UInt64(layout.labelsOffset)
        b.major = 1
        b.minor = layout.minor
        b.free = free
        return (b, n)
    }
}
