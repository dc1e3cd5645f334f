import GuestMemory

/// A part of the host's pmem given to a guest: machine frames `frames`, mapped at guest frames
/// from `gfn` with p2m type `pmem`, its contents on the backing at `backingPath` from
/// `backingOffset` (frame `frames.first + i` is bytes `backingOffset + [i * 4096, (i + 1) * 4096)`
/// of the backing). The backing may be longer than the region: a vNVDIMM backing holds the data,
/// then its label area.
///
/// The backing is what makes pmem-backed guest memory survive a live update: the outgoing
/// instance lets go of its mapping (a process exit), the state names the path, the offset and the
/// backing's size, and the incoming instance maps the same backing again through libpmem. RAM
/// contents stay in RAM; pmem contents stay on the backing; neither is copied.
///
/// Invariants (attachPmem and the state reader check them): `backingOffset` is a multiple of
/// 4096 and `backingOffset + bytes <= backingBytes`.
public struct GuestPmem: Hashable, Sendable, CustomStringConvertible {
    public let frames: MfnRange
    public let gfn: Gfn
    public let backingPath: String
    /// Where the region's bytes start in the backing.
    public let backingOffset: UInt64
    /// The whole backing's size when the region was attached (the incoming instance of a live
    /// update refuses a backing of another size).
    public let backingBytes: UInt64

    /// `backingBytes` nil: exactly the region (`backingOffset + bytes`).
    public init(frames: MfnRange, gfn: Gfn, backingPath: String, backingOffset: UInt64 = 0, backingBytes: UInt64? = nil) {
        self.frames = frames
        self.gfn = gfn
        self.backingPath = backingPath
        self.backingOffset = backingOffset
        self.backingBytes = backingBytes ?? backingOffset + frames.count * PageOrder.frameBytes
    }

    /// The guest frames the region occupies.
    public var gfns: GfnRange { GfnRange(uncheckedFirst: gfn.raw, end: gfn.raw + frames.count) }
    /// Bytes of the region in the backing: its frames times 4 KiB.
    public var bytes: UInt64 { frames.count * PageOrder.frameBytes }

    public var description: String {
        "pmem \(frames) at \(gfn) backed by \(backingPath)" + (backingOffset == 0 ? "" : " from byte \(backingOffset)")
    }
}
