// Changing a RangeSet: add (merging), remove (splitting), the limit and the capacity.
// Every operation decides whether it can succeed before it writes anything, so a thrown error
// leaves the set exactly as it was (the property tests check this).

extension RangeSet {
    // MARK: Add and remove

    /// Adds `[first, last]`, merging it with every range it overlaps or touches
    /// (Xen's `rangeset_add_range`). Throws `.invertedRange` when `first > last`, and
    /// `.limitReached` when the set would hold more than `limit` ranges.
    public mutating func add(first: UInt64, last: UInt64) throws(RangeSetError) {
        guard first <= last else { throw .invertedRange(set: name, first: first, last: last) }
        try add(first...last)
    }

    /// Adds `range`; see ``add(first:last:)``.
    public mutating func add(_ range: ClosedRange<UInt64>) throws(RangeSetError) {
        let s = range.lowerBound, e = range.upperBound
        // Ranges that merge: end + 1 >= s and start <= e + 1 (overlapping or adjacent).
        let lo = s == 0 ? 0 : _firstIndex(endAtLeast: s - 1)
        let hi = (e == .max ? _count : _firstIndex(startAbove: e + 1)) - 1
        let merged = hi - lo + 1
        if merged == 0 {
            let needed = UInt64(_count) + 1
            guard needed <= limit else {
                throw .limitReached(set: name, limit: limit, needed: needed, operation: "adding", first: s, last: e)
            }
            _replace(lo: lo, removing: 0, with: (s, e), nil)
        } else {
            let newFirst = min(s, _starts.unsafelyUnwrapped[lo])
            let newLast = max(e, _ends.unsafelyUnwrapped[hi])
            _replace(lo: lo, removing: merged, with: (newFirst, newLast), nil)
        }
    }

    /// Removes `[first, last]`, splitting a range that holds it in its middle
    /// (Xen's `rangeset_remove_range`). Throws `.invertedRange` when `first > last`, and
    /// `.limitReached` when the split would leave more than `limit` ranges.
    public mutating func remove(first: UInt64, last: UInt64) throws(RangeSetError) {
        guard first <= last else { throw .invertedRange(set: name, first: first, last: last) }
        try remove(first...last)
    }

    /// Removes `range`; see ``remove(first:last:)``.
    public mutating func remove(_ range: ClosedRange<UInt64>) throws(RangeSetError) {
        let s = range.lowerBound, e = range.upperBound
        let lo = _firstIndex(endAtLeast: s)
        let hi = _firstIndex(startAbove: e) - 1
        let overlapping = hi - lo + 1
        guard overlapping > 0 else { return }
        let starts = _starts.unsafelyUnwrapped, ends = _ends.unsafelyUnwrapped
        let left: (UInt64, UInt64)? = starts[lo] < s ? (starts[lo], s - 1) : nil
        let right: (UInt64, UInt64)? = ends[hi] > e ? (e + 1, ends[hi]) : nil
        let kept = (left == nil ? 0 : 1) + (right == nil ? 0 : 1)
        let needed = UInt64(_count - overlapping + kept)
        guard needed <= limit else {
            throw .limitReached(set: name, limit: limit, needed: needed, operation: "removing", first: s, last: e)
        }
        _replace(lo: lo, removing: overlapping, with: left ?? right, left == nil ? nil : right)
        // Give memory back once three quarters of the slots are empty.
        if _count == 0 {
            _reallocate(capacity: 0)
        } else if _capacity > Self.blockSize && _count * 4 <= _capacity {
            _reallocate(capacity: Self._roundUpToBlock(_count * 2))
        }
    }

    // MARK: Limit and capacity

    /// Changes the most ranges the set may hold. Throws when `newLimit` is below the current count
    /// or above ``maximumLimit``. Lowering the limit does not free slots: call ``shrinkToFit()``.
    public mutating func setLimit(_ newLimit: UInt64) throws(RangeSetError) {
        guard newLimit <= Self.maximumLimit else {
            throw .limitAboveMaximum(set: name, limit: newLimit, maximum: Self.maximumLimit)
        }
        guard newLimit >= UInt64(_count) else {
            throw .limitBelowCount(set: name, limit: newLimit, count: UInt64(_count))
        }
        limit = newLimit
    }

