import GuestMemory

// The frame table a configuration implies before anything is allocated: holes, free RAM, static
// memory (free, in its guest's reserved pool), the liveupdate region, bad pages. Host pmem has no
// records (it is tracked by extents): a pmem frame below the end of RAM is a hole here.
//
// Invariants:
//  - `segments` covers [0, frameCount) exactly: sorted, contiguous (each starts where the previous
//    ends), never empty, and neighbours always differ in record (equal neighbours are merged).
//  - Built from a validated HostMemoryConfig only.

/// The configuration's frame-table picture, as a few segments.
public struct HostLayout: Sendable {
    public let frameCount: UInt64
    public let segments: [FrameRun]

    public static let regionRecord = FrameRecord(owner: .invalid, flags: [.reserved, .liveUpdateRegion], refcount: 0)

    public init(_ config: HostMemoryConfig) throws(HostMemoryError) {
        try config.validate()
        frameCount = config.frameCount
        let banks = config.banks.sorted()
        let statics = config.staticMemory.map(\.range).sorted()
        let bad = Set(config.badPages.map(\.raw))
        var points: Set<UInt64> = [0, frameCount]
        for r in banks + statics { points.insert(r.first.raw); points.insert(r.end) }
        if let r = config.liveUpdateRegion { points.insert(r.first.raw); points.insert(r.end) }
        for p in bad { points.insert(p); points.insert(p + 1) }
        let sorted = points.sorted()

        func inside(_ list: [MfnRange], _ a: UInt64) -> Bool {
            var lo = 0, hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if list[mid].end <= a { lo = mid + 1 } else { hi = mid }
            }
            return lo < list.count && list[lo].first.raw <= a
        }

        var out: [FrameRun] = []
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            var rec = FrameRecord.hole
            if inside(banks, a) {
                rec = .free
                if inside(statics, a) { rec = .staticFree }
                if let r = config.liveUpdateRegion, r.contains(Mfn(uncheckedRaw: a)) { rec = Self.regionRecord }
                if bad.contains(a) {
                    rec = FrameRecord(owner: .invalid, flags: FrameFlags.bad.union(rec.flags.intersection([.reserved, .staticMemory, .liveUpdateRegion])), refcount: 0)
                }
            }
            if let last = out.last, last.record == rec.raw {
                out[out.count - 1] = FrameRun(frames: MfnRange(uncheckedFirst: last.start, end: b), record: rec.raw)
            } else {
                out.append(FrameRun(frames: MfnRange(uncheckedFirst: a, end: b), record: rec.raw))
            }
        }
        segments = out
    }

    /// Ranges whose layout record is `.free` (RAM any allocator may have).
    public var freeRanges: [MfnRange] {
        segments.filter { $0.record == FrameRecord.free.raw }.map(\.frames)
    }
}
