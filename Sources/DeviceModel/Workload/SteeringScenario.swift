import GuestMemory
import Logging

/// How the vGPU's page-table pages are write-protected.
public enum SteeringMode: String, Sendable, CaseIterable, Codable {
    /// The pages are p2m type ioreq_server and the vGPU's server claims the type for writes
    /// (where seed 001 converged).
    case type
    /// The pages are p2m type ioreq_server and the vGPU's server lists them in its wp_mem
    /// rangeset (the patch seed 001 argued over).
    case range
}

/// What the workload chooses for a scenario. (The admin's settings, such as the wp_mem limit,
/// belong to the engine the scenario is given.)
public struct ScenarioOptions: Sendable {
    public var workload: WorkloadKind
    public var pageTablePages: Int
    public var fragmentation: Double
    public var seed: UInt64
    public var mode: SteeringMode
    /// Frames of the guest's hot RAM that ordinary RAM accesses fall in (capped at its RAM).
    public var workingSetFrames: UInt64

    public init(workload: WorkloadKind = .xengt, pageTablePages: Int = 8192, fragmentation: Double = 0.5,
                seed: UInt64 = 1, mode: SteeringMode = .type,
                workingSetFrames: UInt64 = WorkloadTargets.defaultWorkingSetFrames) {
        self.workload = workload
        self.pageTablePages = pageTablePages
        self.fragmentation = fragmentation
        self.seed = seed
        self.mode = mode
        self.workingSetFrames = workingSetFrames
    }
}

/// A guest set up the way XenGT runs, on the guest's own steering engine: QEMU as the default
/// server, the vGPU as a second server holding its BAR, VGA ports and PCI function, and the
/// guest's GPU page tables write-protected by type or by range. The access stream comes from
/// `stream()`.
///
/// The engine may already have servers (a guest's _DSM device model on its IO port): the
/// scenario adds its two, and needs only that none is the default server and two slots are
/// free. Setting up is all or nothing: on failure the scenario's servers are destroyed (their
/// ranges, devices and type claim go with them) and the page tables it typed `ioreq_server`
/// are `ram_rw` again.
///
/// In range mode, page-table runs beyond the wp_mem limit (or the guest's allowance) are left
/// unprotected, as seed 001 says XenGT must degrade: its vGPU re-shadows them before each
/// submission instead. They stay ram_rw, and `unprotectedPages` and `degradation` say so.
public final class SteeringScenario {
    public let options: ScenarioOptions
    public let physmap: GuestPhysmap
    /// The guest frames of the guest's `ram` regions, where the page tables and the RAM working
    /// set are placed.
    public let ramRegions: [GfnRange]
    public let engine: SteeringEngine
    public let qemu: IoreqServerID
    public let gpu: IoreqServerID
    public let targets: WorkloadTargets
    public let gtt = GTTShadowDevice()
    public let qemuDevice = RegisterFileDevice(name: "qemu")
    /// Page-table runs write-protected (all of them in type mode), typed `ioreq_server`.
    public let ioreqServerRuns: [GfnRange]
    public var protectedRuns: Int { ioreqServerRuns.count }
    public let unprotectedPages: Int
    /// Why protection stopped short, in range mode.
    public let degradation: SteeringError?

    public static let gpuBarSize: UInt64 = 16 << 20
    public static let otherBarSize: UInt64 = 1 << 20
    public static let gpuPorts: ClosedRange<UInt16> = 0x3C0...0x3DF
    public static let otherPorts: [UInt16] = [0x60, 0x64, 0x70, 0x71, 0x3F8, 0xCF8, 0xCFC]
    /// Machine frame of a standalone guest's RAM (4 GiB machine).
    public static let standaloneRamBase = Mfn(uncheckedRaw: 1 << 20)

