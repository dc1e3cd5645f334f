// The directory of a RangeSet: a table that takes a lookup straight to its leaf block with one
// load, instead of a descent through the B+ index.
//
// The values from `base` up are cut into `buckets` buckets of 2^shift values.
// Values past the last base's bucket are clamped into the next one, the sentinel (entry: the last
// block, no split); entries past the sentinel are not kept. For bucket k, with low value
// L = base + k << shift and high value H = L + 2^shift - 1, the entry is one word:
//   low 32 bits   lo = the last block whose base is <= L (0 when none is)
//   high 32 bits  split = 0xFFFF_FFFF  no block base lies in (L, H]: every x in the bucket is in lo
//                 split = b - L        exactly one does, b (block lo + 1's base): x is in lo + 1
//                                      when x - L >= split, else in lo
//                 split = 0            two or more do, the buckets are wider than 2^31, or a
//                                      block x may be in is wide: the lookup takes the B+ index
// A lookup that reads a split other than 0 therefore knows its block is narrow without reading
// it. So a lookup costs one load from the directory, then the block's base and lines, which do not
// depend on each other: two dependent loads where the index takes its depth plus one.
//
// The directory is one of the two forms of the lookup area (RangeSetPointTable.swift has the
// other and says which a set gets); the area is sized for the table, so the directory's 2 B a
// slot sit in room the set pays for either way.
// Sizing: two buckets per leaf block of capacity (two 8-byte words per 8 slots). A rebuild
// picks the smallest shift that fits the span of the block bases into the buckets, which leaves
// the used buckets between half and all of them: one to two per block when the set is full.
// (One bucket per block sends too many lookups down the index; four or eight make the 1M-range
// directory miss L2 more often: docs/HOT-PATHS.md has the figures.)
// A mutation then rewrites only the entries over the blocks it re-encoded, unless the bases have
// left the covered values (a base below `base` or past the last bucket) or shrunk into under a
// quarter of the buckets; then the whole directory is rebuilt. Both triggers need the span to
// double or halve, so appending ranges in order stays O(1) amortised.

extension RangeSet {
    /// The directory: the set's `_directory`. `entries` and the bucket geometry the lookup reads:
    /// bucket 0's low end (`base`), the bucket width as a shift and a mask, and the clamp that
    /// sends every value past the last bucket to the sentinel entry.
    ///
    /// Invariants (numbered as in RangeSet.swift):
    ///  6. In directory form (the point table's `lines` nil): while the set is not empty and
    ///     `stale` is false, `entries` is the lookup area (invariant 5), every entry up to the
    ///     sentinel describes the current bases as this file says, `base` <= the lowest base,
    ///     and every base lies below the sentinel bucket. An entry that takes a lookup straight
    ///     to a block (split not 0) never names a wide block. `buckets` is two per block of
    ///     capacity. `stale` is set while the entries describe no valid state (a fresh buffer,
    ///     an empty set, the table in use).
    ///  7. While the set is empty, the table's `lines` is nil, `clamp` is 0 and `entries[0]` is
    ///     0 (split 0), so a point lookup reads that entry and goes out of line, where the count
    ///     is tested: the inlined lookup carries no test of the count. `entries` is never nil:
    ///     with no index, and in table form, it points at `RangeSet.emptyDirectory`, one shared
    ///     zero word never written.
    @usableFromInline struct Directory {
        @usableFromInline var entries: UnsafeMutablePointer<UInt64>
        var buckets: Int
        @usableFromInline var base: UInt64
        @usableFromInline var shift: UInt64
        @usableFromInline var mask: UInt64
        @usableFromInline var clamp: UInt64
        var stale: Bool

        /// The directory of a set with no index: parked on the shared empty word (invariant 7).
        init() {
            entries = RangeSet.emptyDirectory
            buckets = 0
            base = 0
            shift = 0
            mask = 0
            clamp = 0
            stale = true
        }

        /// Marks the directory stale and makes every value clamp to entry 0 (invariants 7 and
        /// 8 then say what that entry holds).
        mutating func clear() {
            stale = true
            base = 0
            shift = 0
            mask = 0
            clamp = 0
        }

        /// The bucket of value v, `base` <= v <= the last block base (so v is not clamped).
        func bucket(of v: UInt64) -> Int {
            Int(truncatingIfNeeded: Swift.min(v - base, clamp) >> shift)
        }

        /// `base + k << shift`, saturated at UInt64.max.
        func lowValue(ofBucket k: Int) -> UInt64 {
            let (offset, overflow) = UInt64(k).multipliedReportingOverflow(by: 1 << shift)
            if overflow { return .max }
            let (low, carry) = base.addingReportingOverflow(offset)
            return carry ? .max : low
        }
    }

    /// The directory of every empty set without an index: one zero word (split 0), never
    /// written (invariant 7).
    @usableFromInline nonisolated(unsafe) static let emptyDirectory: UnsafeMutablePointer<UInt64> = {
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        word.initialize(to: 0)
        return word
    }()

    /// Directory buckets per leaf block of capacity.
    static let directoryBucketsPerBlock = 2
    /// `split` when no block base lies inside the bucket.
    static let directoryNoSplit: UInt64 = 0xFFFF_FFFF
    /// Widest bucket (as a shift) whose splits fit below `directoryNoSplit`.
    static let directoryFastShiftMaximum: UInt64 = 31

    static func _directoryBuckets(capacity: Int) -> Int { capacity / blockSize * directoryBucketsPerBlock }

