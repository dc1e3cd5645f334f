import NVDIMM

/// Seed inputs for the label-area target: areas as Linux and QEMU write them (empty, with
/// labels, both label sizes, 128 and 256 KiB), the states an interrupted update leaves, each
/// corruption the decoder names, and sizes around the smallest layouts.
public enum LabelAreaSeeds {
    static let kib128 = 128 * 1024

    static func label(slot: UInt32, name: String = "") -> NamespaceLabel {
        NamespaceLabel(uuid: (0..<16).map { UInt8(truncatingIfNeeded: Int(slot) * 16 + $0 + 1) }, name: name.isEmpty ? "ns\(slot)" : name,
                       isetcookie: 0x1234_5678_9ABC_DEF0 &+ UInt64(slot), dpa: UInt64(slot) << 24, rawsize: 16 << 20, slot: slot)
    }

    /// An area with labels in `slots`, block 0 current (seq 3), block 1 seq 2.
    static func area(size: Int = kib128, labelSize: Int = 256, slots: [UInt32]) -> ([UInt8], LabelAreaLayout) {
        let layout = try! LabelAreaLayout(areaSize: size, labelSize: labelSize)
        return (try! LabelArea.encode(layout: layout, labels: slots.map { label(slot: $0) }), layout)
    }

    /// Block `number` rewritten with `seq`, and slots `inUse` in use.
    static func block(_ layout: LabelAreaLayout, _ number: Int, seq: UInt32, inUse: [Int]) -> [UInt8] {
        var b = LabelIndexBlock(layout: layout, block: number, seq: seq)
        for s in inUse { b.free[s] = false }
        return b.encode(size: layout.indexSize)
    }

    static func patch(_ area: [UInt8], at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
        var a = area
        a.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return a
    }

    static func smallestSize(labelSize: Int) -> Int {
        (0...).first { (try? LabelAreaLayout(areaSize: $0, labelSize: labelSize)) != nil }!
    }

    /// (name, input bytes), names without the "seed-" prefix.
    public static func all() -> [(String, [UInt8])] {
        var seeds: [(String, LabelAreaInput)] = []
        func add(_ name: String, _ area: [UInt8]) { seeds.append((name, .area(area))) }

        for size in [kib128, 2 * kib128] {
            for labelSize in [128, 256] {
                add("empty-\(size / 1024)k-label\(labelSize)", try! LabelArea.empty(size: size, labelSize: labelSize))
            }
        }
        add("labels-128k-label256", area(slots: [0, 1, 5]).0)
        add("labels-128k-label128", area(labelSize: 128, slots: [0, 2, 3]).0)
        add("labels-256k-label256", area(size: 2 * kib128, slots: [0, 7, 8]).0)

        // Interrupted updates (Linux writes the new label, then the non-current index block with
        // the next seq): the index write torn before its checksum, then the complete update.
        let (base, layout) = area(slots: [0])
        let newLabel = try! label(slot: 1).encode(labelSize: 256)
        let withLabel = patch(base, at: layout.labelOffset(slot: 1), newLabel)
        let next = block(layout, 1, seq: 1, inUse: [0, 1])  // 3 -> 1
        add("torn-index-update", patch(withLabel, at: layout.indexOffset(block: 1), Array(next[0..<60])))
        add("complete-index-update-seq-wrap", patch(withLabel, at: layout.indexOffset(block: 1), next))
        add("torn-label-write", patch(patch(base, at: layout.labelOffset(slot: 1), Array(newLabel[0..<100])),
                                      at: layout.indexOffset(block: 0), block(layout, 0, seq: 3, inUse: [0, 1])))
        add("equal-seqs", patch(base, at: layout.indexOffset(block: 1), block(layout, 1, seq: 3, inUse: [0])))
        add("seq-zero-block0", patch(base, at: layout.indexOffset(block: 0), block(layout, 0, seq: 4, inUse: [0])))

        // Corruptions the decoder names by field.
        var badSignature = base
        badSignature[3] ^= 0x20
        add("bad-signature-block0", badSignature)
        var bothBad = badSignature
        bothBad[layout.indexOffset(block: 1) + 3] ^= 0x20
        add("no-valid-index", bothBad)
        var wrongSlot = label(slot: 0)
        wrongSlot.slot = 4
        add("label-names-other-slot", patch(base, at: layout.labelOffset(slot: 0), try! wrongSlot.encode(labelSize: 256)))
        let (v11, l11) = area(labelSize: 128, slots: [0])
        var misaligned = label(slot: 0)
        misaligned.dpa = 0x1234
        add("label-dpa-misaligned-label128", patch(v11, at: l11.labelOffset(slot: 0), try! misaligned.encode(labelSize: 128)))
        var bigNslot = LabelIndexBlock(layout: layout, block: 0, seq: 3)
        bigNslot.nslot = 600
        add("nslot-too-large", patch(base, at: 0, bigNslot.encode(size: layout.indexSize)))
        var extraSlots = LabelIndexBlock(layout: l11, block: 0, seq: 3)  // (131072 - 512) / 128 = 1020 > 1016
        extraSlots.nslot = 1020
        extraSlots.free = Array(repeating: true, count: 1020)
        extraSlots.free[1019] = false
        add("nslot-beyond-size-rule-label128", patch(v11, at: 0, extraSlots.encode(size: l11.indexSize)))
        var wrongSize = LabelIndexBlock(layout: layout, block: 0, seq: 3)
        wrongSize.labelSizeCode = 0
        add("label-size-mismatch", patch(base, at: 0, wrongSize.encode(size: layout.indexSize)))
        var version = LabelIndexBlock(layout: layout, block: 0, seq: 3)
        version.major = 2
        add("bad-version", patch(base, at: 0, version.encode(size: layout.indexSize)))

        // Sizes around the smallest layouts (Linux's rule makes them 48.5 KiB and 64.5 KiB).
        for labelSize in [128, 256] {
            let n = smallestSize(labelSize: labelSize)
            add("smallest-label\(labelSize)", try! LabelArea.empty(size: n, labelSize: labelSize))
            add("one-short-of-smallest-label\(labelSize)", [UInt8](repeating: 0, count: n - 1))
        }
        // Raw inputs: the bytes are the area.
        let empty = try! LabelArea.empty(size: kib128)
        seeds.append(("raw-index-blocks-only", .init(.raw(Array(empty[0..<512])))))
        seeds.append(("raw-pattern-1k", .init(.raw((0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 7) }))))
        seeds.append(("zero-bytes", .init(.raw([]))))
        seeds.append(("all-ones-128k", .init(.sized(size: kib128, prefix: [], fill: 0xFF))))
        return seeds.map { ($0.0, $0.1.encoded()) }
    }
}