    /// Sets the scenario up on `engine`, the steering engine of the guest whose physmap is
    /// `physmap` and whose `ram` regions (mapped `ram_rw` in the engine's p2m) are `ramRegions`.
    public init(physmap: GuestPhysmap, ramRegions: [GfnRange], engine: SteeringEngine,
                options: ScenarioOptions) throws(ScenarioError) {
        self.options = options
        self.physmap = physmap
        self.ramRegions = ramRegions
        self.engine = engine
        guard let aperture = physmap.regions.first(where: { $0.kind == .pciMmio32 })?.range,
              aperture.size >= Self.gpuBarSize + Self.otherBarSize else {
            throw .noMmioAperture(guest: physmap.config.name)
        }
        let layout: PageTableLayout
        do {
            layout = try PageTableLayout(pages: options.pageTablePages, fragmentation: options.fragmentation,
                                         ram: ramRegions, seed: options.seed)
        } catch { throw .workload(error) }
        let gpuBar: GpaRange, otherBar: GpaRange
        do {
            gpuBar = try GpaRange(start: aperture.first, size: Self.gpuBarSize)
            otherBar = try GpaRange(start: Gpa(aperture.first.raw + Self.gpuBarSize), size: Self.otherBarSize)
        } catch { throw .noMmioAperture(guest: physmap.config.name) }
        let ramFrames = ramRegions.reduce(UInt64(0)) { $0 + $1.count }
        let workingSet = min(max(options.workingSetFrames, 1), ramFrames)
        var placement = SplitMix64(seed: options.seed ^ 0x5757)
        targets = WorkloadTargets(pageTables: layout, ram: ramRegions, gpuBar: gpuBar, otherBar: otherBar,
                                  gpuPorts: Self.gpuPorts, otherPorts: Self.otherPorts,
                                  ramWorkingSetStart: placement.next(below: ramFrames - workingSet + 1),
                                  ramWorkingSetFrames: workingSet)
        // The guest has been running: its page tables and hot memory are resident, so the run
        // measures steering, not the host kernel's first-touch faults on the model's lazily
        // backed RAM. (RSS is these pages and the devices' registers below, whatever
        // --accesses is.)
        do {
            for run in layout.runs { try Self.makeResident(run, engine.memory) }
            for run in Self.workingSetRuns(targets) { try Self.makeResident(run, engine.memory) }
        } catch { throw .residentMemory(error) }
        var servers: [IoreqServerID] = []
        var typed: [GfnRange] = []
        var unprotected = 0
        var degradation: SteeringError?
        do {
            let qemu = try engine.createServer(name: "qemu", isDefault: true)
            servers.append(qemu)
            let gpu = try engine.createServer(name: "xengt")
            servers.append(gpu)
            try engine.registerCatchAll(qemuDevice, server: qemu)
            try engine.registerCatchAll(gtt, server: gpu)
            // The devices have been driven too: the registers the workload reaches exist (17 MiB
            // of them, for the BARs' 16 and 1 MiB), so a run's first writes to them allocate
            // nothing and a short run costs per access what a long one does.
            gtt.registers.makeResident(.copy, first: gpuBar.first.raw, last: gpuBar.last.raw)
            gtt.registers.makeResident(.pio, first: UInt64(Self.gpuPorts.lowerBound), last: UInt64(Self.gpuPorts.upperBound))
            qemuDevice.makeResident(.copy, first: otherBar.first.raw, last: otherBar.last.raw)
            for port in Self.otherPorts { qemuDevice.makeResident(.pio, first: UInt64(port), last: UInt64(port)) }
            try engine.mapRange(gpu, .mmio, first: gpuBar.first.raw, last: gpuBar.last.raw)
            try engine.mapRange(gpu, .port, first: UInt64(Self.gpuPorts.lowerBound), last: UInt64(Self.gpuPorts.upperBound))
            let vga = PciSbdf(raw: 0x10)  // 0000:00:02.0
            try engine.mapRange(gpu, .pciConfig, first: UInt64(vga.raw), last: UInt64(vga.raw))
            // Claimed before any page is typed, so a busy claim fails before the p2m changes.
            if options.mode == .type { try engine.claimIoreqServerType(gpu, flags: .write) }
            for run in layout.runs {
                if options.mode == .range {
                    // Runs never touch, so once one is refused every later one would be too:
                    // leave the rest unprotected without asking (and logging) again.
                    if degradation != nil {
                        unprotected += Int(run.count)
                        continue
                    }
                    do {
                        try engine.mapRange(gpu, .wpMem, first: run.first.raw, last: run.last.raw)
                    } catch {
                        degradation = error
                        unprotected += Int(run.count)
                        continue
                    }
                }
                try engine.setMemoryType(gfn: run.first, count: run.count, to: .ioreqServer)
                typed.append(run)
            }
            self.qemu = qemu
            self.gpu = gpu
        } catch {
            engine.undoSetUp(typed: typed, servers: servers)
            throw .steering(error)
        }
        self.ioreqServerRuns = typed
        self.unprotectedPages = unprotected
        self.degradation = degradation
    }

    /// A standalone guest for tests and benchmarks: its memory laid from `physmap` by
    /// `GuestMemoryBuilder` (RAM on one run from `ramBase`) into a new p2m and machine memory,
    /// a new `SteeringHost` with `host`'s configuration, and the guest's engine with the admin's
    /// wp_mem limit `wpMemRangeLimit` (nil: the default 256); then the scenario on that engine.
    public convenience init(physmap: GuestPhysmap, options: ScenarioOptions, domain: DomainID,
                            wpMemRangeLimit: UInt64? = nil, host: HostSteeringConfig = HostSteeringConfig(),
                            ramBase: Mfn = SteeringScenario.standaloneRamBase,
                            logger: Logger = Logger(label: "vpmem.steering")) throws(ScenarioError) {
        let p2m = P2M()
        let machine = MachineMemory()
        let memory: GuestRAMLayout
        do { memory = try GuestMemoryBuilder.build(physmap, ramBase: ramBase, p2m: p2m, machine: machine) } catch {
            throw .guestMemory(error)
        }
        let engine: SteeringEngine
        do {
            let steeringHost = try SteeringHost(config: host, logger: logger)
            engine = try steeringHost.createGuest(domain, p2m: p2m, machine: machine,
                                                  settings: GuestSteeringSettings(ramFrames: memory.ramFrames,
                                                                                  wpMemRangeLimit: wpMemRangeLimit))
        } catch { throw .steering(error) }
        try self.init(physmap: physmap, ramRegions: memory.ramRegions, engine: engine, options: options)
    }

