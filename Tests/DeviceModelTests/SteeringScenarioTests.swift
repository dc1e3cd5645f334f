import DeviceModel
import GuestMemory
import VpmemCore
import Testing

/// The scenario on an engine it is given (a guest's, which may have servers already), and its
/// all-or-nothing set-up.
@Suite struct SteeringScenarioTests {
    static let physmap = try! GuestPhysmap(config: GuestConfig(name: "gpu-guest", memory: ByteSize(bytes: 2 << 30)))

    /// A guest's memory and engine as a guest builds them: the builder, then the host's engine.
    static func guestEngine(wpLimit: UInt64? = nil) throws -> (SteeringEngine, GuestRAMLayout) {
        let p2m = P2M(), machine = MachineMemory()
        let layout = try GuestMemoryBuilder.build(physmap, ramBase: Mfn(uncheckedRaw: 0x100000), p2m: p2m, machine: machine)
        let engine = try SteeringHost().createGuest(DomainID(1), p2m: p2m, machine: machine,
                                                    settings: GuestSteeringSettings(ramFrames: layout.ramFrames, wpMemRangeLimit: wpLimit))
        return (engine, layout)
    }

    @Test func theScenarioRunsAlongsideAServerTheGuestAlreadyHas() throws {
        let options = ScenarioOptions(pageTablePages: 2048, mode: .range)
        let (engine, layout) = try Self.guestEngine(wpLimit: 2048)
        // The guest's _DSM device model, on its IO port, registered first (as Guest does).
        let dsm = RecordingDevice(name: "nvdimm")
        let nvdimm = try engine.createServer(name: "nvdimm")
        try engine.register(dsm, server: nvdimm, kind: .port, first: 0x0A18, last: 0x0A1B)
        let s = try SteeringScenario(physmap: Self.physmap, ramRegions: layout.ramRegions, engine: engine, options: options)
        #expect(engine.servers.map(\.name) == ["nvdimm", "qemu", "xengt"])
        #expect(engine.defaultServer == s.qemu && s.gpu == IoreqServerID(2))
        #expect(s.unprotectedPages == 0 && s.protectedRuns == s.targets.pageTables.runs.count)
        // The same accesses decide and deliver as on a standalone guest with no other server.
        let alone = try SteeringScenario(physmap: Self.physmap, options: options, domain: DomainID(1), wpMemRangeLimit: 2048)
        var a = try s.stream(), b = try alone.stream()
        for _ in 0..<50_000 {
            _ = try engine.handle(a.next())
            _ = try alone.engine.handle(b.next())
        }
        #expect(engine.counters.decisions == alone.engine.counters.decisions)
        #expect(engine.counters.decisions[.emulateWpMem]! > 10_000 && engine.counters.decisions[.emulateMmio]! > 1_000)
        #expect(s.gtt.shadowDigest == alone.gtt.shadowDigest && s.gtt.shadowUpdates > 0)
        #expect(dsm.seen.isEmpty)
        // The DSM port still goes to its server.
        #expect(engine.decide(try .port(0x0A18, size: 4, direction: .read)) == .emulate(server: nvdimm, route: .rangeset(.port)))
    }

