import Atomics

/// Per-server counters: ioreqs by how the server was chosen, and by direction.
public enum ServerCounter: Int, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case typeClaim, port, mmio, pciConfig, wpMem, defaultServer, reads, writes

    /// Number of cases, as a constant the hot path can use without building `allCases`.
    @inlinable public static var caseCount: Int { 8 }

    @inlinable init(_ route: SteeringRoute) {
        switch route {
        case .typeClaim: self = .typeClaim
        case .rangeset(.port): self = .port
        case .rangeset(.mmio): self = .mmio
        case .rangeset(.pciConfig): self = .pciConfig
        case .rangeset(.wpMem): self = .wpMem
        case .defaultServer: self = .defaultServer
        }
    }

    public var key: String {
        switch self {
        case .typeClaim: return "type_claim"
        case .port: return "port"
        case .mmio: return "mmio"
        case .pciConfig: return "pci_config"
        case .wpMem: return "wp_mem"
        case .defaultServer: return "default_server"
        case .reads: return "reads"
        case .writes: return "writes"
        }
    }

    public var description: String { key }
}

extension DecisionCounter {
    /// Number of cases, as a constant the hot path can use without building `allCases`.
    @inlinable public static var caseCount: Int { 14 }
}

/// A snapshot of a guest's steering counters.
public struct SteeringCounters: Sendable, Equatable {
    /// Decisions by counter, every counter present.
    public var decisions: [DecisionCounter: UInt64]
    /// For each existing server, its counters (every counter present).
    public var servers: [IoreqServerID: [ServerCounter: UInt64]]

    /// All decisions counted.
    public var total: UInt64 { decisions.values.reduce(0, +) }
    public var direct: UInt64 { sum { $0.rawValue <= DecisionCounter.directForeign.rawValue } }
    public var emulated: UInt64 {
        sum { $0.rawValue >= DecisionCounter.emulateTypeClaim.rawValue && $0.rawValue <= DecisionCounter.emulateDefault.rawValue }
    }
    public var faults: UInt64 { sum { $0.rawValue >= DecisionCounter.faultUnmapped.rawValue } }

    private func sum(_ where: (DecisionCounter) -> Bool) -> UInt64 {
        decisions.filter { `where`($0.key) }.values.reduce(0, +)
    }
}

/// The per-server counters as the hot path keeps them: for each server slot, one counter per
/// (route, direction), so an emulated access costs one increment. The per-route, read and write
/// counts, and the emulate decisions, are sums of these, made when the counters are read.
///
/// Invariant: the emulate decisions counted are `decisionCounts[emulate...]` (those of servers
/// since destroyed, folded in by `retire`) plus the tallies of every slot. A table's tallies of
/// a slot are its current server's when the table has folded every destruction of the slot's
/// servers (`ServerRetirements`): the engine's always, a vCPU's from its first quiescent point
/// after the destruction.
@usableFromInline enum ServerTally {
    /// Counters a slot has: six routes by two directions, padded to a power of two.
    @inlinable static var stride: Int { 16 }
    static let routes = 6
    static var count: Int { SteeringEngine.maxServers * stride }

    /// `route` is `ServerCounter(route).rawValue` (0 to 5), `direction` the direction's raw
    /// value (read 0, write 1).
    @inlinable @inline(__always)
    static func index(server: Int, route: Int, direction: Int) -> Int {
        server &* stride &+ route &* 2 &+ direction
    }

    /// The emulate decision counter of route `route`: the two enums list routes in one order.
    static func decision(route: Int) -> DecisionCounter {
        DecisionCounter(rawValue: DecisionCounter.emulateTypeClaim.rawValue + route).unsafelyUnwrapped
    }

    /// Folds slot `slot`'s tallies into the emulate decision counters and zeroes them.
    static func retire(slot: Int, _ serverCounts: UnsafeMutablePointer<UInt64>, into decisionCounts: UnsafeMutablePointer<UInt64>) {
        for route in 0..<routes {
            let i = index(server: slot, route: route, direction: 0)
            decisionCounts[decision(route: route).rawValue] += serverCounts[i] + serverCounts[i + 1]
        }
        serverCounts.advanced(by: slot * stride).update(repeating: 0, count: stride)
    }
}

/// How many servers each slot has had destroyed. The writer counts a destruction after
/// publishing the view without the server; each vCPU compares with what it has folded at its
/// quiescent points and folds its own tallies of the slot (`ServerTally.retire`): a vCPU's
/// counters are written by its thread alone, while the writer goes on.
final class ServerRetirements: @unchecked Sendable {
    private let counts: UnsafeMutablePointer<UnsafeAtomic<UInt64>>
    let slots: Int

    init(slots: Int) {
        self.slots = slots
        counts = .allocate(capacity: slots)
        for i in 0..<slots { (counts + i).initialize(to: .create(0)) }
    }

    deinit {
        for i in 0..<slots { counts[i].destroy() }
        counts.deallocate()
    }

    /// Destructions of slot `slot`'s servers so far.
    func count(_ slot: Int) -> UInt64 {
        counts[slot].load(ordering: .acquiring)
    }

    /// Slot `slot`'s server is destroyed (the writer's side).
    func retire(_ slot: Int) {
        counts[slot].wrappingIncrement(ordering: .releasing)
    }
}

extension SteeringEngine {
    /// The counters since creation or the last `resetCounters()`.
    public var counters: SteeringCounters {
        let tables = [(decisionCounts, serverCounts)] + vcpus.map { ($0.decisionCounts, $0.serverCounts) }
        func tally(_ slot: Int, _ route: Int, _ direction: Int) -> UInt64 {
            tables.reduce(0) { $0 + $1.1[ServerTally.index(server: slot, route: route, direction: direction)] }
        }
        // A vCPU that has not folded a destruction of the slot's server yet: its tallies of the
        // slot count as decisions, but not as the slot's current server's.
        func current(_ slot: Int, _ route: Int, _ direction: Int) -> UInt64 {
            var n = serverCounts[ServerTally.index(server: slot, route: route, direction: direction)]
            for v in vcpus where v.folded[slot] == retirements.count(slot) {
                n += v.serverCounts[ServerTally.index(server: slot, route: route, direction: direction)]
            }
            return n
        }
        var d: [DecisionCounter: UInt64] = [:]
        for c in DecisionCounter.allCases { d[c] = tables.reduce(0) { $0 + $1.0[c.rawValue] } }
        for slot in 0..<SteeringEngine.maxServers {
            for route in 0..<ServerTally.routes {
                d[ServerTally.decision(route: route), default: 0] += tally(slot, route, 0) + tally(slot, route, 1)
            }
        }
        var s: [IoreqServerID: [ServerCounter: UInt64]] = [:]
        for i in 0..<hot.pointee.activeCount {
            let id = Int(active[i])
            var per: [ServerCounter: UInt64] = [.reads: 0, .writes: 0]
            for route in 0..<ServerTally.routes {
                let r = current(id, route, 0), w = current(id, route, 1)
                per[ServerCounter(rawValue: route).unsafelyUnwrapped] = r + w
                per[.reads, default: 0] += r
                per[.writes, default: 0] += w
            }
            s[IoreqServerID(UInt16(id))] = per
        }
        return SteeringCounters(decisions: d, servers: s)
    }

    public func resetCounters() {
        decisionCounts.update(repeating: 0, count: DecisionCounter.caseCount)
        serverCounts.update(repeating: 0, count: ServerTally.count)
        for v in vcpus {
            v.decisionCounts.update(repeating: 0, count: DecisionCounter.caseCount)
            v.serverCounts.update(repeating: 0, count: ServerTally.count)
        }
    }
}
