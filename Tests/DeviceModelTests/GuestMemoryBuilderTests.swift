import DeviceModel
import GuestMemory
import VpmemCore
import Testing

@Suite struct GuestMemoryBuilderTests {
    /// 5.5 GiB with a 1 GiB hole: ram_low [0, 0xBFF00), acpi [0xBFF00, 0xBFFFF), dsm 0xBFFFF,
    /// grant table and pci_mmio32 in the hole, ram_high [0x100000, 0x1A0000), a 16 MiB MMIO
    /// region at gfn 0x1A1000, pci_mmio64 (1 GiB) at 7 GiB, a 2 MiB pmem region.
    static func physmap() throws -> GuestPhysmap {
        var p = try GuestPhysmap(config: GuestConfig(name: "runs", memory: ByteSize(bytes: 5632 << 20),
                                                     mmioHole: ByteSize(bytes: 1 << 30), pciMmio64: ByteSize(bytes: 1 << 30),
                                                     pmemAperture: ByteSize(bytes: 1 << 30)))
        try p.addMmio(name: "dev", at: GpaRange(start: Gpa(0x1A1000 << 12), size: 16 << 20))
        try p.placePmem(name: "nvdimm0", size: 2 << 20)
        return p
    }

    static let ramFrames: UInt64 = 0x160000
    /// The RAM-like gfns, written out: low RAM with the ACPI tables and NVS page, then high RAM.
    static let ramGfns: [(first: UInt64, count: UInt64)] = [(0, 0xC0000), (0x100000, 0xA0000)]
    /// Four runs, out of address order: the first ends inside ram_low, the second inside acpi,
    /// the third inside ram_high.
    static let runs = [run(0x500_0000, 0x12345), run(0x200000, 0xBFF00 - 0x12345 + 0x80),
                       run(0x1000_0000, 0x7F + 1 + 0x40000), run(0x300000, 0x60000)]

    static func run(_ first: UInt64, _ count: UInt64) -> MfnRange { try! MfnRange(first: Mfn(uncheckedRaw: first), count: count) }

