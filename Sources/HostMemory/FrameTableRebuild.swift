import GuestMemory

// Rebuilding the frame table after a live update, and the two baselines it is measured against.
//
// Invariants of a RebuildPlan (checked once, in init, so the loops below need no checks):
//  - `layout` covers [0, frames) exactly: sorted, contiguous, non-empty runs.
//  - `preserved` is sorted by start, runs do not overlap, every run is non-empty and ends at or
//    before `frames`.
//  - Both buffers are owned by the plan, allocated once, freed in deinit; the loops only read them.
//
// The one pass (seed 004's choice) walks the table once, front to back: the gap before each
// preserved run gets the configured layout, the run gets its owner. Every record is written
// exactly once, so its cost is the cost of writing the table plus a few compares per run.
// The two-pass rebuild writes every record to its configured state first, then walks the
// preserved runs again and overwrites them: preserved frames are written twice.
// The bare scan writes one value to every record: the floor any rebuild must pay.

/// The inputs of a frame-table rebuild: the configured layout and the preserved runs.
public final class RebuildPlan: @unchecked Sendable {
    public let frames: Int
    @usableFromInline let layout: UnsafeMutableBufferPointer<FrameRun>
    @usableFromInline let preserved: UnsafeMutableBufferPointer<FrameRun>

    /// A plan over `frames` frames. Refuses runs that break the invariants above.
    public init(frames: UInt64, layout: [FrameRun], preserved: UnsafeBufferPointer<FrameRun>) throws(LiveUpdateError) {
        guard frames > 0, frames <= HostMemoryConfig.maxFrames else {
            throw .host(.hostTooLarge(frames: frames, limit: HostMemoryConfig.maxFrames))
        }
        var expect: UInt64 = 0
        for s in layout {
            guard s.start == expect, s.end > s.start else {
                throw .corruptState(where: "layout", problem: "runs do not tile the frame table at frame 0x\(String(s.start, radix: 16))")
            }
            expect = s.end
        }
        guard expect == frames else { throw .corruptState(where: "layout", problem: "layout ends at \(expect), not \(frames)") }
        var prevEnd: UInt64 = 0
        for (i, r) in preserved.enumerated() {
            guard r.end > r.start, r.start >= prevEnd, r.end <= frames else {
                throw .corruptState(where: "preserved run \(i)", problem: "[0x\(String(r.start, radix: 16)), 0x\(String(r.end, radix: 16))) is empty, unsorted, overlapping or past the last frame")
            }
            prevEnd = r.end
        }
        self.frames = Int(frames)
        self.layout = .allocate(capacity: layout.count)
        _ = self.layout.initialize(from: layout)
        self.preserved = .allocate(capacity: preserved.count)
        _ = self.preserved.initialize(from: preserved)
    }

    deinit {
        layout.deallocate()
        preserved.deallocate()
    }

    public var preservedRuns: Int { preserved.count }

    /// Frames the preserved runs cover.
    public var preservedFrames: UInt64 { preserved.reduce(0) { $0 + ($1.end - $1.start) } }

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

/// The frame-table rebuild loops. The table must have exactly `plan.frames` records.
public enum FrameTableRebuild {
    /// Writes `value` to `count` records from `p`: a plain store loop the compiler vectorizes,
    /// cheap for the 1-frame runs of a badly fragmented host. All three loops use it.
    @inlinable @inline(__always)
    static func fill(_ p: UnsafeMutablePointer<UInt64>, _ count: Int, _ value: UInt64) {
        var i = 0
        while i < count {
            p[i] = value
            i &+= 1
        }
    }

    /// Seed 004's one pass: every record written once, front to back.
    @inlinable
    public static func onePass(_ table: FrameTable, plan: RebuildPlan) {
        precondition(table.count == plan.frames, "frame table and plan disagree on the frame count")
        let p = table.records
        // Locals, so no load of the plan's fields sits in the loop next to the table stores.
        let layout = UnsafeBufferPointer(plan.layout)
        let runs = UnsafeBufferPointer(plan.preserved)
        let frames = plan.frames
        var li = 0
        var cursor = 0
        for r in runs {
            let start = Int(truncatingIfNeeded: r.start)
            // Gap before the run: configured layout (usually one free stretch, often none).
            while cursor < start {
                while Int(truncatingIfNeeded: layout[li].end) <= cursor { li &+= 1 }
                let e = min(Int(truncatingIfNeeded: layout[li].end), start)
                fill(p + cursor, e &- cursor, layout[li].record)
                cursor = e
            }
            let end = Int(truncatingIfNeeded: r.end)
            fill(p + start, end &- start, r.record)
            cursor = end
        }
        while cursor < frames {
            while Int(truncatingIfNeeded: layout[li].end) <= cursor { li &+= 1 }
            let e = Int(truncatingIfNeeded: layout[li].end)
            fill(p + cursor, e &- cursor, layout[li].record)
            cursor = e
        }
    }

    /// The approach seed 004 rejected: mark every frame as configured (free/unowned), then walk
    /// the preserved runs and apply their owners.
    @inlinable
    public static func twoPass(_ table: FrameTable, plan: RebuildPlan) {
        precondition(table.count == plan.frames, "frame table and plan disagree on the frame count")
        let p = table.records
        let layout = UnsafeBufferPointer(plan.layout)
        let runs = UnsafeBufferPointer(plan.preserved)
        for s in layout {
            fill(p + Int(truncatingIfNeeded: s.start), Int(truncatingIfNeeded: s.end &- s.start), s.record)
        }
        for r in runs {
            fill(p + Int(truncatingIfNeeded: r.start), Int(truncatingIfNeeded: r.end &- r.start), r.record)
        }
    }

    /// The floor: one value written to every record, sequentially.
    @inlinable
    public static func bareScan(_ table: FrameTable, record: FrameRecord) {
        fill(table.records, table.count, record.raw)
    }
}
