import Foundation
import Testing
import VpmemTestSupport
@testable import NVDIMM

/// Finding label areas at the end of a backing, and judging them against a configured label
/// size: the data-loss cases (a), (b), (c) of `LabelAreaCheck` and the clean ones.
@Suite struct LabelAreaSearchTests {
    static let kib: UInt64 = 1 << 10
    static let mib: UInt64 = 1 << 20

    /// A backing in memory.
    struct Backing {
        var bytes: [UInt8]
        var length: UInt64 { UInt64(bytes.count) }
        init(length: UInt64) { bytes = [UInt8](repeating: 0, count: Int(length)) }

        func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
            guard offset + UInt64(count) <= length else { return nil }
            return Array(bytes[Int(offset)..<Int(offset) + count])
        }
        /// A label area of `size` bytes at the end, as ndctl init-labels leaves it, with `labels`.
        mutating func writeArea(size: UInt64, labelSize: Int = 128, labels: [NamespaceLabel] = []) throws {
            let layout = try LabelAreaLayout(areaSize: Int(size), labelSize: labelSize)
            let area = try LabelArea.encode(layout: layout, labels: labels)
            bytes.replaceSubrange(bytes.count - area.count..<bytes.count, with: area)
        }
        /// Random non-zero bytes over `range`.
        mutating func fill(_ range: Range<UInt64>, seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            bytes.withUnsafeMutableBytes { raw in
                var i = Int(range.lowerBound)
                while i < Int(range.upperBound) {
                    let word = rng.next() | 0x0101_0101_0101_0101
                    for k in 0..<min(8, Int(range.upperBound) - i) { raw[i + k] = UInt8(truncatingIfNeeded: word >> (8 * k)) }
                    i += 8
                }
            }
        }
        func found(including extra: [UInt64] = []) -> [FoundLabelArea] {
            LabelAreaSearch.find(backingLength: length, including: extra, read: read)
        }
        func check(configured: UInt64?) -> LabelAreaCheck {
            let found = found(including: configured.map { [$0] } ?? [])
            var nonZero: UInt64?
            if let c = configured, c > 0 { nonZero = (length - c..<length).first { bytes[Int($0)] != 0 } }
            return LabelAreaCheck(backingLength: length, configuredSize: configured, found: found, firstNonZero: nonZero)
        }
    }

    static func label(slot: UInt32) -> NamespaceLabel {
        NamespaceLabel(uuid: (0..<16).map { UInt8($0) &+ UInt8(truncatingIfNeeded: slot) }, name: "ns\(slot)", dpa: UInt64(slot) << 24, rawsize: 16 << 20,
                       slot: slot, typeGUID: Array(repeating: 0, count: 16))
    }

    @Test func candidateSizesCoverQEMUsUsualSizesAndTheConfiguredOne() {
        let sizes = LabelAreaSearch.candidateSizes(backingLength: 64 << 30)
        #expect(sizes == sizes.sorted() && Set(sizes).count == sizes.count)
        for s: UInt64 in [128 * Self.kib, 132 * Self.kib, 256 * Self.kib, 1396 * Self.kib, 2 * Self.mib, 4 * Self.mib, 16 * Self.mib,
                          64 * Self.mib, 256 * Self.mib, 1 << 30, 2 << 30, (4 << 30) - 4096] {
            #expect(sizes.contains(s), "\(s)")
        }
        #expect(!sizes.contains(128 * Self.kib - 4096) && !sizes.contains(16 * Self.mib + 4096) && sizes.last == (4 << 30) - 4096)
        // Never larger than the backing; a configured size off the grid is added.
        #expect(LabelAreaSearch.candidateSizes(backingLength: 200 * Self.kib).last == 200 * Self.kib)
        #expect(LabelAreaSearch.candidateSizes(backingLength: 100 * Self.kib).isEmpty)
        #expect(LabelAreaSearch.candidateSizes(backingLength: 1 << 30, including: [300 * Self.mib + 4096]).contains(300 * Self.mib + 4096))
    }

    // MARK: The clean cases

    @Test func aFreshZeroBackingHoldsNothingAndItsLabelAreaIsFresh() {
        let b = Backing(length: 4 * Self.mib + 128 * Self.kib)
        #expect(b.found().isEmpty)
        let alone = b.check(configured: nil)
        #expect(alone.verdict == .noneFound && !alone.labelAreaFound && alone.advice.contains("no namespace label area found"))
        let fresh = b.check(configured: 128 * Self.kib)
        #expect(fresh.verdict == .fresh && !fresh.overwritesData && fresh.problem(slot: 0, path: "b", readOnly: false) == nil)
        #expect(b.check(configured: 0).verdict == .noLabelArea)
    }

    @Test func aMatchingLabelAreaIsFoundAndSaysWhatToGiveTheGuest() throws {
        var b = Backing(length: 4 * Self.mib + 128 * Self.kib)
        b.fill(0..<4 * Self.mib, seed: 1)  // the guest's data
        try b.writeArea(size: 128 * Self.kib, labels: [Self.label(slot: 0), Self.label(slot: 3)])
        let found = b.found()
        #expect(found.count == 1)
        let a = try #require(found.first)
        #expect(a.offset == 4 * Self.mib && a.size == 128 * Self.kib && a.isValid && a.validBlocks == [0, 1])
        #expect(a.layout?.labelSize == 128 && a.layout?.nslot == 1020 && a.slotsInUse == 2 && a.current == 0 && a.seq == 3)
        let check = b.check(configured: 128 * Self.kib)
        #expect(check.verdict == .matches && !check.overwritesData && check.problem(slot: 0, path: "b", readOnly: false) == nil)
        let alone = b.check(configured: nil)
        #expect(alone.verdict == .found && alone.labelAreaFound)
        #expect(alone.advice.contains("namespace label area of 128K") && alone.advice.contains("at offset 0x400000")
                && alone.advice.contains("size 4M") && alone.advice.contains("label-size 128K"))
    }

    // MARK: (a) reused with no label area

    @Test func labelsIgnoredWhenTheVNVDIMMHasNoLabelArea() throws {
        var b = Backing(length: 4 * Self.mib)
        try b.writeArea(size: 2 * Self.mib, labelSize: 256, labels: [Self.label(slot: 1)])
        let check = b.check(configured: 0)
        #expect(check.verdict == .labelsIgnored && !check.overwritesData)
        let line = try #require(check.problem(slot: 2, path: "/x.pmem", readOnly: false))
        #expect(line.hasPrefix("vNVDIMM slot 2: backing /x.pmem holds a namespace label area of 2M (v1.2"))
        #expect(line.contains("none of its namespaces") && line.contains("size 2M and label-size 2M"))
    }

    // MARK: (b) data given a label area

    @Test func dataInTheLabelAreaWouldBeOverwritten() throws {
        var b = Backing(length: 4 * Self.mib)
        b.fill(4 * Self.mib - 1000..<4 * Self.mib - 999, seed: 2)  // one byte of data in the tail
        let check = b.check(configured: 2 * Self.mib)
        #expect(check.verdict == .dataInLabelArea && check.overwritesData && check.firstNonZero == 4 * Self.mib - 1000)
        let line = try #require(check.problem(slot: 0, path: "/d.pmem", readOnly: false))
        #expect(line.contains("hold data") && line.contains("overwrite") && line.contains("label-size 0 and size 4M") && line.contains("--force"))
        // Read-only: the guest cannot write labels, so nothing is lost; forced: --force is not offered again.
        #expect(try #require(check.problem(slot: 0, path: "/d.pmem", readOnly: true)).contains("corrupt label area"))
        #expect(!(try #require(check.problem(slot: 0, path: "/d.pmem", readOnly: true))).contains("--force"))
        let forced = try #require(check.problem(slot: 0, path: "/d.pmem", readOnly: false, forced: true))
        #expect(forced.contains("(--force: those bytes are the label area's now)") && !forced.contains("or --force"))
        // The data outside the label area is the guest's: no verdict about it.
        var quiet = Backing(length: 4 * Self.mib)
        quiet.fill(0..<2 * Self.mib, seed: 3)
        #expect(quiet.check(configured: 2 * Self.mib).verdict == .fresh)
    }

    // MARK: (c) the label size changed

    @Test func aChangedLabelSizeIsFoundAtTheOldOffset() throws {
        var b = Backing(length: 4 * Self.mib + 128 * Self.kib)
        try b.writeArea(size: 128 * Self.kib, labels: [Self.label(slot: 0)])
        // A larger area now: it covers the old labels (non-zero): their bytes would be overwritten.
        let larger = b.check(configured: 2 * Self.mib + 128 * Self.kib)
        #expect(larger.verdict == .labelSizeChanged && larger.overwritesData)
        let line = try #require(larger.problem(slot: 0, path: "/c.pmem", readOnly: false))
        #expect(line.contains("not the 2176K label area at offset 0x200000") && line.contains("size 4M and label-size 128K") && line.contains("--force"))
        // A smaller area inside the old one's empty slots: all zero, so hidden but not overwritten.
        var big = Backing(length: 8 * Self.mib)
        try big.writeArea(size: 4 * Self.mib, labelSize: 256)
        let smaller = big.check(configured: 2 * Self.mib)
        #expect(smaller.verdict == .labelSizeChanged && !smaller.overwritesData && smaller.firstNonZero == nil)
        #expect(try #require(smaller.problem(slot: 0, path: "/c.pmem", readOnly: false)).contains("size 4M and label-size 4M"))
    }

    // MARK: Torn and damaged areas

    @Test func aTornAreaIsStillFoundAndADamagedOneIsNamed() throws {
        var b = Backing(length: 4 * Self.mib + 128 * Self.kib)
        try b.writeArea(size: 128 * Self.kib)
        let start = Int(4 * Self.mib)
        b.bytes[start + 20] ^= 0xFF  // block 0's seq: its checksum fails
        let torn = try #require(b.found().first)
        #expect(torn.isValid && torn.validBlocks == [1] && torn.current == 1 && torn.summary.contains("only index block 1 valid"))
        #expect(b.check(configured: 128 * Self.kib).verdict == .matches)
        b.bytes[start + 256 + 20] ^= 0xFF  // and block 1's
        let damaged = b.found()
        #expect(damaged.count == 1 && !damaged[0].isValid && damaged[0].offset == 4 * Self.mib)
        let check = b.check(configured: 128 * Self.kib)
        #expect(check.verdict == .damaged && !check.labelAreaFound && !check.overwritesData)
        #expect(try #require(check.problem(slot: 0, path: "p", readOnly: false)).contains("damaged namespace index"))
    }

    /// Against a naive model: one label area of a random plausible size and version written at
    /// the end of a random backing with random data before it (and, sometimes, one block torn)
    /// is found exactly there and nowhere else, and every configuration is judged as the cases
    /// say, `overwritesData` exactly when the configured area holds a non-zero byte.
    @Test func oneAreaIsFoundExactlyWhereItWasWritten() async {
        await checkProperty(count: 30, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let length = (UInt64(rng.next() % 1024) + 512) * 4096  // 2M to 6M
            let sizes = LabelAreaSearch.candidateSizes(backingLength: length).filter { $0 <= length / 2 }
            let size = sizes[Int(rng.next() % UInt64(sizes.count))]
            let labelSize = rng.next() % 2 == 0 ? 128 : 256
            var b = Backing(length: length)
            b.fill(0..<length - size, seed: rng.next())
            let layout = try LabelAreaLayout(areaSize: Int(size), labelSize: labelSize)
            let slots = Set((0..<Int(rng.next() % 4)).map { _ in UInt32(rng.next() % UInt64(layout.nslot)) }).sorted()
            try b.writeArea(size: size, labelSize: labelSize, labels: slots.map(Self.label))
            let torn = Int(rng.next() % 3)  // 0, 1: that block torn; 2: neither
            if torn < 2 { b.bytes[Int(length - size) + layout.indexOffset(block: torn) + 20] ^= 0x40 }

            let found = b.found()
            #expect(found.count == 1, "\(found)")
            let a = try #require(found.first)
            #expect(a.offset == length - size && a.size == size && a.layout == layout && a.slotsInUse == slots.count)
            #expect(a.validBlocks == (torn < 2 ? [1 - torn] : [0, 1]))

            #expect(b.check(configured: nil).verdict == .found)
            #expect(b.check(configured: size).verdict == .matches)
            #expect(b.check(configured: 0).verdict == .labelsIgnored)
            let other = sizes[Int(rng.next() % UInt64(sizes.count))]
            if other != size {
                let c = b.check(configured: other)
                let nonZero = b.bytes[Int(length - other)...].contains { $0 != 0 }
                #expect(c.verdict == .labelSizeChanged && c.overwritesData == nonZero)
            }
        }
    }

    /// Random data with no label area: nothing found; a configured area is fresh exactly when
    /// its bytes are all zero.
    @Test func dataAloneIsNeverALabelArea() async {
        await checkProperty(count: 30, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let length = (UInt64(rng.next() % 512) + 64) * 4096
            var b = Backing(length: length)
            let end = rng.next() % 2 == 0 ? length : length - 128 * Self.kib - 4096 * (rng.next() % 8)
            b.fill(0..<end, seed: rng.next())
            #expect(b.found().isEmpty)
            let c = b.check(configured: 128 * Self.kib)
            #expect(c.verdict == (end == length ? .dataInLabelArea : .fresh))
            #expect(c.overwritesData == (end == length))
        }
    }
}
