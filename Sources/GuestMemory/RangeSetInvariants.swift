// The invariants of RangeSet.swift and of its layout's structs, checked from the fields: what the
// property tests call after every operation (Tests/GuestMemoryTests/RangeSetModel.swift), on top
// of comparing the set with the naive model through its API (and, there, the directory and the
// point table entry by entry). Debug builds only: a release build checks nothing.

extension RangeSet {
    /// What is broken, one line each (empty when every invariant this can see holds). Release
    /// builds return an empty list without looking.
    package func invariantViolations() -> [String] {
        #if DEBUG
        var broken: [String] = []
        // 2. Counts, limit, capacity.
        if UInt64(_count) > limit { broken.append("count \(_count) above limit \(limit)") }
        if limit > Self.maximumLimit { broken.append("limit \(limit) above the maximum") }
        if _capacity % Self.blockSize != 0 { broken.append("capacity \(_capacity) not whole blocks") }
        if _count > _capacity { broken.append("count \(_count) above capacity \(_capacity)") }
        // 1. Ascending, first <= last, neither overlapping nor touching.
        let held = _capacity == 0 ? [] : ranges
        for (a, b) in zip(held, held.dropFirst()) where !(a.upperBound != .max && a.upperBound + 1 < b.lowerBound) {
            broken.append("ranges \(a) and \(b) overlap or touch")
        }
        guard _capacity > 0 else {
            // 3 and 5: no buffers. 7: the shared empty directory, parked.
            if _blocks.buffer != nil || _index.words != nil || _blocks.high != nil || _index.bases != nil {
                broken.append("buffers held with capacity 0")
            }
            if _blocks.wideCount != 0 { broken.append("\(_blocks.wideCount) wide blocks with capacity 0") }
            if _directory.entries != Self.emptyDirectory || _table.lines != nil || _directory.clamp != 0 {
                broken.append("an empty set without an index must park its directory")
            }
            return broken
        }
        guard let blocks = _blocks.buffer, let index = _index.words else {
            return broken + ["capacity \(_capacity) without blocks or index"]
        }
        broken += _searchIndexViolations(index, blocks: blocks)
        broken += _leafBlockViolations(blocks, index: index, held: held)
        broken += _lookupAreaViolations(index)
        return broken
        #else
        return []
        #endif
    }

    #if DEBUG
    /// Invariant 5: the index's shape for the capacity, its header, its levels, `bases`.
    func _searchIndexViolations(_ index: UnsafeMutablePointer<UInt64>, blocks: UnsafeMutableRawPointer) -> [String] {
        var broken: [String] = []
        let layout = Self._indexLayout(capacity: _capacity)
        if _index.wordCount != layout.words || _index.depth != layout.depth || _index.areaAt != layout.areaAt
            || _index.bottom != layout.offsets[layout.depth - 1] {
            broken.append("index shape (\(_index.wordCount) words, depth \(_index.depth), bottom \(_index.bottom), "
                + "area at \(_index.areaAt)) is not the layout of capacity \(_capacity)")
            return broken
        }
        if Int(bitPattern: index) % Self.blockBytes != 0 { broken.append("index buffer not 64-byte aligned") }
        if index[0] != UInt64(_index.depth) { broken.append("index depth word \(index[0]) is not \(_index.depth)") }
        for (level, offset) in layout.offsets.enumerated() where index[level + 1] != UInt64(offset) {
            broken.append("index level \(level) offset word \(index[level + 1]) is not \(offset)")
        }
        if index[Self.headerCountWord] != UInt64(_count) { broken.append("header count \(index[Self.headerCountWord]) is not \(_count)") }
        if index[Self.headerCountWord + 1] != UInt64(UInt(bitPattern: blocks)) { broken.append("header names other blocks") }
        if index[Self.headerCountWord + 2] != UInt64(UInt(bitPattern: _blocks.high)) { broken.append("header names other high halves") }
        if _index.bases != index + _index.bottom { broken.append("_index.bases is not the bottom level") }
        // Each level above the bottom holds every 8th key of the level below, padded with max.
        var sizes = zip(layout.offsets, layout.offsets.dropFirst()).map { $1 - $0 }
        sizes.append((_capacity / Self.blockSize + Self.fanout - 1) / Self.fanout * Self.fanout)
        for level in 0..<(layout.depth - 1) {
            let above = layout.offsets[level], below = layout.offsets[level + 1]
            for k in 0..<sizes[level] {
                let want = k * Self.fanout < sizes[level + 1] ? index[below + k * Self.fanout] : .max
                if index[above + k] != want { broken.append("index level \(level) key \(k) is not every 8th key below") }
            }
        }
        return broken
    }