    /// The RAM working set's guest frames, as runs inside the `ram` regions.
    static func workingSetRuns(_ t: WorkloadTargets) -> [GfnRange] {
        var skip = t.ramWorkingSetStart, left = t.ramWorkingSetFrames
        var out: [GfnRange] = []
        for r in t.ram where left > 0 {
            if skip >= r.count {
                skip -= r.count
                continue
            }
            let n = min(r.count - skip, left)
            out.append(GfnRange(uncheckedFirst: r.first.raw + skip, end: r.first.raw + skip + n))
            left -= n
            skip = 0
        }
        return out
    }

    /// Backs the RAM behind guest frames `run` with host memory now, a stretch of contiguous
    /// machine frames at a time.
    static func makeResident(_ run: GfnRange, _ memory: GuestMemoryAccess) throws(MachineMemoryError) {
        var stretch: (first: UInt64, count: UInt64)?
        for g in run.first.raw..<(run.first.raw + run.count) {
            guard let mfn = memory.p2m.translate(Gfn(uncheckedRaw: g))?.mfn else { continue }
            if let s = stretch, s.first + s.count == mfn.raw {
                stretch = (s.first, s.count + 1)
                continue
            }
            if let s = stretch { try memory.machine.populateRAM(Mfn(uncheckedRaw: s.first), frames: s.count) }
            stretch = (mfn.raw, 1)
        }
        if let s = stretch { try memory.machine.populateRAM(Mfn(uncheckedRaw: s.first), frames: s.count) }
    }

    /// The workload's access stream, deterministic from the options' seed.
    public func stream() throws(ScenarioError) -> AccessStream {
        do { return try AccessStream(mix: options.workload.mix, targets: targets, seed: options.seed &+ 1) } catch {
            throw .workload(error)
        }
    }
}

extension SteeringScenario {
    /// This set-up as a scenario file holds it: the two servers with the ranges the engine holds
    /// for them now, the claim, the page tables typed `ioreq_server`, and the page tables and RAM
    /// working set as resident memory. `ScenarioSetup` applied to a fresh engine of the same
    /// guest reproduces the set-up exactly.
    public var spec: ScenarioSpec {
        func ranges(_ id: IoreqServerID) -> [ScenarioRange] {
            IoRangeKind.allCases.flatMap { kind in
                ((try? engine.ranges(id, kind)) ?? []).map { ScenarioRange(kind: kind, first: $0.lowerBound, last: $0.upperBound) }
            }
        }
        let claim = engine.claimant.flatMap { $0.server == gpu ? $0.flags : nil }
        return ScenarioSpec(
            servers: [ScenarioServerSpec(name: "qemu", isDefault: true, device: .registerFile, ranges: ranges(qemu)),
                      ScenarioServerSpec(name: "xengt", device: .gttShadow, claim: claim, ranges: ranges(gpu))],
            ioreqServerPages: ioreqServerRuns,
            resident: targets.pageTables.runs + Self.workingSetRuns(targets))
    }
}

extension SteeringScenario {
    /// The vGPU's device model re-shadowing page tables, for a writer thread: each call toggles
    /// the next page-table run (cycling over them) in the vGPU's wp_mem set, unmapping it when
    /// the set holds it and mapping it otherwise. Returns false when the change was refused (the
    /// limit, the allowance). Call from one thread at a time (the engine's writer side).
    public func wpMemChanger() -> @Sendable () -> Bool {
        nonisolated(unsafe) let engine = self.engine
        let gpu = self.gpu
        let runs = targets.pageTables.runs
        nonisolated(unsafe) var next = 0
        return {
            let r = runs[next]
            next = next + 1 == runs.count ? 0 : next + 1
            do {
                if try engine.holds(gpu, .wpMem, first: r.first.raw, last: r.last.raw) {
                    try engine.unmapRange(gpu, .wpMem, first: r.first.raw, last: r.last.raw)
                } else {
                    try engine.mapRange(gpu, .wpMem, first: r.first.raw, last: r.last.raw)
                }
                return true
            } catch {
                return false
            }
        }
    }
}

public enum ScenarioError: Error, CustomStringConvertible {
    case guestMemory(GuestMemoryBuildError)
    case steering(SteeringError)
    case workload(WorkloadError)
    case noMmioAperture(guest: String)
    /// The host could not back the workload's pages (page tables, RAM working set) with memory.
    case residentMemory(MachineMemoryError)
    /// A scenario file's set-up that cannot be applied as written.
    case spec(ScenarioSpecError)

    public var description: String {
        switch self {
        case let .spec(e): return "\(e)"
        case let .guestMemory(e): return "\(e)"
        case let .steering(e): return "\(e)"
        case let .workload(e): return "\(e)"
        case let .residentMemory(e): return "\(e)"
        case let .noMmioAperture(guest):
            return "guest '\(guest)' has no 32-bit PCI MMIO aperture of at least 17M for the GPU's and another device's BARs: enlarge mmio_hole"
        }
    }
}
