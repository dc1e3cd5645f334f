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
    case unknownDomain(DomainID)
    case domainExists(DomainID)
    /// Only pmem and mmio_direct mappings are made from host frame numbers.
    case unsupportedType(P2MType)
    /// The guest frames are not inside one physmap region that takes this type.
    case notInGuestRegion(gfns: GfnRange, type: P2MType, allowed: [RegionKind])
    /// The guest frames overlap the guest's safe range, which only grant and foreign mappings use.
    case inSafeRange(gfns: GfnRange, safeRange: GpaRange)
    /// Something is already mapped at some of the guest frames.
    case gfnsInUse(gfns: GfnRange, mapped: P2MMapping)
    /// The host frames are already mapped into this guest elsewhere; a host frame is mapped once.
    case hostFramesAlreadyMapped(requested: MfnRange, at: GfnRange)
    /// An unmap range that cuts a mapping in two; mappings are unmapped whole.
    case cutsMapping(gfns: GfnRange, mapping: GfnRange)
    /// An unmap range holding p2m entries that the checked mapping did not make.
    case foreignEntries(gfns: GfnRange, entry: P2MMapping)
    case p2m(P2MError)

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
        case let .unknownDomain(d):
            return "no guest \(d): add it with its physmap and p2m first"
        case let .domainExists(d):
            return "guest \(d) already exists"
        case let .unsupportedType(type):
            return "host frames are mapped as pmem or mmio_direct, not \(type.name)"
        case let .notInGuestRegion(gfns, type, allowed):
            return "mapping \(type.name) at \(gfns) is refused: the frames must lie inside one "
                + "\(allowed.map(\.rawValue).joined(separator: " or ")) region of the guest physmap"
        case let .inSafeRange(gfns, safe):
            return "mapping at \(gfns) is refused: it overlaps the safe range \(safe), kept for grant and foreign mappings"
        case let .gfnsInUse(gfns, mapped):
            return "mapping at \(gfns) is refused: \(mapped) is already there; unmap it first"
        case let .hostFramesAlreadyMapped(requested, at):
            return "mapping \(requested) is refused: those host frames are already mapped at \(at)"
        case let .cutsMapping(gfns, mapping):
            return "unmapping \(gfns) is refused: it cuts the mapping at \(mapping) in two; unmap whole mappings"
        case let .foreignEntries(gfns, entry):
            return "unmapping \(gfns) is refused: it also holds \(entry), which this mapping did not make"
        case let .p2m(error):
            return error.description
        }
    }
}
