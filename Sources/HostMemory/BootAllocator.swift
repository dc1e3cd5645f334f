import GuestMemory

// The boot allocator: ranges of free frames before the heap exists.
//
// Invariants:
//  - `ranges` is sorted by start, and no two ranges overlap or touch (adjacent ranges are merged).
//  - It is ~Copyable and `finish()` consumes it: once the remaining ranges are handed to the heap,
//    no boot allocation can happen, the type system says so.
//  - Allocation takes from the top of the highest range that fits, as Xen's alloc_boot_pages().
//
// Xen keeps these ranges in one page: at most 512 of them (seed 004: "the boot allocator has a
// limit of 512 memory ranges that it can keep track of"). vpmem's list has no such limit, and the
// live-update handover does not rely on it anyway: the incoming instance's boot allocator sees one
// range (the liveupdate region), and the in-use ranges live in the state's own pages.

/// The boot-time allocator: a sorted list of free frame ranges.
public struct BootAllocator: ~Copyable {
    /// Xen's limit on boot-allocator ranges, the number vpmem's handover is built to beat.
    public static let xenRangeLimit = 512

    public private(set) var ranges: [MfnRange]

    /// An allocator over `ranges` (any order; overlapping or touching ranges are merged).
    public init(ranges: [MfnRange]) {
        self.ranges = MfnRange.merging(ranges)
    }

    public var freeFrames: UInt64 { ranges.reduce(0) { $0 + $1.count } }

    /// Takes `range` out of the allocator wherever it overlaps free ranges (Xen's bootmem_region_zap).
    public mutating func remove(_ range: MfnRange) {
        var out: [MfnRange] = []
        out.reserveCapacity(ranges.count + 1)
        for r in ranges {
            guard r.overlaps(range) else { out.append(r); continue }
            if r.first.raw < range.first.raw { out.append(MfnRange(uncheckedFirst: r.first.raw, end: range.first.raw)) }
            if range.end < r.end { out.append(MfnRange(uncheckedFirst: range.end, end: r.end)) }
        }
        ranges = out
    }

    /// Allocates `frames` frames aligned to `alignment` frames (a power of two), from the top of
    /// the highest range that fits.
    public mutating func allocate(frames: UInt64, alignment: UInt64 = 1, for what: String) throws(HostMemoryError) -> MfnRange {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment is a power of two")
        guard frames > 0 else { throw .emptyRange(what: what) }
        for i in ranges.indices.reversed() {
            let r = ranges[i]
            guard r.count >= frames else { continue }
            let start = (r.end - frames) & ~(alignment - 1)
            guard start >= r.first.raw else { continue }
            var replacement: [MfnRange] = []
            if start > r.first.raw { replacement.append(MfnRange(uncheckedFirst: r.first.raw, end: start)) }
            if start + frames < r.end { replacement.append(MfnRange(uncheckedFirst: start + frames, end: r.end)) }
            ranges.replaceSubrange(i...i, with: replacement)
            return MfnRange(uncheckedFirst: start, end: start + frames)
        }
        throw .outOfMemory(what: what, frames: frames, available: freeFrames, pool: "boot allocator")
    }

    /// Ends boot allocation (Xen's end_boot_allocator): the free ranges, for the heap.
    public consuming func finish() -> [MfnRange] { ranges }
}
