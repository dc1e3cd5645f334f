import Testing
import GuestMemory
import VpmemTestSupport
@testable import NVDIMM

/// Namespace creation and destruction on a label area in memory: the writes Linux's label code
/// would make, checked against a naive model of the namespaces and the free space.
@Suite struct NamespaceLabelSetTests {
    static let MiB: UInt64 = 1 << 20

    static func region(size: UInt64, slot: Int = 0) throws -> NamespaceRegion {
        let v = VirtualNVDIMM(slot: slot, base: Gpa(0x9_0000_0000), size: size)
        return try NamespaceRegion(fit: NFITBuilder(nvdimms: [v]).structures(), rangeIndex: v.spaRangeIndex, deviceHandle: v.handle)
    }

    /// Carries out the first `count` writes of `update` on `area`.
    static func apply(_ update: LabelAreaUpdate, to area: inout [UInt8], count: Int = .max) {
        for w in update.writes.prefix(count) { area.replaceSubrange(w.offset..<w.offset + w.bytes.count, with: w.bytes) }
    }

    static func set(_ area: [UInt8], _ region: NamespaceRegion) throws -> NamespaceLabelSet {
        try NamespaceLabelSet(decoded: LabelArea.decode(area), region: region)
    }

    @Test func aNamespaceIsTheLabelLinuxWritesThenTheOtherIndexBlock() throws {
        let region = try Self.region(size: 1 << 30)
        for labelSize in [256, 128] {
            var area = try LabelArea.empty(size: 128 * 1024, labelSize: labelSize)
            let uuid = NamespaceUUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8")!
            let s0 = try Self.set(area, region)
            let (label, update) = try s0.planCreation(NamespaceRequest(size: 256 * Self.MiB, mode: .fsdax, name: "data", uuid: uuid))
            #expect(update.writes.map(\.kind) == [.label(slot: 0), .index(block: 1, seq: 1)], "label first, then block 1 (block 0 is current, seq 3)")
            #expect(update.writes[0].offset == s0.layout.labelOffset(slot: 0) && update.writes[0].bytes.count == labelSize)
            #expect(update.writes[1].offset == s0.layout.indexOffset(block: 1) && update.writes[1].bytes.count == s0.layout.indexSize)
            #expect(label.uuid == uuid.bytes && label.name == "data" && label.dpa == 0 && label.rawsize == 256 * Self.MiB)
            #expect(label.flags == 0 && label.nlabel == 1 && label.position == 0 && label.lbasize == 512 && label.align == 0)
            #expect(label.isetcookie == (labelSize == 128 ? 0x0024_68AC_0012_3456 : 0x00BA_9012_0012_B4DC))
            // v1.2: the SPA range's type GUID and the pfn claim class; v1.1 labels have neither.
            let zero = [UInt8](repeating: 0, count: 16)
            #expect(label.typeGUID == (labelSize == 256 ? NFITBuilder.persistentMemoryRangeGUID : zero))
            #expect(label.abstractionGUID == (labelSize == 256 ? Aml.guidBytes("266400ba-fb9f-4677-bcb0-968f11d0d225")! : zero))
            if labelSize == 256 {
                #expect(Array(update.writes[0].bytes[128..<144]) == NFITBuilder.persistentMemoryRangeGUID)
                #expect(update.writes[0].bytes.readLE(UInt64.self, at: 248) == LabelAreaTests.referenceFletcher(Array(update.writes[0].bytes[0..<248]) + zero[0..<8]))
            }
            Self.apply(update, to: &area)
            let d = LabelArea.decode(area)
            #expect(d.isClean && d.current == 1 && d.blocks[1]?.seq == 1 && d.blocks[0]?.seq == 3)
            #expect(d.labels == [label])
            #expect(d.blocks[1]?.slotsInUse == [0] && d.blocks[0]?.slotsInUse == [], "the old block still describes the old set")
            // A second namespace: the next slot, the next free range, block 0 with seq 2.
            let s1 = try Self.set(area, region)
            let (raw, u2) = try s1.planCreation(NamespaceRequest(size: 64 * Self.MiB, mode: .raw))
            #expect(u2.writes.map(\.kind) == [.label(slot: 1), .index(block: 0, seq: 2)])
            #expect(raw.dpa == 256 * Self.MiB && raw.abstractionGUID == [UInt8](repeating: 0, count: 16))
            Self.apply(u2, to: &area)
            // Destroying the first frees its slot in block 1 with seq 3; its bytes stay.
            let s2 = try Self.set(area, region)
            let u3 = try s2.planDestruction(s2.labels(name: "data"))
            #expect(u3.writes.map(\.kind) == [.index(block: 1, seq: 3)])
            Self.apply(u3, to: &area)
            let after = LabelArea.decode(area)
            #expect(after.isClean && after.current == 1 && after.labels.map(\.slot) == [1])
            #expect(Array(area[s2.layout.labelOffset(slot: 0)..<s2.layout.labelOffset(slot: 0) + labelSize]) == update.writes[0].bytes)
            // The freed range is reused first.
            #expect(try Self.set(area, region).planCreation(NamespaceRequest(size: 16 * Self.MiB)).label.dpa == 0)
        }
    }

