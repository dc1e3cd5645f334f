// The point table of a RangeSet: one 64-byte line per bucket of
// values, found by arithmetic from the value, holding the ranges that meet that bucket. A point
// lookup is then one load (the line) where the directory takes two in a row (its entry, then the
// block and its base): at 1,000,000 ranges both are L3 misses, and the chain is what separates
// the 1M lookup from the 8,192 one.
//
// Buckets: the values from `base` (the lowest start when the table was built) up are cut into
// `clamp / width` buckets of W = `width` values (2 <= W <= 65,536, any width: the bucket is
// found with a multiply by R = `reciprocal` = ceil(2^64 / W), exact for every
// value the lookup can see, and the offset in the bucket is x - base - k * W). Bucket k's line
// holds, for each range that meets [L, L + W - 1] (L = base + k * W), its part inside the bucket
// as two 16-bit offsets from L: 16 starts then 16 ends, ascending, stored biased (top bit
// flipped) so SSE2's signed pcmpgtw orders them. Unused slots hold start 0xFFFF and end 0,
// which no offset lies between. A bucket met by more than 16 ranges is an overflow line instead:
// a small directory entry for its bucket, the first block x can be in (the last block whose base
// is at or below the bucket's low end, or block 0) and the last (the last block whose base is at
// or below its high end), as two 32-bit words at the start of the line, and slot 15's start
// biased 0, which no real line has there (its 16th range would start at the bucket's low end,
// after 15 others). The lookup tests that one 16-bit word; on an overflow line it goes out of
// line, steps from the first block to the one holding x among at most 8 (reading their bases),
// and tests that block: one more dependent load, as the directory takes, not a descent. A bucket
// holding more than 8 block bases (a crowd of ranges in a few values) is answered by the index.
// The last line, the sentinel, is empty, and the lookup clamps every value past the last bucket
// (and every value below the base, which wraps) into it: `clamp` = data lines * W.
//
// Sizing: 6 bytes of table per slot of capacity (3/32 of a line), at least two lines. Blocks
// take 8 B a slot and the index about 1.2, so a full set costs about 15.2 B a range in either
// form (the directory uses the same area). At the build, W is the smallest width that fits the
// ranges' spread into the data lines, stretched by capacity / count but by at most a quarter
// (room to grow at the same spacing, so appending in order rebuilds only as the spread grows by a
// quarter: O(1) amortised), and never above 65,536: about 10 ranges meet a line of an evenly
// spread full set. A set too spread out for that (W would pass 65,536: under one range per 6,554
// values of capacity, MMIO addresses for example) or so uneven that more than 1 in 64 of its used
// lines overflow keeps the directory instead. Randomly scattered pages (steering's wp_mem sets)
// overflow about 3 % of their lines, and range steering is faster with the directory for them
// (the overflow branch mispredicts; docs/HOT-PATHS.md), so they keep it. A directory-form
// set whose spread comes to fit the table again is rebuilt into it at once, unless its last
// build found it too uneven (`skewed`: then only the directory's own rebuilds try again).
//
// Mutations rewrite only the lines over the values that changed (a line depends on values, not on
// slots, so the tail a mutation re-encodes does not move it), unless the ranges have left the
// table (a start below its base or an end past its last bucket): then the whole lookup area is
// rebuilt and the form chosen again.

extension RangeSet {
    /// The point table: the set's `_table`. Its lines (in the lookup area), bucket 0's low end
    /// (`base`), the bucket width and its reciprocal, the clamp, and the overflow count.
    ///
    /// Invariant 8 (numbered as in RangeSet.swift). In table form (`lines` not nil, the set not
    /// empty) the lookup area (invariant 5) holds the point table as this file says: every range
    /// lies in [`base`, `base` + `clamp`), `clamp` is the data lines times `width`,
    /// `reciprocal` is ceil(2^64 / `width`), each line holds exactly the ranges meeting its
    /// bucket (or is an overflow line naming the blocks), the sentinel is empty, `overflowLines`
    /// counts the overflow lines and is at most 1 in 64 of the used lines; the directory is
    /// parked as in invariant 7 (so `_locate` descends the index). `lines` is nil in directory
    /// form and while the set is empty; the other fields then mean nothing. `skewed` outlives
    /// the form: the last build of the table found more than 1 in 64 of its lines overflowing,
    /// so the directory stays until its own rebuild tries the table again.
    @usableFromInline struct PointTable {
        @usableFromInline var lines: UnsafeRawPointer?
        @usableFromInline var base: UInt64
        @usableFromInline var width: UInt64
        @usableFromInline var reciprocal: UInt64
        @usableFromInline var clamp: UInt64
        var overflowLines: Int
        var skewed: Bool

