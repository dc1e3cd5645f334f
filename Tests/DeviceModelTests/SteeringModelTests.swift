import DeviceModel
import GuestMemory
import VpmemTestSupport
import Testing

/// The steering engine against a naive model: servers as dictionaries of value sets, the p2m as
/// a dictionary of types, the decision written out as the rules say. Random operation
/// sequences (servers, ranges, claims, type changes, the admin's wp_mem limit) interleaved with
/// random accesses; after each sequence the Xen-style baseline, mirrored from the engine, must
/// decide every access the same way.
@Suite struct SteeringModelTests {
    // Small value spaces, so the model's sets are small and ranges collide often.
    static let ramFrames: UInt64 = 32          // gfns 0..<32 ram_rw (or ioreq_server)
    static let roGfn: UInt64 = 32              // ram_ro
    static let mmioGfn: UInt64 = 0x40          // mmio_dm, one page
    static let mmioBase: UInt64 = mmioGfn << 12
    static let portSpan: UInt64 = 64
    static let mmioSpan: UInt64 = 256
    static let pciSpan: UInt64 = 16

    struct Model {
        var servers: [Int: [IoRangeKind: Set<UInt64>]] = [:]
        var defaultServer: Int?
        var claim: (Int, IoreqClaimFlags)?
        var types: [UInt64: P2MType] = [:]
        var wpLimit: UInt64 = 256

        func holds(_ s: Int, _ kind: IoRangeKind, _ first: UInt64, _ last: UInt64) -> Bool {
            guard let set = servers[s]?[kind] else { return false }
            return (first...last).allSatisfy { set.contains($0) }
        }

        func select(_ kind: IoRangeKind, _ first: UInt64, _ last: UInt64, _ space: AccessSpace) -> SteeringDecision {
            for s in servers.keys.sorted(by: >) where holds(s, kind, first, last) {
                return .emulate(server: IoreqServerID(UInt16(s)), route: .rangeset(kind))
            }
            if let d = defaultServer { return .emulate(server: IoreqServerID(UInt16(d)), route: .defaultServer) }
            return .fault(.noServer(space: space))
        }

        func decide(_ a: GuestAccess) -> SteeringDecision {
            switch a.space {
            case .port: return select(.port, a.address, a.address + UInt64(a.size) - 1, .port)
            case .pciConfig: return select(.pciConfig, a.address >> 32, a.address >> 32, .pciConfig)
            case .memory: break
            }
            let gfn = a.address >> 12
            guard let type = types[gfn] else { return .fault(.unmapped(gfn: Gfn(uncheckedRaw: gfn))) }
            let mfn = Mfn(uncheckedRaw: testMfnBase + gfn)
            switch type {
            case .mmioDM:
                return select(.mmio, a.address, a.address + UInt64(a.size) - 1, .memory)
            case .ramRO:
                return a.direction == .write ? .fault(.writeDiscarded(gfn: Gfn(uncheckedRaw: gfn), type: .ramRO))
                    : .direct(mfn: mfn, type: .ramRO)
            case .ioreqServer:
                if let (s, flags) = claim, flags.contains(a.direction == .write ? .write : .read) {
                    return .emulate(server: IoreqServerID(UInt16(s)), route: .typeClaim)
                }
                if a.direction == .write {
                    for s in servers.keys.sorted(by: >) where holds(s, .wpMem, gfn, gfn) {
                        return .emulate(server: IoreqServerID(UInt16(s)), route: .rangeset(.wpMem))
                    }
                }
                return .direct(mfn: mfn, type: .ioreqServer)
            default:
                return .direct(mfn: mfn, type: type)
            }
        }

        /// Maximal runs of consecutive values: the number of ranges a rangeset holds.
        static func runs(_ set: Set<UInt64>) -> UInt64 {
            UInt64(set.filter { $0 == 0 || !set.contains($0 - 1) }.count)
        }

        func limit(_ kind: IoRangeKind) -> UInt64 { kind == .wpMem ? wpLimit : 256 }
    }

    static func span(_ kind: IoRangeKind) -> (UInt64, UInt64) {
        switch kind {
        case .port: return (0, portSpan)
        case .mmio: return (mmioBase, mmioSpan)
        case .pciConfig: return (0, pciSpan)
        case .wpMem: return (0, ramFrames + 4)
        }
    }

