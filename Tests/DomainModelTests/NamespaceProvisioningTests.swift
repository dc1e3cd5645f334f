import Foundation
import Testing
import DomainModel
import GuestMemory
import HostPmem
import NVDIMM
import VpmemTestSupport

/// Namespaces made through the guest's whole _DSM path (steered stores to the DSM page, the
/// port write, the device model, the label area in the backing) and, for fsdax, the info block
/// in the backing's data through libpmem.
@Suite struct NamespaceProvisioningTests {
    func guest(_ s: Scratch, size: UInt64 = 1 * GiB, readOnly: Bool = false) throws -> Guest {
        try Guest(config: guestConfig(nvdimms: [nvdimm(0, size: size, readOnly: readOnly)]), baseDirectory: s.path)
    }

    @Test func anFsdaxNamespaceIsALabelAndAnInfoBlockInTheBacking() throws {
        let s = Scratch()
        let uuid = NamespaceUUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8")!
        let pfn = NamespaceUUID("d3817527-dae6-4c94-85e1-997a58c1a8c4")!
        do {
            let g = try guest(s)
            try NamespaceLabelClient(domain: g, slot: 0).initLabels()
            let p = NamespaceProvisioner(domain: g, slot: 0)
            let calls = g.device.calls
            let made = try p.create(NamespaceRequest(size: 256 * MiB, mode: .fsdax, name: "data", uuid: uuid), pfnUUID: pfn)
            #expect(g.device.calls - calls == made.dsmCalls && made.dsmCalls > 2, "read, label, index, read back: all through the port")
            let n = made.namespace
            #expect(n.uuid == uuid.description && n.name == "data" && n.mode == "fsdax" && n.claim_class == "pfn")
            #expect(n.dpa == 0 && n.raw_size == 256 * MiB && n.usable_size == 250 * MiB && n.cookie_valid && n.lbasize == 512)
            #expect(n.start == g.nvdimm(slot: 0)!.guestRange.first.raw)
            #expect(n.pfn?.uuid == pfn.description && n.pfn?.dataoff == 6 * MiB && n.pfn?.npfns == 64_000 && n.pfn?.problems == [])
            // The block is in the backing's data at 4 KiB into the namespace.
            let block = try g.nvdimm(slot: 0)!.backing.read(at: 4096, count: 4096)
            #expect(PfnInfoBlock.decode(block)?.parentUUID == uuid)
            #expect(try p.namespaces() == [n])
        }
        // Another process's view: the backing file alone decodes to the same namespace.
        let backing = try PmemMapping.open(path: s.file("n0.pmem"), access: .readOnly)
        let area = try backing.read(at: GiB, count: 128 * 1024)
        let d = LabelArea.decode(area)
        #expect(d.isClean && d.labels.count == 1 && d.labels[0].uuid == uuid.bytes && d.labels[0].name == "data")
        #expect(PfnInfoBlock.decode(try backing.read(at: 4096, count: 4096))?.npfns == 64_000)
    }

    @Test func destroyFreesTheSlotAndZeroesTheInfoBlock() throws {
        let s = Scratch()
        let g = try guest(s)
        try NamespaceLabelClient(domain: g, slot: 0).initLabels(labelSize: 128)
        let p = NamespaceProvisioner(domain: g, slot: 0)
        let a = try p.create(NamespaceRequest(size: 64 * MiB, mode: .fsdax, name: "a"))
        let b = try p.create(NamespaceRequest(size: 32 * MiB, mode: .raw, name: "b"))
        #expect(a.namespace.mode == "fsdax" && a.namespace.claim_class == "none", "v1.1: no claim class, the info block decides")
        #expect(b.namespace.dpa == 64 * MiB && b.plan.label.slot == 1)
        let (gone, zeroed, _) = try p.destroy(.name("a"))
        #expect(gone.uuid == a.namespace.uuid && zeroed)
        #expect(try g.nvdimm(slot: 0)!.backing.read(at: 0, count: 8192).allSatisfy { $0 == 0 })
        #expect(try p.namespaces().map(\.name) == ["b"])
        #expect(try p.destroy(.uuid(NamespaceUUID(b.namespace.uuid)!)).zeroedInfoBlock == false, "a raw namespace's head was already zero")
        #expect(try p.namespaces().isEmpty)
        #expect(throws: NamespaceProvisioningError.self) { try p.destroy(.name("b")) }
    }

    /// The update interrupted after the label's Set Namespace Label Data and before the index
    /// block's leaves the guest with the old namespaces, as a kernel reading the area sees them.
    @Test func aCreateInterruptedBeforeTheIndexWriteLeavesTheOldNamespaces() throws {
        let s = Scratch()
        let g = try guest(s)
        try NamespaceLabelClient(domain: g, slot: 0).initLabels()
        let p = NamespaceProvisioner(domain: g, slot: 0)
        try p.create(NamespaceRequest(size: 16 * MiB, mode: .raw, name: "old"))
        let before = try p.namespaces()
        let plan = try p.planCreation(NamespaceRequest(size: 32 * MiB, mode: .raw, name: "new"))
        try p.apply(plan.update.writes[0])
        #expect(try p.namespaces() == before)
        #expect(LabelArea.decode(try NamespaceLabelClient(domain: g, slot: 0).readArea()).isClean)
        try p.apply(plan.update.writes[1])
        #expect(try p.namespaces().map(\.name) == ["old", "new"])
    }

