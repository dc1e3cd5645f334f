/// The rejected alternative to the safe range, kept for comparison: a query for guest-physical
/// space that is unused *right now* (the proposed XENMEM_get_unallocated_space, seed 000).
///
/// It is racy by design and vpmem never uses it to place anything. The answer is a snapshot:
/// nothing reserves the range it returns, so a device or identity region that appears after the
/// query (an MMIO region added, RAM hot-added) can land on top of it, and the grant or foreign
/// mappings the guest put there on the strength of the answer then alias that region ("if a
/// guest follows the advice ... and subsequently a new IO or identity region appears,
/// everything will explode"). The safe range avoids this because it is chosen once by the
/// toolstack, advertised in the firmware map and enforced on every later action.
/// `UnallocatedSpaceQueryTests` shows the race.
extension GuestPhysmap {
    /// The lowest page-aligned range of `size` bytes that no region, the pmem aperture or the
    /// safe range uses at this moment; nil when none fits below 2^52.
    public func queryUnallocatedSpace(size: UInt64) -> GpaRange? {
        guard size > 0, size % GuestPhysmap.pageAlignment == 0 else { return nil }
        var used = regions.map(\.range) + [safeRange.range]
        if let aperture = pmemAperture { used.append(aperture) }
        used.sort { $0.first < $1.first }
        var candidate: UInt64 = 0
        for range in used {
            if candidate < range.first.raw, range.first.raw - candidate >= size {
                return try? GpaRange(start: Gpa(candidate), size: size)
            }
            guard let end = range.end else { return nil }
            candidate = max(candidate, end.raw)
        }
        guard candidate < GuestPhysmap.physicalAddressLimit,
              GuestPhysmap.physicalAddressLimit - candidate >= size else { return nil }
        return try? GpaRange(start: Gpa(candidate), size: size)
    }
}
