import GuestMemory

/// What the steering engine decided for one guest access. Computing it reads the p2m and, when
/// the access is emulated, the servers' claim and rangesets; it allocates nothing.
public enum SteeringDecision: Hashable, Sendable, CustomStringConvertible {
    /// Performed on the backing memory: machine frame `mfn`, mapped with p2m type `type`
    /// (RAM, pmem, a direct MMIO range, a grant or foreign frame, or an unclaimed
    /// `ioreq_server` page, which behaves as RAM).
    case direct(mfn: Mfn, type: P2MType)
    /// Sent as an ioreq to `server`, chosen by `route`.
    case emulate(server: IoreqServerID, route: SteeringRoute)
    /// Not performed; the reason says why.
    case fault(SteeringFault)

    public var description: String {
        switch self {
        case let .direct(mfn, type): return "direct \(type.name) \(mfn)"
        case let .emulate(server, route): return "emulate by \(server) (\(route))"
        case let .fault(f): return "fault: \(f)"
        }
    }

    /// The counter this decision increments.
    @inlinable public var counter: DecisionCounter {
        switch self {
        case let .direct(_, type):
            switch type {
            case .pmem: return .directPmem
            case .mmioDirect: return .directMmio
            case .grantMapRW, .grantMapRO, .foreign: return .directForeign
            default: return .directRAM
            }
        case let .emulate(_, route):
            switch route {
            case .typeClaim: return .emulateTypeClaim
            case .rangeset(.port): return .emulatePort
            case .rangeset(.mmio): return .emulateMmio
            case .rangeset(.pciConfig): return .emulatePciConfig
            case .rangeset(.wpMem): return .emulateWpMem
            case .defaultServer: return .emulateDefault
            }
        case let .fault(f):
            switch f {
            case .unmapped: return .faultUnmapped
            case .accessDenied: return .faultAccessDenied
            case .writeDiscarded: return .faultWriteDiscarded
            case .noServer: return .faultNoServer
            }
        }
    }
}

/// How the server of an emulated access was chosen, in the order the engine tries them.
public enum SteeringRoute: Hashable, Sendable, CustomStringConvertible {
    /// The page's p2m type is `ioreq_server` and the server claims that type for this direction
    /// (`HVMOP_map_mem_type_to_ioreq_server`).
    case typeClaim
    /// One of the server's rangesets of this kind holds the access.
    case rangeset(IoRangeKind)
    /// No server claimed it; the guest's default server takes it.
    case defaultServer

    public var description: String {
        switch self {
        case .typeClaim: return "ioreq_server type claim"
        case let .rangeset(k): return "\(k.name) rangeset"
        case .defaultServer: return "default server"
        }
    }
}

/// Why an access is not performed.
public enum SteeringFault: Hashable, Sendable, CustomStringConvertible {
    /// Nothing is mapped at the gfn (p2m type `invalid`).
    case unmapped(gfn: Gfn)
    /// The entry's access rights (`p2m_access_t`) forbid this direction: a mem_access violation.
    case accessDenied(gfn: Gfn, type: P2MType, access: P2MAccess, direction: AccessDirection)
    /// A write to a read-only type (`ram_ro`, `grant_map_ro`): Xen drops it silently; the engine
    /// reports it so it can be counted. The guest sees the write vanish.
    case writeDiscarded(gfn: Gfn, type: P2MType)
    /// The access must be emulated but no server claims it and the guest has no default server.
    case noServer(space: AccessSpace)

    public var description: String {
        switch self {
        case let .unmapped(gfn): return "nothing mapped at \(gfn)"
        case let .accessDenied(gfn, type, access, direction):
            return "\(direction) denied at \(gfn): \(type.name) entry with access \(access)"
        case let .writeDiscarded(gfn, type): return "write to \(type.name) \(gfn) discarded"
        case let .noServer(space): return "no ioreq server claims this \(space) access and there is no default server"
        }
    }
}

/// The per-decision counters, one per way an access can end.
public enum DecisionCounter: Int, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case directRAM, directPmem, directMmio, directForeign
    case emulateTypeClaim, emulatePort, emulateMmio, emulatePciConfig, emulateWpMem, emulateDefault
    case faultUnmapped, faultAccessDenied, faultWriteDiscarded, faultNoServer

    public var description: String {
        switch self {
        case .directRAM: return "direct ram"
        case .directPmem: return "direct pmem"
        case .directMmio: return "direct mmio"
        case .directForeign: return "direct grant/foreign"
        case .emulateTypeClaim: return "emulate: type claim"
        case .emulatePort: return "emulate: port rangeset"
        case .emulateMmio: return "emulate: mmio rangeset"
        case .emulatePciConfig: return "emulate: pci rangeset"
        case .emulateWpMem: return "emulate: wp_mem rangeset"
        case .emulateDefault: return "emulate: default server"
        case .faultUnmapped: return "fault: unmapped"
        case .faultAccessDenied: return "fault: access denied"
        case .faultWriteDiscarded: return "fault: write discarded"
        case .faultNoServer: return "fault: no server"
        }
    }

    /// snake_case key for JSON.
    public var key: String {
        switch self {
        case .directRAM: return "direct_ram"
        case .directPmem: return "direct_pmem"
        case .directMmio: return "direct_mmio"
        case .directForeign: return "direct_foreign"
        case .emulateTypeClaim: return "emulate_type_claim"
        case .emulatePort: return "emulate_port"
        case .emulateMmio: return "emulate_mmio"
        case .emulatePciConfig: return "emulate_pci_config"
        case .emulateWpMem: return "emulate_wp_mem"
        case .emulateDefault: return "emulate_default"
        case .faultUnmapped: return "fault_unmapped"
        case .faultAccessDenied: return "fault_access_denied"
        case .faultWriteDiscarded: return "fault_write_discarded"
        case .faultNoServer: return "fault_no_server"
        }
    }
}