    /// The guest has run before the workload starts: its page tables and RAM working set are
    /// resident, and the accesses touch no other RAM page, however many they are.
    @Test func theWorkloadsPagesAreResidentBeforeItRunsAndNoOthersAfter() throws {
        let options = ScenarioOptions(pageTablePages: 1024, mode: .type)
        let (engine, layout) = try Self.guestEngine()
        let ram = engine.memory.machine.backings.compactMap { b -> SparseFrameStore? in
            if case let .ram(store) = b { return store }
            return nil
        }
        #expect(ram.count == 1 && ram[0].pagesAllocated == 0)
        let s = try SteeringScenario(physmap: Self.physmap, ramRegions: layout.ramRegions, engine: engine, options: options)
        let workingSet = min(WorkloadTargets.defaultWorkingSetFrames, layout.ramFrames)
        // Page-table runs lie in RAM apart from each other; the working set may overlap them.
        let resident = ram[0].pagesAllocated
        #expect(resident >= Int(max(workingSet, 1024)) && resident <= Int(workingSet) + 1024)
        // The devices' registers the workload reaches are backed too, and still read 0: the GPU
        // BAR's 4,096 pages and one for its VGA ports; the other BAR's 256 and one for the
        // other ports (all below 0x1000).
        let gpuPages = s.gtt.registers.registerPages, qemuPages = s.qemuDevice.registerPages
        #expect(gpuPages == 4096 + 1 && qemuPages == 256 + 1)
        #expect(s.gtt.registers.register(.copy, s.targets.gpuBar.last.raw &- 7) == 0)
        #expect(s.qemuDevice.register(.pio, 0x3F8, size: 1) == 0)
        var a = try s.stream()
        for _ in 0..<200_000 { _ = try engine.handle(a.next()) }
        #expect(engine.counters.decisions[.directRAM]! > 10_000)
        #expect(ram[0].pagesAllocated == resident, "the run touched RAM pages beyond the workload's own")
        #expect(s.gtt.registers.registerPages == gpuPages && s.qemuDevice.registerPages == qemuPages,
                "the run backed register pages beyond the workload's own")
        #expect(s.gtt.registers.writes > 1_000)
    }

    @Test func anEngineWithADefaultServerIsRefusedUnchanged() throws {
        let (engine, layout) = try Self.guestEngine()
        _ = try engine.createServer(name: "other", isDefault: true)
        let before = engine.servers
        do {
            _ = try SteeringScenario(physmap: Self.physmap, ramRegions: layout.ramRegions, engine: engine, options: ScenarioOptions())
            Issue.record("a second default server was accepted")
        } catch {
            guard case .steering(.defaultServerExists) = error else { Issue.record("unexpected \(error)"); return }
        }
        #expect(engine.servers == before)
    }

    /// A page table the scenario cannot type (ram_ro, in the middle of the runs) fails it after
    /// earlier runs were typed and listed: they are ram_rw again, and its servers, their ranges
    /// and its type claim are gone.
    @Test(arguments: SteeringMode.allCases)
    func aScenarioThatFailsHalfwayLeavesTheEngineAsItWas(mode: SteeringMode) throws {
        let options = ScenarioOptions(pageTablePages: 512, fragmentation: 0.5, seed: 3, mode: mode)
        let (engine, layout) = try Self.guestEngine()
        _ = try engine.createServer(name: "nvdimm")
        let before = engine.servers, charged = engine.rangeMemory.charged
        // The scenario's page tables, deterministic from its options.
        let tables = try PageTableLayout(pages: 512, fragmentation: 0.5, ram: layout.ramRegions, seed: 3)
        let poisoned = tables.runs[10].first
        let t = try #require(engine.p2m.translate(poisoned))
        try engine.p2m.set(gfn: poisoned, count: 1, to: t.mfn, type: .ramRO)
        do {
            _ = try SteeringScenario(physmap: Self.physmap, ramRegions: layout.ramRegions, engine: engine, options: options)
            Issue.record("a ram_ro page table was typed")
        } catch {
            guard case .steering(.typeTransitionRefused(_, let gfn, .ramRO, .ioreqServer)) = error, gfn == poisoned else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        #expect(engine.servers == before && engine.rangeMemory.charged == charged && engine.claimant == nil)
        let typed = tables.pages.filter { $0 != poisoned && engine.p2m.translate($0)?.type != .ramRW }
        #expect(typed.isEmpty, "\(typed.count) page-table pages left ioreq_server")
    }

    @Test func aBusyTypeClaimIsRefusedWithTheEngineUnchanged() throws {
        let (engine, layout) = try Self.guestEngine()
        let other = try engine.createServer(name: "other")
        try engine.claimIoreqServerType(other, flags: .write)
        let before = engine.servers
        do {
            _ = try SteeringScenario(physmap: Self.physmap, ramRegions: layout.ramRegions, engine: engine,
                                     options: ScenarioOptions(pageTablePages: 512, mode: .type))
            Issue.record("a second claim was accepted")
        } catch {
            guard case .steering(.claimBusy) = error else { Issue.record("unexpected \(error)"); return }
        }
        #expect(engine.servers == before && engine.claimant?.server == other)
        let ram = layout.ramRegions[0]
        #expect(try engine.p2m.mappings(gfn: ram.first, count: ram.count).allSatisfy { $0.type == .ramRW })
    }
}
