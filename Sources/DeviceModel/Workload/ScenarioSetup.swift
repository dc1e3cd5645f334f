import GuestMemory

/// A `ScenarioSpec` applied to a guest's steering engine: its servers created in order (each
/// with its device model as catch-all, its ranges mapped, its claim made), its `ioreq_server`
/// pages typed, its resident RAM backed.
///
/// All or nothing: when any step fails (a range past the allowance, a frame that is not RAM,
/// the server slots full), the pages it typed are `ram_rw` again and the servers it created are
/// destroyed (their ranges, devices and claim with them); the engine is as it was.
public final class ScenarioSetup {
    public let spec: ScenarioSpec
    public let engine: SteeringEngine
    /// The servers, in the spec's order.
    public let servers: [IoreqServerID]
    /// Each server's device model (nil for `none`), in the spec's order.
    public let devices: [(any EmulatedDevice)?]

    public init(spec: ScenarioSpec, engine: SteeringEngine) throws(ScenarioError) {
        do { try spec.validate() } catch { throw .spec(error) }
        // Every frame to type must be ram_rw now, so undoing the typing restores exactly it.
        for run in spec.ioreqServerPages { try Self.checkRAM(run, engine.p2m, purpose: "ioreq_server", exact: true) }
        for run in spec.resident { try Self.checkRAM(run, engine.p2m, purpose: "resident", exact: false) }
        do {
            for run in spec.resident { try SteeringScenario.makeResident(run, engine.memory) }
            for run in spec.ioreqServerPages { try SteeringScenario.makeResident(run, engine.memory) }
        } catch { throw .residentMemory(error) }
        var created: [IoreqServerID] = []
        var typed: [GfnRange] = []
        var devices: [(any EmulatedDevice)?] = []
        do {
            for s in spec.servers {
                let id = try engine.createServer(name: s.name, isDefault: s.isDefault)
                created.append(id)
                let device: (any EmulatedDevice)?
                switch s.device {
                case .registerFile: device = RegisterFileDevice(name: s.name)
                case .gttShadow: device = GTTShadowDevice()
                case .none: device = nil
                }
                if let device { try engine.registerCatchAll(device, server: id) }
                devices.append(device)
                for r in s.ranges { try engine.mapRange(id, r.kind, first: r.first, last: r.last) }
            }
            // Claimed before any page is typed, so a busy claim fails before the p2m changes.
            for (i, s) in spec.servers.enumerated() {
                if let c = s.claim { try engine.claimIoreqServerType(created[i], flags: c) }
            }
            for run in spec.ioreqServerPages {
                try engine.setMemoryType(gfn: run.first, count: run.count, to: .ioreqServer)
                typed.append(run)
            }
        } catch {
            engine.undoSetUp(typed: typed, servers: created)
            throw .steering(error)
        }
        self.spec = spec
        self.engine = engine
        self.servers = created
        self.devices = devices
    }

    /// Page-table entries the scenario's vGPU models have taken in, and a digest of them.
    public var shadow: (updates: UInt64, digest: UInt64) {
        var updates: UInt64 = 0, digest: UInt64 = 0
        for case let d as GTTShadowDevice in devices {
            updates &+= d.shadowUpdates
            digest = digest &* 31 &+ d.shadowDigest
        }
        return (updates, digest)
    }

    /// A device-model thread's change, as `SteeringScenario.wpMemChanger`: each call toggles the
    /// next of the first wp_mem-holding server's ranges in its set. nil when no server has
    /// wp_mem ranges. Call from one thread at a time.
    public func wpMemChanger() -> (@Sendable () -> Bool)? {
        guard let i = spec.servers.firstIndex(where: { $0.ranges.contains { $0.kind == .wpMem } }) else { return nil }
        nonisolated(unsafe) let engine = self.engine
        let server = servers[i]
        let ranges = spec.servers[i].ranges.filter { $0.kind == .wpMem }
        nonisolated(unsafe) var next = 0
        return {
            let r = ranges[next]
            next = next + 1 == ranges.count ? 0 : next + 1
            do {
                if try engine.holds(server, .wpMem, first: r.first, last: r.last) {
                    try engine.unmapRange(server, .wpMem, first: r.first, last: r.last)
                } else {
                    try engine.mapRange(server, .wpMem, first: r.first, last: r.last)
                }
                return true
            } catch {
                return false
            }
        }
    }

    /// Every frame of `run` is guest RAM: `ram_rw` (`exact`), or any RAM type.
    static func checkRAM(_ run: GfnRange, _ p2m: P2M, purpose: String, exact: Bool) throws(ScenarioError) {
        var g = run.first.raw
        while g <= run.last.raw {
            let gfn = Gfn(uncheckedRaw: g)
            let type = p2m.translate(gfn)?.type
            let ok = exact ? type == .ramRW : (type == .ramRW || type == .ioreqServer || type == .ramRO)
            guard ok else { throw .spec(.notRAM(gfn: gfn, purpose: purpose, type: type)) }
            g += 1
        }
    }
}

extension SteeringEngine {
    /// Undoes a scenario's set-up that failed part way: the frames it typed `ioreq_server` are
    /// `ram_rw` again (they were before), and the servers it created are destroyed, newest
    /// first (their ranges, devices and claim go with them).
    func undoSetUp(typed: [GfnRange], servers: [IoreqServerID]) {
        for run in typed { _ = try? setMemoryType(gfn: run.first, count: run.count, to: .ramRW) }
        for id in servers.reversed() { try? destroyServer(id) }
    }
}
