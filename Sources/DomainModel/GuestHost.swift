import GuestMemory
import HostPmem

/// What a guest needs from the host it runs on: the host's one checked mapping (its range
/// registry and every guest's mapped extents, so seed 002's checks see every guest), and the host
/// pmem frames behind a vNVDIMM's backing.
///
/// The host is the one place that knows which frames are RAM, pmem or MMIO and which guest owns
/// each; a `Guest` never registers host frames itself. `VpmemHost.Host` is the host a user
/// meets; `StandaloneGuestHost` is a private one for a guest built alone (tests, benchmarks).
public protocol GuestHost: AnyObject {
    /// The host's checked mapping. Guests change it all or nothing: they build the next value on
    /// a copy and assign it back only when every step has succeeded.
    var mapping: CheckedMemoryMapping { get set }

    /// The host pmem frames holding the data part (`dataFrames` frames) of the backing at `path`,
    /// registered as host pmem in `mapping`'s registry before this returns. Called by attach
    /// before anything is committed; a failure leaves the host as it was.
    func pmemFrames(forBacking path: String, backing: PmemMapping, dataFrames: UInt64,
                    guest: String, slot: Int) throws(GuestError) -> MfnRange

    /// A detach has unmapped `frames` (given back by the checked mapping); the host decides
    /// whether they stay registered (host pmem does) or go (a private host's placement).
    func pmemFramesReleased(_ frames: MfnRange)
}

/// A private host for one guest built alone: guest RAM on one run of host RAM from
/// `HostPlacement.ramBase`, and each backing placed in the pmem window from 64 TiB while attached
/// (registered on attach, unregistered on detach). Used for tests and benchmarks that need a
/// guest without a host directory; the CLI uses `VpmemHost.Host`, private or stored.
public final class StandaloneGuestHost: GuestHost {
    public var mapping = CheckedMemoryMapping()
    private var placement = HostPlacement()

    public init() {}

    /// Registers `frames` frames of host RAM from `HostPlacement.ramBase` and returns the run.
    func registerRAM(frames: UInt64) throws(GuestError) -> MfnRange {
        do {
            let run = try MfnRange(first: HostPlacement.ramBase, count: frames)
            try mapping.register(.ram, run)
            return run
        } catch { throw .mapping(error) }
    }

    public func pmemFrames(forBacking path: String, backing: PmemMapping, dataFrames: UInt64,
                           guest: String, slot: Int) throws(GuestError) -> MfnRange {
        var next = placement
        let run = try next.placePmem(frames: dataFrames)
        do { try mapping.register(.pmem, run) } catch { throw .mapping(error) }
        placement = next
        return run
    }

    public func pmemFramesReleased(_ frames: MfnRange) {
        try? mapping.unregister(.pmem, frames)
        placement.release(frames)
    }
}
