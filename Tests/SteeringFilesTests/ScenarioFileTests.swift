import DeviceModel
import Foundation
import GuestConfigFile
import GuestMemory
import SteeringFiles
import Testing
import VpmemCore

@Suite struct ScenarioFileTests {
    static let physmap = try! GuestPhysmap(config: GuestConfig(name: "gpu-guest", memory: ByteSize(bytes: 2 << 30)))

    static func engine(_ physmap: GuestPhysmap = physmap, wpLimit: UInt64? = nil, allowance: UInt64? = nil) throws -> SteeringEngine {
        try guest(physmap, wpLimit: wpLimit, allowance: allowance).0
    }

    /// A guest's memory and engine as a guest builds them: the builder, then the host's engine.
    static func guest(_ physmap: GuestPhysmap = physmap, wpLimit: UInt64? = nil,
                      allowance: UInt64? = nil) throws -> (SteeringEngine, [GfnRange]) {
        let p2m = P2M(), machine = MachineMemory()
        let layout = try GuestMemoryBuilder.build(physmap, ramBase: Mfn(uncheckedRaw: 0x100000), p2m: p2m, machine: machine)
        var config = HostSteeringConfig()
        if let allowance { config.guestAllowanceBytes = allowance }
        let engine = try SteeringHost(config: config).createGuest(DomainID(1), p2m: p2m, machine: machine,
                                                                  settings: GuestSteeringSettings(ramFrames: layout.ramFrames, wpMemRangeLimit: wpLimit))
        return (engine, layout.ramRegions)
    }

    /// Carries out `accesses` on `engine`, returning every result.
    static func run(_ engine: SteeringEngine, _ accesses: [GuestAccess]) throws -> [AccessResult] {
        let out = UnsafeMutableBufferPointer<AccessResult>.allocate(capacity: accesses.count)
        out.initialize(repeating: .discarded)
        defer { out.deallocate() }
        try accesses.withUnsafeBufferPointer { try engine.handle($0, into: out) }
        return Array(out)
    }

    /// The built-in scenario, written as a scenario file with its generator's accesses as a
    /// trace, replays on a fresh engine of the same guest to the same results, counters and
    /// vGPU shadow: the file and the trace carry everything the run depends on.
    @Test(arguments: [SteeringMode.type, .range], AccessTraceFormat.allCases)
    func theBuiltInScenarioReplaysFromItsFileAndTrace(_ mode: SteeringMode, _ format: AccessTraceFormat) throws {
        let scratch = Scratch()
        let options = ScenarioOptions(pageTablePages: 512, fragmentation: 0.5, seed: 11, mode: mode)
        let (first, ram) = try Self.guest(wpLimit: 1024)
        let builtin = try SteeringScenario(physmap: Self.physmap, ramRegions: ram, engine: first, options: options)
        var stream = try builtin.stream()
        let accesses = (0..<30_000).map { _ in stream.next() }
        let expected = try Self.run(builtin.engine, accesses)

        let file = ScenarioFile.render(builtin.spec, comment: ["test"])
        let spec = try ScenarioFile.parse(file, path: "s.toml")
        #expect(spec == builtin.spec)
        let tracePath = scratch.file("t")
        let writer = try AccessTraceWriter(path: tracePath, format: format)
        try accesses.withUnsafeBufferPointer { try writer.write($0) }
        try writer.finish()
        let replayed = try roundTrip(accesses, format: format, batch: 1000, in: scratch)

        let engine = try Self.engine(wpLimit: 1024)
        let setup = try ScenarioSetup(spec: spec, engine: engine)
        #expect(try Self.run(engine, replayed) == expected)
        #expect(engine.counters.decisions == builtin.engine.counters.decisions)
        #expect(engine.counters.servers == builtin.engine.counters.servers)
        #expect(setup.shadow.updates == builtin.gtt.shadowUpdates && setup.shadow.digest == builtin.gtt.shadowDigest)
        #expect(builtin.gtt.shadowUpdates > 1000)
        for kind in IoRangeKind.allCases {
            #expect(try engine.ranges(setup.servers[1], kind) == builtin.engine.ranges(builtin.gpu, kind))
        }
        #expect(engine.claimant?.server == (mode == .type ? setup.servers[1] : nil))
    }