    @Test func refusalsWriteNothing() throws {
        let s = Scratch()
        let g = try guest(s, size: 64 * MiB)
        let p = NamespaceProvisioner(domain: g, slot: 0)
        let backing = g.nvdimm(slot: 0)!.backing
        #expect(throws: NamespaceProvisioningError.self) { try p.create(NamespaceRequest(size: 16 * MiB)) }  // no index yet
        try NamespaceLabelClient(domain: g, slot: 0).initLabels()
        let area = try backing.read(at: 64 * MiB, count: 128 * 1024)
        let data = try backing.read(at: 0, count: 16 * 1024)
        for r in [NamespaceRequest(size: 24 * MiB), NamespaceRequest(size: 128 * MiB), NamespaceRequest(size: 0),
                  NamespaceRequest(size: 16 * MiB, name: String(repeating: "x", count: 64))] {
            #expect(throws: NamespaceProvisioningError.self, "\(r)") { try p.create(r) }
        }
        #expect(try backing.read(at: 64 * MiB, count: 128 * 1024) == area && backing.read(at: 0, count: 16 * 1024) == data)
        var msg = ""
        do { _ = try p.create(NamespaceRequest(size: 24 * MiB)) } catch { msg = error.description }
        #expect(msg.contains("not a multiple of the region's alignment, 16M") && msg.contains("use 16M or 32M"), "\(msg)")
        // A read-only vNVDIMM: refused before anything is written.
        let s2 = Scratch()
        let ro = try guest(s2, readOnly: true)
        #expect(throws: NamespaceProvisioningError.self) { try NamespaceProvisioner(domain: ro, slot: 0).create(NamespaceRequest(size: 16 * MiB)) }
        #expect(throws: NamespaceProvisioningError.self) { try NamespaceProvisioner(domain: ro, slot: 3).namespaces() }
    }

    /// Random creates and destroys through the _DSM path against a naive model (namespaces as a
    /// list, free space as 16M blocks, first fit): the guest's namespaces equal the model's after
    /// every step, the area decodes clean, no ranges overlap, the current index's in-use slots
    /// are the labels', and each fsdax namespace's info block validates.
    @Test func createDestroyThroughDSMAgreesWithANaiveModel() async throws {
        let s = Scratch()
        let g = try guest(s, size: 256 * MiB)
        try NamespaceLabelClient(domain: g, slot: 0).initLabels()
        let p = NamespaceProvisioner(domain: g, slot: 0)
        let op = zip(Gen.int(in: 0...2), Gen.uint64(in: 1...8), Gen.bool(), Gen.int(in: 0...7))
        await checkProperty(count: 8, input: op.array(of: 1...12)) { ops in
            for n in try p.namespaces() { try p.destroy(.uuid(NamespaceUUID(n.uuid)!)) }
            var model: [(uuid: String, dpa: UInt64, size: UInt64, fsdax: Bool)] = []
            for (kind, blocks, fsdax, pick) in ops {
                if kind == 2 && !model.isEmpty {
                    let victim = model[pick % model.count]
                    try p.destroy(.uuid(NamespaceUUID(victim.uuid)!))
                    model.removeAll { $0.uuid == victim.uuid }
                } else {
                    var used = [Bool](repeating: false, count: 16)
                    for m in model { for b in Int(m.dpa >> 24)..<Int((m.dpa + m.size) >> 24) { used[b] = true } }
                    let fit = (0...(16 - Int(blocks))).first { b in !used[b..<b + Int(blocks)].contains(true) }
                    let made = try? p.create(NamespaceRequest(size: blocks * 16 * MiB, mode: fsdax ? .fsdax : .raw))
                    #expect((made == nil) == (fit == nil), "blocks \(blocks) model fit \(String(describing: fit))")
                    if let made, let fit {
                        #expect(made.namespace.dpa == UInt64(fit) << 24)
                        model.append((made.namespace.uuid, made.namespace.dpa, blocks * 16 * MiB, fsdax))
                    }
                }
                let area = try NamespaceLabelClient(domain: g, slot: 0).readArea()
                let d = LabelArea.decode(area)
                #expect(d.isClean)
                #expect(d.blocks[d.current!]!.slotsInUse == d.labels.map { Int($0.slot) }.sorted())
                let got = try p.namespaces(area: area)
                #expect(Set(got.map(\.uuid)) == Set(model.map(\.uuid)))
                for m in model {
                    let n = got.first { $0.uuid == m.uuid }
                    #expect(n?.dpa == m.dpa && n?.raw_size == m.size && n?.mode == (m.fsdax ? "fsdax" : "raw"))
                }
                let sorted = got.sorted { $0.dpa < $1.dpa }
                #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.dpa + $0.raw_size <= $1.dpa })
            }
        }
    }
}
