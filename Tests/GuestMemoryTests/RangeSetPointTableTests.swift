@testable import GuestMemory
import Testing

/// The two forms of a RangeSet's lookup area (invariants 6 and 8): a set whose ranges are spread
/// densely enough uses the point table (one line load a lookup), one spread too thin or too
/// skewed uses the directory, and the set moves between them as its ranges change, answering
/// the same throughout.
@Suite struct RangeSetPointTableTests {
    /// Every value from `low` to `high` asked of the set and of the model, as points and as
    /// short ranges.
    func expectAnswersAgree(_ set: borrowing RangeSet, _ model: NaiveRangeSet, _ low: UInt64, _ high: UInt64,
                            _ comment: Comment) {
        // The model's answers by one walk over its ranges as x ascends (its own queries are
        // linear in the ranges, too slow for every value here).
        var wrong: [UInt64] = []
        var i = 0
        let ranges = model.ranges
        for x in low...high {
            while i < ranges.count && ranges[i].upperBound < x { i += 1 }
            let holder = i < ranges.count && ranges[i].lowerBound <= x ? ranges[i] : nil
            let point = holder != nil
            let four = x <= .max - 3 && holder.map { $0.upperBound >= x + 3 } == true
            if set.contains(x) != point || (x <= .max - 3 && set.contains(x...(x + 3)) != four) {
                wrong.append(x)
            }
        }
        #expect(wrong.count == 0, "\(comment): wrong at \(wrong.prefix(8))")
        expectPointTableAgrees(set, model)
        expectDirectoryAgreesWithIndex(set, model)
    }

    @Test func aDenseSetUsesThePointTableAndAThinOneTheDirectory() throws {
        var set = try RangeSet(name: "pages", limit: 2000)
        var model = NaiveRangeSet(limit: 2000)
        // 1,001 ranges: the outlier below lands in slot 1 of a block whose base is an ordinary
        // range, so removing it leaves the block bases (and the directory's buckets) as they
        // were; only the spread says the table fits again.
        for i in UInt64(0)..<1001 {
            let r = (i * 64 + i % 7)...(i * 64 + i % 7 + i % 20)
            try set.add(r)
            model.ranges = model.adding(r)!
        }
        #expect(set._table.lines != nil, "1,001 ranges over 64,000 values: the point table")
        expectAnswersAgree(set, model, 0, 64_100, "dense")
        // One range far above: the spread no longer fits 16-bit buckets.
        let far: UInt64 = 1 << 40
        try set.add(first: far, last: far + 5)
        model.ranges = model.adding(far...(far + 5))!
        #expect(set._table.lines == nil, "a range 2^40 away: the directory")
        expectAnswersAgree(set, model, 0, 64_100, "with an outlier")
        #expect(set.contains(far + 5) && !set.contains(far + 6) && !set.contains(far - 1))
        // Gone again: the spread fits the table again.
        try set.remove(first: far, last: .max)
        model.ranges = model.removing(far...UInt64.max)!
        #expect(set._table.lines != nil, "the outlier removed: the point table again")
        expectAnswersAgree(set, model, 0, 64_100, "outlier removed")
    }

