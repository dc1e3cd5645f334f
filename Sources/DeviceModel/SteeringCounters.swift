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

extension SteeringEngine {
    /// The counters since creation or the last `resetCounters()`.
    public var counters: SteeringCounters {
        var d: [DecisionCounter: UInt64] = [:]
        for c in DecisionCounter.allCases { d[c] = decisionCounts[c.rawValue] + vcpus.reduce(0) { $0 + $1.decisionCounts[c.rawValue] } }
        var s: [IoreqServerID: [ServerCounter: UInt64]] = [:]
        for i in 0..<hot.pointee.activeCount {
            let id = Int(active[i])
            var per: [ServerCounter: UInt64] = [:]
            for c in ServerCounter.allCases {
                let i = id * ServerCounter.caseCount + c.rawValue
                per[c] = serverCounts[i] + vcpus.reduce(0) { $0 + $1.serverCounts[i] }
            }
            s[IoreqServerID(UInt16(id))] = per
        }
        return SteeringCounters(decisions: d, servers: s)
    }

    public func resetCounters() {
        decisionCounts.update(repeating: 0, count: DecisionCounter.caseCount)
        serverCounts.update(repeating: 0, count: SteeringEngine.maxServers * ServerCounter.caseCount)
        for v in vcpus {
            v.decisionCounts.update(repeating: 0, count: DecisionCounter.caseCount)
            v.serverCounts.update(repeating: 0, count: SteeringEngine.maxServers * ServerCounter.caseCount)
        }
    }
}
