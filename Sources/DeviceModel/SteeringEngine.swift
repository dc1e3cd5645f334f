import Atomics
import GuestMemory
import Logging

// SteeringEngine: one guest's ioreq servers and the decision, for every guest access, of where
// it goes: the backing memory (direct), a server's device model (emulate), or nowhere (fault).
//
// Order of the decision for a memory access (the p2m is read once):
//   1. translate the gfn; unmapped -> fault(unmapped)
//   2. the entry's access rights (mem_access) must allow the direction -> else fault(accessDenied)
//   3. by p2m type:
//      ioreq_server   the claimant of the type, if it claimed this direction (type steering);
//                     else, for a write, the first server whose wp_mem rangeset holds the gfn
//                     (range steering); else direct, as RAM (an unclaimed page behaves as RAM)
//      mmio_dm        the first server whose mmio rangeset holds [addr, addr + size - 1];
//                     else the default server; else fault(noServer)
//      ram_ro, grant_map_ro   reads direct; writes fault(writeDiscarded) (Xen drops them)
//      everything else (ram_rw, ram_logdirty, pmem, mmio_direct, grant_map_rw, foreign) direct
// Port and PCI-config accesses: the first server whose port rangeset holds
// [port, port + size - 1], or whose pci rangeset holds the SBDF; else the default server; else
// fault(noServer). "First" is in descending server id, as Xen's FOR_EACH_IOREQ_SERVER walks its
// server array (and as the 2016 code walked its list, newest server first).
//
// Invariants (of the writer's state; every published view is a copy of it, SteeringView.swift):
//  1. `rangeSets` holds maxServers * 4 initialised RangeSets; set (id, kind) is at
//     id * 4 + kind.rawValue. A slot without a server holds four empty sets (no heap memory).
//  2. `active[0..<hot.activeCount]` are the ids of the existing servers, ascending; `records[id]`
//     is non-nil exactly for those ids.
//  2a. In a view, hot.newestSets is nil when no server exists, else the first set of the newest
//     server in that view, and hot.newestID that server's id: the walk's first step is one load.
//  3. hot.claimant is -1 or an existing server's id, and hot.claimFlags is non-zero exactly when
//     it is not -1; hot.defaultServer is -1 or an existing server's id.
//  4. account.charged equals the sum of bytesAllocated over all 32 sets, and never exceeds
//     account.allowance (checked before a set grows its slots, and against the set's forecast
//     of its bytes before any add or remove: see `change`).
//  5. Every wp_mem set's limit equals wpMemLimit; every other set's limit is 256.
//  6. A method that throws has changed none of the above, and publishes nothing new.
//  7. `published` names a view of the state as it was after the last completed change. A set
//     whose buffers a published (or retired, not yet freed) view names is never written: a
//     change writes a duplicate (`writableSet`), and the original is freed with the views.
//
// Concurrency: the decision reads only the published view, loaded once (an acquire load, a plain
// load on x86), so any number of vCPUs (`makeVCPU`) may decide while one writer changes servers,
// ranges, claims and devices (changes are serialised by the caller, as Xen's ioreq server lock
// does). A lookup never blocks and sees a whole change or none of it. The p2m and machine memory
// are not published: change them only while no vCPU steers. `decide`, `steer` and `handle` on the
// engine itself are for the thread that makes the changes (tests, the CLI's single vCPU).
//
// Why unsafe buffers: the decision reads the view, the active ids and the sets through pointers,
// so each read is a plain load: no exclusivity check, no retain/release, no bounds check, no copy
// of a RangeSet (which is ~Copyable and is borrowed in place).

/// One guest's ioreq servers, their rangesets and type claim, and the steering decision.
/// Created by `SteeringHost.createGuest`; the host admin's settings (wp_mem limit, range
/// allowance) cannot be changed through it.
public final class SteeringEngine {
    /// Servers a guest may have (Xen's MAX_NR_IOREQ_SERVERS).
    public static let maxServers = 8
    @usableFromInline static let kinds = 4

    public let domain: DomainID
    public let p2m: P2M
    /// Guest memory as device models see it.
    public let memory: GuestMemoryAccess
    public let logger: Logger
    /// Frames of guest RAM, as the admin declared at creation (bounds the wp_mem limit).
    public let ramFrames: UInt64

    /// The current view: what every decision reads (invariant 7).
    @usableFromInline let published: UnsafeAtomic<UnsafeMutablePointer<SteeringView>>
    @usableFromInline let decisionCounts: UnsafeMutablePointer<UInt64>
    @usableFromInline let serverCounts: UnsafeMutablePointer<UInt64>
    /// The batch path's rings: the walks made ahead (`CarriedWalk`) and, before them, where
    /// each walk ends (`P2M.leafEntry`); and whether a batch is using them.
    let carried: UnsafeMutablePointer<CarriedWalk>
    let carriedLeaves: UnsafeMutablePointer<UInt>
    var batchRunning = false

