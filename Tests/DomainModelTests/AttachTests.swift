import Foundation
import VpmemTestSupport
import Testing
import DomainModel
import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore

@Suite struct AttachTests {
    @Test func attachPlacesMapsRecordsAndPublishes() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        #expect(domain.tables == nil && (try? domain.keys.read(AcpiTablesArea.addressKey)) == nil)
        let a = try domain.attach(nvdimm(0, size: 1 * GiB, node: 1), createBacking: true)
        // Physmap: a pmem region at the aperture's first 1G boundary.
        #expect(domain.physmap.pmemRegions.map(\.name) == ["nvdimm0"])
        #expect(a.guestRange.first == domain.physmap.pmemAperture!.first && a.guestRange.size == GiB)
        // p2m: one 1G pmem leaf to registered host pmem, owned by the guest.
        let maps = try domain.p2m.mappings(gfn: a.guestRange.first.frame, count: GiB / 4096)
        #expect(maps.count == 1 && maps[0].order == .size1G && maps[0].type == .pmem && maps[0].mfn == a.hostFrames.first)
        #expect(domain.mapping.registry.lookup(a.hostFrames.first)?.kind == .pmem)
        #expect(domain.mapping.registry.lookup(a.hostFrames.last)?.owner == domain.id)
        // Backing: data then label area, created sparse.
        #expect(a.backing.length == GiB + 128 * KiB && a.createdBacking && s.files == ["n0.pmem"])
        // Tables in guest memory at the published address.
        let t = try #require(domain.tables)
        #expect(try domain.keys.read(AcpiTablesArea.addressKey) == String(t.address.raw))
        #expect(try domain.keys.read(AcpiTablesArea.lengthKey) == String(t.length))
        #expect(try domain.engine.memory.read(t.address, count: t.length) == t.nfit + t.ssdt)
        #expect(domain.physmap.region(containing: t.address)?.kind == .acpiTables)
        // The DSM page is NVS memory, which the guest never reclaims (tables memory it may).
        #expect(domain.dsmPage.raw < 1 << 32 && domain.physmap.region(containing: domain.dsmPage)?.kind == .acpiNVS)
        let e820 = E820Table(physmap: domain.physmap).entries
        #expect(e820.first { $0.range.contains(domain.dsmPage) }?.type == .nvs)
        #expect(e820.first { $0.range.contains(t.address) }?.type == .acpi)
        let nfit = try AcpiTable(parsing: t.nfit)
        #expect(nfit.signature == "NFIT" && u32(nfit.body, 4 + 12) == 1, "SPA proximity domain = node 1")
        #expect(domain.config.nvdimms == [nvdimm(0, size: 1 * GiB, node: 1)])
    }

    @Test func sizesAlignTheP2MPages() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        let a = try domain.attach(nvdimm(0, size: 1 * GiB + 6 * MiB), createBacking: true)
        let maps = try domain.p2m.mappings(gfn: a.guestRange.first.frame, count: a.hostFrames.count)
        #expect(maps.map(\.order) == [.size1G, .size2M, .size2M, .size2M], "1G where aligned, then 2M")
    }

    @Test func detachReversesAttachExactly() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        try domain.attach(nvdimm(1, size: 4 * MiB), createBacking: true)
        let before = DomainSnapshot(domain)
        try domain.attach(nvdimm(0, size: 64 * MiB, label: 256 * KiB), createBacking: true)
        let payload: [UInt8] = Array(repeating: 0xA5, count: 4096)
        try domain.nvdimm(slot: 0)!.backing.write(payload, at: 0)
        let detached = try domain.detach(slot: 0)
        let after = DomainSnapshot(domain)
        #expect(after.config == before.config && after.physmap == before.physmap && after.p2m == before.p2m)
        #expect(after.registry == before.registry && after.keys == before.keys && after.tables == before.tables)
        #expect(after.fit == before.fit && after.fitGeneration == before.fitGeneration + 2)
        #expect(try detached.backing.read(at: 0, count: 4096) == payload, "the backing's bytes are kept")
        #expect(throws: GuestError.self) { try domain.detach(slot: 0) }
    }

    @Test func failedAttachesChangeNothingAndLeaveBackingsAlone() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(aperture: 4 * GiB), baseDirectory: s.path)
        try domain.attach(nvdimm(0, size: 2 * GiB), createBacking: true)
        // An existing backing of the wrong size, with bytes in it.
        do {
            let wrong = try PmemMapping.create(path: s.file("n5.pmem"), size: 3 * MiB)
            try wrong.write([1, 2, 3], at: 0)
        }
        let existing = try Data(contentsOf: URL(fileURLWithPath: s.file("n5.pmem")))
        let before = DomainSnapshot(domain)
        func refused(_ d: NVDIMMConfig, create: Bool = true, _ check: (GuestError) -> Bool) {
            #expect {
                try domain.attach(d, createBacking: create)
            } throws: { e in
                guard let e = e as? GuestError else { return false }
                return check(e)
            }
            #expect(DomainSnapshot(domain) == before, "state unchanged after \(d)")
        }
        refused(nvdimm(0, size: 2 * MiB)) { if case .slotInUse(0) = $0 { return true }; return false }
        refused(nvdimm(1, size: 3 * GiB)) { if case .physmap(.pmemApertureFull) = $0 { return true }; return false }
        refused(nvdimm(2, size: 3 * MiB)) { if case .config = $0 { return true }; return false }
        refused(nvdimm(3, size: 2 * MiB, label: 64 * KiB)) { $0.description.contains("at least 128K") }
        refused(nvdimm(4), create: false) { if case .backingMissing = $0 { return true }; return false }
        refused(nvdimm(5, size: 2 * MiB)) { e in
            guard case let .backingSize(_, _, actual, _, _) = e else { return false }
            return actual == 3 * MiB && e.description.contains("use size")
        }
        var dup = nvdimm(6)
        dup.backing = "n0.pmem"
        refused(dup) { if case .backingInUse(6, _, 0) = $0 { return true }; return false }
        // Attaching a backing another writer holds: refused, naming the holder.
        let held = try PmemMapping.create(path: s.file("n7.pmem"), size: 2 * MiB + 128 * KiB)
        refused(nvdimm(7)) { if case .backing(7, .locked) = $0 { return true }; return false }
        withExtendedLifetime(held) {}
        // Created backings of failed attaches are gone; the existing one is byte for byte the same.
        #expect(s.files == ["n0.pmem", "n5.pmem", "n7.pmem"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.file("n5.pmem"))) == existing)
    }

    @Test func nfitDescribesOneTwoAndThirtyTwoVNVDIMMsEachOnItsNode() throws {
        for count in [1, 2, 32] {
            let s = Scratch()
            let list = (0..<count).map { nvdimm($0, node: UInt32($0 % 4), unarmed: $0 == 1) }
            let domain = try Guest(config: guestConfig(aperture: 64 * GiB, nvdimms: list, persistence: .cpu), baseDirectory: s.path)
            let t = try #require(domain.tables)
            let body = try AcpiTable(parsing: t.nfit).body
            var spa: [(index: UInt16, node: UInt32, base: UInt64)] = [], memdevs = 0, controls = 0, caps: [UInt32] = []
            var at = 4
            while at < body.count {
                let type = UInt16(body[at]) | UInt16(body[at + 1]) << 8, len = Int(body[at + 2]) | Int(body[at + 3]) << 8
                switch type {
                case 0: spa.append((UInt16(body[at + 4]) | UInt16(body[at + 5]) << 8, u32(body, at + 12),
                                    UInt64(u32(body, at + 32)) | UInt64(u32(body, at + 36)) << 32))
                case 1: memdevs += 1
                case 4: controls += 1
                case 7: caps.append(u32(body, at + 8))
                default: Issue.record("unexpected NFIT structure \(type)")
                }
                at += len
            }
            #expect(spa.count == count && memdevs == count && controls == count && caps == [3])
            for (i, d) in domain.nvdimms.enumerated() {
                #expect(spa[i].index == UInt16(d.slot + 1) << 1 && spa[i].node == UInt32(d.slot % 4) && spa[i].base == d.guestRange.first.raw)
            }
            // The Read FIT path returns the same structures the NFIT carries.
            let (fit, restarts) = try domain.readFIT()
            #expect(fit == Array(body.dropFirst(4)) && restarts == 0)
        }
    }

    /// Random attach/detach sequences against a naive model (slot -> size): the config lists
    /// the model's slots, the p2m maps exactly their ranges as pmem, the NFIT has one SPA range
    /// each, and a failed operation changes nothing.
    @Test func attachAndDetachFollowANaiveModel() async {
        let ops = Gen.int(in: 0...Int.max).map { seed -> [(slot: Int, mib: UInt64)] in
            var r = UInt64(seed)
            func next(_ n: UInt64) -> UInt64 { defer { r = r / n ^ (r &* 0x9E3779B97F4A7C15 >> 11) }; return r % n }
            return (0..<12).map { _ in (Int(next(6)), [2, 4, 1024, 1030, 3072][Int(next(5))]) }
        }
        await checkProperty(count: 12, input: ops) { ops in
            let s = Scratch()
            guard let domain = try? Guest(config: guestConfig(aperture: 8 * GiB), baseDirectory: s.path) else {
                Issue.record("domain")
                return
            }
            var model: [Int: UInt64] = [:]
            for (slot, mib) in ops {
                let before = DomainSnapshot(domain)
                if model[slot] != nil {
                    #expect((try? domain.detach(slot: slot)) != nil)
                    model[slot] = nil
                } else {
                    var d = nvdimm(slot, size: mib * MiB)
                    d.backing = "n\(slot)-\(mib).pmem"
                    // Fits when some free 1G-aligned stretch of the 8G aperture is large enough.
                    let used = domain.physmap.pmemRegions.map(\.range)
                    let aperture = domain.physmap.pmemAperture!
                    var fits = false
                    var start = aperture.first.raw
                    while start + mib * MiB - 1 <= aperture.last.raw {
                        let end = start + mib * MiB - 1
                        if let clash = used.first(where: { $0.first.raw <= end && start <= $0.last.raw }) {
                            start = (clash.last.raw + GiB) & ~(GiB - 1)
                        } else { fits = true; break }
                    }
                    do {
                        try domain.attach(d, createBacking: true)
                        #expect(fits)
                        model[slot] = mib * MiB
                    } catch {
                        #expect(!fits, "\(error)")
                        #expect(DomainSnapshot(domain) == before)
                    }
                }
                #expect(domain.config.nvdimms.map(\.slot) == model.keys.sorted())
                #expect(domain.nvdimms.map(\.config.size.bytes) == model.keys.sorted().map { model[$0]! })
                let pmem = (try? domain.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: P2M.maxGfn.raw + 1))?.filter { $0.type == .pmem } ?? []
                #expect(pmem.reduce(0) { $0 + $1.count } * 4096 == model.values.reduce(0, +))
                for d in domain.nvdimms {
                    #expect(domain.p2m.translate(d.guestRange.last.frame)?.mfn == d.hostFrames.last)
                }
                let spaCount = domain.tables.map { (try? NFITCount.spaRanges($0.nfit)) ?? -1 } ?? 0
                #expect(spaCount == model.count)
            }
        }
    }
}

enum NFITCount {
    static func spaRanges(_ nfit: [UInt8]) throws -> Int {
        let body = try AcpiTable(parsing: nfit).body
        var at = 4, n = 0
        while at + 4 <= body.count {
            if body[at] == 0 && body[at + 1] == 0 { n += 1 }
            at += Int(body[at + 2]) | Int(body[at + 3]) << 8
        }
        return n
    }
}