    /// A create interrupted after the label and before the index block, or in the middle of
    /// the index block, leaves the old namespaces; finishing it (or planning again) works.
    @Test func aTornUpdateLeavesTheOldNamespaceSet() throws {
        let region = try Self.region(size: 1 << 30)
        var area = try LabelArea.empty(size: 128 * 1024)
        Self.apply(try Self.set(area, region).planCreation(NamespaceRequest(size: 32 * Self.MiB, name: "old")).update, to: &area)
        let before = LabelArea.decode(area)
        let (_, update) = try Self.set(area, region).planCreation(NamespaceRequest(size: 64 * Self.MiB, name: "new"))
        var torn = area
        Self.apply(update, to: &torn, count: 1)
        let afterLabel = LabelArea.decode(torn)
        #expect(afterLabel.isClean && afterLabel.labels == before.labels && afterLabel.current == before.current)
        // Torn anywhere inside the index block: the area holds the old set or the new one, never
        // a mixture and never nothing.
        Self.apply(update, to: &area)
        let after = LabelArea.decode(area)
        let index = update.writes[1]
        for k in 1..<index.bytes.count {
            var t = torn
            t.replaceSubrange(index.offset..<index.offset + k, with: index.bytes[0..<k])
            let d = LabelArea.decode(t)
            #expect(d.current != nil && (d.labels == before.labels || d.labels == after.labels), "torn after \(k) bytes")
        }
        // Torn before the checksum: that block is invalid, the old one current. Planning again
        // writes the same slot and block; it completes.
        torn.replaceSubrange(index.offset..<index.offset + 64, with: index.bytes[0..<64])
        let half = LabelArea.decode(torn)
        #expect(half.labels == before.labels && half.current == before.current)
        if case let .index(block, _) = index.kind { #expect(half.blocks[block] == nil, "the torn block is invalid") }
        let (_, again) = try Self.set(torn, region).planCreation(NamespaceRequest(size: 64 * Self.MiB, name: "new"))
        #expect(again.writes.map(\.kind) == update.writes.map(\.kind))
        Self.apply(again, to: &torn)
        #expect(Set(LabelArea.decode(torn).labels.map(\.name)) == ["old", "new"])
    }

    @Test func refusedRequestsNameTheRule() throws {
        let region = try Self.region(size: 256 * Self.MiB)
        var area = try LabelArea.empty(size: 128 * 1024)
        let u = NamespaceUUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8")!
        Self.apply(try Self.set(area, region).planCreation(NamespaceRequest(size: 16 * Self.MiB, name: "a", uuid: u)).update, to: &area)
        let s = try Self.set(area, region)
        #expect(throws: NamespaceError.duplicateUUID(u, slot: 0)) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, uuid: u)) }
        #expect(throws: NamespaceError.duplicateName("a", slot: 0)) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, name: "a")) }
        #expect(throws: NamespaceError.nullUUID) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, uuid: NamespaceUUID(bytes: [UInt8](repeating: 0, count: 16)))) }
        let long = String(repeating: "n", count: 64)
        #expect(throws: NamespaceError.nameTooLong(long, bytes: 64)) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, name: long)) }
        #expect((try? s.planCreation(NamespaceRequest(size: 16 * Self.MiB, name: String(repeating: "n", count: 63)))) != nil)
        #expect(throws: NamespaceError.nameHasOuterWhitespace(" x")) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, name: " x")) }
        #expect(throws: NamespaceError.nameContainsNUL("a\0b")) { try s.planCreation(NamespaceRequest(size: 16 * Self.MiB, name: "a\0b")) }
        #expect(throws: NamespaceError.noFreeExtent(size: 256 * Self.MiB, largest: 240 * Self.MiB, regionSize: 256 * Self.MiB)) {
            try s.planCreation(NamespaceRequest(size: 256 * Self.MiB))
        }
        #expect(throws: NamespaceError.noSuchNamespace("named 'b'", existing: ["\(u) 'a'"])) { try s.labels(name: "b") }
        // No valid index block: Linux sees a label-less region.
        #expect(throws: NamespaceError.noLabelIndex) { try Self.set([UInt8](repeating: 0, count: 128 * 1024), region) }
    }

