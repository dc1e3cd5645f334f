// Duplicating a RangeSet: the same ranges, limit, capacity, lookup form and bytes, in buffers of
// its own. A reader-writer owner (the steering engine publishing versions of its sets to vCPUs
// that read without locks) changes a duplicate and publishes it, so a reader never sees a set in
// the middle of a change; and since the duplicate's bytes equal the original's, an allowance
// charged for the one is right for the other.

extension RangeSet {
    /// A deep copy: every buffer copied byte for byte, every pointer into them moved to the copy.
    package func duplicate() -> RangeSet {
        // swiftlint:disable:next force_try
        var d = try! RangeSet(name: name, limit: limit)  // limit <= maximumLimit already
        d._count = _count
        d._capacity = _capacity
        // The forms' fields first, then every pointer in them moved to the copy's buffers.
        d._blocks = _blocks
        d._index = _index
        d._directory = _directory
        d._table = _table
        d._lookupRebuildWork = _lookupRebuildWork
        if let blocks = _blocks.buffer {
            let bytes = _capacity / Self.blockSize * Self.blockBytes
            let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.blockBytes)
            copy.copyMemory(from: blocks, byteCount: bytes)
            d._blocks.buffer = copy
        }
        if let high = _blocks.high {
            let copy = UnsafeMutablePointer<UInt32>.allocate(capacity: _capacity * 2)
            copy.initialize(from: high, count: _capacity * 2)
            d._blocks.high = copy
        }
        if let index = _index.words {
            let words = _index.wordCount
            let copy = UnsafeMutableRawPointer.allocate(byteCount: words * 8, alignment: Self.blockBytes)
                .bindMemory(to: UInt64.self, capacity: words)
            copy.initialize(from: index, count: words)
            d._index.words = copy
            d._index.bases = copy + _index.bottom
            if _directory.entries != Self.emptyDirectory { d._directory.entries = copy + _index.areaAt }
            if _table.lines != nil { d._table.lines = UnsafeRawPointer(copy + _index.areaAt) }
        }
        d._syncHeader()  // the header names the blocks' addresses: the copy's
        return d
    }
}
