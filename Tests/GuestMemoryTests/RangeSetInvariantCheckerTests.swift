@testable import GuestMemory
import Testing

/// The debug invariant checker the property tests call after every operation: it passes sound
/// sets in each form, and it names the part of the layout that a corrupted field or word breaks
/// (so the property tests' "no violations" cannot pass by the checker looking at nothing).
/// Each corruption is made on a duplicate, in a field or word the set never frees by.
@Suite struct RangeSetInvariantCheckerTests {
    /// 400 ranges 10 values apart: the point table.
    func tableSet() throws -> RangeSet {
        var set = try RangeSet(name: "table", limit: 1000)
        for i in UInt64(0)..<400 { try set.add(first: i * 10, last: i * 10 + 3) }
        return set
    }

    /// 403 ranges with one 2^40 away: the directory; 403 is not whole blocks, so the last block
    /// has padding slots.
    func directorySet() throws -> RangeSet {
        var set = try RangeSet(name: "directory", limit: 1000)
        for i in UInt64(0)..<402 { try set.add(first: i * 10, last: i * 10 + 3) }
        try set.add(first: 1 << 40, last: (1 << 40) + 5)
        return set
    }

    /// One range spanning 2^40 values: a wide block and the high halves.
    func wideSet() throws -> RangeSet {
        var set = try RangeSet(name: "wide", limit: 100)
        try set.add(first: 5, last: 1 << 40)
        try set.add(first: (1 << 40) + 10, last: (1 << 40) + 12)
        return set
    }

    func expectBroken(_ set: borrowing RangeSet, naming part: String, _ comment: Comment) {
        let broken = set.invariantViolations()
        #expect(broken.contains { $0.contains(part) }, "\(comment): \(broken)")
    }

    @Test func soundSetsInEachFormPass() throws {
        #if DEBUG
        let empty = try RangeSet(name: "empty")
        let table = try tableSet(), directory = try directorySet(), wide = try wideSet()
        #expect(table._table.lines != nil && directory._table.lines == nil && wide._blocks.high != nil)
        for set in [empty.invariantViolations(), table.invariantViolations(), directory.invariantViolations(),
                    wide.invariantViolations(), table.duplicate().invariantViolations()] {
            #expect(set.isEmpty, "\(set)")
        }
        #endif
    }

    @Test func corruptedLeafBlocksAreReported() throws {
        #if DEBUG
        var counted = try wideSet().duplicate()
        counted._blocks.wideCount += 1
        expectBroken(counted, naming: "wide blocks counted", "the wide count off by one")
        let padded = try directorySet().duplicate()
        // Slot 7's end in the last block (slots 400...402 used): a padding end must be 0.
        let last = (padded.count - 1) / RangeSet.blockSize
        (padded._blocks.buffer! + last * RangeSet.blockBytes + 60).storeBytes(of: UInt32(7) ^ RangeSet.bias, as: UInt32.self)
        expectBroken(padded, naming: "padding slot 7 end", "a padding slot with an end")
        #endif
    }

    @Test func corruptedSearchIndexIsReported() throws {
        #if DEBUG
        var bases = try tableSet().duplicate()
        bases._index.bases = bases._index.bases! + 1
        expectBroken(bases, naming: "bottom level", "bases pointing past the bottom level")
        let keys = try directorySet().duplicate()
        // The root's first key, which must equal the first key of the level below.
        let index = keys._index.words!
        #expect(keys._index.depth >= 2)
        index[Int(index[1])] &+= 1
        expectBroken(keys, naming: "every 8th key", "a root key that is not its child's first")
        #endif
    }

    @Test func corruptedLookupFormsAreReported() throws {
        #if DEBUG
        var directory = try directorySet().duplicate()
        directory._directory.mask ^= 1
        expectBroken(directory, naming: "directory mask", "a mask that is not the shift's")
        var stale = try directorySet().duplicate()
        stale._directory.stale = true
        expectBroken(stale, naming: "live directory", "directory form with a stale directory")
        var table = try tableSet().duplicate()
        table._table.reciprocal &+= 1
        expectBroken(table, naming: "reciprocal", "a reciprocal that is not the width's")
        var unparked = try tableSet().duplicate()
        unparked._directory.clamp = 1
        expectBroken(unparked, naming: "not parked under the point table", "a live directory clamp under the table")
        #endif
    }
}