    static func randomAccess(_ r: inout SplitMix64) throws -> GuestAccess {
        let size = [UInt8(1), 2, 4, 8][Int(r.next(below: 4))]
        let dir: AccessDirection = r.next(below: 2) == 0 ? .read : .write
        let data = dir == .write ? r.next() & (size == 8 ? .max : (1 << (UInt64(size) * 8)) - 1) : 0
        switch r.next(below: 4) {
        case 0:
            return try .port(UInt16(r.next(below: portSpan)), size: size, direction: dir, data: data)
        case 1:
            let sbdf = PciSbdf(raw: UInt32(r.next(below: pciSpan)))
            return try .pciConfig(PciConfigAddress(sbdf: sbdf, register: 0x10), size: size, direction: dir, data: data)
        case 2:
            return try .memory(Gpa(mmioBase + r.next(below: mmioSpan + 16)), size: size, direction: dir, data: data)
        default:
            let gfn = r.next(below: ramFrames + 2)  // includes ram_ro and one unmapped gfn
            return try .memory(Gpa(gfn << 12 | r.next(below: 4096 - 8)), size: size, direction: dir, data: data)
        }
    }

    /// One random sequence; returns a description of the first disagreement, or nil.
    static func run(seed: UInt64, steps: Int) throws -> String? {
        var r = SplitMix64(seed: seed)
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, ramFrames: ramFrames, declaredRAM: 1 << 20)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: roGfn), count: 1, to: Mfn(uncheckedRaw: testMfnBase + roGfn), type: .ramRO)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: mmioGfn), count: 1, to: nil, type: .mmioDM)
        var m = Model()
        for g in 0..<ramFrames { m.types[g] = .ramRW }
        m.types[roGfn] = .ramRO
        m.types[mmioGfn] = .mmioDM

        for step in 0..<steps {
            let op = r.next(below: 16)
            let s = Int(r.next(below: 8))
            let id = IoreqServerID(UInt16(s))
            switch op {
            case 0, 1:  // create
                let isDefault = r.next(below: 4) == 0
                let expectOK = m.servers.count < 8 && !(isDefault && m.defaultServer != nil)
                do {
                    let got = try e.createServer(name: "s", isDefault: isDefault)
                    guard expectOK else { return "step \(step): create succeeded, model refuses" }
                    let want = (0..<8).first { m.servers[$0] == nil }!
                    guard Int(got.raw) == want else { return "step \(step): created \(got), model \(want)" }
                    m.servers[want] = [:]
                    if isDefault { m.defaultServer = want }
                } catch {
                    guard !expectOK else { return "step \(step): create refused: \(error)" }
                }
            case 2:  // destroy
                do {
                    try e.destroyServer(id)
                    guard m.servers[s] != nil else { return "step \(step): destroyed a missing server" }
                    m.servers[s] = nil
                    if m.defaultServer == s { m.defaultServer = nil }
                    if m.claim?.0 == s { m.claim = nil }
                } catch {
                    guard m.servers[s] == nil else { return "step \(step): destroy refused: \(error)" }
                }
            case 3, 4, 5, 6, 7:  // map / unmap
                let kind = IoRangeKind(rawValue: UInt8(r.next(below: 4)))!
                let (base, span) = Self.span(kind)
                let first = base + r.next(below: span)
                let last = min(base + span - 1, first + r.next(below: 6))
                let adding = op != 7
                let before = m.servers[s]?[kind] ?? []
                var after = before
                if adding { after.formUnion(first...last) } else { after.subtract(first...last) }
                let exists = m.servers[s] != nil
                let wholly = (first...last).allSatisfy { before.contains($0) }
                let expectOK = exists && (adding || wholly) && Model.runs(after) <= m.limit(kind)
                do {
                    if adding { try e.mapRange(id, kind, first: first, last: last) } else { try e.unmapRange(id, kind, first: first, last: last) }
                    guard expectOK else { return "step \(step): \(adding ? "map" : "unmap") \(kind) [\(first), \(last)] succeeded, model refuses" }
                    m.servers[s]![kind] = after
                } catch {
                    guard !expectOK else { return "step \(step): \(kind) [\(first), \(last)] refused: \(error)" }
                }
                if exists {
                    let ranges = try e.ranges(id, kind)
                    let values = Set(ranges.flatMap { Array($0) })
                    guard values == (m.servers[s]![kind] ?? []), UInt64(ranges.count) == Model.runs(values) else {
                        return "step \(step): \(kind) set of \(id) is \(ranges), model \(m.servers[s]![kind] ?? [])"
                    }
                }
            case 8:  // claim
                let flags = IoreqClaimFlags(rawValue: UInt8(r.next(below: 4)))
                let expectOK = m.servers[s] != nil && m.claim == nil && !flags.isEmpty
                do {
                    try e.claimIoreqServerType(id, flags: flags)
                    guard expectOK else { return "step \(step): claim succeeded, model refuses" }
                    m.claim = (s, flags)
                } catch {
                    guard !expectOK else { return "step \(step): claim refused: \(error)" }
                }
            case 9:  // release
                let expectOK = m.servers[s] != nil && m.claim?.0 == s
                do {
                    try e.releaseIoreqServerType(id)
                    guard expectOK else { return "step \(step): release succeeded, model refuses" }
                    m.claim = nil
                } catch {
                    guard !expectOK else { return "step \(step): release refused: \(error)" }
                }
            case 10, 11:  // set memory type
                let gfn = r.next(below: ramFrames + 2)
                let count = 1 + r.next(below: 4)
                let to: P2MType = r.next(below: 2) == 0 ? .ioreqServer : .ramRW
                let frames = (gfn..<(gfn + count))
                let expectOK = frames.allSatisfy { m.types[$0] == .ramRW || m.types[$0] == .ioreqServer }
                do {
                    try e.setMemoryType(gfn: Gfn(uncheckedRaw: gfn), count: count, to: to)
                    guard expectOK else { return "step \(step): set type succeeded, model refuses" }
                    for f in frames { m.types[f] = to }
                } catch {
                    guard !expectOK else { return "step \(step): set type refused: \(error)" }
                }
            case 12:  // the admin's wp_mem limit
                let value = 1 + r.next(below: 8)
                let held = m.servers.values.map { Model.runs($0[.wpMem] ?? []) }.max() ?? 0
                do {
                    try host.setWpMemRangeLimit(e.domain, value)
                    guard value >= held else { return "step \(step): wp limit \(value) accepted below \(held) held" }
                    m.wpLimit = value
                } catch {
                    guard value < held else { return "step \(step): wp limit \(value) refused: \(error)" }
                }
            default:  // accesses
                for _ in 0..<8 {
                    let a = try randomAccess(&r)
                    let got = e.decide(a)
                    let want = m.decide(a)
                    guard got == want else { return "step \(step): \(a): engine \(got), model \(want)" }
                }
            }
        }
        // The Xen-style baseline, mirrored from the final state, agrees on every access.
        let xen = try XenStyleIoreqSelect(mirroring: e)
        for _ in 0..<200 {
            let a = try randomAccess(&r)
            guard xen.decide(a) == e.decide(a) else { return "baseline: \(a): engine \(e.decide(a)), xen-style \(xen.decide(a))" }
        }
        return nil
    }

    // propertyCheck runs its body under `try?`, so every failure is recorded as an issue.
    @Test func engineAgreesWithTheNaiveModel() async {
        await checkProperty(count: 200, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            do {
                if let problem = try Self.run(seed: seed, steps: 120) { Issue.record("seed \(seed): \(problem)") }
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }

    /// The model itself: a disagreement must be found when the engine is given a wrong rule.
    @Test func theModelDistinguishesRoutes() throws {
        var m = Model()
        m.types[1] = .ioreqServer
        m.servers[2] = [.wpMem: [1]]
        m.servers[5] = [:]
        m.claim = (5, .read)
        #expect(m.decide(try .write(gpa(1), size: 1, data: 0)) == .emulate(server: IoreqServerID(2), route: .rangeset(.wpMem)))
        #expect(m.decide(try .read(gpa(1), size: 1)) == .emulate(server: IoreqServerID(5), route: .typeClaim))
    }
}