    // The writer's state.
    let rangeSets: UnsafeMutablePointer<RangeSet>
    let hot: UnsafeMutablePointer<HotState>
    let active: UnsafeMutablePointer<UInt16>
    var records: [ServerRecord?]
    var account: RangeMemoryAccount
    /// The limit of every wp_mem set of this guest.
    public internal(set) var wpMemLimit: UInt64
    var quotes: [Int: Int] = [:]
    let reclamation = SteeringReclamation()
    let retirements = ServerRetirements(slots: SteeringEngine.maxServers)
    /// Sets duplicated since the last publication (bit per slot), and the originals they
    /// replace, freed with the view that names them.
    var duplicated: UInt32 = 0
    var replaced: [UnsafeMutablePointer<RangeSet>] = []
    /// The writer's state differs from the published view.
    var unpublished = false
    /// The vCPUs made with `makeVCPU`, for the counters.
    var vcpus: [SteeringVCPU] = []

    @usableFromInline struct HotState {
        /// The four sets of the newest server (the highest id), or nil (invariant 2a).
        @usableFromInline var newestSets: UnsafeMutablePointer<RangeSet>?
        @usableFromInline var newestID: UInt16
        @usableFromInline var activeCount: Int
        @usableFromInline var claimant: Int
        @usableFromInline var claimFlags: UInt8
        @usableFromInline var defaultServer: Int
    }

    struct ServerRecord {
        var name: String
        var isDefault: Bool
        var devices: [DeviceRegistration]
        var catchAll: (any EmulatedDevice)?
    }

    struct DeviceRegistration {
        let device: any EmulatedDevice
        let kind: IoRangeKind
        let first: UInt64
        let last: UInt64
    }

    struct RangeMemoryAccount {
        let allowance: UInt64
        var charged: UInt64
    }

    init(domain: DomainID, p2m: P2M, machine: MachineMemory, ramFrames: UInt64, allowance: UInt64,
         wpMemLimit: UInt64, logger: Logger) {
        self.domain = domain
        self.p2m = p2m
        self.memory = GuestMemoryAccess(p2m: p2m, machine: machine)
        self.ramFrames = ramFrames
        self.logger = logger
        self.wpMemLimit = wpMemLimit
        account = RangeMemoryAccount(allowance: allowance, charged: 0)
        records = Array(repeating: nil, count: Self.maxServers)
        let n = Self.maxServers * Self.kinds
        rangeSets = .allocate(capacity: n)
        for i in 0..<n {
            (rangeSets + i).initialize(to: Self.emptySet(domain: domain, slot: i, wpMemLimit: wpMemLimit))
        }
        hot = .allocate(capacity: 1)
        hot.initialize(to: HotState(newestSets: nil, newestID: 0, activeCount: 0, claimant: -1, claimFlags: 0, defaultServer: -1))
        active = .allocate(capacity: Self.maxServers)
        active.initialize(repeating: 0, count: Self.maxServers)
        decisionCounts = .allocate(capacity: DecisionCounter.caseCount)
        decisionCounts.initialize(repeating: 0, count: DecisionCounter.caseCount)
        serverCounts = .allocate(capacity: ServerTally.count)
        serverCounts.initialize(repeating: 0, count: ServerTally.count)
        carried = .allocate(capacity: Self.far)
        carried.initialize(repeating: CarriedWalk(translation: nil, bytes: nil), count: Self.far)
        carriedLeaves = .allocate(capacity: Self.far)
        carriedLeaves.initialize(repeating: 0, count: Self.far)
        published = .create(SteeringView.make(hot: hot.pointee, active: active, sets: rangeSets, records: records))
    }

    deinit {
        SteeringView.free(published.load(ordering: .sequentiallyConsistent))
        published.destroy()
        for old in replaced {
            old.deinitialize(count: 1)
            old.deallocate()
        }
        rangeSets.deinitialize(count: Self.maxServers * Self.kinds)
        rangeSets.deallocate()
        hot.deallocate()
        active.deallocate()
        decisionCounts.deallocate()
        serverCounts.deallocate()
        carried.deallocate()
        carriedLeaves.deallocate()
    }

    // MARK: Publication (the writer side)

    /// Set `slot` of the writer's state, safe to write: on its first write since the last
    /// publication it is replaced by a duplicate, and the original, which published views name,
    /// is kept until they are freed (invariant 7).
    func writableSet(_ slot: Int) -> UnsafeMutablePointer<RangeSet> {
        let set = rangeSets + slot
        if duplicated & (1 << UInt32(slot)) == 0 {
            let old = UnsafeMutablePointer<RangeSet>.allocate(capacity: 1)
            old.moveInitialize(from: set, count: 1)
            set.initialize(to: old.pointee.duplicate())
            replaced.append(old)
            duplicated |= 1 << UInt32(slot)
        }
        unpublished = true
        return set
    }