    /// Creating needs two free slots (Linux writes the label twice, each into a free slot before
    /// freeing the old, and keeps one spare).
    @Test func creatingNeedsTwoFreeSlots() throws {
        let region = try Self.region(size: 256 * Self.MiB)
        let layout = try LabelAreaLayout(areaSize: 128 * 1024)
        func area(used: Int) throws -> [UInt8] {
            // Labels far outside the region: they hold slots but no space in it.
            var labels: [NamespaceLabel] = []
            for i in 0..<used {
                let uuid: [UInt8] = [UInt8(i & 0xFF), UInt8(i >> 8), 0x40] + [UInt8](repeating: 7, count: 13)
                let dpa: UInt64 = (1 << 40) + UInt64(i) << 12
                labels.append(NamespaceLabel(uuid: uuid, dpa: dpa, rawsize: 4096, slot: UInt32(i)))
            }
            return try LabelArea.encode(layout: layout, labels: labels)
        }
        let nslot = layout.nslot
        let two = try Self.set(area(used: nslot - 2), region)
        #expect(two.freeSlots == 2)
        let (label, _) = try two.planCreation(NamespaceRequest(size: 16 * Self.MiB))
        #expect(label.slot == UInt32(nslot - 2))
        let one = try Self.set(area(used: nslot - 1), region)
        #expect(throws: NamespaceError.noFreeSlot(free: 1, nslot: nslot)) { try one.planCreation(NamespaceRequest(size: 16 * Self.MiB)) }
    }

    enum Op: Sendable, CustomStringConvertible {
        case create(blocks: UInt64, fsdax: Bool, name: Int)
        case destroy(pick: Int, byName: Bool)
        var description: String {
            switch self {
            case let .create(b, f, n): return "create(\(b)x16M, \(f ? "fsdax" : "raw"), n\(n))"
            case let .destroy(p, n): return "destroy(\(p), \(n ? "name" : "uuid"))"
            }
        }
    }

    static let ops = zip(Gen.int(in: 0...2), Gen.uint64(in: 0...9), Gen.bool(), Gen.int(in: 0...5)).map { k, b, f, n -> Op in
        k == 2 ? .destroy(pick: n, byName: f) : .create(blocks: b, fsdax: f, name: n)
    }.array(of: 1...30)

