@testable import GuestMemory
import VpmemTestSupport
import Testing

/// Runs `words` as operations on a fresh `S` and on the naive model, checking after every
/// `verifyEvery` steps (and at the end) that both agree on everything the API reports.
/// A refused operation must throw `.limitReached` naming the limit and leave the set unchanged.
func checkAgainstModel<S: RangeSetUnderTest & ~Copyable>(
    _: S.Type, words: [UInt64], limit: UInt64, span: UInt64, maxLength: UInt64, verifyEvery: Int = 1
) throws {
    var set = try S(name: "prop", limit: limit)
    var model = NaiveRangeSet(limit: limit)
    var maxLimit = limit
    for (step, w) in words.enumerated() {
        let op = RangeSetOp(w, span: span, maxLength: maxLength)
        let before = set.ranges
        switch op {
        case let .add(s, e):
            let expected = model.adding(s...e)
            let forecast = set.heapBytes(afterAdding: s...e)
            do {
                try set.add(first: s, last: e)
                #expect(expected != nil, "\(op) succeeded but needs more than \(model.limit) ranges")
                if let expected { model.ranges = expected }
                if S.self == RangeSet.self { #expect(forecast == set.memory.heapBytes, "\(op): forecast \(String(describing: forecast))") }
            } catch {
                #expect(forecast == nil, "\(op) refused, but forecast \(String(describing: forecast)) bytes")
                #expect(expected == nil, "\(op) refused: \(error)")
                expectLimitError(error, limit: model.limit, set: set.ranges, before: before)
            }
        case let .remove(s, e):
            let expected = model.removing(s...e)
            let forecast = set.heapBytes(afterRemoving: s...e)
            do {
                try set.remove(first: s, last: e)
                #expect(expected != nil, "\(op) succeeded but needs more than \(model.limit) ranges")
                if let expected { model.ranges = expected }
                if S.self == RangeSet.self { #expect(forecast == set.memory.heapBytes, "\(op): forecast \(String(describing: forecast))") }
            } catch {
                #expect(forecast == nil, "\(op) refused, but forecast \(String(describing: forecast)) bytes")
                #expect(expected == nil, "\(op) refused: \(error)")
                expectLimitError(error, limit: model.limit, set: set.ranges, before: before)
            }
        case let .setLimit(l):
            do {
                try set.setLimit(l)
                #expect(UInt64(model.ranges.count) <= l)
                model.limit = l
                maxLimit = max(maxLimit, l)
            } catch {
                #expect(error == .limitBelowCount(set: "prop", limit: l, count: UInt64(model.ranges.count)))
                #expect(set.ranges == before)
            }
        }
        #expect(set.limit == model.limit)
        if step % verifyEvery == 0 || step == words.count - 1 {
            verify(set, model, span: span)
            set.expectInternalsAgree(with: model)
        }
        let mem = set.memory
        #expect(mem.ranges == set.count)
        #expect(mem.capacity >= set.count)
        if S.self == RangeSet.self {
            // Capacity-based accounting: 8 bytes per slot, 16 while some block of 8 ranges
            // spans more than 2^32 - 2 (its high halves are allocated), slots in whole blocks,
            // never more slots than the largest limit the set has had allows, nothing held
            // when empty.
            let held = set.ranges
            let wide = stride(from: 0, to: held.count, by: 8).contains { b in
                held[min(b + 7, held.count - 1)].upperBound - held[b].lowerBound > 0xFFFF_FFFE
            }
            #expect(mem.rangeStorageBytes == mem.capacity * (wide ? 16 : 8))
            #expect(mem.capacity % 8 == 0)
            #expect(UInt64(mem.capacity) <= (maxLimit + 7) / 8 * 8)
            if set.isEmpty { #expect(mem.heapBytes == 0) }
        } else {
            #expect(mem.rangeStorageBytes >= set.count * 32)
        }
    }
}

func expectLimitError(_ error: RangeSetError, limit: UInt64, set: [ClosedRange<UInt64>], before: [ClosedRange<UInt64>]) {
    guard case let .limitReached(name, l, needed, _, _, _) = error else {
        Issue.record("expected limitReached, got \(error)")
        return
    }
    #expect(name == "prop")
    #expect(l == limit)
    #expect(needed > limit)
    #expect(error.description.contains("limit is \(limit)"))
    #expect(set == before, "a refused operation changed the set")
}

/// Compares every query with the model at the ranges' edges, around them and across them.
func verify<S: RangeSetUnderTest & ~Copyable>(_ set: borrowing S, _ model: NaiveRangeSet, span: UInt64) {
    #expect(set.ranges == model.ranges)
    #expect(set.count == model.ranges.count)
    #expect(set.isEmpty == model.ranges.isEmpty)
    #expect(set.first == model.ranges.first)
    // Iteration with first/next.
    var walked: [ClosedRange<UInt64>] = []
    var r = set.first
    while let x = r, walked.count <= model.ranges.count {
        walked.append(x)
        r = x.upperBound == .max ? nil : set.next(after: x.upperBound)
    }
    #expect(walked == model.ranges)

    var probes: Set<UInt64> = [0, 1, span / 2, span, UInt64.max, UInt64.max - 1]
    for x in model.ranges {
        for d: UInt64 in [0, 1, 2] {
            if x.lowerBound >= d { probes.insert(x.lowerBound - d) }
            if x.upperBound <= .max - d { probes.insert(x.upperBound + d) }
        }
    }
    let sorted = probes.sorted()
    for p in sorted {
        #expect(set.contains(p) == model.contains(p), "contains(\(p))")
        #expect(set.next(after: p) == model.next(after: p), "next(after: \(p))")
    }
    // Range queries over pairs of probes (a sample when there are many).
    let stride = max(1, sorted.count / 24)
    for i in Swift.stride(from: 0, to: sorted.count, by: stride) {
        for j in Swift.stride(from: i, to: sorted.count, by: stride) {
            let q = sorted[i]...sorted[j]
            #expect(set.contains(q) == model.contains(q), "contains(\(q))")
            #expect(set.overlaps(q) == model.overlaps(q), "overlaps(\(q))")
        }
    }
}

@Suite struct RangeSetPropertyTests {
    static let ops = Gen.uint64().array(of: 1...160)

    @Test func rangeSetAgreesWithTheModel() async {
        await checkProperty(count: 150, input: Self.ops, Gen.uint64(in: 0...20)) { words, limit in
            try checkAgainstModel(RangeSet.self, words: words, limit: limit, span: 120, maxLength: 20)
        }
    }

    @Test func xenStyleBaselineAgreesWithTheModel() async {
        await checkProperty(count: 150, input: Self.ops, Gen.uint64(in: 0...20)) { words, limit in
            try checkAgainstModel(XenStyleRangeSet.self, words: words, limit: limit, span: 120, maxLength: 20)
        }
    }

    /// Thousands of ranges, so the search index has several levels and leaf blocks fill and empty.
    /// (Shrinking a 4,000-step sequence takes too long; a failure reports its seed instead.)
    /// Thousands of ranges spread over 2^38 values, up to 2^33 long: narrow and wide blocks mix,
    /// and blocks change form as ranges merge, split and shift between blocks.
    @Test(.shrinking(false)) func rangeSetAgreesWithTheModelWithNarrowAndWideBlocks() async {
        await checkProperty(count: 4, input: Gen.uint64().array(of: 1500...3000), Gen.uint64(in: 900...3000)) {
            words, limit in
            try checkAgainstModel(
                RangeSet.self, words: words, limit: limit, span: 1 << 38, maxLength: 1 << 33, verifyEvery: 250)
        }
    }

    @Test(.shrinking(false)) func rangeSetAgreesWithTheModelAtThousandsOfRanges() async {
        await checkProperty(count: 4, input: Gen.uint64().array(of: 2000...4000), Gen.uint64(in: 900...3000)) {
            words, limit in
            try checkAgainstModel(
                RangeSet.self, words: words, limit: limit, span: 40_000, maxLength: 12, verifyEvery: 250)
        }
    }

    /// The point table (RangeSetPointTable.swift) against the model, line for line, on a set
    /// that starts dense with one crowded bucket (an overflow line) and then changes at random:
    /// short ranges added and removed across bucket edges, singletons packed into the crowded
    /// window (lines overflowing and emptying again), whole stretches removed (the lowest start
    /// moves up), ranges added below the base (a rebuild), and an outlier 2^40 away added and
    /// removed (to the directory and back).
    @Test(.shrinking(false)) func pointTableAgreesWithTheModelAsLinesFillAndOverflow() async {
        await checkProperty(count: 8, input: Gen.uint64().array(of: 300...900)) { words in
            var set = try RangeSet(name: "table", limit: 3000)
            var model = NaiveRangeSet(limit: 3000)
            func apply(_ r: ClosedRange<UInt64>, remove: Bool) throws { try applyToBoth(&set, &model, r, remove: remove) }
            for i in UInt64(0)..<600 { try apply((10_000 + i * 80)...(10_000 + i * 80 + i % 11), remove: false) }
            for j in UInt64(0)..<30 { try apply((30_001 + j * 2)...(30_001 + j * 2), remove: false) }
            #expect(set._table.lines != nil && set._table.overflowLines > 0, "the dense start has an overflow line")
            set.expectInternalsAgree(with: model)
            for (step, w) in words.enumerated() {
                let x = 5_000 + (w >> 8) % 55_000
                switch w % 16 {
                case 0...4: try apply(x...(x + (w >> 40) % 12), remove: false)
                case 5...7: try apply(x...(x + (w >> 40) % 30), remove: true)
                case 8...10:
                    let c = 30_000 + (w >> 8) % 160
                    try apply(c...c, remove: (w >> 20) % 3 == 0)
                case 11: try apply(x...(x + (w >> 40) % 3_000), remove: true)
                case 12: try apply(0...(5_000 + (w >> 40) % 8_000), remove: true)
                case 13:
                    let low = (w >> 8) % 5_000
                    try apply(low...(low + 4), remove: false)
                case 14:
                    let far = (1 << 40) + (w >> 8) % 100
                    try apply(far...far, remove: false)
                default: try apply((1 << 39)...UInt64.max, remove: true)
                }
                if step % 40 == 39 {
                    verify(set, model, span: 70_000)
                    set.expectInternalsAgree(with: model)
                }
            }
            verify(set, model, span: 70_000)
            set.expectInternalsAgree(with: model)
        }
    }

    /// The directory (RangeSetDirectory.swift) against the model on sets whose shape keeps
    /// changing: ranges in clusters far apart (buckets with several block boundaries, so lookups
    /// take the B+ index), runs appended in ascending order (the covered values outgrown),
    /// outliers far above (a rebuild; near the top of the value space, buckets wider than 2^31,
    /// where every lookup takes the index) removed again every 50 steps (a rebuild back to
    /// narrow buckets), and ranges added below the lowest (the base moves down).
    @Test(.shrinking(false)) func directoryAgreesWithTheModelOnClusteredAndShiftingSets() async {
        await checkProperty(count: 8, input: Gen.uint64().array(of: 400...1200)) { words in
            var set = try RangeSet(name: "dir", limit: 4096)
            var model = NaiveRangeSet(limit: 4096)
            let clusters: [UInt64] = [1 << 30, 1 << 20, 1 << 24, 1 << 12]
            let outliers: [UInt64] = [0, (1 << 30) + (1 << 36), UInt64.max - 8]
            var next: UInt64 = 1 << 30
            func apply(_ r: ClosedRange<UInt64>, remove: Bool) throws { try applyToBoth(&set, &model, r, remove: remove) }
            for (step, w) in words.enumerated() {
                switch w % 8 {
                case 0, 1, 2:
                    // Appending in order, 2-9 values apart: blocks fill one after another.
                    next += 2 + (w >> 8) % 8
                    let r = next...(next + (w >> 16) % 2)
                    next = r.upperBound
                    try apply(r, remove: false)
                case 7:
                    let o = outliers[Int((w >> 8) % UInt64(outliers.count))] + (w >> 16) % 8
                    try apply(o...o, remove: false)
                default:
                    let s = clusters[Int((w >> 8) % 4)] + (w >> 16) % 4096
                    try apply(s...(s + (w >> 32) % 8), remove: w & (1 << 63) != 0 && step % 3 == 0)
                }
                if step % 50 == 49 { try apply(((1 << 30) + (1 << 35))...UInt64.max, remove: true) }
                if step % 25 == 24 {
                    verify(set, model, span: 1 << 31)
                    set.expectInternalsAgree(with: model)
                }
            }
            verify(set, model, span: 1 << 31)
            set.expectInternalsAgree(with: model)
        }
    }
}

/// Adds or removes `r` in the set and in the model alike.
func applyToBoth(_ set: inout RangeSet, _ model: inout NaiveRangeSet, _ r: ClosedRange<UInt64>, remove: Bool) throws {
    if remove {
        try set.remove(r)
        model.ranges = model.removing(r) ?? model.ranges
    } else {
        try set.add(r)
        model.ranges = model.adding(r) ?? model.ranges
    }
}

/// The directory names the same leaf block as a descent of the B+ index, for every value a
/// lookup can ask about (each range's start and end and their neighbours, and values between):
/// a directory that sent a lookup to a wrong block could still answer right by luck, this cannot.
func expectDirectoryAgreesWithIndex(_ set: borrowing RangeSet, _ model: NaiveRangeSet) {
    if model.ranges.isEmpty {
        // Invariant 7: an empty set's lookup reads one entry with split 0 (out of line, where
        // the count is tested): its own directory's first word while it keeps an index, else
        // the shared zero word, never a freed buffer.
        #expect(set._directory.clamp == 0 && set._directory.entries[0] == 0, "empty set's directory not parked")
        if let index = set._index.words {
            #expect(set._directory.entries == index + set._index.areaAt, "empty set's directory is not its own")
        } else {
            #expect(set._directory.entries == RangeSet.emptyDirectory, "empty set without storage reads a stale directory")
        }
        #expect(RangeSet.emptyDirectory.pointee == 0, "the shared empty directory was written")
        return
    }
    guard let lowest = model.ranges.first?.lowerBound, let index = set._index.words else { return }
    var probes: [UInt64] = []
    for r in model.ranges {
        for x in [r.lowerBound, r.lowerBound &+ 1, r.upperBound, r.upperBound &+ 1, r.lowerBound &- 1,
                  r.lowerBound / 2 &+ r.upperBound / 2] {
            probes.append(x)
        }
    }
    // Below the lowest start there is no predecessor block: contains(point) relies on getting a
    // block based above x (its offset then wraps past every end), in both directory modes.
    for x in [0, lowest / 2, lowest &- 1] where x < lowest {
        let block = set._locate(x, UnsafePointer(index))
        #expect(index[set._index.bottom + block] > x, "directory sends \(x), below the lowest start, to block \(block)")
    }
    // An entry that takes a lookup straight to a block (split not 0) never names a wide one:
    // contains(point) reads such a block as narrow without looking.
    for x in probes + [0, lowest &- 1, .max] {
        let relative = min(x &- set._directory.base, set._directory.clamp)
        let entry = set._directory.entries[Int(truncatingIfNeeded: relative >> set._directory.shift)]
        guard entry >> 32 != 0 else { continue }
        let block = set._locate(x, UnsafePointer(index))
        let wide = set._isWide(block: block)
        #expect(!wide, "directory sends \(x) straight to wide block \(block)")
    }
    for x in probes where x >= lowest && x < .max {
        let viaDirectory = set._locate(x, UnsafePointer(index))
        let viaIndex = RangeSet._descend(x, UnsafePointer(index), depth: set._index.depth)
        #expect(viaDirectory == viaIndex, "directory sends \(x) to block \(viaDirectory), the index to \(viaIndex)")
    }
}

/// The point table (invariant 8), when the set uses it, line for line against the model: each
/// line holds exactly the parts of the model's ranges inside its bucket (or is an overflow line
/// when more than 16 meet it), the sentinel and the lines past the ranges are empty, the
/// directory is parked so the predecessor queries descend the index, and the multiply that finds
/// a bucket is exact over every value a lookup can see.
func expectPointTableAgrees(_ set: borrowing RangeSet, _ model: NaiveRangeSet) {
    guard let lines = set._table.lines else {
        // The directory form: its own entries when the set holds ranges.
        if !model.ranges.isEmpty, let index = set._index.words {
            #expect(set._directory.entries == index + set._index.areaAt && !set._directory.stale, "directory form without its directory")
        }
        return
    }
    guard let index = set._index.words, let lowest = model.ranges.first?.lowerBound, let highest = model.ranges.last?.upperBound else {
        Issue.record("an empty set kept its point table")
        return
    }
    let width = set._table.width, base = set._table.base, clamp = set._table.clamp
    #expect((2...RangeSet.tableMaximumWidth).contains(width), "bucket width \(width)")
    #expect(set._table.reciprocal == UInt64.max / width + 1, "reciprocal of \(width)")
    let dataLines = RangeSet._tableLines(capacity: set.memory.capacity) - 1
    #expect(clamp == UInt64(dataLines) * width)
    #expect(lines == UnsafeRawPointer(index + set._index.areaAt) && Int(bitPattern: lines) % 64 == 0)
    #expect(set._directory.entries == RangeSet.emptyDirectory && set._directory.clamp == 0, "directory not parked under the table")
    #expect(lowest >= base && highest - base < clamp, "ranges outside the table: \(lowest)...\(highest), base \(base) clamp \(clamp)")
    // Expected slots per line, from the model.
    var expected = [[(UInt16, UInt16)]](repeating: [], count: dataLines)
    for r in model.ranges {
        let first = Int((r.lowerBound - base) / width), last = Int((r.upperBound - base) / width)
        for k in first...last {
            let low = base + UInt64(k) * width
            let high = low > .max - (width - 1) ? .max : low + (width - 1)
            expected[k].append((UInt16(max(r.lowerBound, low) - low), UInt16(min(r.upperBound, high) - low)))
        }
    }
    var overflowing = 0
    for k in 0...dataLines {
        let w = (lines + k * 64).assumingMemoryBound(to: UInt16.self)
        let got = (0..<32).map { w[$0] ^ 0x8000 }
        var want: [UInt16]
        let slots = k < dataLines ? expected[k] : []
        if slots.count > 16 {
            // A small directory entry: the first and last block a value of the bucket can be
            // in (block b's base is range 8b's start), and the mark in slot 15's start.
            overflowing += 1
            let low = base + UInt64(k) * width
            let high = low > .max - (width - 1) ? .max : low + (width - 1)
            let blockBases = Swift.stride(from: 0, to: model.ranges.count, by: 8).map { model.ranges[$0].lowerBound }
            let first = max(0, (blockBases.lastIndex { $0 <= low } ?? 0))
            let last = max(0, (blockBases.lastIndex { $0 <= high } ?? 0))
            let raw = [UInt16(first & 0xFFFF), UInt16(first >> 16), UInt16(last & 0xFFFF), UInt16(last >> 16)]
                + [UInt16](repeating: 0, count: 11) + [0x8000] + [UInt16](repeating: 0, count: 16)
            want = raw.map { $0 ^ 0x8000 }  // `got` has the bias taken off
        } else {
            want = slots.map(\.0) + [UInt16](repeating: 0xFFFF, count: 16 - slots.count)
                + slots.map(\.1) + [UInt16](repeating: 0, count: 16 - slots.count)
        }
        #expect(got == want, "line \(k) of \(dataLines) (width \(width), base \(base))")
    }
    #expect(overflowing == set._table.overflowLines, "overflow lines counted \(set._table.overflowLines), found \(overflowing)")
    #expect(overflowing * RangeSet.tableOverflowShare <= Int((highest - base) / width) + 1, "more than 1 in 64 of the used lines overflow")
    // The bucket a lookup computes: k * width <= relative < (k + 1) * width, at every bucket's
    // edges and at the clamp.
    var relatives: [UInt64] = [0, 1, clamp, clamp - 1]
    for k in Swift.stride(from: 0, through: dataLines, by: max(1, dataLines / 64)) {
        let low = UInt64(k) * width
        relatives += [low, low + width - 1, low + width / 2]
    }
    for relative in relatives where relative <= clamp {
        let k = relative.multipliedFullWidth(by: set._table.reciprocal).high
        #expect(k * width <= relative && relative - k * width < width, "bucket of \(relative) computed as \(k), width \(width)")
    }
}
