// RangeSet: a set of inclusive 64-bit ranges [first, last] with a per-set limit on the number of
// ranges. Semantically Xen's xen/common/rangeset.c (add merges overlapping and adjacent ranges,
// remove splits, contains/overlaps as rangeset_contains_range/rangeset_overlaps_range, the limit
// is nr_ranges), laid out for lookups that run on every steered guest access.
//
// Layout: the set's own fields are its name, limit, count and capacity; each part of the layout
// is one stored struct, which states its invariants at its top:
//   `_blocks`     LeafBlocks   the ranges, 8 to a 64-byte block (RangeSetBlock.swift)
//   `_index`      SearchIndex  the B+ index over the block bases, and the buffer it shares with
//                              the lookup area (RangeSetSearchIndex.swift)
//   `_directory`  Directory    one form of the lookup area (RangeSetDirectory.swift)
//   `_table`      PointTable   the other form (RangeSetPointTable.swift)
// `_table.lines` says which form the lookup area holds: the table when set, else the directory.
//
// Invariants, numbered as the sources cite them (RangeSetInvariants.swift checks them from the
// fields in debug builds; the property tests call it after every operation):
//  1. The ranges, in slot order 0..<count, ascend, first <= last, and neither overlap nor
//     touch: last[i] + 1 < first[i + 1] (so two ranges never merge into one).
//  2. count <= limit <= maximumLimit; capacity is 0 or a multiple of blockSize (8), and never
//     exceeds limit rounded up to a block (memory is bounded by the limit).
//  3, 4. The leaf blocks and their narrow and wide forms: LeafBlocks.
//  5. The search index and the lookup area's place after it: SearchIndex.
//  6, 7. The directory, and how an empty set parks it: Directory.
//  8. The point table: PointTable.
//
// Lookup: in table form, one load: x's line, found by arithmetic, tested with SSE2 compares
// over its 16-bit offsets (an overflow line sends the lookup out of line, to at most 8 bases and
// one block). In directory form, one load of x's directory entry gives the block (or the block
// before the one boundary in x's bucket, chosen with a compare); a bucket with two or more
// boundaries, rare, or next to a wide block, descends the index instead (count the keys <= x in
// a node, eight compares, no branches; step to child `node * 8 + count - 1`). Then the block's
// base and its line, which do not depend on each other. For a narrow block, contains(x) tests
// "some slot has start <= x - base <= end" with SSE2 compares over the whole line (no dependency
// on which slot it is); the other queries count the starts <= x - base to find the slot. At
// 8,192 ranges the table is 48 KiB (the directory 16 KiB, bases 8 KiB, blocks 64 KiB: L1 and
// L2); at 1,000,000 it is 5.7 MiB (directory 2 MiB, bases 1 MiB, blocks 8 MiB: L3).
//
// Why this layout: a lookup runs on every steered guest access, so it is shaped around the
// number of dependent loads and instructions on the way to the answer, not around asymptotics.
// One cache line a block keeps the test over a block to one SSE2 pass with no dependency on the
// slot; the directory (or, where the spread allows, the point table) replaces the index descent
// with one arithmetic-addressed load, which is what keeps a lookup in a million ranges within a
// small factor of one in a few thousand. Mutations re-encode only the tail after the change, so
// appending in order stays O(1) amortised. The layouts tried, and the figures that chose this
// one, are in docs/HOT-PATHS.md; the gate (benchmarks/gate.json) holds the current budgets.
//
// Ownership: a noncopyable struct. Its fields are raw pointers and integers, so a lookup is a few
// loads through a borrowed value: no retain/release, no exclusivity check when the owner keeps it
// in a `let`, a local, or its own unsafe buffer, and no allocation. A class would put a reference
// count on every load of the set from its owner.

