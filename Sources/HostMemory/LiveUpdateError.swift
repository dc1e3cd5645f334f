import GuestMemory
import HostPmem

/// Errors of the live-update handover. A refused state leaves every preserved frame untouched.
public enum LiveUpdateError: Error, Equatable, Sendable, CustomStringConvertible {
    case noRegion
    case host(HostMemoryError)
    case regionTooSmall(region: MfnRange, neededFrames: UInt64, frameTableFrames: UInt64, stateFrames: UInt64)
    case corruptState(where: String, problem: String)
    case inUseRangeOverlapsRegion(domain: DomainID, range: MfnRange, region: MfnRange)
    /// A pmem backing path the state cannot carry (longer than 4096 bytes, or with a NUL).
    case pmemPathUnstorable(domain: DomainID, path: String)
    /// A pmem region's backing could not be mapped again by the incoming instance (missing,
    /// another size, still locked by the outgoing one, not pmem-capable).
    case pmemBacking(domain: DomainID, region: GuestPmem, HostPmemError)

    public var description: String {
        switch self {
        case .noRegion:
            return "no liveupdate region is configured: reserve one (liveupdate=<size>@<address>) on the outgoing and incoming host"
        case .host(let e):
            return e.description
        case let .regionTooSmall(region, needed, ft, state):
            return "liveupdate region \(region) has \(region.count - 1) usable frames (its first holds the state address) "
                + "but booting needs \(needed): \(ft) for the frame table and \(state) for the state's range list; "
                + "make the region at least \(needed + 1) frames (\(ByteCount(needed + 1))). Nothing was written."
        case let .corruptState(place, problem):
            return "live-update state refused: \(place): \(problem). Nothing preserved was written; the state cannot be trusted"
        case let .inUseRangeOverlapsRegion(d, range, region):
            return "live-update state refused: \(d) owns \(range), which overlaps the liveupdate region \(region): "
                + "the outgoing instance must never give region frames to guests"
        case let .pmemPathUnstorable(d, path):
            return "cannot write the live-update state: the pmem backing path of \(d) (\(path.utf8.count) bytes) "
                + "is longer than 4096 bytes or holds a NUL; move the backing to a shorter path"
        case let .pmemBacking(d, region, error):
            return "live-update refused before the frame table was rebuilt: \(region) of \(d) cannot be mapped again: \(error). "
                + "Nothing preserved was written; restore the backing (same path, \(region.backingBytes) bytes) and boot again"
        }
    }
}

/// "N frames" as bytes, for messages.
struct ByteCount: CustomStringConvertible {
    let frames: UInt64
    init(_ frames: UInt64) { self.frames = frames }
    var description: String {
        let b = frames * PageOrder.frameBytes
        if b >= 1 << 40 && b % (1 << 40) == 0 { return "\(b >> 40) TiB" }
        if b >= 1 << 30 { return "\(b >> 30) GiB" }
        if b >= 1 << 20 { return "\(b >> 20) MiB" }
        return "\(b >> 10) KiB"
    }
}
