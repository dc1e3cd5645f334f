import GuestMemory

// Rebuilding the frame table after a live update, and the two baselines it is measured against.
//
// A RebuildPlan holds the configured layout and the preserved runs (for the two-pass baseline
// and the heap hand-back), and, for the one pass, the two merged into one compact *tiling* of
// the whole table, built once while the plan is checked:
//
//   pieces   the layout clipped around the preserved runs, and the runs, front to back; equal
//            neighbours merged (owner-run compression: adjacent ranges of one owner and flags
//            are one piece, however many state records they came from).
//   entries  one 64-bit word a step: bits 0..39 frames, bits 40..63 a palette index (the
//            record, from `palette`) or `literalTag` (the next `frames` records are copied from
//            `literals`). Pieces shorter than `literalBelow` frames are gathered into literal
//            steps, so a host of single-frame ranges costs a copy per frame, not a loop step
//            (with its branch) per frame.
//   palette  the distinct records, at most one per (owner, flags) pair in use.
//   literals the records of the short pieces, in table order.
//
// Invariants (checked in init, so the loops below need no checks):
//  - `layout` covers [0, frames) exactly: sorted, contiguous runs (FrameRun is never empty).
//  - `preserved` is sorted by start, runs do not overlap, every run ends at or before `frames`.
//  - The entries' frame counts are > 0 and sum to `frames`; every palette index is < the palette's
//    count; the literal steps' counts sum to the literals' count.
//  - All buffers are owned by the plan, allocated once (at least one element each), freed in
//    deinit; the loops only read them.
//
// The one pass (seed 004's choice) walks the table once, front to back, writing every record
// exactly once. The two-pass rebuild writes every record to its configured state first, then
// walks the preserved runs again and overwrites them: preserved frames are written twice. The
// bare scan writes one value to every record: the floor any rebuild must pay; the copy scan
// copies a ready image, the floor when neighbouring records all differ.

/// The inputs of a frame-table rebuild: the configured layout and the preserved runs, and the
/// tiling the one pass writes from.
public final class RebuildPlan: @unchecked Sendable {
    public let frames: Int
    @usableFromInline let layout: UnsafeMutableBufferPointer<FrameRun>
    @usableFromInline let preserved: UnsafeMutableBufferPointer<FrameRun>
    @usableFromInline let entries: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let palette: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let literals: UnsafeMutableBufferPointer<UInt64>

    @usableFromInline static let countBits: UInt64 = 40
    @usableFromInline static let countMask: UInt64 = (1 << countBits) - 1
    /// The entry tag for a literal step.
    @usableFromInline static let literalTag = Int((1 << (64 - countBits)) - 1)
    /// Pieces shorter than this go to literal steps.
    public static let literalBelow: UInt64 = 4

    /// A plan over `frames` frames. Refuses runs that break the invariants above.
    public init(frames: UInt64, layout: [FrameRun], preserved: UnsafeBufferPointer<FrameRun>) throws(LiveUpdateError) {
        guard frames > 0, frames <= HostMemoryConfig.maxFrames else {
            throw .host(.hostTooLarge(frames: frames, limit: HostMemoryConfig.maxFrames))
        }
        var expect: UInt64 = 0
        for s in layout {
            guard s.start == expect else {
                throw .corruptState(where: "layout", problem: "runs do not tile the frame table at frame 0x\(String(s.start, radix: 16))")
            }
            expect = s.end
        }
        guard expect == frames else { throw .corruptState(where: "layout", problem: "layout ends at \(expect), not \(frames)") }
        var prevEnd: UInt64 = 0
        for (i, r) in preserved.enumerated() {
            guard r.start >= prevEnd, r.end <= frames else {
                throw .corruptState(where: "preserved run \(i)", problem: "\(r.frames) is unsorted, overlapping or past the last frame")
            }
            prevEnd = r.end
        }
        self.frames = Int(frames)
        self.layout = .allocate(capacity: layout.count)
        _ = self.layout.initialize(from: layout)
        self.preserved = .allocate(capacity: preserved.count)
        _ = self.preserved.initialize(from: preserved)

        let tiling = Tiling(layout: layout, preserved: preserved, frames: frames)
        entries = Self.buffer(tiling.entries)
        palette = Self.buffer(tiling.palette)
        literals = Self.buffer(tiling.literals)
    }

