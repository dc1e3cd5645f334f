import GuestMemory

/// A part of the host's pmem given to a guest: machine frames `frames`, mapped at guest frames
/// from `gfn` with p2m type `pmem`, its contents on the backing at `backingPath` (frame
/// `frames.first + i` is bytes `[i * 4096, (i + 1) * 4096)` of the backing).
///
/// The backing is what makes pmem-backed guest memory survive a live update: the outgoing
/// instance lets go of its mapping (a process exit), the state names the path, and the incoming
/// instance maps the same backing again through libpmem. RAM contents stay in RAM; pmem contents
/// stay on the backing; neither is copied.
public struct GuestPmem: Hashable, Sendable, CustomStringConvertible {
    public let frames: MfnRange
    public let gfn: Gfn
    public let backingPath: String

    public init(frames: MfnRange, gfn: Gfn, backingPath: String) {
        self.frames = frames
        self.gfn = gfn
        self.backingPath = backingPath
    }

    /// The guest frames the region occupies.
    public var gfns: GfnRange { GfnRange(uncheckedFirst: gfn.raw, end: gfn.raw + frames.count) }
    /// Bytes of the backing: the region's frames times 4 KiB.
    public var bytes: UInt64 { frames.count * PageOrder.frameBytes }

    public var description: String { "pmem \(frames) at \(gfn) backed by \(backingPath)" }
}
