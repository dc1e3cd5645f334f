import GuestMemory

/// Where the model puts machine frames: a guest's RAM and its vNVDIMM backings get host-physical
/// addresses here, since an emulated pmem file has none of its own.
///
/// - Host RAM for guest memory: one run from `ramBase` (4 GiB machine), registered as host RAM
///   (never mappable by frame number through the checked mapping).
/// - Host pmem: each backing's data part is a run in the pmem window from `pmemBase` (64 TiB
///   machine), first fit on a 1 GiB boundary, so gfn and mfn agree modulo 1 GiB and the p2m
///   uses 1 GiB (or 2 MiB) pages wherever the guest range allows. A backing is registered as
///   host pmem while attached and unregistered on detach.
///
/// Deterministic: a fresh model that attaches the same sizes in the same order (a config's
/// vNVDIMMs in slot order) gets the same machine frames.
public struct HostPlacement: Equatable, Sendable {
    public static let ramBase = Mfn(uncheckedRaw: 1 << 20)
    public static let pmemBase = Mfn(uncheckedRaw: 1 << 34)
    /// 1 GiB in frames.
    public static let pmemAlignment: UInt64 = 1 << 18
    /// One past the last frame of the window: the p2m's mfn limit.
    public static let pmemEnd: UInt64 = P2M.maxMfn.raw + 1

    /// Placed runs, sorted by first frame.
    public private(set) var pmem: [MfnRange] = []

    public init() {}

    /// A run of `frames` frames in the pmem window at the lowest free 1 GiB boundary.
    public mutating func placePmem(frames: UInt64) throws(GuestError) -> MfnRange {
        var candidate = Self.pmemBase.raw
        for run in pmem {
            if candidate + frames <= run.first.raw { break }
            candidate = (run.last.raw + Self.pmemAlignment) & ~(Self.pmemAlignment - 1)
        }
        guard frames > 0, frames <= Self.pmemEnd - candidate,
              let run = try? MfnRange(first: Mfn(uncheckedRaw: candidate), count: frames) else {
            throw .hostPmemWindowFull(frames: frames)
        }
        let i = pmem.firstIndex { $0.first > run.first } ?? pmem.endIndex
        pmem.insert(run, at: i)
        return run
    }

    /// Gives a run back.
    public mutating func release(_ run: MfnRange) {
        pmem.removeAll { $0 == run }
    }
}