    /// Random creates and destroys against a naive model: the namespaces as a list, free space
    /// as a set of 16M blocks, first fit by scanning the blocks. After every step the area
    /// decodes clean, its labels are the model's, no two overlap, the current block's in-use
    /// slots are exactly the labels' slots, and the seq advanced once per change (never on a
    /// refusal).
    @Test func createDestroyAgreesWithANaiveModel() async {
        await checkProperty(count: 150, input: Self.ops, Gen.bool()) { ops, v11 in
            let region = try Self.region(size: 256 * Self.MiB)
            var area = try LabelArea.empty(size: 128 * 1024, labelSize: v11 ? 128 : 256)
            struct NS: Equatable { let uuid: [UInt8]; let name: String; let dpa: UInt64; let size: UInt64; let fsdax: Bool }
            var model: [NS] = []
            var seq = LabelArea.decode(area).blocks[0]!.seq
            for op in ops {
                let s = try Self.set(area, region)
                var changed = false
                switch op {
                case let .create(blocks, fsdax, n):
                    let name = n == 0 ? "" : "n\(n)"
                    let size = blocks * 16 * Self.MiB
                    var used = [Bool](repeating: false, count: 16)
                    for x in model { for b in Int(x.dpa >> 24)..<Int((x.dpa + x.size) >> 24) { used[b] = true } }
                    let fit = blocks == 0 ? nil : (0...(16 - Int(blocks))).first { b in !used[b..<b + Int(blocks)].contains(true) }
                    let nameTaken = !name.isEmpty && model.contains { $0.name == name }
                    let planned = try? s.planCreation(NamespaceRequest(size: size, mode: fsdax ? .fsdax : .raw, name: name))
                    if let fit, !nameTaken {
                        guard let (label, update) = planned else { Issue.record("\(op) refused; model placed it at block \(fit)"); return }
                        #expect(label.dpa == UInt64(fit) << 24, "\(op)")
                        Self.apply(update, to: &area)
                        model.append(NS(uuid: label.uuid, name: name, dpa: label.dpa, size: size, fsdax: fsdax))
                        changed = true
                    } else {
                        #expect(planned == nil, "\(op) should be refused")
                    }
                case let .destroy(pick, byName):
                    guard !model.isEmpty else {
                        #expect(throws: NamespaceError.self) { try s.labels(name: "n1") }
                        continue
                    }
                    let victim = model[pick % model.count]
                    let labels: [NamespaceLabel]
                    if byName && !victim.name.isEmpty { labels = try s.labels(name: victim.name) } else {
                        labels = try s.labels(uuid: NamespaceUUID(bytes: victim.uuid)!)
                    }
                    Self.apply(try s.planDestruction(labels), to: &area)
                    model.removeAll { $0 == victim }
                    changed = true
                }
                let d = LabelArea.decode(area)
                #expect(d.isClean, "\(d.issues)")
                guard let c = d.current, let block = d.blocks[c] else { Issue.record("no current block"); return }
                #expect(block.seq == (changed ? LabelSequence.next(seq) : seq), "\(op)")
                seq = block.seq
                let got = d.labels.map { NS(uuid: $0.uuid, name: $0.name, dpa: $0.dpa, size: $0.rawsize, fsdax: !v11 && $0.abstractionGUID != [UInt8](repeating: 0, count: 16)) }
                #expect(Set(got.map(\.uuid)) == Set(model.map(\.uuid)))
                for m in model {
                    let g = got.first { $0.uuid == m.uuid }
                    #expect(g?.dpa == m.dpa && g?.size == m.size && g?.name == m.name && (v11 || g?.fsdax == m.fsdax))
                }
                let sorted = d.labels.sorted { $0.dpa < $1.dpa }
                #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.dpa + $0.rawsize <= $1.dpa }, "overlap")
                #expect(block.slotsInUse == d.labels.map { Int($0.slot) }.sorted())
                #expect(d.labels.allSatisfy { $0.isetcookie == region.cookie.cookie(labelSize: v11 ? 128 : 256) })
            }
        }
    }
}
