// What a change would cost a RangeSet, worked out before anything is written, so that an owner
// charging a budget (the steering engine's per-guest allowance) can refuse the change instead of
// undoing it.
//
// A change's heap bytes follow from two things: the capacity it ends with (an add past the
// capacity grows it, as `_grow` does; a remove that leaves three quarters of the slots empty
// shrinks it, as `remove` does) and whether any leaf block ends up wide (its ranges spanning more
// than `narrowMaximum` values from its first start to its last end), which needs the side buffer
// for the high halves. Blocks hold slots 8b..<8b+8 of the new order, so only the blocks from the
// change's first slot on can change form, and when the change keeps the count (a merge into one
// range, a trim) only the blocks it rewrites: the forecast reads the two ends of each window
// that can change, counts the wide blocks among the old ones that cannot, and allocates nothing.
// It costs what the change itself costs (which re-encodes the same blocks), so appending in order
// stays O(1).

extension RangeSet {
    /// The heap bytes the set will hold after `add(range)`, or nil when that add would throw
    /// (more ranges than the limit). Allocates nothing and changes nothing.
    public func heapBytes(afterAdding range: ClosedRange<UInt64>) -> Int? {
        let s = range.lowerBound, e = range.upperBound
        let lo = s == 0 ? 0 : _firstIndex(endAtLeast: s - 1)
        let hi = (e == .max ? _count : _firstIndex(startAbove: e + 1)) - 1
        let merged = hi - lo + 1
        let newCount = _count - merged + 1
        guard UInt64(newCount) <= limit else { return nil }
        let new = merged == 0 ? (s, e) : (min(s, _range(at: lo).lowerBound), max(e, _end(at: hi)))
        let change = _Change(lo: lo, removed: merged, first: new, second: nil)
        return Self._heapBytes(capacity: _capacity(after: newCount, removing: false), wide: _anyWide(after: change, newCount: newCount))
    }

    /// The heap bytes the set will hold after `remove(range)`, or nil when that remove would
    /// throw (a split past the limit). Allocates nothing and changes nothing.
    public func heapBytes(afterRemoving range: ClosedRange<UInt64>) -> Int? {
        let s = range.lowerBound, e = range.upperBound
        let lo = _firstIndex(endAtLeast: s)
        let hi = _firstIndex(startAbove: e) - 1
        let overlapping = hi - lo + 1
        guard overlapping > 0 else { return bytesAllocated }
        let first = _range(at: lo).lowerBound, last = _end(at: hi)
        let left: (UInt64, UInt64)? = first < s ? (first, s - 1) : nil
        let right: (UInt64, UInt64)? = last > e ? (e + 1, last) : nil
        let newCount = _count - overlapping + (left == nil ? 0 : 1) + (right == nil ? 0 : 1)
        guard UInt64(newCount) <= limit else { return nil }
        let change = _Change(lo: lo, removed: overlapping, first: left ?? right, second: left == nil ? nil : right)
        return Self._heapBytes(capacity: _capacity(after: newCount, removing: true), wide: _anyWide(after: change, newCount: newCount))
    }

    /// The capacity a change leaving `newCount` ranges ends with: grown as `_grow` grows it when
    /// the ranges no longer fit (a split can do that too), then, for a remove, shrunk as `remove`
    /// shrinks it once three quarters of the slots are empty.
    func _capacity(after newCount: Int, removing: Bool) -> Int {
        let capacity = newCount > _capacity ? _grownCapacity(toAtLeast: newCount) : _capacity
        return removing ? Self._shrunkCapacity(capacity, count: newCount) : capacity
    }

    /// Slots lo..<lo+removed replaced by up to two ranges, `first` before `second`.
    struct _Change {
        let lo: Int
        let removed: Int
        let first: (UInt64, UInt64)?
        let second: (UInt64, UInt64)?
        var inserted: Int { (first == nil ? 0 : 1) + (second == nil ? 0 : 1) }
    }

    /// Whether some block is wide once `change` is made. The blocks the change rewrites are
    /// measured as windows of the new order: all blocks from the change's first one when the
    /// count changes (the tail shifts), only the blocks of its own slots when it does not. Every
    /// other old block keeps its form, so some of them are wide exactly when `_blocks.wideCount`
    /// is more than the wide ones among the old blocks being rewritten (or dropped off the end).
    func _anyWide(after change: _Change, newCount: Int) -> Bool {
        let firstBlock = change.lo / Self.blockSize
        let oldBlocks = (_count + Self.blockSize - 1) / Self.blockSize
        let newBlocks = (newCount + Self.blockSize - 1) / Self.blockSize
        let keepsCount = change.inserted == change.removed
        let measuredEnd = keepsCount
            ? min((change.lo + change.inserted + Self.blockSize - 1) / Self.blockSize, newBlocks)
            : newBlocks
        if _blocks.wideCount > 0 {
            var replacedWide = 0
            for b in firstBlock..<max(firstBlock, keepsCount ? measuredEnd : oldBlocks) where _isWide(block: b) {
                replacedWide += 1
            }
            if replacedWide < _blocks.wideCount { return true }
        }
        var b = firstBlock
        while b < measuredEnd {
            let i = b * Self.blockSize, j = min(i + Self.blockSize, newCount) - 1
            // The new order ascends, so the window's last end is at least its first start.
            if _newRange(j, change).1 - _newRange(i, change).0 > Self.narrowMaximum { return true }
            b += 1
        }
        return false
    }

    /// Range `i` of the order after `change`.
    func _newRange(_ i: Int, _ change: _Change) -> (UInt64, UInt64) {
        if i < change.lo { return (_range(at: i).lowerBound, _range(at: i).upperBound) }
        let k = i - change.lo
        if k < change.inserted { return k == 0 ? change.first.unsafelyUnwrapped : change.second.unsafelyUnwrapped }
        let r = _range(at: i - change.inserted + change.removed)
        return (r.lowerBound, r.upperBound)
    }

    /// Heap bytes of a set of `capacity` slots, with or without the side buffer.
    static func _heapBytes(capacity: Int, wide: Bool) -> Int {
        guard capacity > 0 else { return 0 }
        let storage = capacity / blockSize * blockBytes
        return storage + (wide ? storage : 0) + _indexWords(capacity: capacity) * MemoryLayout<UInt64>.stride
    }
}