    /// A bucket met by more than 16 ranges is an overflow line: lookups in it go down the index
    /// and still answer right, while the lines around it answer from the table. Then so many
    /// crowded buckets that more than 1 in 64 of the lines overflow: the directory.
    @Test func crowdedBucketsOverflowAndTooManyOfThemMeanTheDirectory() throws {
        var set = try RangeSet(name: "crowded", limit: 4000)
        var model = NaiveRangeSet(limit: 4000)
        func add(_ r: ClosedRange<UInt64>) throws {
            try set.add(r)
            model.ranges = model.adding(r)!
        }
        for i in UInt64(0)..<900 { try add((i * 100)...(i * 100 + 10)) }
        #expect(set._table.lines != nil && set._table.overflowLines == 0)
        let width = set._table.width
        // 40 one-value ranges two apart inside one bucket's worth of values, between two ranges.
        let crowd = 50_020 as UInt64
        #expect(80 < width, "the crowd fits in at most two buckets (width \(width))")
        for j in UInt64(0)..<40 { try add((crowd + j * 2)...(crowd + j * 2)) }
        #expect(set._table.lines != nil && set._table.overflowLines >= 1, "the crowded bucket overflows")
        expectAnswersAgree(set, model, 49_000, 51_200, "around the crowd")
        expectAnswersAgree(set, model, 0, 1_000, "far from the crowd")
        // A deeper crowd: 100 one-value ranges in 200 values, more than 8 block bases in one
        // bucket, so its lookups take the index instead of stepping through the blocks.
        let deep = 70_020 as UInt64
        for j in UInt64(0)..<100 { try add((deep + j * 2)...(deep + j * 2)) }
        #expect(set._table.lines != nil && set._table.overflowLines >= 2, "both crowds overflow")
        expectAnswersAgree(set, model, 69_000, 71_200, "around the deep crowd")
        try set.remove(first: deep, last: deep + 300)
        model.ranges = model.removing(deep...(deep + 300))!
        // Removing most of the crowd rewrites its lines back into ordinary ones.
        try set.remove(first: crowd, last: crowd + 69)
        model.ranges = model.removing(crowd...(crowd + 69))!
        #expect(set._table.lines != nil && set._table.overflowLines == 0, "the crowd thinned: no overflow line")
        expectAnswersAgree(set, model, 49_000, 51_200, "crowd thinned")
        // Now crowd every other bucket: far more than 1 in 64 of the used lines overflow.
        for b in stride(from: UInt64(0), to: 90_000, by: Int(2 * width)) {
            for j in UInt64(0)..<20 where b + 30 + j * 2 < 89_999 { try add((b + 30 + j * 2)...(b + 30 + j * 2)) }
        }
        #expect(set._table.lines == nil, "skewed: the directory")
        expectAnswersAgree(set, model, 0, 90_100, "skewed")
    }

    /// The table is found by a multiply and the clamp: values below its base wrap into the
    /// sentinel line, values past the last bucket clamp into it, and both answer no. A set near
    /// the top of the value space keeps the table too.
    @Test func valuesOutsideTheTableReadTheEmptySentinel() throws {
        var set = try RangeSet(name: "edges", limit: 64)
        var model = NaiveRangeSet(limit: 64)
        for i in UInt64(0)..<40 {
            let r = (1_000_000 + i * 50)...(1_000_000 + i * 50 + 9)
            try set.add(r)
            model.ranges = model.adding(r)!
        }
        #expect(set._table.lines != nil)
        for x: UInt64 in [0, 1, 999_999, 1_002_000, 1_000_000 + set._table.clamp, .max - 1, .max] {
            #expect(!set.contains(x) && !set.contains(x...(x &+ 1 < x ? x : x + 1)), "\(x)")
        }
        expectAnswersAgree(set, model, 999_000, 1_003_000, "near a million")
        var top = try RangeSet(name: "top", limit: 64)
        var topModel = NaiveRangeSet(limit: 64)
        for i in UInt64(0)..<30 {
            let r = (UInt64.max - 3_000 + i * 100)...(UInt64.max - 3_000 + i * 100 + 20)
            try top.add(r)
            topModel.ranges = topModel.adding(r)!
        }
        try top.add(first: .max - 5, last: .max)
        topModel.ranges = topModel.adding((UInt64.max - 5)...UInt64.max)!
        #expect(top._table.lines != nil, "30 ranges within 3,000 values of the top: the table")
        expectAnswersAgree(top, topModel, .max - 3_100, .max - 4, "at the top")
        #expect(top.contains(.max) && top.contains((.max - 5)...(.max)) && !top.contains(.max - 6))
    }

    /// Appending in order at a steady spacing, as the benchmark and a guest's page lists do,
    /// keeps the table, and rebuilding it stays O(1) per add amortised: each build leaves room
    /// for a quarter more spread (or the capacity at that spacing), so builds come at counts
    /// that grow geometrically, and the ranges they walk add up to a few times the final count.
    @Test func appendingInOrderKeepsThePointTableAndRebuildsRarely() throws {
        let n: UInt64 = 5000
        var set = try RangeSet(name: "append", limit: n)
        var model = NaiveRangeSet(limit: n)
        for i in UInt64(0)..<n {
            let r = (i * 40 + 3)...(i * 40 + 3 + i % 9)
            try set.add(r)
            model.ranges.append(r)
            if set._table.lines == nil { Issue.record("after \(i + 1) ranges: the directory") }
        }
        // Measured: 33,276 ranges walked (46 rebuilds); with no headroom, 1.63 M (1,205).
        #expect(set._lookupRebuildWork <= 8 * Int(n), "rebuilds walked \(set._lookupRebuildWork) ranges for \(n) appends")
        expectAnswersAgree(set, model, 0, n * 40 + 100, "appended")
    }
}