    /// Publishes the writer's state as the new view, if it changed, and retires the old view with
    /// the sets only it names. Every public change ends here.
    func publish() {
        guard unpublished else { return }
        let view = SteeringView.make(hot: hot.pointee, active: active, sets: rangeSets, records: records)
        let old = published.exchange(view, ordering: .sequentiallyConsistent)
        let sets = replaced
        replaced = []
        duplicated = 0
        unpublished = false
        reclamation.retire {
            SteeringView.free(old)
            for s in sets {
                s.deinitialize(count: 1)
                s.deallocate()
            }
        }
    }

    /// The current view (for the writer side's reads and the engine's own decisions).
    @inlinable @inline(__always)
    var view: UnsafeMutablePointer<SteeringView> { published.load(ordering: .acquiring) }

    /// The empty set of slot `i` (server i / 4, kind i % 4). Limits are in range, so it cannot throw.
    static func emptySet(domain: DomainID, slot i: Int, wpMemLimit: UInt64) -> RangeSet {
        let kind = IoRangeKind(rawValue: UInt8(i % kinds)).unsafelyUnwrapped
        let limit = kind == .wpMem ? wpMemLimit : HostSteeringConfig.defaultRangeLimit
        // swiftlint:disable:next force_try
        return try! RangeSet(name: "\(domain) ioreq server \(i / kinds) \(kind.name)", limit: limit)
    }

    // MARK: The decision (hot path)

    /// Where `access` goes. Reads the p2m once and, for emulated accesses, the claim and the
    /// servers' rangesets; no allocation, no reference counting, no bounds checks. Changes
    /// nothing (counters included): see `steer(_:)` and `handle(_:)`.
    @inlinable @inline(__always)
    public func decide(_ access: GuestAccess) -> SteeringDecision {
        Self.decide(access, view, p2m)
    }

    /// The decision against view `v` (what `SteeringVCPU.decide` calls too).
    @inlinable @inline(__always)
    static func decide(_ access: GuestAccess, _ v: UnsafeMutablePointer<SteeringView>, _ p2m: P2M) -> SteeringDecision {
        decideInline(access, v, p2m)
    }

