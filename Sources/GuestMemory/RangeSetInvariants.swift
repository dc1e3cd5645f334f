// The invariants of RangeSet.swift, checked from the fields: what the property tests call after
// every operation (Tests/GuestMemoryTests/RangeSetModel.swift), on top of comparing the set with
// the naive model through its API. Debug builds only: a release build checks nothing.

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
            // 7. No index: the shared empty directory, parked.
            if _blocks != nil || _index != nil || _high != nil { broken.append("buffers held with capacity 0") }
            if _directory != Self.emptyDirectory || _lines != nil || _directoryClamp != 0 {
                broken.append("an empty set without an index must park its directory")
            }
            return broken
        }
        guard let blocks = _blocks, let index = _index else { return broken + ["capacity \(_capacity) without blocks or index"] }
        // 5. The index header, the bottom level and the pointers into the buffer.
        if index[0] != UInt64(_depth) { broken.append("index depth word \(index[0]) is not \(_depth)") }
        if index[Self.headerCountWord] != UInt64(_count) { broken.append("header count \(index[Self.headerCountWord]) is not \(_count)") }
        if index[Self.headerCountWord + 1] != UInt64(UInt(bitPattern: blocks)) { broken.append("header names other blocks") }
        if index[Self.headerCountWord + 2] != UInt64(UInt(bitPattern: _high)) { broken.append("header names other high halves") }
        if _bases != index + _bottom { broken.append("_bases is not the bottom level") }
        if _directory != Self.emptyDirectory && _directory != index + _directoryAt { broken.append("_directory points outside the lookup area") }
        if let lines = _lines, lines != UnsafeRawPointer(index + _directoryAt) { broken.append("_lines points outside the lookup area") }
        // 3 and 4. Each block: its base, its form mark, its padding; the wide count and buffer.
        var wide = 0
        for b in 0..<(_capacity / Self.blockSize) {
            let w = (blocks + b * Self.blockBytes).assumingMemoryBound(to: UInt32.self)
            let first = b * Self.blockSize
            let base = index[_bottom + b]
            if w[0] == Self.wideMark { wide += 1 } else if w[0] != Self.narrowMark { broken.append("block \(b) has no form mark") }
            if first < _count {
                if base != held[first].lowerBound { broken.append("block \(b) base \(base) is not its first start \(held[first].lowerBound)") }
            } else if base != .max {
                broken.append("empty block \(b) has base \(base)")
            }
            for s in 0..<Self.blockSize where first + s >= _count {
                if s > 0 && w[s] != 0xFFFF_FFFF ^ Self.bias { broken.append("block \(b) padding slot \(s) start") }
                if w[Self.blockSize + s] != 0 ^ Self.bias { broken.append("block \(b) padding slot \(s) end") }
            }
        }
        if wide != _wideBlocks { broken.append("\(_wideBlocks) wide blocks counted, \(wide) marked") }
        if (_high != nil) != (_wideBlocks > 0) { broken.append("high halves allocated: \(_high != nil), wide blocks: \(_wideBlocks)") }
        // 7. An empty set with an index parks its lookup area.
        if _count == 0 && (_lines != nil || _directoryClamp != 0 || _directory[0] != 0) {
            broken.append("an empty set must park its directory")
        }
        return broken
        #else
        return []
        #endif
    }
}
