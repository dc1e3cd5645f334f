import GuestMemory

/// What a server's device model does with the ioreqs it receives (its catch-all device).
public enum DeviceBehaviour: String, Sendable, CaseIterable, Equatable {
    /// Registers hold what was last written (QEMU's default for registers with no side effect).
    case registerFile = "register-file"
    /// The XenGT-like vGPU: write-protected page-table writes are shadowed and committed to
    /// guest memory; other ioreqs go to a register file.
    case gttShadow = "gtt-shadow"
    /// No device model: reads return all ones, writes are dropped (an unassigned address).
    case none
}

/// One range of one kind a server maps into its rangeset (values as `IoRangeKind` says).
public struct ScenarioRange: Sendable, Equatable {
    public var kind: IoRangeKind
    public var first: UInt64
    public var last: UInt64

    public init(kind: IoRangeKind, first: UInt64, last: UInt64) {
        self.kind = kind
        self.first = first
        self.last = last
    }
}

/// One ioreq server of a scenario.
public struct ScenarioServerSpec: Sendable, Equatable {
    public var name: String
    public var isDefault: Bool
    public var device: DeviceBehaviour
    /// The directions it claims the `ioreq_server` p2m type for; nil: no claim.
    public var claim: IoreqClaimFlags?
    /// Its ranges, mapped in this order.
    public var ranges: [ScenarioRange]

    public init(name: String, isDefault: Bool = false, device: DeviceBehaviour, claim: IoreqClaimFlags? = nil,
                ranges: [ScenarioRange] = []) {
        self.name = name
        self.isDefault = isDefault
        self.device = device
        self.claim = claim
        self.ranges = ranges
    }
}

/// A steering set-up as data: the ioreq servers a guest's engine gets (their ranges per kind,
/// type claim and device behaviour), the guest RAM typed `ioreq_server` (write-protected pages),
/// and the RAM made resident before a run (the guest's hot memory). A scenario file holds one;
/// `ScenarioSetup` applies one to an engine, all or nothing; the built-in generator's
/// `SteeringScenario.spec` writes its own set-up as one.
///
/// Invariants `validate()` checks: at least one server; names unique and non-empty; at most one
/// default server and one type claimant; a claim names at least one direction; every range has
/// first <= last <= its kind's maximum; `ioreqServerPages` runs do not overlap.
public struct ScenarioSpec: Sendable, Equatable {
    public var servers: [ScenarioServerSpec]
    /// Guest frames typed `ioreq_server` (each must be `ram_rw` RAM of the guest).
    public var ioreqServerPages: [GfnRange]
    /// Guest frames of RAM made resident before the run (ranges may overlap).
    public var resident: [GfnRange]

    public init(servers: [ScenarioServerSpec], ioreqServerPages: [GfnRange] = [], resident: [GfnRange] = []) {
        self.servers = servers
        self.ioreqServerPages = ioreqServerPages
        self.resident = resident
    }

    public func validate() throws(ScenarioSpecError) {
        guard !servers.isEmpty else { throw .noServers }
        var names: Set<String> = []
        var defaultServer: String?
        var claimant: String?
        for s in servers {
            guard !s.name.isEmpty else { throw .emptyName }
            guard names.insert(s.name).inserted else { throw .duplicateName(s.name) }
            if s.isDefault {
                if let d = defaultServer { throw .twoDefaults(d, s.name) }
                defaultServer = s.name
            }
            if let c = s.claim {
                guard !c.isEmpty else { throw .emptyClaim(server: s.name) }
                if let other = claimant { throw .twoClaims(other, s.name) }
                claimant = s.name
            }
            for r in s.ranges {
                guard r.first <= r.last, r.last <= r.kind.maxValue else {
                    throw .badRange(server: s.name, kind: r.kind, first: r.first, last: r.last, maximum: r.kind.maxValue)
                }
            }
        }
        for r in ioreqServerPages + resident where r.count == 0 || r.last.raw > P2M.maxGfn.raw {
            throw .badFrames(first: r.first.raw, end: r.first.raw &+ r.count, maximum: P2M.maxGfn.raw)
        }
        let sorted = ioreqServerPages.sorted { $0.first.raw < $1.first.raw }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.first.raw <= a.last.raw {
            throw .overlappingPages(a, b)
        }
    }
}

/// A scenario that cannot be set up as written; each case names the value and the fix.
public enum ScenarioSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    case noServers
    case emptyName
    case duplicateName(String)
    case twoDefaults(String, String)
    case emptyClaim(server: String)
    case twoClaims(String, String)
    case badRange(server: String, kind: IoRangeKind, first: UInt64, last: UInt64, maximum: UInt64)
    case badFrames(first: UInt64, end: UInt64, maximum: UInt64)
    case overlappingPages(GfnRange, GfnRange)
    case notRAM(gfn: Gfn, purpose: String, type: P2MType?)

    public var description: String {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch self {
        case .noServers:
            return "the scenario has no [[server]]: give at least one"
        case .emptyName:
            return "a [[server]] has an empty name: give each server a name"
        case let .duplicateName(n):
            return "two servers are named '\(n)': give each server its own name"
        case let .twoDefaults(a, b):
            return "servers '\(a)' and '\(b)' are both default: a guest has one default server, keep default = true on one"
        case let .emptyClaim(s):
            return "server '\(s)' claims the ioreq_server type for no direction: give claim = \"write\", \"read\" or \"read+write\""
        case let .twoClaims(a, b):
            return "servers '\(a)' and '\(b)' both claim the ioreq_server type: one server at a time holds the claim, keep claim on one"
        case let .badRange(s, kind, first, last, maximum):
            return "server '\(s)': \(kind) range \(hex(first))-\(hex(last)) is "
                + (first > last ? "backwards: give FIRST-LAST with FIRST <= LAST" : "past \(kind)'s maximum \(hex(maximum))")
        case let .badFrames(first, end, maximum):
            return "guest frames \(hex(first))-\(hex(end &- 1)) are empty or past the p2m's last frame \(hex(maximum))"
        case let .overlappingPages(a, b):
            return "ioreq_server frames \(a) and \(b) overlap: list each frame once"
        case let .notRAM(gfn, purpose, type):
            let what = type.map { "is \($0)" } ?? "is not mapped"
            return "\(purpose) frame \(gfn) \(what), not the guest's ram_rw RAM: list only frames of the guest's RAM (vpmem guest show GUEST prints its memory map)"
        }
    }
}