/// A set of inclusive ranges `[first, last]` of 64-bit values (frames, ports, MMIO addresses,
/// PCI config addresses), with a limit on how many ranges it may hold.
///
/// Adding merges overlapping and adjacent ranges; removing splits. A change that would leave more
/// ranges than the limit throws ``RangeSetError/limitReached(set:limit:needed:operation:first:last:)``
/// and leaves the set unchanged.
public struct RangeSet: ~Copyable {
    /// Xen's `MAX_NR_IO_RANGES`: the limit a set gets unless its owner raises it.
    public static let defaultLimit: UInt64 = 256
    /// The largest limit a set accepts (Xen's `rangeset_limit` takes an `unsigned int`).
    public static let maximumLimit: UInt64 = UInt64(UInt32.max)
    /// Ranges per leaf block.
    @usableFromInline static let blockSize = 8
    /// log2(blockSize): slot i is in block i >> blockShift.
    @usableFromInline static let blockShift = 3
    /// Bytes per leaf block: 8 start offsets then 8 end offsets, 32 bits each (one cache line).
    @usableFromInline static let blockBytes = 64
    /// Keys per index node: one 64-byte cache line.
    @usableFromInline static let fanout = 8
    /// Words before the first index key: depth and per-level offsets (at most 11 levels), then
    /// the count and the addresses of the blocks and of the high halves (invariant 5).
    @usableFromInline static let indexHeaderWords = 16
    /// Index header word holding the count (the two after it: blocks and high halves).
    @usableFromInline static let headerCountWord = 12
    /// Offsets are stored with their top bit flipped, so that signed 32-bit compares (SSE2's
    /// pcmpgtd) order them as unsigned values.
    @usableFromInline static let bias: UInt32 = 0x8000_0000
    /// Slot 0's start offset is 0 by construction, so its word says what form the block has:
    /// biased 0 for narrow, biased 1 for wide (the high halves are in `_blocks.high`).
    @usableFromInline static let narrowMark: UInt32 = 0x8000_0000
    @usableFromInline static let wideMark: UInt32 = 0x8000_0001
    /// A narrow block needs every offset <= this (so the padding offset 0xFFFF_FFFF is above all).
    @usableFromInline static let narrowMaximum: UInt64 = 0xFFFF_FFFE

    /// Pretty-printing name, used in errors (Xen's `name[32]`, not truncated here).
    public let name: String
    /// The most ranges this set may hold.
    public internal(set) var limit: UInt64
    /// Ranges held, and slots allocated (invariant 2).
    @usableFromInline var _count: Int
    @usableFromInline var _capacity: Int
    /// The leaf blocks (invariants 3 and 4).
    @usableFromInline var _blocks: LeafBlocks
    /// The B+ index, whose buffer holds the lookup area too (invariant 5).
    @usableFromInline var _index: SearchIndex
    /// The lookup area in directory form (invariants 6 and 7).
    @usableFromInline var _directory: Directory
    /// The lookup area in table form (invariant 8).
    @usableFromInline var _table: PointTable
    /// Ranges walked by whole rebuilds of the lookup area so far, in either form (the tests'
    /// amortisation check).
    var _lookupRebuildWork: Int

    /// An empty set. Throws when `limit` is above ``maximumLimit``.
    public init(name: String, limit: UInt64 = RangeSet.defaultLimit) throws(RangeSetError) {
        guard limit <= Self.maximumLimit else {
            throw .limitAboveMaximum(set: name, limit: limit, maximum: Self.maximumLimit)
        }
        self.name = name
        self.limit = limit
        _count = 0
        _capacity = 0
        _blocks = LeafBlocks()
        _index = SearchIndex()
        _directory = Directory()
        _table = PointTable()
        _lookupRebuildWork = 0
    }

    deinit {
        _blocks.buffer?.deallocate()
        _blocks.high?.deallocate()
        _index.words?.deallocate()
    }

    // MARK: Queries

    /// Number of ranges in the set.
    @inlinable public var count: Int { _count }
    /// True when the set holds no range.
    @inlinable public var isEmpty: Bool { _count == 0 }

