import GuestMemory

/// Where HostMachine sends a guest's gfn -> mfn mappings: the seam to the guest memory core's p2m.
///
/// HostMachine keeps its own per-domain extent list (`PhysmapExtents`, the host's bookkeeping, as
/// Xen's page lists); a sink mirrors every change into the guest's translation table. Calls come
/// in the order the host makes them; a throwing `map` makes the host undo the whole operation.
public protocol GuestPhysmapSink: AnyObject {
    /// Maps `frames` frames: gfn + i -> mfn + i, as `type` (`ramRW` for guest RAM, `pmem` for
    /// host pmem given to the guest).
    func map(_ domain: DomainID, gfn: Gfn, to mfn: Mfn, frames: UInt64, type: P2MType) throws
    /// Unmaps `frames` frames from `gfn`.
    func unmap(_ domain: DomainID, gfn: Gfn, frames: UInt64) throws
    /// The machine frame `gfn` maps to and its p2m type, or nil.
    func translate(_ domain: DomainID, gfn: Gfn) -> (mfn: Mfn, type: P2MType)?
    /// Drops the domain's table.
    func destroy(_ domain: DomainID)
}
