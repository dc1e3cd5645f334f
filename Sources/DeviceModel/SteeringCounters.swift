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
/// since destroyed, folded in by `retire`) plus the tallies of the live slots.
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

extension SteeringEngine {
    /// The counters since creation or the last `resetCounters()`.
    public var counters: SteeringCounters {
        let tables = [(decisionCounts, serverCounts)] + vcpus.map { ($0.decisionCounts, $0.serverCounts) }
        func tally(_ slot: Int, _ route: Int, _ direction: Int) -> UInt64 {
            tables.reduce(0) { $0 + $1.1[ServerTally.index(server: slot, route: route, direction: direction)] }
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
                let r = tally(id, route, 0), w = tally(id, route, 1)
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
