import DeviceModel
import GuestMemory
import VpmemCore
import Testing

@Suite struct WorkloadTests {
    static let ram = [try! GfnRange(first: Gfn(uncheckedRaw: 0), count: 0x4_0000),
                      try! GfnRange(first: Gfn(uncheckedRaw: 0x10_0000), count: 0x4_0000)]

    static func physmap(memory: UInt64 = 2 << 30) throws -> GuestPhysmap {
        try GuestPhysmap(config: GuestConfig(name: "gpu-guest", memory: ByteSize(bytes: memory)))
    }

    @Test func fragmentationSetsTheNumberOfRuns() throws {
        let contiguous = try PageTableLayout(pages: 8192, fragmentation: 0, ram: Self.ram, seed: 7)
        #expect(contiguous.runs.count == 1 && contiguous.pages.count == 8192)
        let scattered = try PageTableLayout(pages: 8192, fragmentation: 1, ram: Self.ram, seed: 7)
        #expect(scattered.runs.count == 8192)
        let half = try PageTableLayout(pages: 8192, fragmentation: 0.5, ram: Self.ram, seed: 7)
        #expect(half.runs.count >= 4000 && half.runs.count <= 4096)  // 4096 runs, a few may straddle RAM regions
        for layout in [contiguous, scattered, half] {
            #expect(Set(layout.pages).count == 8192)
            #expect(layout.pages == layout.pages.sorted())
            #expect(layout.pages.allSatisfy { g in Self.ram.contains { $0.contains(g) } })
            #expect(layout.runs.reduce(0) { $0 + $1.count } == 8192)
        }
        #expect(throws: WorkloadError.self) { try PageTableLayout(pages: 10, fragmentation: 1.5, ram: Self.ram, seed: 1) }
        #expect(throws: WorkloadError.self) { try PageTableLayout(pages: 0x8_0001, fragmentation: 0, ram: Self.ram, seed: 1) }
    }