    private static func buffer(_ words: [UInt64]) -> UnsafeMutableBufferPointer<UInt64> {
        let b = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: max(1, words.count))
        _ = b.initialize(from: words)
        return UnsafeMutableBufferPointer(rebasing: b[0..<words.count])
    }

    deinit {
        layout.deallocate()
        preserved.deallocate()
        // Rebased buffers keep the allocation's base address (also when empty: capacity >= 1).
        UnsafeMutablePointer(mutating: entries.baseAddress!).deallocate()
        UnsafeMutablePointer(mutating: palette.baseAddress!).deallocate()
        UnsafeMutablePointer(mutating: literals.baseAddress!).deallocate()
    }

    public var preservedRuns: Int { preserved.count }
    /// Steps of the one pass (run and literal steps).
    public var tilingSteps: Int { entries.count }
    /// Distinct records the one pass writes from its palette.
    public var paletteRecords: Int { palette.count }
    /// Records the one pass copies from literal steps.
    public var literalRecords: Int { literals.count }
    /// Bytes of the one pass's tiling (entries, palette and literals).
    public var tilingBytes: Int { (entries.count + palette.count + literals.count) * 8 }

    /// Frames the preserved runs cover.
    public var preservedFrames: UInt64 { preserved.reduce(0) { $0 + $1.frames.count } }

    /// Ranges whose rebuilt record is `record` (the gaps between preserved runs where the layout
    /// says so). O(runs), no table scan: this is what the heap gets after the pass.
    public func gaps(withLayoutRecord record: FrameRecord) -> [MfnRange] {
        var out: [MfnRange] = []
        var li = 0
        func emit(_ a0: UInt64, _ b: UInt64) {
            var a = a0
            while a < b {
                while layout[li].end <= a { li += 1 }
                let s = layout[li]
                let e = min(s.end, b)
                if s.record == record.raw {
                    if let last = out.last, last.end == a {
                        out[out.count - 1] = MfnRange(uncheckedFirst: last.first.raw, end: e)
                    } else {
                        out.append(MfnRange(uncheckedFirst: a, end: e))
                    }
                }
                a = e
            }
        }
        var cursor: UInt64 = 0
        for r in preserved {
            emit(cursor, r.start)
            cursor = r.end
        }
        emit(cursor, UInt64(frames))
        return out
    }
}

/// The one pass's tiling of a checked layout and preserved runs (see the file comment).
struct Tiling {
    var entries: [UInt64] = []
    var palette: [UInt64] = []
    var literals: [UInt64] = []
    private var index: [UInt64: UInt64] = [:]
    private var pending: (count: UInt64, record: UInt64)?
    private var literalCount: UInt64 = 0

    init(layout: [FrameRun], preserved: UnsafeBufferPointer<FrameRun>, frames: UInt64) {
        entries.reserveCapacity(2 * preserved.count + layout.count)
        var li = 0
        var cursor: UInt64 = 0
        func layoutUpTo(_ end: UInt64, _ t: inout Tiling) {
            while cursor < end {
                while layout[li].end <= cursor { li += 1 }
                let e = min(layout[li].end, end)
                t.piece(e - cursor, layout[li].record)
                cursor = e
            }
        }
        for r in preserved {
            layoutUpTo(r.start, &self)
            piece(r.frames.count, r.record)
            cursor = r.end
        }
        layoutUpTo(frames, &self)
        flushPiece()
        flushLiterals()
    }

