import NVDIMM

/// Fuzz target: the namespace label area decoder (`LabelArea.decode`), on arbitrary bytes of
/// arbitrary sizes (see `LabelAreaInput`). It must never trap, and its answer must be coherent:
/// - decoding is deterministic; there are always two block entries;
/// - no layout only when neither 128- nor 256-byte labels fit the size; the layout's size is
///   the area's; 256-byte labels chosen with a current block only when 128-byte labels gave none;
/// - a current block exists exactly when `noValidIndex` is not reported, and it is a block the
///   decoder reported valid; with both valid it is the one a naive seq table picks (1 -> 2 -> 3
///   -> 1, equal seqs: block 1);
/// - a block reported invalid has an issue naming it; an issue naming a block means that block
///   is invalid; a valid block's own fields agree with the layout;
/// - labels come from in-use slots of the current block, in slot order, name their own slot and
///   are 4 KiB aligned; every other in-use slot has an issue naming it;
/// - a clean area round-trips: encoding its labels under its layout and decoding that gives a
///   clean area with the same layout and the same labels (when the index's nslot is the one the
///   encoder writes: an index may declare a few slots more than size / (label size + 1), which
///   Linux accepts and the encoder never writes).
public enum LabelAreaFuzzTarget {
    public static func run(_ data: UnsafeRawBufferPointer) {
        run(LabelAreaInput(decoding: Array(data)).area)
    }

    public static func run(_ area: [UInt8]) {
        let d = LabelArea.decode(area)
        invariant(d == LabelArea.decode(area), "decoding twice gave two answers")
        invariant(d.blocks.count == 2, "\(d.blocks.count) block entries")
        for issue in d.issues { invariant(!issue.description.isEmpty, "an issue without a description") }

        let layout128 = try? LabelAreaLayout(areaSize: area.count, labelSize: 128)
        let layout256 = try? LabelAreaLayout(areaSize: area.count, labelSize: 256)
        guard let layout = d.layout else {
            invariant(layout128 == nil && layout256 == nil, "no layout chosen for a \(area.count)-byte area that has one")
            invariant(d.current == nil && d.labels.isEmpty && !d.issues.isEmpty, "no layout, yet a current block, labels or no issue")
            return
        }
        invariant(layout.areaSize == area.count, "layout for \(layout.areaSize) bytes, area of \(area.count)")
        if layout.labelSize == 256, d.current != nil, let layout128 {
            invariant(LabelArea.decode(area, layout: layout128).current == nil, "256-byte labels chosen though 128-byte labels decode")
        }
        if d.current == nil, layout256 != nil {
            invariant(layout.labelSize == 256, "no current block under either size, yet the 128-byte attempt is reported")
        }

        let noValidIndex = d.issues.contains(.noValidIndex)
        invariant((d.current == nil) == noValidIndex, "current \(String(describing: d.current)) but noValidIndex reported \(noValidIndex)")

        for (i, block) in d.blocks.enumerated() {
            let named = d.issues.contains { $0.block == i || $0.isAreaTooSmall }
            if let block {
                invariant(!d.issues.contains { $0.block == i }, "block \(i) is valid, yet an issue names it")
                check(block, number: i, layout: layout)
            } else {
                invariant(named, "block \(i) is invalid, yet no issue names it")
            }
        }

        guard let c = d.current else {
            invariant(d.labels.isEmpty, "labels without a current block")
            return
        }
        guard let current = d.blocks[c] else { return invariant(false, "current block \(c) was reported invalid") }
        if let other = d.blocks[1 - c] {
            let expected = naiveCurrent(seq0: c == 0 ? current.seq : other.seq, seq1: c == 1 ? current.seq : other.seq)
            invariant(c == expected, "seqs \(c == 0 ? current.seq : other.seq), \(c == 1 ? current.seq : other.seq): block \(c) chosen, expected \(expected)")
        }

        let inUse = current.slotsInUse
        let labelled = d.labels.map { Int($0.slot) }
        invariant(labelled == labelled.sorted() && Set(labelled).count == labelled.count, "labels not in slot order: \(labelled)")
        invariant(Set(labelled).isSubset(of: inUse), "labels \(labelled) outside the in-use slots")
        for label in d.labels {
            invariant(label.dpa & 0xFFF == 0 && label.rawsize & 0xFFF == 0, "label in slot \(label.slot) is not 4 KiB aligned")
        }
        let issueSlots = Set(d.issues.compactMap(\.slot))
        for slot in inUse where !labelled.contains(slot) {
            invariant(issueSlots.contains(slot) || d.issues.contains { $0.isAreaTooSmall }, "in-use slot \(slot) has neither a label nor an issue")
        }

        guard d.isClean, Int(current.nslot) == layout.nslot else { return }
        let reencoded: [UInt8]
        do {
            reencoded = try LabelArea.encode(layout: layout, labels: d.labels)
        } catch {
            return invariant(false, "a clean area's labels do not encode again: \(error)")
        }
        let again = LabelArea.decode(reencoded)
        invariant(again.isClean, "the re-encoded area is not clean: \(again.issues)")
        invariant(again.layout == layout, "the re-encoded area decodes under \(String(describing: again.layout)), not \(layout)")
        invariant(again.labels == d.labels, "labels changed in the round trip: \(d.labels) -> \(again.labels)")
    }

    static func check(_ block: LabelIndexBlock, number i: Int, layout: LabelAreaLayout) {
        invariant(block.seq & 3 != 0, "valid block \(i) has seq \(block.seq)")
        invariant(block.myoff == UInt64(layout.indexOffset(block: i)), "valid block \(i) has myoff \(block.myoff)")
        invariant(block.otheroff == UInt64(layout.indexOffset(block: 1 - i)), "valid block \(i) has otheroff \(block.otheroff)")
        invariant(block.labeloff == UInt64(layout.labelsOffset), "valid block \(i) has labeloff \(block.labeloff)")
        invariant(block.free.count == Int(block.nslot), "valid block \(i): \(block.free.count) free bits for nslot \(block.nslot)")
        invariant(Int(block.nslot) * layout.labelSize + 2 * layout.indexSize <= layout.areaSize,
                  "valid block \(i): nslot \(block.nslot) does not fit a \(layout.areaSize)-byte area")
    }

    /// Linux's best_seq as a table: the block whose seq follows the other's (1 -> 2 -> 3 -> 1);
    /// equal seqs pick block 1.
    static func naiveCurrent(seq0: UInt32, seq1: UInt32) -> Int {
        let follows: [UInt32: UInt32] = [1: 2, 2: 3, 3: 1]
        let a = seq0 & 3, b = seq1 & 3
        if a == b { return 1 }
        return follows[a] == b ? 1 : 0
    }
}

extension LabelAreaIssue {
    var isAreaTooSmall: Bool { if case .areaTooSmall = self { true } else { false } }
    /// The label slot the issue is about, if any.
    var slot: Int? {
        switch self {
        case .labelField(let s, _, _), .labelChecksum(let s, _, _): s
        default: nil
        }
    }
}