    /// Brings the directory up to date after blocks `first...through` were re-encoded: rebuilds
    /// it when the bases left its buckets (or crowd into too few of them), else rewrites the
    /// entries that can see those blocks.
    mutating func _refreshDirectory(fromBlock first: Int, throughBlock through: Int, changed: ClosedRange<UInt64>?) {
        guard _count > 0, let index = _index.words else {
            _parkDirectory()
            return
        }
        if _table.lines != nil {
            guard let changed else {
                _rebuildLookup()
                return
            }
            _refreshTable(changed: changed, firstBlock: first)
            return
        }
        let bases = index + _index.bottom
        let last = (_count - 1) / Self.blockSize
        let buckets = UInt64(_directory.buckets)
        let span = bases[last] - bases[0]
        if _directory.stale || bases[0] < _directory.base
            || (bases[last] - _directory.base) >> _directory.shift >= buckets
            || (_directory.shift > 0 && span >> _directory.shift < buckets / 4)
            || _tableWouldFit() {
            _rebuildLookup()
            return
        }
        let directory = index + _index.areaAt
        var fromBucket = 0, startBlock = 0
        if first > 0 {
            // The entries before block first - 1's bucket cannot see the changed blocks; that
            // bucket's `lo` depends only on blocks before `first`, so it is still right.
            fromBucket = _directory.bucket(of: bases[first - 1])
            startBlock = Int(truncatingIfNeeded: directory[fromBucket] & 0xFFFF_FFFF)
        }
        // Entries from the bucket of the first unchanged block on see only unchanged blocks.
        if through + 1 <= last {
            _fillDirectory(fromBucket: fromBucket, throughBucket: _directory.bucket(of: bases[through + 1]), startBlock: startBlock)
        } else {
            _fillDirectoryToSentinel(fromBucket: fromBucket, startBlock: startBlock)
        }
    }

    /// Writes the entries from `fromBucket` through the sentinel, the bucket after the last
    /// base's, and moves the clamp to it: values past the last base's bucket read the sentinel.
    /// Entries past the sentinel are never read, so a mutation writes only up to it.
    mutating func _fillDirectoryToSentinel(fromBucket: Int, startBlock: Int) {
        let bases = _index.words.unsafelyUnwrapped + _index.bottom
        let last = (_count - 1) / Self.blockSize
        let sentinel = Int(truncatingIfNeeded: (bases[last] - _directory.base) >> _directory.shift) + 1
        // The last value of the sentinel bucket, saturated: (sentinel + 1) << shift - 1.
        let (top, overflow) = UInt64(sentinel + 1).multipliedReportingOverflow(by: 1 << _directory.shift)
        _directory.clamp = overflow || top == 0 ? .max : top - 1
        _fillDirectory(fromBucket: fromBucket, throughBucket: sentinel, startBlock: startBlock)
    }

    /// The directory of an empty set (invariant 7): every value clamps to entry 0, which sends
    /// a lookup out of line. Marks the directory stale, so the next store rebuilds it.
    mutating func _parkDirectory() {
        _table.lines = nil
        _directory.clear()
        if let index = _index.words {
            index[_index.areaAt] = 0
        } else {
            _directory.entries = Self.emptyDirectory
        }
    }

    /// Chooses the buckets for the current bases and writes every entry.
    mutating func _rebuildDirectory() {
        let bases = _index.words.unsafelyUnwrapped + _index.bottom
        let last = (_count - 1) / Self.blockSize
        let buckets = UInt64(_directory.buckets)
        let span = bases[last] - bases[0]
        var shift: UInt64 = 0
        while span >> shift >= buckets { shift += 1 }
        _directory.entries = _index.words.unsafelyUnwrapped + _index.areaAt
        _directory.base = bases[0]
        _directory.shift = shift
        _directory.mask = (1 << shift) - 1
        _directory.stale = false
        _fillDirectoryToSentinel(fromBucket: 0, startBlock: 0)
    }

    /// Writes the entries of buckets `fromBucket...throughBucket`, walking the bases from block
    /// `startBlock`, whose base is at most the low value of the first bucket (or which is 0).
    func _fillDirectory(fromBucket: Int, throughBucket: Int, startBlock: Int) {
        let index = _index.words.unsafelyUnwrapped
        let bases = index + _index.bottom
        let directory = index + _index.areaAt
        let last = (_count - 1) / Self.blockSize
        let fast = _directory.shift <= Self.directoryFastShiftMaximum
        let mask = _directory.mask
        let blocks = UnsafeRawPointer(_blocks.buffer.unsafelyUnwrapped)
        func isWide(_ b: Int) -> Bool { Self._isWide(blocks, b) }
        var j = startBlock
        var low = _directory.lowValue(ofBucket: fromBucket)
        for k in fromBucket...throughBucket {
            let high = low > .max &- mask ? .max : low &+ mask
            while j < last && bases[j &+ 1] <= low { j &+= 1 }
            let split: UInt64
            if j == last || bases[j &+ 1] > high {
                split = fast && !isWide(j) ? Self.directoryNoSplit : 0
            } else if fast && (j &+ 1 == last || bases[j &+ 2] > high) && !isWide(j) && !isWide(j &+ 1) {
                split = bases[j &+ 1] &- low
            } else {
                split = 0
            }
            directory[k] = split << 32 | UInt64(truncatingIfNeeded: j)
            low = high == .max ? .max : high &+ 1
        }
    }
}
