import Foundation
import Testing
import VpmemTestSupport
@testable import NVDIMM

@Suite struct LabelAreaTests {
    static let size = 128 * 1024

    /// Fletcher-64 written out word by word, independent of the library's byte-stream version.
    static func referenceFletcher(_ b: [UInt8]) -> UInt64 {
        var lo: UInt32 = 0, hi: UInt64 = 0
        for i in stride(from: 0, to: b.count / 4 * 4, by: 4) {
            lo &+= UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
            hi &+= UInt64(lo)
        }
        return hi << 32 | UInt64(lo)
    }

    static func label(slot: UInt32, seed: UInt64) -> NamespaceLabel {
        var rng = SplitMix64(seed: seed)
        return NamespaceLabel(uuid: (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, name: "ns\(slot)",
                              flags: UInt32(rng.next() % 16), nlabel: 1, position: 0, isetcookie: rng.next(),
                              dpa: (rng.next() % 1000) << 12, rawsize: (rng.next() % 1000 + 1) << 12, slot: slot,
                              align: 0, abstractionGUID: Aml.guidBytes("266400ba-fb9f-4677-bcb0-968f11d0d225")!)
    }

    @Test func emptyAreaIsLaidOutLikeNdctlInitLabels() throws {
        let area = try LabelArea.empty(size: Self.size)
        let layout = try LabelAreaLayout(areaSize: Self.size)
        #expect(layout.nslot == 510)  // (131072 - 2 * 256) / 256
        #expect(layout.indexSize == 256)
        for block in 0..<2 {
            let b = Array(area[block * 256..<(block + 1) * 256])
            #expect(Array(b[0..<16]) == Array("NAMESPACE_INDEX".utf8) + [0])
            #expect(Array(b[16..<19]) == [0, 0, 0])
            #expect(b[19] == 1)  // 256-byte labels
            #expect(b.readLE(UInt32.self, at: 20) == (block == 0 ? 3 : 2))
            #expect(b.readLE(UInt64.self, at: 24) == UInt64(block * 256))
            #expect(b.readLE(UInt64.self, at: 32) == 256)
            #expect(b.readLE(UInt64.self, at: 40) == UInt64((1 - block) * 256))
            #expect(b.readLE(UInt64.self, at: 48) == 512)
            #expect(b.readLE(UInt32.self, at: 56) == 510)
            #expect(b.readLE(UInt16.self, at: 60) == 1 && b.readLE(UInt16.self, at: 62) == 2)
            var zeroed = b
            for i in 64..<72 { zeroed[i] = 0 }
            #expect(b.readLE(UInt64.self, at: 64) == Self.referenceFletcher(zeroed))
            // 510 free bits, and ndctl sets the bits up to the next multiple of 64 (512) too.
            #expect(b[72..<136].allSatisfy { $0 == 0xFF })
            #expect(b[136...].allSatisfy { $0 == 0 })
        }
        #expect(area[512...].allSatisfy { $0 == 0 })
        let d = LabelArea.decode(area)
        #expect(d.isClean && d.current == 0 && d.labels.isEmpty)
        #expect(d.layout == layout)
    }

    @Test func areasTooSmallAreErrors() {
        // UEFI 2.7's minimum: two 256-byte index blocks and two labels.
        #expect(throws: LabelAreaError.areaTooSmall(size: 1023, needed: 1024)) { try LabelArea.empty(size: 1023) }
        #expect((try? LabelAreaLayout(areaSize: 1024))?.nslot == 2)
        #expect(throws: LabelAreaError.areaTooSmall(size: 767, needed: 768)) { try LabelAreaLayout(areaSize: 767, labelSize: 128) }
        #expect(throws: LabelAreaError.areaTooLarge(size: 1 << 32)) { try LabelAreaLayout(areaSize: 1 << 32) }
        #expect((try? LabelAreaLayout(areaSize: 65536, labelSize: 128))?.nslot == 508)
        #expect((try? LabelAreaLayout(areaSize: 65536, labelSize: 256))?.nslot == 254)
        #expect(throws: LabelAreaError.unsupportedLabelSize(512)) { try LabelAreaLayout(areaSize: 1 << 17, labelSize: 512) }
        let d = LabelArea.decode([])
        #expect(d.current == nil && !d.isClean)
    }

    @Test func seqRulesPickTheNewerBlock() {
        #expect(LabelSequence.current(seq0: 3, seq1: 2) == 0)
        #expect(LabelSequence.current(seq0: 3, seq1: 1) == 1)  // 1 follows 3
        #expect(LabelSequence.current(seq0: 1, seq1: 2) == 1)
        #expect(LabelSequence.current(seq0: 2, seq1: 3) == 1)
        #expect(LabelSequence.current(seq0: 2, seq1: 1) == 0)
        #expect(LabelSequence.current(seq0: 1, seq1: 3) == 0)
        #expect(LabelSequence.current(seq0: 2, seq1: 2) == 1)
        #expect(LabelSequence.current(seq0: 7, seq1: 2) == 0)  // only the low 2 bits count: 7 is 3
        #expect(LabelSequence.next(3) == 1 && LabelSequence.next(1) == 2 && LabelSequence.next(2) == 3)
    }

    @Test func labelsRoundTrip() async throws {
        await checkProperty(count: 30, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let labelSize = rng.next() % 2 == 0 ? 256 : 128
            let layout = try LabelAreaLayout(areaSize: Self.size, labelSize: labelSize)
            let slots = Set((0..<Int(rng.next() % 12)).map { _ in UInt32(rng.next() % UInt64(layout.nslot)) }).sorted()
            var labels = slots.map { Self.label(slot: $0, seed: rng.next()) }
            if labelSize == 128 {
                for i in labels.indices { labels[i].typeGUID = Array(repeating: 0, count: 16); labels[i].abstractionGUID = Array(repeating: 0, count: 16) }
            }
            let area = try LabelArea.encode(layout: layout, labels: labels)
            let d = LabelArea.decode(area)
            #expect(d.isClean, "\(d.issues)")
            #expect(d.layout?.labelSize == labelSize)
            #expect(d.labels == labels)
            #expect(d.blocks[0]?.slotsInUse == slots.map(Int.init))
        }
    }

    /// Found by the label-area fuzzer: the name field is 64 bytes that other software fills as it
    /// likes. A label whose name is not UTF-8, or fills all 64 bytes without a NUL, must decode
    /// clean and encode back byte for byte: a tool that rewrites the index must not change or
    /// refuse labels it merely read.
    @Test func labelNamesAreKeptByteForByte() throws {
        for labelSize in [128, 256] {
            let layout = try LabelAreaLayout(areaSize: Self.size, labelSize: labelSize)
            var label = Self.label(slot: 2, seed: 9)
            if labelSize == 128 { label.typeGUID = Array(repeating: 0, count: 16); label.abstractionGUID = Array(repeating: 0, count: 16) }
            let area = try LabelArea.encode(layout: layout, labels: [label])
            let field = layout.labelOffset(slot: 2) + 16
            for name in [[UInt8](repeating: 0xFF, count: 40), Array("caf\u{e9}".utf8) + [0xC3], (0..<64).map { UInt8(0x41 + $0 % 26) }] {
                var a = area
                a.replaceSubrange(field..<field + 64, with: name + [UInt8](repeating: 0, count: 64 - name.count))
                if labelSize == 256 {  // a writer that knows the format fixes the checksum
                    var bytes = Array(a[field - 16..<field + 240])
                    bytes.writeLE(UInt64(0), at: NamespaceLabel.checksumOffset)
                    a.replaceSubrange(field - 16 + 248..<field + 240, with: Self.le64(Self.referenceFletcher(bytes)))
                }
                let d = LabelArea.decode(a)
                #expect(d.isClean, "\(d.issues)")
                #expect(d.labels.first?.nameBytes == name)
                let again = try LabelArea.encode(layout: layout, labels: d.labels)
                #expect(Array(again[field..<field + 64]) == Array(a[field..<field + 64]))
                #expect(LabelArea.decode(again).labels == d.labels)
            }
        }
        var label = Self.label(slot: 0, seed: 1)
        label.nameBytes = [UInt8](repeating: 0x41, count: 65)
        #expect(throws: LabelAreaError.nameTooLong(String(repeating: "A", count: 65))) { try label.encode(labelSize: 256) }
        label.name = "a\u{0}b"
        #expect(throws: LabelAreaError.nameContainsNUL("a\u{0}b")) { try label.encode(labelSize: 256) }
    }

    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// An update writes the non-current block with the next seq. Torn, it leaves the old block
    /// current and says which block is bad; whole, it becomes current.
    @Test func tornIndexUpdateLeavesThePreviousBlockValid() throws {
        let layout = try LabelAreaLayout(areaSize: Self.size)
        let old = Self.label(slot: 0, seed: 1)
        var area = try LabelArea.encode(layout: layout, labels: [old])
        // New label into a free slot, then the index update to block 1.
        let new = Self.label(slot: 1, seed: 2)
        area.replaceSubrange(layout.labelOffset(slot: 1)..<layout.labelOffset(slot: 2), with: try new.encode(labelSize: 256))
        var next = LabelArea.decode(area).blocks[0]!
        next = LabelIndexBlock(layout: layout, block: 1, seq: LabelSequence.next(next.seq))
        next.free[0] = false
        next.free[1] = false
        let full = next.encode(size: layout.indexSize)

        var torn = area
        torn.replaceSubrange(256..<256 + 60, with: full[0..<60])  // the new seq reached media, the checksum did not
        let t = LabelArea.decode(torn)
        #expect(t.current == 0)
        #expect(t.labels == [old])
        #expect(t.blocks[1] == nil)
        #expect(!t.issues.isEmpty && t.issues.allSatisfy { $0.block == 1 })
        #expect(t.issues.contains { if case .indexChecksum(1, _, _) = $0 { true } else { false } })

        var whole = area
        whole.replaceSubrange(256..<512, with: full)
        let w = LabelArea.decode(whole)
        #expect(w.isClean && w.current == 1)
        #expect(w.labels == [old, new])
    }

    @Test func corruptionIsReportedByBlockAndField() throws {
        let layout = try LabelAreaLayout(areaSize: Self.size)
        let area = try LabelArea.encode(layout: layout, labels: [Self.label(slot: 4, seed: 9)])
        // Signature of block 0.
        var a = area
        a[3] ^= 0x20
        var d = LabelArea.decode(a)
        #expect(d.current == 1)
        #expect(d.issues.contains(.indexField(block: 0, field: .signature, found: a.readLE(UInt64.self, at: 0), expected: "\"NAMESPACE_INDEX\\0\"")))
        // nslot of block 1 too large, with a valid checksum: only that field is named.
        var blk = d.blocks[1]!
        blk.nslot = 600
        blk.free = Array(repeating: true, count: 600)
        a = area
        LabelArea.write(blk, block: 1, layout: layout, into: &a)
        d = LabelArea.decode(a)
        #expect(d.issues == [.indexField(block: 1, field: .nslot, found: 600, expected: "at most 510 for a 131072-byte area")])
        #expect(d.current == 0 && d.labels.count == 1)
        // seq 0 in block 0.
        blk = LabelArea.decode(area).blocks[0]!
        blk.seq = 4
        a = area
        LabelArea.write(blk, block: 0, layout: layout, into: &a)
        #expect(LabelArea.decode(a).issues == [.indexField(block: 0, field: .seq, found: 4, expected: "1, 2 or 3 in the low 2 bits")])
        // A label whose checksum is wrong, and one that claims another slot.
        a = area
        a[layout.labelOffset(slot: 4) + 20] ^= 1
        d = LabelArea.decode(a)
        #expect(d.labels.isEmpty)
        #expect(d.issues.count == 1)
        if case .labelChecksum(4, _, _) = d.issues.first {} else { Issue.record("expected a checksum issue on slot 4: \(d.issues)") }
        var moved = Self.label(slot: 4, seed: 9)
        moved.slot = 7
        a = area
        a.replaceSubrange(layout.labelOffset(slot: 4)..<layout.labelOffset(slot: 5), with: try moved.encode(labelSize: 256))
        #expect(LabelArea.decode(a).issues == [.labelField(slot: 4, field: .slot, found: 7)])
        #expect(LabelArea.decode(a).issues.first!.description.contains("slot 4"))
    }

    /// Random byte corruption: the decoder never traps, every changed index block is reported by
    /// number, a changed in-use label is reported or dropped, and untouched parts decode as before.
    @Test func randomCorruptionIsAlwaysReported() async throws {
        let layout = try LabelAreaLayout(areaSize: Self.size)
        let labels = [0, 3, 17].map { Self.label(slot: UInt32($0), seed: UInt64($0)) }
        let area = try LabelArea.encode(layout: layout, labels: labels)
        await checkProperty(count: 300, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            var a = area
            var touched = Set<Int>()
            let hot = [0, 256, layout.labelOffset(slot: 0), layout.labelOffset(slot: 3), layout.labelOffset(slot: 17)]
            for _ in 0..<Int(rng.next() % 6 + 1) {
                // Half the hits land in the structures that matter.
                let at = rng.next() % 2 == 0 ? hot[Int(rng.next() % 5)] + Int(rng.next() % 256) : Int(rng.next() % UInt64(a.count))
                let v = UInt8(truncatingIfNeeded: rng.next())
                if a[at] != v { touched.insert(at) }
                a[at] = v
            }
            let d = LabelArea.decode(a)
            for block in 0..<2 where touched.contains(where: { $0 / 256 == block }) {
                #expect(d.blocks[block] == nil || d.blocks[block]?.encode(size: 256) == Array(a[block * 256..<(block + 1) * 256]))
                if d.blocks[block] == nil { #expect(d.issues.contains { $0.block == block }) }
            }
            let blocksIntact = !touched.contains { $0 < 512 }
            if blocksIntact {
                #expect(d.current == 0)
                for l in labels {
                    let start = layout.labelOffset(slot: Int(l.slot))
                    let hit = touched.contains { $0 >= start && $0 < start + 256 }
                    if hit {
                        #expect(!d.labels.contains(l) || d.issues.isEmpty == false)
                        #expect(d.issues.contains { issue in
                            switch issue {
                            case .labelChecksum(let s, _, _), .labelField(let s, _, _): return s == Int(l.slot)
                            default: return false
                            }
                        })
                    } else {
                        #expect(d.labels.contains(l))
                    }
                }
            }
            // Truncated copies never trap either.
            _ = LabelArea.decode(Array(a.prefix(Int(rng.next() % UInt64(a.count)))))
        }
    }
}