        /// No table (the directory form).
        init() {
            lines = nil
            base = 0
            width = 0
            reciprocal = 0
            clamp = 0
            overflowLines = 0
            skewed = false
        }
    }

    /// Widest bucket: offsets in a line are 16 bits.
    static let tableMaximumWidth: UInt64 = 65_536
    /// The table is kept only while at most one used line in this many overflows.
    static let tableOverflowShare = 64
    /// Slots per line.
    @usableFromInline static let tableSlots = 16
    /// Bias of a line's 16-bit offsets (flip the top bit, so signed compares order them).
    @usableFromInline static let tableBias: UInt16 = 0x8000

    /// Lines of the point table for `capacity` slots (sentinel included): 6 bytes a slot.
    static func _tableLines(capacity: Int) -> Int { max(2, capacity * 6 / blockBytes) }

    /// Rebuilds the lookup area for the current ranges, choosing its form: the point table when
    /// the ranges' spread fits it, else the directory. The set is not empty.
    mutating func _rebuildLookup() {
        _lookupRebuildWork += _count
        let bases = _index.words.unsafelyUnwrapped + _index.bottom
        let lowest = bases[0]
        let highest = _end(at: _count - 1)
        let dataLines = UInt64(Self._tableLines(capacity: _capacity) - 1)
        // ceil((highest - lowest + 1) / dataLines), without overflowing at a full 64-bit span.
        let spread = highest - lowest
        _table.skewed = false
        if spread / dataLines < Self.tableMaximumWidth {
            let minimum = spread / dataLines + 1
            // Room to grow: up to the capacity at the same spacing, at most a quarter more
            // than the spread (so a half-full set's lines are not as crowded as a full one's),
            // within the widest bucket.
            let projected = min(minimum * UInt64(_capacity) / UInt64(_count), minimum + minimum / 4)
            let width = max(2, minimum, min(projected, Self.tableMaximumWidth))
            if _buildTable(base: lowest, width: width, dataLines: Int(dataLines)) { return }
        }
        _table.lines = nil
        _rebuildDirectory()
    }

    /// Writes the point table and switches the set to it, unless more than 1 in 64 of the used
    /// lines overflow (then nothing is switched and it returns false).
    mutating func _buildTable(base: UInt64, width: UInt64, dataLines: Int) -> Bool {
        let lines = UnsafeMutableRawPointer(_index.words.unsafelyUnwrapped + _index.areaAt)
        // The directory no longer describes anything: lookups that use it (the predecessor
        // queries) descend the index while the table is in use.
        _directory.clear()
        _directory.entries = Self.emptyDirectory
        _table.base = base
        _table.width = width
        _table.reciprocal = UInt64.max / width &+ 1
        _table.clamp = UInt64(dataLines) * width
        let used = Int((_end(at: _count - 1) - base) / width) + 1
        var overflowing = 0
        var i = 0
        for k in 0..<used {
            if !_fillLine(k, lines, firstCandidate: &i) { overflowing += 1 }
        }
        for k in used..<(dataLines + 1) { Self._writeEmptyLine(lines + k * Self.blockBytes) }
        guard overflowing * Self.tableOverflowShare <= used else {
            _table.skewed = true
            return false
        }
        _table.overflowLines = overflowing
        _table.lines = UnsafeRawPointer(lines)
        return true
    }

    /// True when the directory form could give way to the table: the ranges' spread now fits
    /// the table's buckets and the last attempt did not find them skewed. Directory form,
    /// non-empty set; a few loads, asked after every mutation.
    func _tableWouldFit() -> Bool {
        guard !_table.skewed else { return false }
        let spread = _end(at: _count - 1) - _index.words.unsafelyUnwrapped[_index.bottom]
        return spread / UInt64(Self._tableLines(capacity: _capacity) - 1) < Self.tableMaximumWidth
    }

