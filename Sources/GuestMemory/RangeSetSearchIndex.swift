// The search index of a RangeSet: a static B+ tree over its leaf blocks of 16 starts, kept in one
// buffer (invariant 4 in RangeSet.swift). Its shape depends only on the capacity; its keys are
// refreshed from the first changed slot onward after each mutation, so the cost of keeping it is
// proportional to the memmove that the mutation already did.

extension RangeSet {
    /// Depth, per-level offsets (root first) and total words of the index for `capacity` slots.
    static func _indexLayout(capacity: Int) -> (depth: Int, offsets: [Int], words: Int) {
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
        return (sizes.count, offsets, at)
    }

    /// Allocates a fresh index for the current capacity (the old one, if any, is freed) and fills
    /// every key. Requires `_capacity > 0` and the starts buffer in place.
    mutating func _rebuildIndex() {
        _index?.deallocate()
        let layout = Self._indexLayout(capacity: _capacity)
        let index = UnsafeMutablePointer<UInt64>.allocate(capacity: layout.words)
        index.initialize(repeating: .max, count: layout.words)
        index[0] = UInt64(layout.depth)
        for (level, offset) in layout.offsets.enumerated() { index[level + 1] = UInt64(offset) }
        _index = index
        _indexWords = layout.words
        _refreshIndex(fromSlot: 0, toSlot: _capacity)
    }

    /// Recomputes the index keys that depend on slots `from..<to` of the starts buffer.
    mutating func _refreshIndex(fromSlot from: Int, toSlot to: Int) {
        guard let index = _index, let starts = _starts, from < to else { return }
        let depth = Int(index[0])
        // Bottom level: one key per leaf block.
        var lo = from / Self.blockSize
        var hi = (to - 1) / Self.blockSize
        var offset = Int(index[depth])
        for b in lo...hi { index[offset + b] = starts[b * Self.blockSize] }
        // Each level above holds every 8th key of the one below.
        var level = depth - 1
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
