import GuestMemory

/// The frame-table rebuild the benchmarks and the performance gate measure: a host of `frames`
/// frames with RAM from frame 256, a liveupdate region of two frame tables at the start of RAM,
/// and `ranges` preserved runs spread evenly over the rest, 70% of each period, owners d1 to d8
/// in turn. At 1 Mi frames and 1,000,000 ranges every frame after the region is its own range
/// and neighbours never share an owner: the worst case for any run-length encoding.
public enum RebuildWorkload {
    public static func inputs(frames: UInt64, ranges: UInt64) throws -> (layout: [FrameRun], runs: [FrameRun]) {
        let region = (HostMachine.frameTableFrames(for: frames) * 2 + 511) & ~511
        let config = HostMemoryConfig(banks: [try MfnRange(first: Mfn.checked(256), count: frames - 256)],
                                      liveUpdateRegion: try MfnRange(first: Mfn.checked(256), count: region))
        let layout = try HostLayout(config)
        let first = 256 + region
        let period = (frames - first) / ranges
        let length = max(1, period * 7 / 10)
        var runs: [FrameRun] = []
        runs.reserveCapacity(Int(ranges))
        for i in 0..<ranges {
            let s = first + i * period
            let owner = DomainID(uncheckedRaw: UInt16(1 + i % 8))
            runs.append(FrameRun(frames: MfnRange(uncheckedFirst: s, end: s + length), record: FrameRecord.owned(by: owner).raw))
        }
        return (layout.segments, runs)
    }

    /// The checked plan for `inputs(frames:ranges:)`.
    public static func plan(frames: UInt64, ranges: UInt64) throws -> RebuildPlan {
        let (layout, runs) = try inputs(frames: frames, ranges: ranges)
        return try runs.withUnsafeBufferPointer { try RebuildPlan(frames: frames, layout: layout, preserved: $0) }
    }
}
