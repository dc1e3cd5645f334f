import VpmemCore
/// Encoding and decoding whole label areas.
///
/// An empty area is written as `ndctl init-labels` initialises one: block 0 with seq 3, block 1
/// with seq 2 (so block 0 is current and block 1 is the next to write), all slots free; the
/// label slots are not touched.
/// Decoding never traps on any input: every problem becomes a `LabelAreaIssue` naming the block
/// or slot and the field.
public enum LabelArea {
    /// An initialised, empty label area of `size` bytes (a zeroed area after init-labels).
    public static func empty(size: Int, labelSize: Int = 256) throws(LabelAreaError) -> [UInt8] {
        try encode(layout: LabelAreaLayout(areaSize: size, labelSize: labelSize), labels: [])
    }

    /// The two index blocks (`2 * layout.indexSize` bytes from offset 0) that `ndctl init-labels`
    /// writes over an area whose first bytes are `previous`: ndctl reads the index region, fills
    /// in the fields and the free bitmap (set up to the next multiple of 64 slots) and writes the
    /// blocks back, so the padding after the bitmap keeps what the area held (zero for a fresh
    /// area). Block 0 gets seq 3, block 1 seq 2. Bytes missing from `previous` count as zero.
    public static func initialisedIndexBlocks(layout: LabelAreaLayout, previous: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for block in 0..<2 {
            var b = LabelIndexBlock(layout: layout, block: block, seq: block == 0 ? 3 : 2)
            let from = layout.indexOffset(block: block) + LabelAreaLayout.indexHeaderSize
            let old = (from..<layout.indexOffset(block: block + 1)).map { $0 < previous.count ? previous[$0] : 0 }
            b.bitmapBytes = LabelIndexBlock.initialisedBitmap(nslot: layout.nslot, over: old)
            out += b.encode(size: layout.indexSize)
        }
        return out
    }

    /// An area whose both index blocks mark `labels`' slots in use (block 0 current) and whose
    /// slots hold them.
    public static func encode(layout: LabelAreaLayout, labels: [NamespaceLabel]) throws(LabelAreaError) -> [UInt8] {
        var area = [UInt8](repeating: 0, count: layout.areaSize)
        var blocks = [LabelIndexBlock(layout: layout, block: 0, seq: 3), LabelIndexBlock(layout: layout, block: 1, seq: 2)]
        var used = Set<UInt32>()
        for label in labels {
            guard Int(label.slot) < layout.nslot else { throw .slotOutOfRange(slot: label.slot, nslot: layout.nslot) }
            guard used.insert(label.slot).inserted else { throw .duplicateSlot(label.slot) }
            let bytes = try label.encode(labelSize: layout.labelSize)
            area.replaceSubrange(layout.labelOffset(slot: Int(label.slot))..<layout.labelOffset(slot: Int(label.slot)) + layout.labelSize, with: bytes)
            for i in 0..<2 { blocks[i].free[Int(label.slot)] = false }
        }
        for i in 0..<2 { write(blocks[i], block: i, layout: layout, into: &area) }
        return area
    }

    /// Writes an index block into its place in `area` (the caller owns the seq discipline:
    /// an update writes the non-current block with the next seq).
    public static func write(_ block: LabelIndexBlock, block number: Int, layout: LabelAreaLayout, into area: inout [UInt8]) {
        let start = layout.indexOffset(block: number)
        area.replaceSubrange(start..<start + layout.indexSize, with: block.encode(size: layout.indexSize))
    }

    /// Decodes and verifies an area, probing 128- then 256-byte labels like Linux.
    public static func decode(_ area: [UInt8]) -> LabelAreaDecoding {
        var firstAttempt: LabelAreaDecoding? = nil
        for labelSize in [128, 256] {
            guard let layout = try? LabelAreaLayout(areaSize: area.count, labelSize: labelSize) else { continue }
            let d = decode(area, layout: layout)
            if d.current != nil { return d }
            if labelSize == 256 || firstAttempt == nil { firstAttempt = d }
        }
        return firstAttempt ?? LabelAreaDecoding(layout: nil, blocks: [nil, nil], current: nil, labels: [], slotsInUse: [],
                                                 issues: [.areaTooSmall(size: area.count, needed: 2 * LabelAreaLayout.indexAlignment + 2 * 128)])
    }