    /// Rewrites the lines over `changed` after a mutation, or rebuilds the lookup area when the
    /// ranges have left the table. Table form, non-empty set.
    mutating func _refreshTable(changed: ClosedRange<UInt64>, firstBlock: Int) {
        let lowest = _index.words.unsafelyUnwrapped[_index.bottom]
        let highest = _end(at: _count - 1)
        guard lowest >= _table.base, highest - _table.base < _table.clamp else {
            _rebuildLookup()
            return
        }
        let lines = UnsafeMutableRawPointer(mutating: _table.lines.unsafelyUnwrapped)
        let from = changed.lowerBound <= _table.base ? 0 : Int(min(changed.lowerBound - _table.base, _table.clamp - 1) / _table.width)
        let through = changed.upperBound <= _table.base ? 0 : Int(min(changed.upperBound - _table.base, _table.clamp - 1) / _table.width)
        var i = -1
        for k in from...through {
            let was = Self._isOverflowLine(lines + k * Self.blockBytes)
            let fits = _fillLine(k, lines, firstCandidate: &i)
            _table.overflowLines += (fits ? 0 : 1) - (was ? 1 : 0)
        }
        // The blocks from `firstBlock` on were re-encoded: their bases may have moved under
        // the overflow lines from the line of the lower of the block's new base and the first
        // changed value (its old base was one of those or a range still held).
        let moved = min(changed.lowerBound, _index.words.unsafelyUnwrapped[_index.bottom + firstBlock])
        _refreshOverflowLines(from: moved <= _table.base ? 0 : Int(min(moved - _table.base, _table.clamp - 1) / _table.width))
        // Grown skewed: choose the form again (the directory, unless a new width fits).
        if _table.overflowLines * Self.tableOverflowShare > Int((highest - _table.base) / _table.width) + 1 { _rebuildLookup() }
    }

    /// Writes line k from the ranges; returns false when more than 16 meet its bucket (it is
    /// then an overflow line). `firstCandidate` is a slot no later than the first range that can
    /// meet the bucket (-1: find it), left at the first range that can meet the next bucket.
    func _fillLine(_ k: Int, _ lines: UnsafeMutableRawPointer, firstCandidate i: inout Int) -> Bool {
        let p = lines + k * Self.blockBytes
        let (offset, overflow) = UInt64(k).multipliedReportingOverflow(by: _table.width)
        let (low, carry) = _table.base.addingReportingOverflow(offset)
        guard !overflow && !carry else {
            Self._writeEmptyLine(p)
            return true
        }
        let high = low > .max - (_table.width - 1) ? .max : low + (_table.width - 1)
        if i < 0 { i = max(0, _firstIndex(endAtLeast: low)) }
        while i < _count && _end(at: i) < low { i += 1 }
        let w = p.bindMemory(to: UInt16.self, capacity: 2 * Self.tableSlots)
        var slot = 0
        var j = i
        while j < _count {
            let r = _range(at: j)
            if r.lowerBound > high { break }
            if slot == Self.tableSlots {
                _writeOverflowLine(p, low: low, high: high)
                return false
            }
            w[slot] = UInt16(truncatingIfNeeded: max(r.lowerBound, low) - low) ^ Self.tableBias
            w[Self.tableSlots + slot] = UInt16(truncatingIfNeeded: min(r.upperBound, high) - low) ^ Self.tableBias
            slot += 1
            // A range that runs past the bucket is the next bucket's first candidate too.
            if r.upperBound > high { break }
            j += 1
        }
        Self._padLine(p, from: slot)
        i = j
        return true
    }

    /// A line no offset lies in: every slot start 0xFFFF, end 0.
    static func _writeEmptyLine(_ p: UnsafeMutableRawPointer) { _padLine(p, from: 0) }

    /// Makes slots `from...` of the line at `p` unused: start 0xFFFF, end 0 (no offset between).
    static func _padLine(_ p: UnsafeMutableRawPointer, from slot: Int) {
        let w = p.bindMemory(to: UInt16.self, capacity: 2 * tableSlots)
        for s in slot..<tableSlots {
            w[s] = 0xFFFF ^ tableBias
            w[tableSlots + s] = 0 ^ tableBias
        }
    }

