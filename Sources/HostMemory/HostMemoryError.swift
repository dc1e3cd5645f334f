import GuestMemory
import HostPmem

/// Errors from the host memory model. Each names what was asked, what is in the way, and the fix.
public enum HostMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    case address(AddressError)
    case emptyRange(what: String)
    /// A frame range, domain id or host range refused by GuestMemory's checks (empty range, past the
    /// frame space, a reserved id where a guest is wanted, frames not registered as pmem).
    case mapping(MappingError)
    case noRAM
    case hostTooLarge(frames: UInt64, limit: UInt64)
    case overlap(what: String, MfnRange, other: String, MfnRange)
    case outsideRAM(what: String, range: MfnRange)
    case badPageOutsideRAM(Mfn)
    case liveUpdateRegionTooSmall(region: MfnRange, minimumFrames: UInt64)
    case outOfMemory(what: String, frames: UInt64, available: UInt64, pool: String)
    case domainExists(DomainID)
    case noSuchDomain(DomainID)
    case noStaticMemory(DomainID)
    case staticPageCheckFailed(domain: DomainID, mfn: Mfn, StaticPageProblem)
    case staticPoolExhausted(DomainID)
    case directMapPageUnavailable(DomainID, Gfn)
    case gfnNotMapped(DomainID, Gfn)
    case gfnAlreadyMapped(DomainID, Gfn)
    case frameNotFree(Mfn, FrameRecord)
    case notAXenHeapPage(Mfn, FrameRecord)
    case physmap(domain: DomainID, String)
    /// RAM regions of a guest that are not ascending and disjoint: `next` starts before the end
    /// of the region before it.
    case ramRegionsUnordered(DomainID, GfnRange, next: GfnRange)
    /// A dynamic guest whose frame count is not its RAM regions' total.
    case ramRegionsSize(DomainID, frames: UInt64, regionFrames: UInt64)
    /// A static guest whose static memory cannot fill its RAM regions.
    case staticMemoryTooSmall(DomainID, staticFrames: UInt64, regionFrames: UInt64)
    /// A direct-mapped guest's RAM region that is not static memory of the guest at gfn == mfn.
    case ramRegionOutsideStaticMemory(DomainID, region: GfnRange, staticRanges: [MfnRange])
    /// A pmem backing too small for the frames it is to back from `offset` (`frames` nil: a
    /// backing larger than this host can address).
    case pmemBackingSize(path: String, bytes: UInt64, offset: UInt64, frames: MfnRange?)
    /// A region's start in its backing that is not on a 4 KiB boundary.
    case pmemBackingOffsetUnaligned(path: String, offset: UInt64)
    case pmemBackingReadOnly(path: String)
    /// Pmem frames already attached (to `region` of `owner`).
    case pmemAlreadyAttached(requested: MfnRange, region: GuestPmem, owner: DomainID)
    case pmemNotMapped(GuestPmem)
    /// The pmem backing itself failed (libpmem, the file system).
    case pmem(HostPmemError)

    public var description: String {
        switch self {
        case .address(let e):
            return e.description
        case .emptyRange(let what):
            return "\(what) is empty: give at least one frame"
        case .mapping(let e):
            return e.description
        case .noRAM:
            return "the host has no RAM: give at least one RAM bank"
        case let .hostTooLarge(frames, limit):
            return "the host's RAM spans \(frames) frames (to the end of its highest bank); vpmem models at most \(limit) "
                + "(\(ByteCount(limit))): use fewer or lower RAM banks (pmem does not count, it may lie anywhere)"
        case let .overlap(what, a, other, b):
            return "\(what) \(a) overlaps \(other) \(b): move one of them"
        case let .outsideRAM(what, range):
            return "\(what) \(range) is not inside one RAM bank: place it in RAM"
        case .badPageOutsideRAM(let m):
            return "bad page \(m) is not in any RAM bank: list only RAM frames as bad"
        case let .liveUpdateRegionTooSmall(region, minimum):
            return "liveupdate region \(region) has \(region.count) frame(s); it needs at least \(minimum) (the first holds the state's address)"
        case let .outOfMemory(what, frames, available, pool):
            return "no memory for \(what): \(frames) frame(s) wanted, \(available) free in the \(pool): free memory or give the host more"
        case .domainExists(let d):
            return "\(d) already exists: destroy it first or pick another id"
        case .noSuchDomain(let d):
            return "\(d) does not exist"
        case .noStaticMemory(let d):
            return "\(d) is configured for static memory but the host config has no xen,static-mem region for it: add one"
        case let .staticPageCheckFailed(d, mfn, reason):
            return "cannot assign static memory to \(d): \(mfn): \(reason); nothing was assigned"
        case .staticPoolExhausted(let d):
            return "\(d) has no free static page left and its config does not allow dynamic pages: balloon out first or allow dynamic memory"
        case let .directMapPageUnavailable(d, gfn):
            return "\(d) is direct-mapped: \(gfn) needs mfn 0x\(String(gfn.raw, radix: 16)), which is not a free static page of this guest"
        case let .gfnNotMapped(d, gfn):
            return "\(d) has nothing mapped at \(gfn)"
        case let .gfnAlreadyMapped(d, gfn):
            return "\(d) already has \(gfn) mapped: balloon it out first"
        case let .frameNotFree(m, rec):
            return "\(m) is not free (\(rec)): only free frames can be offlined here"
        case let .notAXenHeapPage(m, rec):
            return "\(m) is not an allocated Xen-heap page (\(rec))"
        case let .physmap(d, message):
            return "the p2m of \(d) refused the mapping: \(message); nothing was changed"
        case let .ramRegionsUnordered(d, a, next):
            return "the RAM regions of \(d) must be ascending and disjoint, but \(next) starts before \(a) ends: sort them and merge overlaps"
        case let .ramRegionsSize(d, frames, regionFrames):
            return "\(d) asks for \(frames) dynamic frame(s) but its RAM regions hold \(regionFrames): make the two equal"
        case let .staticMemoryTooSmall(d, staticFrames, regionFrames):
            return "\(d) has \(staticFrames) frame(s) of static memory but its RAM regions need \(regionFrames): "
                + "shrink the RAM regions or give it more xen,static-mem; nothing was assigned"
        case let .ramRegionOutsideStaticMemory(d, region, statics):
            return "\(d) is direct-mapped (gfn == mfn) but its RAM region \(region) is not inside its static memory "
                + "[\(statics.map(\.description).joined(separator: ", "))]: move the region onto its static memory or add static memory there"
        case let .pmemBackingSize(path, bytes, offset, frames):
            guard let frames else { return "the pmem backing \(path) has \(bytes) bytes, more than this host can map" }
            let need = frames.count.multipliedReportingOverflow(by: PageOrder.frameBytes)
            guard !need.overflow else { return "\(frames) is more pmem than one backing can hold: attach it in parts" }
            return "the pmem backing \(path) has \(bytes) bytes but \(frames) needs \(need.partialValue) from offset \(offset): "
                + "give a backing of at least \(offset &+ need.partialValue) bytes (vpmem pmem create \(path) --size \(offset &+ need.partialValue)) or a lower offset"
        case let .pmemBackingOffsetUnaligned(path, offset):
            return "the region's offset \(offset) in the pmem backing \(path) is not a multiple of 4096: a frame maps a whole page of the backing"
        case .pmemBackingReadOnly(let path):
            return "the pmem backing \(path) is mapped read-only: a guest's pmem needs a read-write mapping"
        case let .pmemAlreadyAttached(requested, region, owner):
            return "\(requested) overlaps \(region), already attached to \(owner): destroy that guest first, or pick other frames of a configured pmem range"
        case .pmemNotMapped(let region):
            return "\(region) has no mapping in this instance: its backing was released"
        case .pmem(let e):
            return e.description
        }
    }
}