    @Test func ramRegionsOnSeveralRunsTranslateToTheirFramesAndMMIOIsEmulated() throws {
        let physmap = try Self.physmap()
        #expect(Self.runs.reduce(0) { $0 + $1.count } == Self.ramFrames)
        #expect(GuestRAMLayout.ramFrames(of: physmap) == Self.ramFrames)
        let p2m = P2M(), machine = MachineMemory()
        let layout = try GuestMemoryBuilder.build(physmap, ramRuns: Self.runs, p2m: p2m, machine: machine)
        #expect(layout.ramFrames == Self.ramFrames)
        #expect(layout.extents.map(\.region) == ["ram_low", "ram_low", "acpi", "acpi", "dsm", "ram_high", "ram_high"])
        #expect(layout.ramRegions == [try GfnRange(first: Gfn(uncheckedRaw: 0), count: 0xBFF00),
                                      try GfnRange(first: Gfn(uncheckedRaw: 0x100000), count: 0xA0000)])
        #expect(layout.mmioRegions.map(\.name) == ["pci_mmio32", "dev", "pci_mmio64"])
        // Every RAM gfn on the next frame of the runs, in order.
        var frames = Self.runs.flatMap { r in (r.first.raw..<r.end).lazy }.makeIterator()
        var wrong: [UInt64] = []
        for (first, count) in Self.ramGfns {
            for g in first..<first + count {
                let t = p2m.translate(Gfn(uncheckedRaw: g))
                if t?.type != .ramRW || t?.mfn?.raw != frames.next() { wrong.append(g) }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) RAM frames mistranslated, first \(wrong.first.map { hex($0) } ?? "")")
        #expect(frames.next() == nil)
        // The emulated regions are mmio_dm, frameless, every frame.
        var mmioFrames: UInt64 = 0
        for region in layout.mmioRegions {
            let first = region.range.first.raw >> 12, count = region.range.size >> 12
            mmioFrames += count
            let bad = (first..<first + count).filter { g in
                let t = p2m.translate(Gfn(uncheckedRaw: g))
                return t?.type != .mmioDM || t?.mfn != nil
            }
            #expect(bad.isEmpty, "\(region): \(bad.count) frames not mmio_dm")
        }
        #expect(mmioFrames == 0x3B000 + 0x1000 + 0x40000)
        // Nothing else is mapped: the grant table, the firmware area, the gaps, pmem.
        #expect(p2m.stats.mappedFrames == Self.ramFrames + mmioFrames)
        let pmem = try #require(physmap.pmemRegions.first).range.first.raw >> 12
        for g: UInt64 in [0xC0000, 0xC0FFF, 0xFC000, 0xFFFFF, 0x1A0000, 0x1A2000, pmem] {
            #expect(p2m.translate(Gfn(uncheckedRaw: g)) == nil, "gfn \(hex(g))")
        }
        // Machine memory: one RAM backing per run, and guest bytes land on the run's frames.
        #expect(machine.backings.map { "\($0.firstMfn.raw):\($0.frames)" }
                == Self.runs.sorted().map { "\($0.first.raw):\($0.count)" })
        let access = GuestMemoryAccess(p2m: p2m, machine: machine)
        try access.write(Gpa(0x12344 << 12 | 4090), Array(1...12))  // across the first run's end
        var tail = [UInt8](repeating: 0, count: 6)
        try tail.withUnsafeMutableBytes { try machine.read(Mfn(uncheckedRaw: 0x200000), offset: 0, into: $0) }
        #expect(tail == [7, 8, 9, 10, 11, 12])
    }

    @Test func oneRunFromABaseIsTheStandaloneGuest() throws {
        let physmap = try Self.physmap()
        let p2m = P2M(), machine = MachineMemory()
        let layout = try GuestMemoryBuilder.build(physmap, ramBase: Mfn(uncheckedRaw: 0x100000), p2m: p2m, machine: machine)
        #expect(layout == (try GuestRAMLayout(physmap: physmap, ramRuns: [Self.run(0x100000, Self.ramFrames)])))
        // Packed: high RAM follows low RAM's last frame; 1 GiB pages where both sides align.
        #expect(p2m.translate(Gfn(uncheckedRaw: 0x100000))?.mfn?.raw == 0x100000 + 0xC0000)
        #expect(p2m.translate(Gfn(uncheckedRaw: 0x1234))?.order == .size1G)
        #expect(throws: GuestMemoryBuildError.self) {
            try GuestMemoryBuilder.build(physmap, ramBase: Mfn(uncheckedRaw: (1 << 52) - 0x1000), p2m: P2M(), machine: MachineMemory())
        }
    }

    @Test func mappedRAMRegionsLeaveOutBalloonedPagesAndTheACPIRegions() throws {
        let physmap = try Self.physmap()
        // Low RAM with gfn 0x10 ballooned out, then the ACPI regions and high RAM in one extent
        // each, on frames of their own.
        let extents: [(gfns: GfnRange, firstMfn: Mfn)] = [
            (try GfnRange(first: Gfn(uncheckedRaw: 0), count: 0x10), Mfn(uncheckedRaw: 0x100000)),
            (try GfnRange(first: Gfn(uncheckedRaw: 0x11), count: 0xC0000 - 0x11), Mfn(uncheckedRaw: 0x200000)),
            (try GfnRange(first: Gfn(uncheckedRaw: 0x100000), count: 0xA0000), Mfn(uncheckedRaw: 0x400000)),
        ]
        let layout = try GuestMemoryBuilder.build(physmap, ramExtents: extents, p2m: P2M(), machine: MachineMemory())
        #expect(layout.ramRegions.count == 2)
        #expect(layout.mappedRAMRegions == [try GfnRange(first: Gfn(uncheckedRaw: 0), count: 0x10),
                                            try GfnRange(first: Gfn(uncheckedRaw: 0x11), count: 0xBFF00 - 0x11),
                                            try GfnRange(first: Gfn(uncheckedRaw: 0x100000), count: 0xA0000)])
        // Without a ballooned page, the ram regions themselves.
        let whole = try GuestRAMLayout(physmap: physmap, ramRuns: Self.runs)
        #expect(whole.mappedRAMRegions == whole.ramRegions)
    }

    @Test func runsThatDoNotHoldTheRAMAreRefusedAndNothingIsLaid() throws {
        let physmap = try Self.physmap()
        let short = Array(Self.runs.dropLast()) + [Self.run(0x300000, 0x5FFFF)]
        let long = Array(Self.runs.dropLast()) + [Self.run(0x300000, 0x60001)]
        let overlapping = Array(Self.runs.dropLast()) + [Self.run(0x2A0000, 0x60000)]
        for (runs, want) in [(short, "hold 1441792 frames but the machine runs given hold 1441791"),
                             (long, "but the machine runs given hold 1441793"),
                             ([], "hold 0: give runs totalling exactly 1441792 frames"),
                             (overlapping, "overlap")] {
            let p2m = P2M(), machine = MachineMemory()
            do {
                try GuestMemoryBuilder.build(physmap, ramRuns: runs, p2m: p2m, machine: machine)
                Issue.record("runs \(runs) accepted")
            } catch {
                #expect("\(error)".contains(want), "\(error)")
                switch error {
                case .ramRunsMismatch(let guest, let ram, _): #expect(guest == "runs" && ram == Self.ramFrames)
                case .overlappingRuns(_, let a, let b): #expect(a.overlaps(b) && runs == overlapping)
                default: Issue.record("unexpected \(error)")
                }
            }
            #expect(p2m.stats.mappedFrames == 0 && machine.backings.isEmpty)
        }
    }

    @Test func aBuildThatFailsHalfwayLeavesMachineAndP2MAsTheyWere() throws {
        let physmap = try Self.physmap()
        // Machine memory already backs a frame of the last run: the first three runs are undone.
        let p2m = P2M(), machine = MachineMemory()
        try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0x35FFFF), frames: 1)
        do {
            try GuestMemoryBuilder.build(physmap, ramRuns: Self.runs, p2m: p2m, machine: machine)
            Issue.record("built over machine memory in use")
        } catch {
            guard case let .machineMemory(_, run, .overlappingBacking) = error else { Issue.record("unexpected \(error)"); return }
            #expect(run == Self.runs[3])
        }
        #expect(machine.backings.map(\.firstMfn.raw) == [0x35FFFF] && p2m.stats.mappedFrames == 0)
        // The p2m runs out of nodes after laying ram_low (four nodes, its end not 2M-aligned)
        // with two left, which removing it needs at worst: what was laid is removed, the machine
        // run too.
        let small = try P2M(nodeLimit: 6)
        let fresh = MachineMemory()
        do {
            try GuestMemoryBuilder.build(physmap, ramRuns: [Self.run(0x100000, Self.ramFrames)], p2m: small, machine: fresh)
            Issue.record("built within 6 nodes")
        } catch {
            guard case let .p2m(_, region, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(region != "ram_low", "the failure must come after something was laid")
        }
        #expect(small.stats.mappedFrames == 0 && fresh.backings.isEmpty)
        // A p2m that already maps part of the guest is refused before anything changes.
        let used = P2M(), untouched = MachineMemory()
        try used.set(gfn: Gfn(uncheckedRaw: 0x1A1800), count: 1, to: nil, type: .mmioDM)
        do {
            try GuestMemoryBuilder.build(physmap, ramRuns: Self.runs, p2m: used, machine: untouched)
            Issue.record("built over a mapped frame")
        } catch {
            guard case let .alreadyMapped(_, region, existing) = error else { Issue.record("unexpected \(error)"); return }
            #expect(region == "dev" && existing.gfn.raw == 0x1A1800)
        }
        #expect(used.stats.mappedFrames == 1 && untouched.backings.isEmpty)
    }

    @Test func aBuiltGuestSteersRAMDirectMMIOToTheDefaultServerAndHolesToFaults() throws {
        let physmap = try GuestPhysmap(config: GuestConfig(name: "small", memory: ByteSize(bytes: 2 << 30)))
        let p2m = P2M(), machine = MachineMemory()
        let layout = try GuestMemoryBuilder.build(physmap, ramBase: Mfn(uncheckedRaw: 0x100000), p2m: p2m, machine: machine)
        let e = try SteeringHost().createGuest(DomainID(1), p2m: p2m, machine: machine,
                                               settings: GuestSteeringSettings(ramFrames: layout.ramFrames))
        let qemu = try e.createServer(name: "qemu", isDefault: true)
        #expect(e.decide(try .write(Gpa(0x1234_0000), size: 8, data: 1)) == .direct(mfn: Mfn(uncheckedRaw: 0x112340), type: .ramRW))
        let aperture = try #require(layout.mmioRegions.first { $0.kind == .pciMmio32 })
        #expect(e.decide(try .read(aperture.range.first, size: 4)) == .emulate(server: qemu, route: .defaultServer))
        #expect(e.decide(try .read(Gpa(0xFEE0_0000), size: 4)) == .fault(.unmapped(gfn: Gfn(uncheckedRaw: 0xFEE00))))
    }
}