    /// True when `point` lies in one of the ranges. Allocation-free, ARC-free, branch-light:
    /// the call to make per guest access.
    @inlinable @inline(__always)
    public func contains(_ point: UInt64) -> Bool {
        // Both forms leave their rare cases through one call below: two call sites with the same
        // arguments made the compiler load those arguments ahead of the form test, for every
        // lookup (docs/HOT-PATHS.md has the count).
        var overflowLine: UnsafeRawPointer? = nil
        if let lines = _table.lines {
            // The point table (invariant 8): one load, the line of x's bucket, found by
            // arithmetic. A value below the base wraps and, like every value past the last
            // bucket, clamps into the empty sentinel line.
            let relative = Swift.min(point &- _table.base, _table.clamp)
            let k = relative.multipliedFullWidth(by: _table.reciprocal).high
            let d = relative &- k &* _table.width
            let p = lines + Int(truncatingIfNeeded: k) &* Self.blockBytes
            if _fastPath(!Self._isOverflowLine(p)) { return Self._lineTest(p, d, d) }
            overflowLine = p
        } else {
            // The directory (invariant 6). No test of the count: an empty set's only entry has
            // split 0 (invariant 7). No test against the lowest start: for a point below it the
            // directory names a block whose base is above the point, and the offset below then
            // wraps past every end.
            let relative = Swift.min(point &- _directory.base, _directory.clamp)
            let entry = _directory.entries[Int(truncatingIfNeeded: relative &>> _directory.shift)]
            let split = entry &>> 32
            // Split 0 (a bucket with two or more block bases, or next to a wide block, or an
            // empty set): answered out of line from scratch, so that nothing of this path has to
            // survive a call.
            if _fastPath(split != 0) {
                let block = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) &+ (relative & _directory.mask >= split ? 1 : 0)
                let d = point &- _index.bases.unsafelyUnwrapped[block]
                let p = UnsafeRawPointer(_blocks.buffer.unsafelyUnwrapped) + block &* Self.blockBytes
                // The block is narrow: the directory sends every lookup that may land in a wide
                // block down the index (split 0, invariant 6). Is there a slot with start <= d
                // <= end? The whole line is loaded at once (no dependency on which slot it is);
                // ranges are disjoint, so at most one matches. Per half of the slots, a lane
                // misses when start > d or d > end; some slot holds d when the two halves'
                // misses ANDed leave a lane clear (pcmpgtd, por, pand, movmskps: the standard
                // library's `any` calls a generic `min()` out of line, 50-odd instructions).
                // d is clamped to 0xFFFF_FFFF: above every narrow end, and padding ends are 0.
                // (A point below the block's base wraps d to at least 2^64 - base, above every
                // end offset too.)
                let d32 = Int32(bitPattern: UInt32(truncatingIfNeeded: Swift.min(d, 0xFFFF_FFFF)) ^ Self.bias)
                let dv = SIMD4<Int32>(repeating: d32)
                let missLow = (p.load(as: SIMD4<Int32>.self) .> dv) .| (dv .> p.load(fromByteOffset: 32, as: SIMD4<Int32>.self))
                let missHigh = (p.load(fromByteOffset: 16, as: SIMD4<Int32>.self) .> dv) .| (dv .> p.load(fromByteOffset: 48, as: SIMD4<Int32>.self))
                let miss = unsafeBitCast(missLow .& missHigh, to: SIMD4<Int32>.self)
                let m2 = miss.lowHalf & miss.highHalf
                return m2.x & m2.y == 0
            }
        }
        return Self._containsSlowly(point, overflowLine, _index.words)
    }

    /// The range that holds `point`, or nil.
    @inlinable
    public func range(containing point: UInt64) -> ClosedRange<UInt64>? {
        let i = _predecessor(point)
        guard i >= 0 else { return nil }
        let r = _range(at: i)
        return point <= r.upperBound ? r : nil
    }

    /// True when every value of `range` is in the set (which, since ranges never touch, means
    /// one range holds all of it): Xen's `rangeset_contains_range`. Always inlined, so a caller
    /// that borrows the set through a pointer reads its fields in place (a call would copy the
    /// whole struct to the stack first).
    @inlinable @inline(__always)
    public func contains(_ range: ClosedRange<UInt64>) -> Bool {
        // A one-value range (a wp_mem gfn, a one-byte port) is the point lookup, which tests a
        // whole leaf block at once instead of counting its starts.
        if range.lowerBound == range.upperBound { return contains(range.lowerBound) }
        if let lines = _table.lines {
            // Inside one bucket, the point table answers as for a point: a slot holds the part
            // of one range in the bucket, so it holds [l, u] only if that range does.
            let relative = Swift.min(range.lowerBound &- _table.base, _table.clamp)
            let k = relative.multipliedFullWidth(by: _table.reciprocal).high
            let d = relative &- k &* _table.width
            let length = range.upperBound &- range.lowerBound
            let p = lines + Int(truncatingIfNeeded: k) &* Self.blockBytes
            if length < _table.width &- d && !Self._isOverflowLine(p) { return Self._lineTest(p, d, d &+ length) }
        }
        let i = _predecessor(range.lowerBound)
        return i >= 0 && range.upperBound <= _end(at: i)
    }

    /// True when some value of `range` is in the set: Xen's `rangeset_overlaps_range`.
    @inlinable
    public func overlaps(_ range: ClosedRange<UInt64>) -> Bool {
        let i = _predecessor(range.upperBound)
        return i >= 0 && range.lowerBound <= _end(at: i)
    }

    /// The lowest range, or nil when the set is empty.
    public var first: ClosedRange<UInt64>? {
        guard _count > 0 else { return nil }
        return _range(at: 0)
    }

    /// The lowest range that starts above `value`, or nil. Iterate with
    /// `var r = set.first; while let x = r { ...; r = set.next(after: x.upperBound) }`.
    public func next(after value: UInt64) -> ClosedRange<UInt64>? {
        let i = _predecessor(value) + 1
        guard i < _count else { return nil }
        return _range(at: i)
    }

    /// All ranges in ascending order (allocates an array: not for hot paths).
    public var ranges: [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        out.reserveCapacity(_count)
        for i in 0..<_count { out.append(_range(at: i)) }
        return out
    }

    /// Xen's `rangeset_printk` format, in hex: `name { 0x1-0x5, 0x9 }`.
    public var description: String {
        let body = ranges.map { r in
            r.lowerBound == r.upperBound
                ? "0x" + String(r.lowerBound, radix: 16)
                : "0x" + String(r.lowerBound, radix: 16) + "-0x" + String(r.upperBound, radix: 16)
        }
        return "\(name) { \(body.joined(separator: ", ")) }"
    }

    /// What the set has allocated. `heapBytes` changes only in `add`, `remove`, `reserveCapacity`
    /// and `shrinkToFit`: read it before and after to charge a budget.
    public var memory: RangeSetMemory {
        let blocks = _capacity / Self.blockSize
        return RangeSetMemory(
            ranges: _count, capacity: _capacity,
            rangeStorageBytes: blocks * Self.blockBytes + (_blocks.high == nil ? 0 : blocks * Self.blockBytes),
            indexBytes: _index.wordCount * MemoryLayout<UInt64>.stride,
            setBytes: MemoryLayout<RangeSet>.size)
    }

    /// Heap bytes owned by the set (range storage plus index).
    public var bytesAllocated: Int { memory.heapBytes }

    // MARK: The search

    /// The leaf block whose base (first start) is the last one <= x, for a non-empty set. One
    /// load of x's directory entry (invariant 6) names the block, or the block before the one
    /// boundary inside x's bucket; a bucket with two or more boundaries, or one where x could
    /// land in a wide block, sends the lookup down the B+ index instead. For x below the lowest
    /// base there is no such block: the result is then block 0 or the last block (x clamps into
    /// the sentinel bucket), both based above x, so callers that need a predecessor test x
    /// against the lowest start first.
    @inlinable @inline(__always)
    func _locate(_ x: UInt64, _ index: UnsafePointer<UInt64>) -> Int {
        let relative = Swift.min(x &- _directory.base, _directory.clamp)
        let entry = _directory.entries[Int(truncatingIfNeeded: relative &>> _directory.shift)]
        let split = entry &>> 32
        if split == 0 { return Self._descendOutOfLine(x, index, depth: _index.depth, lastBlock: (_count &- 1) &>> Self.blockShift) }
        let block = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF)
        return block &+ (relative & _directory.mask >= split ? 1 : 0)
    }

    // The paths a lookup rarely takes are static functions out of line, given pointers and
    // counts, never `self`: a call that took `self` would make the caller copy the whole struct
    // to the stack first (a borrow through a pointer, as the steering engine holds its sets).

    /// `_descend`, kept out of `_locate`'s inlined body: the directory's slow path. Takes any x:
    /// below the lowest base it returns block 0, and UInt64.max (which would count the padding
    /// keys) goes to the last block.
    @usableFromInline @inline(never)
    static func _descendOutOfLine(_ x: UInt64, _ index: UnsafePointer<UInt64>, depth: Int, lastBlock: Int) -> Int {
        if x < index[indexHeaderWords] { return 0 }
        if x == .max { return lastBlock }
        return _descend(x, index, depth: depth)
    }

    /// The leaf block whose base (first start) is the last one <= x. Requires a non-empty set,
    /// index[root][0] <= x < UInt64.max. From the root, count the keys <= x in the node (eight
    /// compares, no branches) and step to child `node * 8 + count - 1`; each chosen node's first
    /// key equals its parent key, which is <= x, so the count is at least 1.
    @inlinable @inline(__always)
    static func _descend(_ x: UInt64, _ index: UnsafePointer<UInt64>, depth: Int) -> Int {
        var node = 0
        var level = 1
        while level <= depth {
            let keys = index + (Int(truncatingIfNeeded: index[level]) &+ node &* 8)
            node = node &* 8 &+ Self._countNotAbove8(keys, x) &- 1
            level &+= 1
        }
        return node
    }

    /// Index of the last range whose start is <= x, or -1. Always inlined, like `contains`: a
    /// call would copy the whole set to the stack first when the caller holds it by pointer.
    @inlinable @inline(__always)
    func _predecessor(_ x: UInt64) -> Int {
        guard _count > 0 else { return -1 }
        let index = UnsafePointer(_index.words.unsafelyUnwrapped)
        if x < index[Self.indexHeaderWords] { return -1 }
        if x == .max { return _count &- 1 }
        let block = _locate(x, index)
        let d = x &- _index.bases.unsafelyUnwrapped[block]
        let p = UnsafeRawPointer(_blocks.buffer.unsafelyUnwrapped) + block &* Self.blockBytes
        if p.load(as: UInt32.self) != Self.narrowMark {
            return block &<< Self.blockShift &+ Self._wideCount(p, _blocks.high, block: block, offset: d) &- 1
        }
        // Clamped to narrowMaximum: above or at every narrow start, below the padding.
        let d32 = Int32(bitPattern: UInt32(truncatingIfNeeded: Swift.min(d, Self.narrowMaximum)) ^ Self.bias)
        let w = p.assumingMemoryBound(to: Int32.self)
        var c = 0
        for s in 0..<Self.blockSize { c &+= w[s] <= d32 ? 1 : 0 }
        return block &<< Self.blockShift &+ c &- 1
    }

    /// How many slots of wide block `block` (at `p`; its high halves in `high`) hold a range
    /// starting at or below base + d. A padding slot (start all ones, end 0) never counts, even
    /// for d = UInt64.max (UInt64.max in a block based at 0, or a point just below the base).
    @usableFromInline @inline(never)
    static func _wideCount(_ p: UnsafeRawPointer, _ high: UnsafeMutablePointer<UInt32>?, block: Int, offset d: UInt64) -> Int {
        let w = p.assumingMemoryBound(to: UInt32.self), h = high.unsafelyUnwrapped + block &* (2 &* blockSize)
        var c = 1  // slot 0 starts at the base
        for s in 1..<blockSize {
            let start = UInt64(h[s]) << 32 | UInt64(w[s] ^ bias)
            let end = UInt64(h[blockSize &+ s]) << 32 | UInt64(w[blockSize &+ s] ^ bias)
            if start <= d && start <= end { c += 1 }
        }
        return c
    }

    /// contains(point) when the directory sends the lookup down the index (a bucket with two or
    /// more block bases, or next to a wide block) or the set is empty: the block by descent,
    /// then its slots.
    @usableFromInline @inline(never)
    static func _containsOutOfLine(_ x: UInt64, _ index: UnsafeMutablePointer<UInt64>?, _ blocks: UnsafeMutableRawPointer?,
                                   _ high: UnsafeMutablePointer<UInt32>?, depth: Int, count: Int) -> Bool {
        guard count > 0, let index, let blocks else { return false }
        let block = _descendOutOfLine(x, UnsafePointer(index), depth: depth, lastBlock: (count &- 1) &>> blockShift)
        let d = x &- index[Int(truncatingIfNeeded: index[depth]) &+ block]
        return _blockContains(UnsafeRawPointer(blocks) + block &* blockBytes, high, block: block, offset: d)
    }

    /// contains(point) in block `block` (at `p`, either form), point = base + d; a point below
    /// the base wraps d past every end. For the out-of-line paths.
    static func _blockContains(_ p: UnsafeRawPointer, _ high: UnsafeMutablePointer<UInt32>?, block: Int, offset d: UInt64) -> Bool {
        if p.load(as: UInt32.self) != narrowMark { return _wideContains(p, high, block: block, offset: d) }
        let d32 = Int32(bitPattern: UInt32(truncatingIfNeeded: Swift.min(d, 0xFFFF_FFFF)) ^ bias)
        let w = p.assumingMemoryBound(to: Int32.self)
        for s in 0..<blockSize where w[s] <= d32 && d32 <= w[blockSize &+ s] { return true }
        return false
    }

    /// contains(point) in wide block `block` (at `p`), point = base + d.
    @usableFromInline @inline(never)
    static func _wideContains(_ p: UnsafeRawPointer, _ high: UnsafeMutablePointer<UInt32>?, block: Int, offset d: UInt64) -> Bool {
        let slot = _wideCount(p, high, block: block, offset: d) &- 1
        let w = p.assumingMemoryBound(to: UInt32.self), h = high.unsafelyUnwrapped + block &* (2 &* blockSize)
        return d <= UInt64(h[blockSize &+ slot]) << 32 | UInt64(w[blockSize &+ slot] ^ bias)
    }

    // MARK: Decoding slots

    /// Offset from the block base of the start in `slot` (padding slots decode to UInt64.max in
    /// wide blocks and 0xFFFF_FFFF in narrow ones).
    @usableFromInline
    func _startOffset(block: Int, slot: Int) -> UInt64 {
        if slot == 0 { return 0 }
        return _offset(block: block, word: slot)
    }

    @usableFromInline
    func _endOffset(block: Int, slot: Int) -> UInt64 { _offset(block: block, word: Self.blockSize + slot) }

    @inlinable @inline(__always)
    func _offset(block: Int, word: Int) -> UInt64 {
        let p = (_blocks.buffer.unsafelyUnwrapped + block &* Self.blockBytes).assumingMemoryBound(to: UInt32.self)
        let low = UInt64(p[word] ^ Self.bias)
        guard p[0] == Self.wideMark else { return low }
        return UInt64(_blocks.high.unsafelyUnwrapped[block &* (2 &* Self.blockSize) &+ word]) << 32 | low
    }

    @inlinable @inline(__always)
    func _end(at i: Int) -> UInt64 {
        let block = i &>> Self.blockShift
        return _index.bases.unsafelyUnwrapped[block] &+ _offset(block: block, word: Self.blockSize &+ i & (Self.blockSize &- 1))
    }

    @usableFromInline
    func _range(at i: Int) -> ClosedRange<UInt64> {
        let block = i >> Self.blockShift, slot = i & (Self.blockSize - 1)
        let base = _index.words.unsafelyUnwrapped[_index.bottom + block]
        return (base + _startOffset(block: block, slot: slot))...(base + _endOffset(block: block, slot: slot))
    }

    /// How many of the eight keys at `p` are <= x (compiles to cmp/sbb, no branches).
    @inlinable @inline(__always)
    static func _countNotAbove8(_ p: UnsafePointer<UInt64>, _ x: UInt64) -> Int {
        var c = p[0] <= x ? 1 : 0
        c &+= p[1] <= x ? 1 : 0
        c &+= p[2] <= x ? 1 : 0
        c &+= p[3] <= x ? 1 : 0
        c &+= p[4] <= x ? 1 : 0
        c &+= p[5] <= x ? 1 : 0
        c &+= p[6] <= x ? 1 : 0
        c &+= p[7] <= x ? 1 : 0
        return c
    }
}

/// A set is owned by one holder at a time (it is noncopyable) and the buffers it writes are its
/// own; the one thing sets share, `emptyDirectory`, is a word no one writes after it is made. So
/// handing a set to another task is safe.
extension RangeSet: @unchecked Sendable {}