    /// Adds `count` frames of `record`, merging with an equal neighbour.
    private mutating func piece(_ count: UInt64, _ record: UInt64) {
        if let p = pending, p.record == record {
            pending = (p.count + count, record)
            return
        }
        flushPiece()
        pending = (count, record)
    }

    private mutating func flushPiece() {
        guard let p = pending else { return }
        pending = nil
        if p.count < RebuildPlan.literalBelow {
            for _ in 0..<p.count { literals.append(p.record) }
            literalCount += p.count
            return
        }
        flushLiterals()
        var slot: UInt64
        if let i = index[p.record] {
            slot = i
        } else {
            slot = UInt64(palette.count)
            index[p.record] = slot
            palette.append(p.record)
        }
        // A run longer than 2^40 - 1 frames cannot occur (frames <= 2^29), but stay exact.
        var left = p.count
        while left > 0 {
            let n = min(left, RebuildPlan.countMask)
            entries.append(n | slot << RebuildPlan.countBits)
            left -= n
        }
    }

    private mutating func flushLiterals() {
        guard literalCount > 0 else { return }
        entries.append(literalCount | UInt64(RebuildPlan.literalTag) << RebuildPlan.countBits)
        literalCount = 0
    }
}

/// The frame-table rebuild loops. The table must have exactly `plan.frames` records.
public enum FrameTableRebuild {
    /// Writes `value` to `count` records from `p`: a plain store loop the compiler vectorizes.
    @inlinable @inline(__always)
    static func fill(_ p: UnsafeMutablePointer<UInt64>, _ count: Int, _ value: UInt64) {
        var i = 0
        while i < count {
            p[i] = value
            i &+= 1
        }
    }

    /// Seed 004's one pass: every record written once, front to back, from the plan's tiling.
    @inlinable
    public static func onePass(_ table: FrameTable, plan: RebuildPlan) {
        precondition(table.count == plan.frames, "frame table and plan disagree on the frame count")
        // Locals, so no load of the plan's fields sits in the loop next to the table stores.
        var p = table.records
        var literal = UnsafePointer(plan.literals.baseAddress!)
        let palette = UnsafePointer(plan.palette.baseAddress!)
        let entries = UnsafeBufferPointer(plan.entries)
        let mask = RebuildPlan.countMask
        let shift = RebuildPlan.countBits
        let literalTag = RebuildPlan.literalTag
        for e in entries {
            let n = Int(truncatingIfNeeded: e & mask)
            let tag = Int(truncatingIfNeeded: e &>> shift)
            if tag == literalTag {
                p.update(from: literal, count: n)
                literal += n
            } else {
                fill(p, n, palette[tag])
            }
            p += n
        }
    }

    /// The approach seed 004 rejected: mark every frame as configured (free/unowned), then walk
    /// the preserved runs and apply their owners.
    @inlinable
    public static func twoPass(_ table: FrameTable, plan: RebuildPlan) {
        precondition(table.count == plan.frames, "frame table and plan disagree on the frame count")
        let p = table.records
        for s in UnsafeBufferPointer(plan.layout) {
            fill(p + Int(truncatingIfNeeded: s.start), Int(truncatingIfNeeded: s.end &- s.start), s.record)
        }
        for r in UnsafeBufferPointer(plan.preserved) {
            fill(p + Int(truncatingIfNeeded: r.start), Int(truncatingIfNeeded: r.end &- r.start), r.record)
        }
    }

    /// The floor when every record differs from its neighbour: the whole table copied from a
    /// ready image (memcpy). `image` must hold exactly `table.count` records.
    @inlinable
    public static func copyScan(_ table: FrameTable, from image: UnsafeBufferPointer<UInt64>) {
        precondition(image.count == table.count, "the image and the frame table disagree on the frame count")
        guard let source = image.baseAddress else { return }
        table.records.update(from: source, count: table.count)
    }

    /// The floor: one value written to every record, sequentially.
    @inlinable
    public static func bareScan(_ table: FrameTable, record: FrameRecord) {
        fill(table.records, table.count, record.raw)
    }
}
