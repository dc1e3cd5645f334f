// The search index of a RangeSet: a static B+ tree over its leaf blocks, kept in one buffer
// (invariant 5 in RangeSet.swift), followed in the same buffer by the directory (invariant 6,
// RangeSetDirectory.swift). Its shape depends only on the capacity. The bottom level holds
// each block's base (its first start, written by the block encoder); the levels above are
// refreshed over the blocks a mutation re-encoded, so keeping the index costs in proportion to
// the blocks the mutation already rewrote.

extension RangeSet {
    /// Depth, per-level offsets (root first) and total words of the index for `capacity` slots.
    static func _indexLayout(capacity: Int) -> (depth: Int, offsets: [Int], directoryAt: Int, words: Int) {
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
        precondition(sizes.count < indexHeaderWords, "index deeper than its header")
        var offsets: [Int] = []
        var at = indexHeaderWords
        for s in sizes {
            offsets.append(at)
            at += s
        }
        // The directory: one entry per bucket plus the sentinel.
        return (sizes.count, offsets, at, at + _directoryBuckets(capacity: capacity) + 1)
    }

    /// `_indexLayout(capacity:).words`, counted without building the layout (no allocation).
    static func _indexWords(capacity: Int) -> Int {
        var words = indexHeaderWords + _directoryBuckets(capacity: capacity) + 1
        var keys = capacity / blockSize
        while true {
            let padded = (keys + fanout - 1) / fanout * fanout
            words += padded
            if padded == fanout { return words }
            keys = padded / fanout
        }
    }

    /// Allocates the index for the current capacity with every key UInt64.max (empty blocks).
    /// Requires `_capacity > 0` and no index allocated.
    mutating func _allocateIndex() {
        let layout = Self._indexLayout(capacity: _capacity)
        let index = UnsafeMutablePointer<UInt64>.allocate(capacity: layout.words)
        index.initialize(repeating: .max, count: layout.words)
        index[0] = UInt64(layout.depth)
        for (level, offset) in layout.offsets.enumerated() { index[level + 1] = UInt64(offset) }
        _index = index
        _indexWords = layout.words
        _depth = layout.depth
        _bottom = layout.offsets[layout.depth - 1]
        _directoryAt = layout.directoryAt
        _bases = index + _bottom
        _directory = index + _directoryAt
        _directoryBuckets = Self._directoryBuckets(capacity: _capacity)
        _directoryStale = true
    }

    /// Recomputes the keys above the bottom level that depend on blocks `from...through`.
    mutating func _refreshIndex(fromBlock from: Int, throughBlock through: Int) {
        guard let index = _index, from <= through else { return }
        var lo = from, hi = through
        var offset = _bottom
        // Each level above holds every 8th key of the one below.
        var level = _depth - 1
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