    /// Decodes under a known layout.
    public static func decode(_ area: [UInt8], layout: LabelAreaLayout) -> LabelAreaDecoding {
        var issues: [LabelAreaIssue] = []
        var blocks: [LabelIndexBlock?] = []
        for i in 0..<2 {
            let (b, found) = LabelIndexBlock.decode(area, block: i, layout: layout)
            blocks.append(b)
            issues += found
        }
        let current: Int?
        switch (blocks[0], blocks[1]) {
        case let (a?, b?): current = LabelSequence.current(seq0: a.seq, seq1: b.seq)
        case (_?, nil): current = 0
        case (nil, _?): current = 1
        case (nil, nil): current = nil; issues.append(.noValidIndex)
        }
        var labels: [NamespaceLabel] = []
        var inUse: [CheckedNamespaceLabel] = []
        if let c = current, let block = blocks[c] {
            for slot in block.slotsInUse {
                let checked = NamespaceLabel.check(area, slot: slot, layout: layout)
                if checked.isValid, let label = checked.label { labels.append(label) }
                inUse.append(checked)
                issues += checked.issues
            }
        }
        return LabelAreaDecoding(layout: layout, blocks: blocks, current: current, labels: labels, slotsInUse: inUse, issues: issues)
    }
}

/// What a label area holds, and everything wrong with it.
public struct LabelAreaDecoding: Sendable, Hashable {
    /// The layout the blocks were checked against (nil when the area is too small for any).
    public var layout: LabelAreaLayout?
    /// Index blocks 0 and 1; nil for a block that failed a check.
    public var blocks: [LabelIndexBlock?]
    /// The current block, chosen by the seq rules among valid blocks.
    public var current: Int?
    /// Valid labels in the current block's in-use slots, in slot order.
    public var labels: [NamespaceLabel]
    /// Every in-use slot of the current block, valid or not, as read.
    public var slotsInUse: [CheckedNamespaceLabel]
    public var issues: [LabelAreaIssue]
    /// True when nothing is wrong.
    public var isClean: Bool { issues.isEmpty }
}

/// One problem found in a label area.
public enum LabelAreaIssue: Sendable, Hashable, CustomStringConvertible {
    case areaTooSmall(size: Int, needed: Int)
    case indexField(block: Int, field: LabelIndexField, found: UInt64, expected: String)
    case indexChecksum(block: Int, stored: UInt64, computed: UInt64)
    case noValidIndex
    case labelField(slot: Int, field: NamespaceLabelField, found: UInt64)
    case labelChecksum(slot: Int, stored: UInt64, computed: UInt64)

    /// The index block the issue is about, if any.
    public var block: Int? {
        switch self {
        case .indexField(let b, _, _, _), .indexChecksum(let b, _, _): return b
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .areaTooSmall(size, needed):
            return "label area is \(size) bytes; its layout needs \(needed)"
        case let .indexField(block, field, found, expected):
            return "index block \(block): \(field.rawValue) is \(hex(found)), expected \(expected)"
        case let .indexChecksum(block, stored, computed):
            return "index block \(block): checksum is \(hex(stored)), computed \(hex(computed)) (torn or corrupted write)"
        case .noValidIndex:
            return "no valid index block: the label area is uninitialised or both blocks are corrupt; initialise it (ndctl init-labels)"
        case let .labelField(slot, field, found):
            let why = field == .slot ? "does not name its own slot" : "is not 4 KiB aligned"
            return "label in slot \(slot): \(field.rawValue) \(hex(found)) \(why)"
        case let .labelChecksum(slot, stored, computed):
            return "label in slot \(slot): checksum is \(hex(stored)), computed \(hex(computed))"
        }
    }
}
