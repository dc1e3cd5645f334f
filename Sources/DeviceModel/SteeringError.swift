import GuestMemory

/// Why a steering operation was refused. A refused operation changed nothing. Limit and budget
/// refusals are also logged (swift-log, label "vpmem.steering", level warning).
public enum SteeringError: Error, CustomStringConvertible, Sendable {
    case unknownGuest(DomainID)
    case guestExists(DomainID)
    case unknownServer(DomainID, IoreqServerID)
    /// All `SteeringEngine.maxServers` server slots are in use (Xen's MAX_NR_IOREQ_SERVERS).
    case serverSlotsFull(DomainID, maximum: Int)
    case defaultServerExists(DomainID, existing: IoreqServerID)
    /// The rangeset's limit would be exceeded (`RangeSetError.limitReached` inside).
    case rangeLimitReached(DomainID, IoreqServerID, IoRangeKind, RangeSetError)
    /// The guest's range-memory allowance would be exceeded.
    case guestAllowanceExhausted(DomainID, allowance: UInt64, charged: UInt64, needed: UInt64)
    /// The host-wide range budget cannot reserve another guest's allowance.
    case hostBudgetExhausted(DomainID, budget: UInt64, reserved: UInt64, requested: UInt64)
    /// A 64-bit setting above its maximum (never truncated).
    case valueAboveMaximum(setting: String, value: UInt64, maximum: UInt64, why: String)
    case valueBelowMinimum(setting: String, value: UInt64, minimum: UInt64, why: String)
    /// Lowering the wp_mem limit below what a server's set already holds.
    case limitBelowRanges(DomainID, IoreqServerID, held: Int, requested: UInt64)
    case invalidRange(IoRangeKind, first: UInt64, last: UInt64, maximum: UInt64)
    /// Unmapping a range that is not wholly mapped (Xen's -ENOENT).
    case rangeNotMapped(DomainID, IoreqServerID, IoRangeKind, first: UInt64, last: UInt64)
    /// Another server already claims the ioreq_server type (Xen's -EBUSY).
    case claimBusy(DomainID, holder: IoreqServerID, requester: IoreqServerID)
    case notClaimant(DomainID, IoreqServerID, holder: IoreqServerID?)
    case emptyClaimFlags(DomainID, IoreqServerID)
    /// Steering changes only ram_rw <-> ioreq_server.
    case typeTransitionRefused(DomainID, gfn: Gfn, from: P2MType?, to: P2MType)
    case p2m(P2MError)
    case deviceRangeOverlaps(DomainID, IoreqServerID, IoRangeKind, first: UInt64, last: UInt64, device: String)
    case catchAllExists(DomainID, IoreqServerID, device: String)
    case deviceNotRegistered(DomainID, IoreqServerID, device: String)
    case deviceFailed(device: String, ioreq: Ioreq, reason: String)
    case machineMemory(MachineMemoryError)

    public var description: String {
        switch self {
        case let .unknownGuest(d):
            return "steering: guest \(d) is not known to the host: create it first"
        case let .guestExists(d):
            return "steering: guest \(d) already exists"
        case let .unknownServer(d, s):
            return "steering: \(d) has no \(s): create the server first"
        case let .serverSlotsFull(d, max):
            return "steering: \(d) already has \(max) ioreq servers, the most a guest may have: destroy one first"
        case let .defaultServerExists(d, existing):
            return "steering: \(d) already has a default server (\(existing)): destroy it first"
        case let .rangeLimitReached(d, s, kind, e):
            let fix = kind == .wpMem
                ? "only the host admin can raise the wp_mem limit (SteeringHost.setWpMemRangeLimit)"
                : "the \(kind.name) limit is fixed at \(RangeSet.defaultLimit) ranges per set"
            return "steering: \(d) \(s) \(kind.name) rangeset limit reached: \(e); \(fix)"
        case let .guestAllowanceExhausted(d, allowance, charged, needed):
            return "steering: guest \(d)'s range-memory allowance ran out: \(charged) of \(allowance) bytes used, "
                + "the change needs \(needed) more; the host admin sets the allowance per guest"
        case let .hostBudgetExhausted(d, budget, reserved, requested):
            return "steering: the host-wide range budget ran out: \(reserved) of \(budget) bytes are reserved by other "
                + "guests, \(d) asked for \(requested): give it a smaller allowance or raise the host budget"
        case let .valueAboveMaximum(setting, value, maximum, why):
            return "steering: \(setting) = \(value) is above the maximum of \(maximum) (\(why))"
        case let .valueBelowMinimum(setting, value, minimum, why):
            return "steering: \(setting) = \(value) is below the minimum of \(minimum) (\(why))"
        case let .limitBelowRanges(d, s, held, requested):
            return "steering: cannot set \(d)'s wp_mem limit to \(requested): \(s) already holds \(held) wp_mem ranges; "
                + "unmap ranges first or choose at least \(held)"
        case let .invalidRange(kind, first, last, maximum):
            return "steering: \(kind.name) range [0x\(String(first, radix: 16)), 0x\(String(last, radix: 16))] is invalid: "
                + "ranges are inclusive with first <= last <= 0x\(String(maximum, radix: 16))"
        case let .rangeNotMapped(d, s, kind, first, last):
            return "steering: \(d) \(s) does not hold all of \(kind.name) [0x\(String(first, radix: 16)), 0x\(String(last, radix: 16))]: "
                + "unmap only ranges that were mapped"
        case let .claimBusy(d, holder, requester):
            return "steering: \(d) ioreq_server type is already claimed by \(holder); \(requester) must wait until it releases it"
        case let .notClaimant(d, s, holder):
            let h = holder.map { "\($0)" } ?? "no server"
            return "steering: \(d) \(s) does not claim the ioreq_server type (\(h) does)"
        case let .emptyClaimFlags(d, s):
            return "steering: \(d) \(s) claimed the ioreq_server type with no direction: give read, write or both"
        case let .typeTransitionRefused(d, gfn, from, to):
            let f = from?.name ?? "unmapped"
            return "steering: \(d) cannot change \(gfn) from \(f) to \(to.name): only ram_rw <-> ioreq_server transitions are allowed"
        case let .p2m(e):
            return "steering: \(e)"
        case let .deviceRangeOverlaps(d, s, kind, first, last, device):
            return "steering: \(d) \(s) \(kind.name) [0x\(String(first, radix: 16)), 0x\(String(last, radix: 16))] overlaps "
                + "the range of device '\(device)': register disjoint ranges"
        case let .catchAllExists(d, s, device):
            return "steering: \(d) \(s) already sends unmatched ioreqs to device '\(device)': unregister it first"
        case let .deviceNotRegistered(d, s, device):
            return "steering: device '\(device)' is not registered with \(d) \(s)"
        case let .deviceFailed(device, ioreq, reason):
            return "steering: device '\(device)' failed on \(ioreq): \(reason)"
        case let .machineMemory(e):
            return "steering: \(e)"
        }
    }
}