    /// Invariants 3 and 4: each block's base, form mark and padding; the wide count and buffer.
    func _leafBlockViolations(_ blocks: UnsafeMutableRawPointer, index: UnsafeMutablePointer<UInt64>,
                              held: [ClosedRange<UInt64>]) -> [String] {
        var broken: [String] = []
        if Int(bitPattern: blocks) % Self.blockBytes != 0 { broken.append("blocks not 64-byte aligned") }
        var wide = 0
        for b in 0..<(_capacity / Self.blockSize) {
            let w = (blocks + b * Self.blockBytes).assumingMemoryBound(to: UInt32.self)
            let first = b * Self.blockSize
            let base = index[_index.bottom + b]
            if w[0] == Self.wideMark { wide += 1 } else if w[0] != Self.narrowMark { broken.append("block \(b) has no form mark") }
            if first < _count {
                if base != held[first].lowerBound { broken.append("block \(b) base \(base) is not its first start \(held[first].lowerBound)") }
                let last = held[min(first + Self.blockSize, _count) - 1].upperBound
                if (last - base > Self.narrowMaximum) != (w[0] == Self.wideMark) {
                    broken.append("block \(b) has the wrong form for its span")
                }
            } else if base != .max {
                broken.append("empty block \(b) has base \(base)")
            }
            for s in 0..<Self.blockSize where first + s >= _count {
                if s > 0 && w[s] != 0xFFFF_FFFF ^ Self.bias { broken.append("block \(b) padding slot \(s) start") }
                if w[Self.blockSize + s] != 0 ^ Self.bias { broken.append("block \(b) padding slot \(s) end") }
            }
        }
        if wide != _blocks.wideCount { broken.append("\(_blocks.wideCount) wide blocks counted, \(wide) marked") }
        if (_blocks.high != nil) != (_blocks.wideCount > 0) {
            broken.append("high halves allocated: \(_blocks.high != nil), wide blocks: \(_blocks.wideCount)")
        }
        return broken
    }

    /// Invariants 6 to 8, as far as the fields show them (the property tests check the entries
    /// and lines themselves against the model): one form at a time, each pointing into the
    /// lookup area, the other parked.
    func _lookupAreaViolations(_ index: UnsafeMutablePointer<UInt64>) -> [String] {
        var broken: [String] = []
        let area = index + _index.areaAt
        if _directory.buckets != Self._directoryBuckets(capacity: _capacity) {
            broken.append("\(_directory.buckets) directory buckets for capacity \(_capacity)")
        }
        if _directory.entries != Self.emptyDirectory && _directory.entries != area {
            broken.append("_directory.entries points outside the lookup area")
        }
        if let lines = _table.lines {
            // 8: the table's geometry; the directory parked (7) so `_locate` descends the index.
            if lines != UnsafeRawPointer(area) { broken.append("_table.lines points outside the lookup area") }
            if _count == 0 { broken.append("an empty set kept its point table") }
            let width = _table.width
            if !(2...Self.tableMaximumWidth).contains(width) { broken.append("point table width \(width)") }
            if width > 0 && _table.reciprocal != UInt64.max / width &+ 1 {
                broken.append("point table reciprocal is not ceil(2^64 / \(width))")
            }
            if _table.clamp != UInt64(Self._tableLines(capacity: _capacity) - 1) &* width {
                broken.append("point table clamp \(_table.clamp) is not the data lines times \(width)")
            }
            if _table.overflowLines < 0 { broken.append("\(_table.overflowLines) overflow lines") }
            if _directory.entries != Self.emptyDirectory || _directory.clamp != 0 || !_directory.stale {
                broken.append("the directory is not parked under the point table")
            }
        } else if _count > 0 {
            // 6: the directory, its own, live.
            if _directory.entries != area || _directory.stale { broken.append("directory form without a live directory") }
            if _directory.mask != (1 << _directory.shift) &- 1 {
                broken.append("directory mask \(_directory.mask) is not 2^\(_directory.shift) - 1")
            }
            if _directory.base > index[_index.bottom] { broken.append("directory base above the lowest block base") }
        } else if _directory.clamp != 0 || _directory.entries[0] != 0 {
            // 7: an empty set with an index parks its lookup area.
            broken.append("an empty set must park its directory")
        }
        return broken
    }
    #endif
}
