// The search index of a RangeSet: a static B+ tree over its leaf blocks, kept in one buffer,
// followed in the same buffer, from a 64-byte boundary, by the lookup area: the point table
// (RangeSetPointTable.swift) or the directory (RangeSetDirectory.swift), whichever the set's
// spread allows. The area is sized for the point table, the larger of the two, so the set's
// memory depends only on its capacity, in either form. The index's shape depends only on the
// capacity. The bottom level holds each block's base (its first start, written by the block
// encoder); the levels above are refreshed over the blocks a mutation re-encoded, so keeping the
// index costs in proportion to the blocks the mutation already rewrote.

extension RangeSet {
    /// The search index and the buffer it shares with the lookup area: the set's `_index`.
    ///
    /// Invariant 5 (numbered as in RangeSet.swift). While the capacity is 0, `words` and `bases`
    /// are nil and the rest 0. Otherwise `words` is one 64-byte-aligned buffer of `wordCount`
    /// words, a static B+ tree over the blocks: words[0] = `depth`, words[1...depth] = word
    /// offset of each level, root first; the bottom level (at `bottom`, and `bases` points at
    /// it, where the lookup reads it without adding the offset) holds the base of every block
    /// (UInt64.max for an empty block), each level above holds every 8th key of the level
    /// below, levels are padded with UInt64.max to whole nodes of 8 keys (one cache line). Every
    /// mutation re-encodes the blocks from the first changed slot to the last and refreshes the
    /// keys above them. Header words 12, 13 and 14 hold the count and the addresses of the
    /// blocks and their high halves (0 when nil), for the lookup's out-of-line path. From
    /// `areaAt`, a 64-byte boundary, to the end is the lookup area, sized for the point table
    /// whichever form it holds (invariants 6 to 8).
    @usableFromInline struct SearchIndex {
        @usableFromInline var words: UnsafeMutablePointer<UInt64>?
        var wordCount: Int
        @usableFromInline var depth: Int
        var bottom: Int
        var areaAt: Int
        @usableFromInline var bases: UnsafeMutablePointer<UInt64>?

        /// No index (capacity 0).
        init() {
            words = nil
            wordCount = 0
            depth = 0
            bottom = 0
            areaAt = 0
            bases = nil
        }
    }

    /// Depth, per-level offsets (root first) and total words of the index for `capacity` slots.
    static func _indexLayout(capacity: Int) -> (depth: Int, offsets: [Int], areaAt: Int, words: Int) {
        precondition(capacity > 0 && capacity % blockSize == 0)
        // Level sizes bottom-up, each padded to whole nodes.
        var sizes: [Int] = []
        var keys = capacity / blockSize
        while true {
            let padded = (keys + fanout - 1) / fanout * fanout
            sizes.append(padded)
            if padded == fanout { break }
            keys = padded / fanout
        }
        sizes.reverse()
        precondition(sizes.count < headerCountWord, "index deeper than its header")
        var offsets: [Int] = []
        var at = indexHeaderWords
        for s in sizes {
            offsets.append(at)
            at += s
        }
        // The lookup area, from a whole line (8 words; the buffer is 64-byte aligned).
        let area = (at + 7) / 8 * 8
        return (sizes.count, offsets, area, area + _lookupWords(capacity: capacity))
    }

    /// Words of the lookup area for `capacity` slots: room for the point table's lines, which
    /// always covers the directory's entries and its sentinel.
    static func _lookupWords(capacity: Int) -> Int {
        max(_tableLines(capacity: capacity) * (blockBytes / 8), _directoryBuckets(capacity: capacity) + 1)
    }

    /// `_indexLayout(capacity:).words`, counted without building the layout (no allocation).
    static func _indexWords(capacity: Int) -> Int {
        var words = indexHeaderWords
        var keys = capacity / blockSize
        while true {
            let padded = (keys + fanout - 1) / fanout * fanout
            words += padded
            if padded == fanout { return (words + 7) / 8 * 8 + _lookupWords(capacity: capacity) }
            keys = padded / fanout
        }
    }

    /// Allocates the index for the current capacity with every key UInt64.max (empty blocks).
    /// Requires `_capacity > 0` and no index allocated.
    mutating func _allocateIndex() {
        let layout = Self._indexLayout(capacity: _capacity)
        // 64-byte aligned: the point table's lines are cache lines.
        let index = UnsafeMutableRawPointer.allocate(byteCount: layout.words * 8, alignment: Self.blockBytes)
            .bindMemory(to: UInt64.self, capacity: layout.words)
        index.initialize(repeating: .max, count: layout.words)
        index[0] = UInt64(layout.depth)
        for (level, offset) in layout.offsets.enumerated() { index[level + 1] = UInt64(offset) }
        let bottom = layout.offsets[layout.depth - 1]
        _index.words = index
        _index.wordCount = layout.words
        _index.depth = layout.depth
        _index.bottom = bottom
        _index.areaAt = layout.areaAt
        _index.bases = index + bottom
        _directory.entries = index + layout.areaAt
        _directory.buckets = Self._directoryBuckets(capacity: _capacity)
        _directory.stale = true
        _table.lines = nil
    }

    /// Copies the count and the block buffers' addresses into the index header (words 12-14),
    /// where the lookup's out-of-line path reads them: it then takes three arguments, and the
    /// inlined lookup loads nothing for it ahead of time. Called at the end of every store.
    mutating func _syncHeader() {
        guard let index = _index.words else { return }
        index[Self.headerCountWord] = UInt64(_count)
        index[Self.headerCountWord + 1] = UInt64(UInt(bitPattern: _blocks.buffer))
        index[Self.headerCountWord + 2] = UInt64(UInt(bitPattern: _blocks.high))
    }

    /// Recomputes the keys above the bottom level that depend on blocks `from...through`.
    mutating func _refreshIndex(fromBlock from: Int, throughBlock through: Int) {
        guard let index = _index.words, from <= through else { return }
        var lo = from, hi = through
        var offset = _index.bottom
        // Each level above holds every 8th key of the one below.
        var level = _index.depth - 1
        while level >= 1 {
            let below = offset
            offset = Int(index[level])
            lo /= Self.fanout
            hi /= Self.fanout
            for k in lo...hi { index[offset + k] = index[below + k * Self.fanout] }
            level -= 1
        }
    }
}
