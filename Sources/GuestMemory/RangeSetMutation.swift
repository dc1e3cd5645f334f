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
            let newFirst = min(s, _range(at: lo).lowerBound)
            let newLast = max(e, _end(at: hi))
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
        let first = _range(at: lo).lowerBound, last = _end(at: hi)
        let left: (UInt64, UInt64)? = first < s ? (first, s - 1) : nil
        let right: (UInt64, UInt64)? = last > e ? (e + 1, last) : nil
        let kept = (left == nil ? 0 : 1) + (right == nil ? 0 : 1)
        let needed = UInt64(_count - overlapping + kept)
        guard needed <= limit else {
            throw .limitReached(set: name, limit: limit, needed: needed, operation: "removing", first: s, last: e)
        }
        _replace(lo: lo, removing: overlapping, with: left ?? right, left == nil ? nil : right)
        let shrunk = Self._shrunkCapacity(_capacity, count: _count)
        if shrunk != _capacity { _reallocate(capacity: shrunk) }
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

    /// Grows the storage to `slots` slots (a multiple of 8 at most the limit rounded up to a block,
    /// as invariant 2 allows; larger values are cut to that). For an owner undoing a change whose
    /// remove gave slots back, so the set ends with the memory it had. The package's own use.
    package mutating func restoreSlots(_ slots: Int) {
        let wanted = min(Self._roundUpToBlock(slots), Self._roundUpToBlock(Int(limit)))
        if wanted > _capacity { _reallocate(capacity: wanted) }
    }

    /// Frees the slots not needed for the ranges held now (rounded up to a whole block of 8 slots).
    public mutating func shrinkToFit() {
        let wanted = Self._roundUpToBlock(_count)
        if wanted < _capacity { _reallocate(capacity: wanted) }
    }

    // MARK: Internals

    static func _roundUpToBlock(_ n: Int) -> Int { (n + blockSize - 1) / blockSize * blockSize }

    /// First i in 0..<count with ends[i] >= v (count if none). Ends ascend (invariant 1).
    func _firstIndex(endAtLeast v: UInt64) -> Int {
        var lo = 0, hi = _count
        while lo < hi {
            let mid = (lo + hi) / 2
            if _end(at: mid) >= v { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// First i in 0..<count with starts[i] > v (count if none).
    func _firstIndex(startAbove v: UInt64) -> Int {
        _predecessor(v) + 1
    }

    /// Replaces ranges lo..<lo+removing with up to two ranges (a before b), growing the storage if
    /// needed. The blocks from lo's block up to the last changed slot are decoded and encoded
    /// again (a shift moves ranges across block bases), then the index is refreshed over them:
    /// the cost is proportional to the moved tail, like a memmove. The caller has checked the limit.
    mutating func _replace(lo: Int, removing: Int, with a: (UInt64, UInt64)?, _ b: (UInt64, UInt64)?) {
        let inserting = (a == nil ? 0 : 1) + (b == nil ? 0 : 1)
        // The values whose membership can change: the removed ranges' and the inserted ones'.
        var changedLow = UInt64.max, changedHigh = UInt64.min
        if removing > 0 {
            changedLow = _range(at: lo).lowerBound
            changedHigh = _end(at: lo + removing - 1)
        }
        if let a { changedLow = min(changedLow, a.0); changedHigh = max(changedHigh, (b ?? a).1) }
        let oldCount = _count
        let newCount = oldCount - removing + inserting
        if newCount > _capacity { _grow(toAtLeast: newCount) }
        // Slots lo..<changedEnd change (a pure replacement changes only its own slots).
        let changedEnd = inserting == removing ? lo + inserting : max(oldCount, newCount)
        let from = lo / Self.blockSize * Self.blockSize
        let to = min(Self._roundUpToBlock(changedEnd), _capacity)
        let room = to - from
        let fresh = UnsafeMutablePointer<(UInt64, UInt64)>.allocate(capacity: room)
        defer { fresh.deallocate() }
        _decode(slots: from..<lo, into: fresh)
        var filled = lo - from
        if let a { fresh[filled] = a; filled += 1 }
        if let b { fresh[filled] = b; filled += 1 }
        let tailEnd = min(oldCount, lo + removing + (room - filled))
        _decode(slots: (lo + removing)..<max(tailEnd, lo + removing), into: fresh + filled)
        filled += max(tailEnd - (lo + removing), 0)
        _count = newCount
        _store(fromBlock: from / Self.blockSize, throughSlot: to, UnsafeBufferPointer(start: fresh, count: filled),
               changed: changedLow <= changedHigh ? changedLow...changedHigh : nil)
    }

    /// Writes the ranges of `slots` to `out`, a block at a time.
    func _decode(slots: Range<Int>, into out: UnsafeMutablePointer<(UInt64, UInt64)>) {
        guard !slots.isEmpty else { return }
        let blocks = _blocks.buffer.unsafelyUnwrapped, index = _index.words.unsafelyUnwrapped
        var i = slots.lowerBound
        var o = out
        while i < slots.upperBound {
            let block = i >> Self.blockShift
            let base = index[_index.bottom + block]
            let w = (blocks + block * Self.blockBytes).assumingMemoryBound(to: UInt32.self)
            let stop = min(slots.upperBound, (block + 1) * Self.blockSize)
            if w[0] == Self.wideMark {
                let high = _blocks.high.unsafelyUnwrapped + block * 2 * Self.blockSize
                while i < stop {
                    let s = i & (Self.blockSize - 1)
                    let start = s == 0 ? 0 : UInt64(high[s]) << 32 | UInt64(w[s] ^ Self.bias)
                    let last = UInt64(high[Self.blockSize + s]) << 32 | UInt64(w[Self.blockSize + s] ^ Self.bias)
                    o.pointee = (base + start, base + last)
                    o += 1
                    i += 1
                }
            } else {
                // Narrow: every offset is at most narrowMaximum above a base that the set's
                // values exceed by that much, so the sums cannot wrap. A whole block is one
                // fixed-count loop.
                if stop &- i == Self.blockSize {
                    for s in 0..<Self.blockSize {
                        o[s] = (base &+ UInt64(w[s] ^ Self.bias), base &+ UInt64(w[Self.blockSize &+ s] ^ Self.bias))
                    }
                    o += Self.blockSize
                    i = stop
                    continue
                }
                while i < stop {
                    let s = i & (Self.blockSize &- 1)
                    o.pointee = (base &+ UInt64(w[s] ^ Self.bias), base &+ UInt64(w[Self.blockSize &+ s] ^ Self.bias))
                    o += 1
                    i &+= 1
                }
            }
        }
    }

    /// Doubles the capacity (at least to `needed`), never past the limit rounded up to a block.
    mutating func _grow(toAtLeast needed: Int) {
        _reallocate(capacity: _grownCapacity(toAtLeast: needed))
    }

    /// The capacity `_grow(toAtLeast:)` moves to.
    func _grownCapacity(toAtLeast needed: Int) -> Int {
        let ceiling = Self._roundUpToBlock(Int(limit))
        let doubled = max(_capacity * 2, Self.blockSize)
        return Self._roundUpToBlock(max(needed, min(doubled, ceiling)))
    }

    /// The capacity a remove leaves behind with `count` ranges in `capacity` slots: memory is
    /// given back once three quarters of the slots are empty (all of it when the set is empty).
    static func _shrunkCapacity(_ capacity: Int, count: Int) -> Int {
        if count == 0 { return 0 }
        if capacity > blockSize && count * 4 <= capacity { return _roundUpToBlock(count * 2) }
        return capacity
    }

    /// Moves the ranges into storage of exactly `capacity` slots (0 frees everything).
    mutating func _reallocate(capacity: Int) {
        precondition(capacity >= _count && capacity % Self.blockSize == 0)
        let all = UnsafeMutablePointer<(UInt64, UInt64)>.allocate(capacity: max(_count, 1))
        defer { all.deallocate() }
        _decode(slots: 0..<_count, into: all)
        let kept = _count
        _blocks.buffer?.deallocate()
        _blocks.high?.deallocate()
        _index.words?.deallocate()
        _blocks = LeafBlocks()
        _index = SearchIndex()
        _capacity = capacity
        guard capacity > 0 else {
            _parkDirectory()
            return
        }
        let blocks = UnsafeMutableRawPointer.allocate(byteCount: capacity / Self.blockSize * Self.blockBytes, alignment: Self.blockBytes)
        for b in 0..<capacity / Self.blockSize { Self._initializeEmpty(blocks + b * Self.blockBytes) }
        _blocks.buffer = blocks
        _allocateIndex()
        _store(fromBlock: 0, throughSlot: capacity, UnsafeBufferPointer(start: all, count: kept), changed: nil)
    }
}
