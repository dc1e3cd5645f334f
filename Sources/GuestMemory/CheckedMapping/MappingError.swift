/// Errors from the host-range registry and the checked mapping of host frames into guests.
/// Each names the frames involved; a failed operation leaves everything as it was.
public enum MappingError: Error, Equatable, CustomStringConvertible, Sendable {
    case emptyRange(first: UInt64, count: UInt64)
    case beyondFrameSpace(first: UInt64, count: UInt64)
    case reservedDomainID(UInt16)
    case alreadyRegistered(frames: MfnRange, existing: HostRange)
    /// Some of the requested frames are host RAM.
    case hostRam(requested: MfnRange, ram: MfnRange)
    /// Some of the requested frames are not registered pmem or MMIO.
    case notRegistered(requested: MfnRange, unregistered: MfnRange)
    /// Some frames are registered, but as a kind this mapping may not use.
    case wrongHostKind(requested: MfnRange, part: MfnRange, found: HostMemoryKind, allowed: [HostMemoryKind])
    case ownedByAnotherGuest(requested: MfnRange, part: MfnRange, owner: DomainID, requester: DomainID)
    case notOwned(frames: MfnRange, domain: DomainID)

    public var description: String {
        switch self {
        case let .emptyRange(first, count):
            return "empty frame range at 0x\(String(first, radix: 16)) (count \(count)): map at least one frame"
        case let .beyondFrameSpace(first, count):
            return "\(count) frames from 0x\(String(first, radix: 16)) run past the 52-bit frame space"
        case let .reservedDomainID(raw):
            return "domain id 0x\(String(raw, radix: 16)) is one of Xen's reserved ids (0x7ff0 and up), not a guest"
        case let .alreadyRegistered(frames, existing):
            return "cannot register \(frames): it overlaps \(existing)"
        case let .hostRam(requested, ram):
            return "mapping \(requested) is refused: \(ram) is host RAM, which is never mapped into a guest by frame number"
        case let .notRegistered(requested, unregistered):
            return "mapping \(requested) is refused: \(unregistered) is not registered host pmem or MMIO; register the whole range first"
        case let .wrongHostKind(requested, part, found, allowed):
            return "mapping \(requested) is refused: \(part) is host \(found), this mapping takes only \(allowed.map(\.rawValue).joined(separator: " or "))"
        case let .ownedByAnotherGuest(requested, part, owner, requester):
            return "mapping \(requested) into \(requester) is refused: \(part) belongs to \(owner); unmap it there first"
        case let .notOwned(frames, domain):
            return "\(frames) is not wholly owned by \(domain)"
        }
    }
}
