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
        if let blocks = _blocks {
            let bytes = _capacity / Self.blockSize * Self.blockBytes
            let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.blockBytes)
            copy.copyMemory(from: blocks, byteCount: bytes)
            d._blocks = copy
        }
        if let high = _high {
            let copy = UnsafeMutablePointer<UInt32>.allocate(capacity: _capacity * 2)
            copy.initialize(from: high, count: _capacity * 2)
            d._high = copy
        }
        d._wideBlocks = _wideBlocks
        d._indexWords = _indexWords
        d._depth = _depth
        d._bottom = _bottom
        d._directoryAt = _directoryAt
        if let index = _index {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: _indexWords * 8, alignment: Self.blockBytes)
                .bindMemory(to: UInt64.self, capacity: _indexWords)
            copy.initialize(from: index, count: _indexWords)
            d._index = copy
            d._bases = copy + _bottom
            d._directory = _directory == Self.emptyDirectory ? Self.emptyDirectory : copy + _directoryAt
            d._lines = _lines == nil ? nil : UnsafeRawPointer(copy + _directoryAt)
        }
        d._directoryBuckets = _directoryBuckets
        d._directoryBase = _directoryBase
        d._directoryShift = _directoryShift
        d._directoryMask = _directoryMask
        d._directoryClamp = _directoryClamp
        d._directoryStale = _directoryStale
        d._lineBase = _lineBase
        d._lineWidth = _lineWidth
        d._lineReciprocal = _lineReciprocal
        d._lineClamp = _lineClamp
        d._overflowLines = _overflowLines
        d._skewed = _skewed
        d._lookupRebuildWork = _lookupRebuildWork
        d._syncHeader()  // the header names the blocks' addresses: the copy's
        return d
    }
}
