/// Why a p2m operation was refused. A refused operation leaves the p2m unchanged.
public enum P2MError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A range of zero frames.
    case emptyRange(gfn: Gfn)
    /// Frame arithmetic on the range left the 52-bit frame space or wrapped.
    case address(AddressError)
    /// The range ends past the last gfn a 4-level table maps (48-bit guest-physical space).
    case gfnBeyondTable(first: Gfn, count: UInt64, limit: Gfn)
    /// The machine frames end past what the entry's 40-bit mfn field holds.
    case mfnBeyondEncoding(first: Mfn, count: UInt64, limit: Mfn)
    /// `invalid` cannot be stored; use `remove(gfn:count:)` to unmap.
    case invalidTypeNotStorable(gfn: Gfn)
    /// The type has a machine frame but none was given, or has none but one was given.
    case machineFrameMismatch(type: P2MType, gfn: Gfn, mfn: Mfn?)
    /// `changeType` between a type with machine frames and one without would leave meaningless
    /// frames behind (or lose them).
    case typeChangeLosesFrames(from: P2MType, to: P2MType)
    /// Access bits outside r/w/x.
    case accessBits(P2MAccess)
    /// A node limit below 1 (the root alone takes one node).
    case nodeLimitTooSmall(Int)
    /// The operation might need more table nodes than the p2m's limit leaves.
    case tableMemoryExhausted(needNodes: Int, freeNodes: Int, limitNodes: Int)

    public var description: String {
        switch self {
        case let .emptyRange(gfn):
            return "p2m: empty range at \(gfn): give a count of at least 1 frame"
        case let .address(e):
            return "p2m: \(e)"
        case let .gfnBeyondTable(first, count, limit):
            return "p2m: \(first) + \(count) frames ends past \(limit), the last gfn a 4-level p2m maps "
                + "(48-bit guest-physical addresses): use a range below 256 TiB"
        case let .mfnBeyondEncoding(first, count, limit):
            return "p2m: \(first) + \(count) frames ends past \(limit), the last mfn a p2m entry holds "
                + "(40-bit mfn field, 4 PiB of machine memory): use machine frames below that"
        case let .invalidTypeNotStorable(gfn):
            return "p2m: cannot store type invalid at \(gfn): use remove(gfn:count:) to unmap frames"
        case let .machineFrameMismatch(type, gfn, mfn):
            if let mfn {
                return "p2m: type \(type.name) has no machine frame, but \(mfn) was given for \(gfn): pass nil"
            }
            return "p2m: type \(type.name) needs a machine frame for \(gfn): pass the first mfn"
        case let .typeChangeLosesFrames(from, to):
            return "p2m: cannot change \(from.name) to \(to.name): one has machine frames and the other not; "
                + "remove and set the range instead"
        case let .accessBits(a):
            return "p2m: access 0x\(String(a.rawValue, radix: 16)) has bits other than r/w/x (0x7)"
        case let .nodeLimitTooSmall(n):
            return "p2m: node limit \(n) is below 1: the root node alone needs one; give at least 1"
        case let .tableMemoryExhausted(need, free, limit):
            return "p2m: the operation may need \(need) more table nodes (4 KiB each) but only \(free) "
                + "of the limit of \(limit) are free: raise the p2m's node limit or map with larger pages"
        }
    }
}