    /// Set-up is all or nothing: the last step refused leaves the engine's servers, claim and
    /// p2m types as they were.
    @Test func aScenarioThatCannotBeSetUpChangesNothing() throws {
        let (engine, regions) = try Self.guest(allowance: 64 << 10)
        let ram = regions[0]
        let before = engine.servers
        let pages = GfnRange(uncheckedFirst: ram.first.raw + 100, end: ram.first.raw + 110)
        // More scattered wp_mem ranges than the 64K allowance holds, after a claim and typing.
        let many = (0..<20_000).map { i in ScenarioRange(kind: .wpMem, first: ram.first.raw + 1000 + UInt64(i) * 2, last: ram.first.raw + 1000 + UInt64(i) * 2) }
        let spec = ScenarioSpec(servers: [ScenarioServerSpec(name: "qemu", isDefault: true, device: .registerFile),
                                          ScenarioServerSpec(name: "gpu", device: .gttShadow, claim: .write, ranges: many)],
                                ioreqServerPages: [pages])
        #expect(throws: ScenarioError.self) { try ScenarioSetup(spec: spec, engine: engine) }
        #expect(engine.servers == before && engine.claimant == nil && engine.defaultServer == nil)
        #expect(engine.p2m.translate(pages.first)?.type == .ramRW)
        // A frame that is no RAM is refused before anything changes, naming the frame.
        let mmio = Gfn(uncheckedRaw: 0xFEE00)
        let outside = ScenarioSpec(servers: [ScenarioServerSpec(name: "q", isDefault: true, device: .none)],
                                   ioreqServerPages: [pages, GfnRange(uncheckedFirst: mmio.raw, end: mmio.raw + 1)])
        do {
            _ = try ScenarioSetup(spec: outside, engine: engine)
            Issue.record("accepted a non-RAM frame")
        } catch {
            #expect("\(error)".contains("ioreq_server frame \(mmio)") && "\(error)".contains("not the guest's ram_rw RAM"), "\(error)")
        }
        #expect(engine.servers == before && engine.p2m.translate(pages.first)?.type == .ramRW)
        // The same engine takes a good scenario afterwards.
        let good = try ScenarioSetup(spec: ScenarioSpec(servers: [ScenarioServerSpec(name: "q", isDefault: true, device: .registerFile)],
                                                        ioreqServerPages: [pages]), engine: engine)
        #expect(engine.p2m.translate(pages.first)?.type == .ioreqServer && good.servers.count == 1)
    }

    /// Each bad file is refused naming the file, the key and the fix.
    static let badFiles: [(String, String)] = [
        ("[[server]]\nname = \"a\"\ndevice = \"register-file\"\nbogus = 1\n", "server[0].bogus is not a scenario key"),
        ("colour = \"red\"\n[[server]]\nname = \"a\"\ndevice = \"none\"\n", "colour is not a scenario key"),
        ("ioreq_server = [\"0x10\"]\n", "server is missing"),
        ("[[server]]\ndevice = \"none\"\n", "server[0].name is missing"),
        ("[[server]]\nname = \"a\"\n", "server[0].device is missing"),
        ("[[server]]\nname = \"a\"\ndevice = \"gpu\"\n", "is no device behaviour"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nclaim = \"execute\"\n", "is no claim"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nport = [\"0x20-0x10\"]\n", "is backwards"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nport = [\"0x10-0x20-0x30\"]\n", "is not a range"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nport = [\"0x10000\"]\n", "past port's maximum"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nmmio = [\"0x1-0x10000000000000000\"]\n", "does not fit in 64 bits"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\npci = [\"00:40.0\"]\n", "device"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nport = \"0x10\"\n", "is not an array"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\n[[server]]\nname = \"a\"\ndevice = \"none\"\n", "two servers are named 'a'"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\ndefault = true\n[[server]]\nname = \"b\"\ndevice = \"none\"\ndefault = true\n", "both default"),
        ("[[server]]\nname = \"a\"\ndevice = \"none\"\nclaim = \"write\"\n[[server]]\nname = \"b\"\ndevice = \"none\"\nclaim = \"read\"\n", "both claim"),
        ("ioreq_server = [\"0x10-0x20\", \"0x18\"]\n[[server]]\nname = \"a\"\ndevice = \"none\"\n", "overlap"),
        ("resident = [\"0x1000000000000\"]\n[[server]]\nname = \"a\"\ndevice = \"none\"\n", "past the p2m's last frame"),
        ("[[server]]\nname = \"a\u{1b}[2J\"\ndevice = \"none\"\n", "control character"),
        ("[[server]\nname = \"a\"\n", "not valid TOML"),
    ]

    @Test(arguments: badFiles) func aBadScenarioFileIsRefusedNamingTheKey(_ text: String, _ mentions: String) {
        do {
            _ = try ScenarioFile.parse(text, path: "my.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix("scenario my.toml: "), "\(error)")
            #expect("\(error)".contains(mentions), "\(error)")
        }
    }

    /// The shipped examples parse, and set up on a guest like examples/hole-3g.toml.
    @Test func theExamplesSetUp() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("examples/steer").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".toml") }
        #expect(files.count >= 2)
        let hole = try GuestPhysmap(config: GuestConfigFile.load(from: root.appendingPathComponent("examples/hole-3g.toml").path))
        for f in files {
            let spec = try ScenarioFile.load(from: dir + "/" + f)
            let engine = try Self.engine(hole, wpLimit: 8192)
            let setup = try ScenarioSetup(spec: spec, engine: engine)
            #expect(setup.servers.count == spec.servers.count, "\(f)")
        }
    }
}