    @Test func streamsAreDeterministicFromTheSeedAndValid() throws {
        let layout = try PageTableLayout(pages: 512, fragmentation: 0.3, ram: Self.ram, seed: 3)
        let targets = WorkloadTargets(pageTables: layout, ram: Self.ram,
                                      gpuBar: try GpaRange(start: Gpa(0xE000_0000), size: 16 << 20),
                                      otherBar: try GpaRange(start: Gpa(0xE100_0000), size: 1 << 20),
                                      gpuPorts: 0x3C0...0x3DF, otherPorts: [0x60, 0xCF8])
        var a = try AccessStream(mix: WorkloadKind.xengt.mix, targets: targets, seed: 42)
        var b = try AccessStream(mix: WorkloadKind.xengt.mix, targets: targets, seed: 42)
        var c = try AccessStream(mix: WorkloadKind.xengt.mix, targets: targets, seed: 43)
        let xs = (0..<20_000).map { _ in a.next() }
        #expect(xs == (0..<20_000).map { _ in b.next() })
        #expect(xs != (0..<20_000).map { _ in c.next() })
        let pt = Set(layout.pages.map(\.raw))
        var ptWrites = 0, ptAll = 0, ports = 0, mmio = 0
        for x in xs {
            // Every access passes the checked constructors.
            let checked: GuestAccess = x.space == .port
                ? try .port(UInt16(x.address), size: x.size, direction: x.direction, data: x.data)
                : try .memory(Gpa(x.address), size: x.size, direction: x.direction, data: x.data)
            #expect(checked == x)
            if x.space == .port { ports += 1 }
            if x.space == .memory && (0xE000_0000..<0xE110_0000).contains(x.address) { mmio += 1 }
            if x.space == .memory && !(0xE000_0000..<0xE110_0000).contains(x.address) && !pt.contains(x.address >> 12) {
                #expect(x.address >> 12 < WorkloadTargets.defaultWorkingSetFrames, "RAM access outside the working set")
            }
            if x.space == .memory && pt.contains(x.address >> 12) {
                ptAll += 1
                if x.isWrite { ptWrites += 1 }
            }
        }
        // xengt: 60 % page tables (70 % of them writes), 10 % MMIO, 5 % ports; RAM picks a few PT pages too.
        #expect(abs(Double(ptAll) / 20_000 - 0.6) < 0.02)
        #expect(abs(Double(ptWrites) / Double(ptAll) - 0.7) < 0.03)
        #expect(abs(Double(mmio) / 20_000 - 0.1) < 0.01)
        #expect(abs(Double(ports) / 20_000 - 0.05) < 0.01)
        #expect(throws: WorkloadError.self) {
            try AccessStream(mix: WorkloadMix(pageTable: 0.5, ram: 0.6, mmio: 0, port: 0, pageTableWrites: 1), targets: targets, seed: 1)
        }
    }

    /// RAM accesses fall in the working set, counted across the RAM regions end to end, whether
    /// it lies inside one region (first, second) or spans the hole between them; over a run
    /// they reach both of its ends.
    @Test func ramAccessesStayInTheWorkingSetAcrossRegions() throws {
        let layout = try PageTableLayout(pages: 16, fragmentation: 0, ram: Self.ram, seed: 3)
        func index(_ gfn: UInt64) -> UInt64? {
            var before: UInt64 = 0
            for r in Self.ram {
                if r.contains(Gfn(uncheckedRaw: gfn)) { return before + gfn - r.first.raw }
                before += r.count
            }
            return nil
        }
        let frames: UInt64 = 64
        for start: UInt64 in [0x100, 0x4_0000 - 32, 0x4_0000, 0x8_0000 - frames] {
            let targets = WorkloadTargets(pageTables: layout, ram: Self.ram,
                                          gpuBar: try GpaRange(start: Gpa(0xE000_0000), size: 16 << 20),
                                          otherBar: try GpaRange(start: Gpa(0xE100_0000), size: 1 << 20),
                                          gpuPorts: 0x3C0...0x3DF, otherPorts: [0x60],
                                          ramWorkingSetStart: start, ramWorkingSetFrames: frames)
            var stream = try AccessStream(mix: WorkloadMix(pageTable: 0, ram: 1, mmio: 0, port: 0, pageTableWrites: 0),
                                          targets: targets, seed: start)
            var seen = Set<UInt64>()
            for _ in 0..<4_000 {
                let a = stream.next()
                guard a.space == .memory, let i = index(a.address >> 12), i >= start, i < start + frames else {
                    Issue.record("working set at \(start): access \(a) outside it")
                    return
                }
                seen.insert(i - start)
            }
            #expect(seen.contains(0) && seen.contains(frames - 1) && seen.count == Int(frames), "working set at \(start)")
        }
    }

    @Test func rangeModeDegradesAtTheLimitAndTypeModeProtectsEverything() throws {
        let typed = try SteeringScenario(physmap: Self.physmap(), options: ScenarioOptions(mode: .type), domain: DomainID(1))
        #expect(typed.protectedRuns == typed.targets.pageTables.runs.count && typed.unprotectedPages == 0)
        let ranged = try SteeringScenario(physmap: Self.physmap(), options: ScenarioOptions(mode: .range), domain: DomainID(1))
        #expect(ranged.protectedRuns == 256)
        let runs = ranged.targets.pageTables.runs
        #expect(ranged.unprotectedPages == runs[256...].reduce(0) { $0 + Int($1.count) })
        guard case .rangeLimitReached(_, _, .wpMem, _)? = ranged.degradation else {
            Issue.record("expected the wp_mem limit to stop protection, got \(String(describing: ranged.degradation))")
            return
        }
        #expect(ranged.engine.p2m.translate(runs[300].first)?.type == .ramRW)
        #expect(ranged.engine.p2m.translate(runs[100].first)?.type == .ioreqServer)
    }

    @Test func typeAndRangeSteeringDecideAlikeWhenEveryPageIsProtected() throws {
        var results: [(SteeringCounters, UInt64, UInt64)] = []
        for mode in SteeringMode.allCases {
            let s = try SteeringScenario(physmap: Self.physmap(), options: ScenarioOptions(pageTablePages: 2048, mode: mode),
                                         domain: DomainID(1), wpMemRangeLimit: 2048)
            #expect(s.unprotectedPages == 0)
            var stream = try s.stream()
            for _ in 0..<50_000 { _ = try s.engine.handle(stream.next()) }
            results.append((s.engine.counters, s.gtt.shadowUpdates, s.gtt.shadowDigest))
        }
        let (typeCounts, typeUpdates, typeDigest) = results[0]
        let (rangeCounts, rangeUpdates, rangeDigest) = results[1]
        #expect(typeCounts.decisions[.emulateTypeClaim]! > 15_000)
        #expect(typeCounts.decisions[.emulateTypeClaim] == rangeCounts.decisions[.emulateWpMem])
        #expect(typeCounts.decisions[.emulateWpMem] == 0 && rangeCounts.decisions[.emulateTypeClaim] == 0)
        for c in [DecisionCounter.directRAM, .emulateMmio, .emulatePort, .emulateDefault, .faultUnmapped] {
            #expect(typeCounts.decisions[c] == rangeCounts.decisions[c], "\(c)")
        }
        #expect(typeUpdates == rangeUpdates && typeDigest == rangeDigest)
        #expect(typeCounts.decisions[.faultUnmapped] == 0)
    }
}