    /// `decide`, inlined wherever it is called (`@inline(always)`; `@inline(__always)` is a hint
    /// the optimiser drops for a function this size): for the batch path, whose loop would
    /// otherwise call it and its memory half, spilling the loop's values around each call.
    /// Other callers keep `decide`, left to the optimiser, which inlines it into the decision
    /// kernels with tighter code than a forced inline gives there.
    @inlinable @inline(always)
    static func decideInline(_ access: GuestAccess, _ v: UnsafeMutablePointer<SteeringView>, _ p2m: P2M) -> SteeringDecision {
        switch access.space {
        case .memory:
            let gfn = Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift)
            return decideMemory(access, gfn, p2m.translate(gfn), v)
        case .port:
            return select(.port, first: access.address, last: access.lastByte, space: .port, v)
        case .pciConfig:
            let sbdf = access.address &>> 32
            return select(.pciConfig, first: sbdf, last: sbdf, space: .pciConfig, v)
        }
    }

    /// `decideMemory` given the p2m's translation of the access's gfn (nil: nothing mapped),
    /// walked while the p2m was as it is now.
    @inlinable @inline(always)
    static func decideMemory(_ access: GuestAccess, _ gfn: Gfn, _ translation: P2MTranslation?,
                             _ v: UnsafeMutablePointer<SteeringView>) -> SteeringDecision {
        guard let t = translation else { return .fault(.unmapped(gfn: gfn)) }
        // The direction's raw value is its P2MAccess bit number (read 0, write 1).
        guard t.grants(accessBit: access.direction.rawValue) else {
            return .fault(.accessDenied(gfn: gfn, type: t.type, access: t.access, direction: access.direction))
        }
        // The two types most accesses hit, RAM and the type ioreq servers claim, are tested on
        // the entry's type bits first; the rest decode the type (a table lookup: its raw values
        // are Xen's, which are sparse) and switch.
        if t.isType(.ramRW) { return .direct(mfn: t.mfn.unsafelyUnwrapped, type: .ramRW) }
        if t.isType(.ioreqServer) {
            let h = v.pointee.hot
            if h.claimant >= 0 && h.claimFlags & (1 &<< access.direction.rawValue) != 0 {
                return .emulate(server: IoreqServerID(UInt16(truncatingIfNeeded: h.claimant)), route: .typeClaim)
            }
            if access.direction == .write, let s = lookup(.wpMem, point: gfn.raw, v) {
                return .emulate(server: s, route: .rangeset(.wpMem))
            }
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: .ioreqServer)
        }
        let type = t.type
        switch type {
        case .mmioDM:
            return select(.mmio, first: access.address, last: access.lastByte, space: .memory, v)
        case .ramRO, .grantMapRO:
            if access.direction == .write { return .fault(.writeDiscarded(gfn: gfn, type: type)) }
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: type)
        case .invalid:
            return .fault(.unmapped(gfn: gfn))
        case .ramRW, .ioreqServer, .ramLogDirty, .mmioDirect, .grantMapRW, .foreign, .pmem:
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: type)
        }
    }

    /// The server whose `kind` set holds [first, last], else the default server, else a fault.
    @inlinable @inline(always)
    static func select(_ kind: IoRangeKind, first: UInt64, last: UInt64, space: AccessSpace,
                       _ v: UnsafeMutablePointer<SteeringView>) -> SteeringDecision {
        if let s = lookup(kind, first: first, last: last, v) { return .emulate(server: s, route: .rangeset(kind)) }
        let d = v.pointee.hot.defaultServer
        if d >= 0 { return .emulate(server: IoreqServerID(UInt16(truncatingIfNeeded: d)), route: .defaultServer) }
        return .fault(.noServer(space: space))
    }

    /// The highest-id server whose `kind` set holds all of [first, last] (Xen's
    /// rangeset_contains_range).
    @inlinable @inline(__always)
    static func lookup(_ kind: IoRangeKind, first: UInt64, last: UInt64, _ v: UnsafeMutablePointer<SteeringView>) -> IoreqServerID? {
        let range = ClosedRange(uncheckedBounds: (lower: first, upper: last))
        guard let newest = v.pointee.hot.newestSets else { return nil }
        if (newest + Int(truncatingIfNeeded: kind.rawValue)).pointee.contains(range) {
            return IoreqServerID(v.pointee.hot.newestID)
        }
        return lookupBelow(kind, range, v)
    }

    /// `lookup` for one value (a wp_mem gfn). `RangeSet.contains` takes a one-value range to
    /// the point query, and with both bounds the same value here that test folds away.
    @inlinable @inline(__always)
    static func lookup(_ kind: IoRangeKind, point: UInt64, _ v: UnsafeMutablePointer<SteeringView>) -> IoreqServerID? {
        lookup(kind, first: point, last: point, v)
    }

    // The walk goes from the highest id down (Xen's order), and its first step, the newest
    // server, is inlined on its own: with one server per kind of range (a vGPU's wp_mem, a
    // device's BARs), that is the whole walk, and the code carries no loop state across the
    // set's cold calls (so the set's fields stay in registers). The rest of the walk is a call.

    /// The highest-id server below the newest whose `kind` set holds all of `range`.
    @usableFromInline @inline(never)
    static func lookupBelow(_ kind: IoRangeKind, _ range: ClosedRange<UInt64>, _ v: UnsafeMutablePointer<SteeringView>) -> IoreqServerID? {
        let view = v.pointee
        var i = view.hot.activeCount &- 1
        while i > 0 {
            i &-= 1
            let id = view.active[i]
            if view.set(Int(truncatingIfNeeded: id), Int(truncatingIfNeeded: kind.rawValue)).pointee.contains(range) {
                return IoreqServerID(id)
            }
        }
        return nil
    }

    /// `decide`, and the decision and server counters incremented.
    @inlinable
    public func steer(_ access: GuestAccess) -> SteeringDecision {
        let d = decide(access)
        count(d, access)
        return d
    }

    @inlinable @inline(__always)
    func count(_ d: SteeringDecision, _ access: GuestAccess) {
        Self.count(d, access, decisionCounts, serverCounts)
    }

    /// One increment an access: a direct access or fault on its decision counter, an emulated
    /// one on its server's (route, direction) counter (`ServerTally`), from which `counters`
    /// derives the emulate decisions and the server's route, read and write counts.
    @inlinable @inline(__always)
    static func count(_ d: SteeringDecision, _ access: GuestAccess, _ decisionCounts: UnsafeMutablePointer<UInt64>,
                      _ serverCounts: UnsafeMutablePointer<UInt64>) {
        if case let .emulate(server, route) = d {
            serverCounts[ServerTally.index(server: Int(truncatingIfNeeded: server.raw), route: ServerCounter(route).rawValue,
                                           direction: Int(truncatingIfNeeded: access.direction.rawValue))] &+= 1
        } else {
            decisionCounts[d.counter.rawValue] &+= 1
        }
    }
}