    /// Allocates room for `ranges` ranges now, so later adds up to that count do not allocate.
    /// Throws `.capacityAboveLimit` (allocating nothing) when `ranges` is above the limit.
    /// Read ``bytesAllocated`` before and after to learn what it cost.
    public mutating func reserveCapacity(_ ranges: Int) throws(RangeSetError) {
        guard ranges >= 0, UInt64(ranges) <= limit else {
            throw .capacityAboveLimit(set: name, requested: UInt64(max(ranges, 0)), limit: limit)
        }
        let wanted = Self._roundUpToBlock(ranges)
        if wanted > _capacity { _reallocate(capacity: wanted) }
    }

    /// Frees the slots not needed for the ranges held now (rounded up to a 16-slot block).
    public mutating func shrinkToFit() {
        let wanted = Self._roundUpToBlock(_count)
        if wanted < _capacity { _reallocate(capacity: wanted) }
    }

    // MARK: Internals

    static func _roundUpToBlock(_ n: Int) -> Int { (n + blockSize - 1) / blockSize * blockSize }

    /// First i in 0..<count with ends[i] >= v (count if none). Ends ascend (invariant 1).
    func _firstIndex(endAtLeast v: UInt64) -> Int {
        var lo = 0, hi = _count
        let ends = _ends
        while lo < hi {
            let mid = (lo + hi) / 2
            if ends.unsafelyUnwrapped[mid] >= v { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// First i in 0..<count with starts[i] > v (count if none).
    func _firstIndex(startAbove v: UInt64) -> Int {
        _predecessor(v) + 1
    }

    /// Replaces ranges lo..<lo+removing with up to two ranges (a before b), growing the buffers if
    /// needed, and refreshes the padding and the index. The caller has checked the limit.
    mutating func _replace(lo: Int, removing: Int, with a: (UInt64, UInt64)?, _ b: (UInt64, UInt64)?) {
        let inserting = (a == nil ? 0 : 1) + (b == nil ? 0 : 1)
        let oldCount = _count
        let newCount = oldCount - removing + inserting
        if newCount > _capacity { _grow(toAtLeast: newCount) }
        let starts = _starts.unsafelyUnwrapped, ends = _ends.unsafelyUnwrapped
        let tail = oldCount - (lo + removing)
        if inserting != removing && tail > 0 {
            // memmove: the regions overlap.
            let bytes = tail * MemoryLayout<UInt64>.stride
            UnsafeMutableRawPointer(starts + lo + inserting).copyMemory(from: starts + lo + removing, byteCount: bytes)
            UnsafeMutableRawPointer(ends + lo + inserting).copyMemory(from: ends + lo + removing, byteCount: bytes)
        }
        if let (s, e) = a {
            starts[lo] = s
            ends[lo] = e
        }
        if let (s, e) = b {
            starts[lo + 1] = s
            ends[lo + 1] = e
        }
        if newCount < oldCount {
            (starts + newCount).update(repeating: .max, count: oldCount - newCount)
            (ends + newCount).update(repeating: 0, count: oldCount - newCount)
        }
        _count = newCount
        // Slots lo..<max(old, new) changed (a pure replacement changes only slot lo).
        let changedEnd = inserting == removing ? lo + inserting : max(oldCount, newCount)
        _refreshIndex(fromSlot: lo, toSlot: changedEnd)
    }

    /// Doubles the capacity (at least to `needed`), never past the limit rounded up to a block.
    mutating func _grow(toAtLeast needed: Int) {
        let ceiling = Self._roundUpToBlock(Int(limit))
        let doubled = max(_capacity * 2, Self.blockSize)
        _reallocate(capacity: Self._roundUpToBlock(max(needed, min(doubled, ceiling))))
    }

    /// Moves the ranges into buffers of exactly `capacity` slots (0 frees everything).
    mutating func _reallocate(capacity: Int) {
        precondition(capacity >= _count && capacity % Self.blockSize == 0)
        var newStarts: UnsafeMutablePointer<UInt64>? = nil
        var newEnds: UnsafeMutablePointer<UInt64>? = nil
        if capacity > 0 {
            let s = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
            let e = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
            if _count > 0 {
                s.initialize(from: _starts.unsafelyUnwrapped, count: _count)
                e.initialize(from: _ends.unsafelyUnwrapped, count: _count)
            }
            (s + _count).initialize(repeating: .max, count: capacity - _count)
            (e + _count).initialize(repeating: 0, count: capacity - _count)
            newStarts = s
            newEnds = e
        }
        _starts?.deallocate()
        _ends?.deallocate()
        _starts = newStarts
        _ends = newEnds
        _capacity = capacity
        if capacity > 0 {
            _rebuildIndex()
        } else {
            _index?.deallocate()
            _index = nil
            _indexWords = 0
        }
    }
}
