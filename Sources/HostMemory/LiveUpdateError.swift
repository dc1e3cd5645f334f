import GuestMemory

/// Errors of the live-update handover. A refused state leaves every preserved frame untouched.
public enum LiveUpdateError: Error, Equatable, Sendable, CustomStringConvertible {
    case noRegion
    case host(HostMemoryError)
    case regionTooSmall(region: MfnRange, neededFrames: UInt64, frameTableFrames: UInt64, stateFrames: UInt64)
    case corruptState(where: String, problem: String)
    case inUseRangeOverlapsRegion(domain: DomainID, range: MfnRange, region: MfnRange)

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
        }
    }
}

/// "N frames" as bytes, for messages.
struct ByteCount: CustomStringConvertible {
    let frames: UInt64
    init(_ frames: UInt64) { self.frames = frames }
    var description: String {
        let b = frames * PageOrder.frameBytes
        if b >= 1 << 30 { return "\(b >> 30) GiB" }
        if b >= 1 << 20 { return "\(b >> 20) MiB" }
        return "\(b >> 10) KiB"
    }
}
