// The leaf blocks of a RangeSet: 8 ranges per 64-byte block, stored as 32-bit offsets from the
// block's base (the first start, kept in the index's bottom level), so a block's starts and ends
// are one cache line.
// A block whose last end lies more than 0xFFFF_FFFE above its base is wide: its words keep the low
// halves and a parallel buffer the high halves.

extension RangeSet {
    /// The leaf blocks: the set's `_blocks`.
    ///
    /// Invariants (numbered as in RangeSet.swift):
    ///  3. Slot i lives in leaf block i / 8, a 64-byte, 64-aligned block of `buffer` (one cache
    ///     line): 8 start offsets then 8 end offsets, 32 bits each, relative to the block's base
    ///     = the first start of the block (kept in the index's bottom level, invariant 5),
    ///     stored biased (top bit flipped) so signed compares order them. Slot 0's start offset
    ///     is 0 by construction; its word holds the block's form (narrowMark or wideMark). Unused
    ///     slots hold start offset 0xFFFF_FFFF (all ones in wide blocks) and end 0. `buffer`
    ///     holds capacity / 8 blocks, and is nil exactly while the capacity is 0.
    ///  4. A block is narrow when its last end is at most 0xFFFF_FFFE above its base; otherwise
    ///     it is wide and `high[16 * block ..< 16 * block + 16]` holds the high halves of its
    ///     offsets. `wideCount` counts the wide blocks, and `high` is allocated exactly while it
    ///     is above 0.
    @usableFromInline struct LeafBlocks {
        @usableFromInline var buffer: UnsafeMutableRawPointer?
        /// High halves of the offsets of wide blocks: 32 words per block, parallel to `buffer`.
        @usableFromInline var high: UnsafeMutablePointer<UInt32>?
        var wideCount: Int

        /// No blocks (capacity 0).
        init() {
            buffer = nil
            high = nil
            wideCount = 0
        }
    }

    /// Writes an empty narrow block at `p`: padding starts above every offset, padding ends 0.
    static func _initializeEmpty(_ p: UnsafeMutableRawPointer) {
        let w = p.bindMemory(to: UInt32.self, capacity: 2 * blockSize)
        w[0] = narrowMark
        for s in 1..<blockSize { w[s] = 0xFFFF_FFFF ^ bias }
        for s in 0..<blockSize { w[blockSize + s] = 0 ^ bias }
    }

    /// Encodes blocks `first...` up to slot `end` (a multiple of blockSize, at most the capacity) from
    /// `ranges`, which holds the ranges of slots `first * blockSize ..< min(end, count)` in order; slots
    /// past them become padding. Then `_finishStore` over those blocks. `changed` holds every value
    /// whose membership changed (nil: the lookup area is rebuilt from scratch).
    mutating func _store(fromBlock first: Int, throughSlot end: Int, _ ranges: UnsafeBufferPointer<(UInt64, UInt64)>,
                         changed: ClosedRange<UInt64>?) {
        let lastBlock = end / Self.blockSize - 1
        guard first <= lastBlock else { return }
        var taken = 0
        for b in first...lastBlock {
            let k = max(0, min(Self.blockSize, ranges.count - taken))
            _encode(block: b, ranges.baseAddress.unsafelyUnwrapped + taken, count: k)
            taken += k
        }
        _finishStore(fromBlock: first, throughBlock: lastBlock, changed: changed)
    }

    /// Frees the high halves once no block is wide, then refreshes the index levels above blocks
    /// `first...last`, which were just encoded, and the lookup area: the directory entries over
    /// those blocks, or the point table's lines over the `changed` values.
    mutating func _finishStore(fromBlock first: Int, throughBlock last: Int, changed: ClosedRange<UInt64>?) {
        if _blocks.wideCount == 0, let high = _blocks.high {
            high.deallocate()
            _blocks.high = nil
        }
        _refreshIndex(fromBlock: first, throughBlock: last)
        _refreshDirectory(fromBlock: first, throughBlock: last, changed: changed)
        _syncHeader()
    }

    /// Encodes block `b` from `ranges[0..<k]` (k <= blockSize, ascending; slots past k become
    /// padding, and a block with none is empty, its base UInt64.max). Writes the block's base into
    /// the index's bottom level and keeps `_blocks.wideCount` and `_blocks.high` in step (the
    /// high halves are allocated when the first block becomes wide; `_finishStore` frees them
    /// when none is).
    mutating func _encode(block b: Int, _ ranges: UnsafePointer<(UInt64, UInt64)>, count k: Int) {
        let blocks = _blocks.buffer.unsafelyUnwrapped
        let index = _index.words.unsafelyUnwrapped
        let w = (blocks + b * Self.blockBytes).assumingMemoryBound(to: UInt32.self)
        if w[0] == Self.wideMark { _blocks.wideCount -= 1 }
        guard k > 0 else {
            Self._initializeEmpty(blocks + b * Self.blockBytes)
            index[_index.bottom + b] = .max
            return
        }
        let base = ranges[0].0
        let wide = ranges[k - 1].1 - base > Self.narrowMaximum
        if wide && _blocks.high == nil {
            _blocks.high = .allocate(capacity: _capacity * 2)
        }
        if wide {
            let high = _blocks.high.unsafelyUnwrapped + b * 2 * Self.blockSize
            for s in 0..<Self.blockSize {
                let start = s < k ? ranges[s].0 - base : .max
                let last = s < k ? ranges[s].1 - base : 0
                w[s] = UInt32(truncatingIfNeeded: start) ^ Self.bias
                w[Self.blockSize + s] = UInt32(truncatingIfNeeded: last) ^ Self.bias
                high[s] = UInt32(truncatingIfNeeded: start >> 32)
                high[Self.blockSize + s] = UInt32(truncatingIfNeeded: last >> 32)
            }
        } else {
            // Every offset fits: the last end is within narrowMaximum of the base. All eight
            // slots in one fixed-count loop (padding selected, not branched to).
            for s in 0..<Self.blockSize {
                let used = s < k
                let r = ranges[used ? s : 0]
                w[s] = (used ? UInt32(truncatingIfNeeded: r.0 &- base) : 0xFFFF_FFFF) ^ Self.bias
                w[Self.blockSize &+ s] = (used ? UInt32(truncatingIfNeeded: r.1 &- base) : 0) ^ Self.bias
            }
        }
        w[0] = wide ? Self.wideMark : Self.narrowMark
        if wide { _blocks.wideCount += 1 }
        index[_index.bottom + b] = base
    }

    /// True when block `b` is wide (its offsets' high halves are in `_blocks.high`).
    func _isWide(block b: Int) -> Bool { Self._isWide(UnsafeRawPointer(_blocks.buffer.unsafelyUnwrapped), b) }

    /// True when block `b` of the blocks at `blocks` is wide: its form word (slot 0's start).
    static func _isWide(_ blocks: UnsafeRawPointer, _ b: Int) -> Bool {
        blocks.load(fromByteOffset: b &* blockBytes, as: UInt32.self) == wideMark
    }
}
