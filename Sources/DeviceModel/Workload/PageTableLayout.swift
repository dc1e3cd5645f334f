import GuestMemory

/// Where a XenGT-like guest keeps its GPU page tables: `pages` guest frames of RAM, in runs
/// whose number the fragmentation knob sets.
///
/// - fragmentation 0: one contiguous run (one wp_mem range covers every page);
/// - fragmentation 1: every page alone, never adjacent to another (one range per page, seed
///   001's "scattered pages cost one each");
/// - in between: `max(1, round(fragmentation * pages))` runs of near-equal length.
/// Runs are placed at random in the guest's RAM with at least one free frame between two runs,
/// deterministically from the seed.
public struct PageTableLayout: Sendable, Equatable {
    /// The page-table frames, ascending.
    public let pages: [Gfn]
    /// The runs of consecutive page-table frames, ascending: what a wp_mem rangeset must hold.
    public let runs: [GfnRange]

    public init(pages count: Int, fragmentation: Double, ram: [GfnRange], seed: UInt64) throws(WorkloadError) {
        guard count >= 1 else { throw .invalid(option: "pages", value: "\(count)", rule: "at least 1") }
        guard fragmentation >= 0 && fragmentation <= 1 else {
            throw .invalid(option: "fragmentation", value: "\(fragmentation)", rule: "0 (contiguous) to 1 (every page alone)")
        }
        let n = UInt64(count)
        let runCount = max(1, min(n, UInt64((fragmentation * Double(count)).rounded())))
        let total = ram.reduce(UInt64(0)) { $0 + $1.count }
        // Pages plus one free frame between neighbouring runs.
        guard n + runCount - 1 <= total else {
            throw .invalid(option: "pages", value: "\(count)",
                           rule: "at most \(total) frames fit in the guest's RAM with this fragmentation")
        }
        let slack = total - n - (runCount - 1)
        var r = SplitMix64(seed: seed)
        var offsets = (0..<runCount).map { _ in r.next(below: slack + 1) }
        offsets.sort()
        // Run i starts at offsets[i] + (pages in runs before i) + i (the gaps) in RAM's linear index.
        var linear: [UInt64] = []
        linear.reserveCapacity(count)
        var placed: UInt64 = 0
        for i in 0..<runCount {
            let length = n / runCount + (i < n % runCount ? 1 : 0)
            let start = offsets[Int(i)] + placed + i
            for k in 0..<length { linear.append(start + k) }
            placed += length
        }
        // Linear RAM index -> gfn across the RAM regions.
        var result: [Gfn] = []
        result.reserveCapacity(count)
        var region = 0
        var regionStart: UInt64 = 0
        for x in linear {
            while x >= regionStart + ram[region].count {
                regionStart += ram[region].count
                region += 1
            }
            result.append(Gfn(uncheckedRaw: ram[region].first.raw + (x - regionStart)))
        }
        pages = result
        runs = Self.runs(of: result)
    }

    static func runs(of pages: [Gfn]) -> [GfnRange] {
        var out: [GfnRange] = []
        var i = 0
        while i < pages.count {
            var j = i
            while j + 1 < pages.count && pages[j + 1].raw == pages[j].raw + 1 { j += 1 }
            // Cannot throw: first <= last.
            if let run = try? GfnRange(first: pages[i], last: pages[j]) { out.append(run) }
            i = j + 1
        }
        return out
    }
}

/// A workload option out of range.
public enum WorkloadError: Error, Equatable, CustomStringConvertible {
    case invalid(option: String, value: String, rule: String)

    public var description: String {
        switch self {
        case let .invalid(option, value, rule): return "workload: \(option) = \(value) is not allowed: use \(rule)"
        }
    }
}