    /// Writes the overflow line of the bucket [low, high] at `p`: the first and the last block
    /// a value of the bucket can be in, and the mark in slot 15's start.
    func _writeOverflowLine(_ p: UnsafeMutableRawPointer, low: UInt64, high: UInt64) {
        p.initializeMemory(as: UInt64.self, repeating: 0, count: Self.blockBytes / 8)
        p.storeBytes(of: UInt32(truncatingIfNeeded: max(0, _lastBlock(baseAtMost: low))), as: UInt32.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: max(0, _lastBlock(baseAtMost: high))), toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: Self.overflowMark, toByteOffset: Self.overflowMarkOffset, as: UInt16.self)
    }

    /// The last block whose base is <= v, or -1 (a binary search of the bases; the bases of the
    /// unused blocks at the end are UInt64.max).
    func _lastBlock(baseAtMost v: UInt64) -> Int {
        let bases = _index.words.unsafelyUnwrapped + _index.bottom
        var lo = 0, hi = (_count + Self.blockSize - 1) / Self.blockSize
        while lo < hi {
            let mid = (lo + hi) / 2
            if bases[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    /// Rewrites the first and last blocks of every overflow line from line `from` on: a
    /// mutation that moved ranges between blocks moved the block bases after its first block.
    mutating func _refreshOverflowLines(from: Int) {
        guard _table.overflowLines > 0 else { return }
        let lines = UnsafeMutableRawPointer(mutating: _table.lines.unsafelyUnwrapped)
        for k in from..<Int(_table.clamp / _table.width) where Self._isOverflowLine(lines + k * Self.blockBytes) {
            let low = _table.base &+ UInt64(k) &* _table.width
            let high = low > .max - (_table.width - 1) ? .max : low + (_table.width - 1)
            _writeOverflowLine(lines + k * Self.blockBytes, low: low, high: high)
        }
    }

    /// True when the line at `p` is an overflow line.
    @inlinable @inline(__always)
    static func _isOverflowLine(_ p: UnsafeRawPointer) -> Bool {
        p.load(fromByteOffset: overflowMarkOffset, as: UInt16.self) == overflowMark
    }

    /// Where an overflow line keeps its mark, slot 15's start (byte 30), and the mark: a
    /// biased 0. Literals, so the inlined lookup compares with an immediate (an expression here
    /// would be a lazily initialised global, read through a call).
    @usableFromInline static let overflowMarkOffset = 30
    @usableFromInline static let overflowMark: UInt16 = 0x8000

    /// contains(x) on the rare paths of either form: x's bucket has an overflow line at `p`
    /// (table form), or the directory sent x down the index (`p` nil). For an overflow line,
    /// from the line's first block step to the last block whose base is <= x (at most 8 steps,
    /// else the index), then test that block.
    @usableFromInline @inline(never)
    static func _containsSlowly(_ x: UInt64, _ p: UnsafeRawPointer?, _ index: UnsafeMutablePointer<UInt64>?) -> Bool {
        // The rest comes from the index header (invariant 5); no index: no range.
        guard let index else { return false }
        let count = Int(truncatingIfNeeded: index[headerCountWord])
        let blocks = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: index[headerCountWord &+ 1]))
        let high = UnsafeMutablePointer<UInt32>(bitPattern: UInt(truncatingIfNeeded: index[headerCountWord &+ 2]))
        let depth = Int(truncatingIfNeeded: index[0])
        guard let p else { return _containsOutOfLine(x, index, blocks, high, depth: depth, count: count) }
        let bases = index + Int(truncatingIfNeeded: index[depth])
        let first = Int(p.load(as: UInt32.self)), last = Int(p.load(fromByteOffset: 4, as: UInt32.self))
        guard let blocks, last &- first <= 8 else {
            return _containsOutOfLine(x, index, blocks, high, depth: depth, count: count)
        }
        var block = first
        while block < last && bases[block &+ 1] <= x { block &+= 1 }
        // Below the first block's base (x below the lowest start), d wraps past every end.
        return _blockContains(UnsafeRawPointer(blocks) + block &* blockBytes, high, block: block, offset: x &- bases[block])
    }

    /// Tests the line at `p`, which is not an overflow line, for a slot holding [dl, du]. The
    /// whole line is four 16-byte loads, compared with no dependency on which slot it is: a slot
    /// misses when start > dl or du > end; the two halves' misses are ANDed, and a 32-bit lane
    /// whose two 16-bit halves both still miss compares equal to all ones, so one movmskps says
    /// whether some slot holds [dl, du] (real ranges are disjoint: at most one does).
    @inlinable @inline(__always)
    static func _lineTest(_ p: UnsafeRawPointer, _ dl: UInt64, _ du: UInt64) -> Bool {
        let lo = SIMD8<Int16>(repeating: Int16(bitPattern: UInt16(truncatingIfNeeded: dl) ^ tableBias))
        let hi = SIMD8<Int16>(repeating: Int16(bitPattern: UInt16(truncatingIfNeeded: du) ^ tableBias))
        let missLow = (p.load(as: SIMD8<Int16>.self) .> lo) .| (hi .> p.load(fromByteOffset: 32, as: SIMD8<Int16>.self))
        let missHigh = (p.load(fromByteOffset: 16, as: SIMD8<Int16>.self) .> lo) .| (hi .> p.load(fromByteOffset: 48, as: SIMD8<Int16>.self))
        let miss = unsafeBitCast(unsafeBitCast(missLow .& missHigh, to: SIMD8<Int16>.self), to: SIMD4<Int32>.self)
        let pairs = unsafeBitCast(miss .== SIMD4<Int32>(repeating: -1), to: SIMD4<Int32>.self)
        let m2 = pairs.lowHalf & pairs.highHalf
        return m2.x & m2.y == 0
    }
}
