/// Where a guest's vNVDIMMs go in its pmem aperture. One rule for a guest being built, a
/// vNVDIMM attached later and the plan `guest show` prints:
/// - a vNVDIMM with an `address` goes exactly there (inside the aperture, on a 1 GiB boundary,
///   overlapping nothing; an overlap names the region in the way);
/// - the others go, in slot order, into the first free 1 GiB-aligned stretch that holds them;
/// - when several are placed at once, the pinned ones go first, so the others go around them.
extension GuestPhysmap {
    /// Places `d`'s data part and returns its guest range.
    @discardableResult
    public mutating func place(_ d: NVDIMMConfig) throws(PhysmapError) -> GpaRange {
        if let pinned = d.pinnedRange {
            try addPmem(name: d.regionName, at: pinned)
            return pinned
        }
        return try placePmem(name: d.regionName, size: d.size.bytes)
    }

    /// The order in which a set of vNVDIMMs is placed: pinned ones, then the rest, each group in
    /// slot order.
    public static func placementOrder(_ nvdimms: [NVDIMMConfig]) -> [NVDIMMConfig] {
        let bySlot = nvdimms.sorted { $0.slot < $1.slot }
        return bySlot.filter { $0.address != nil } + bySlot.filter { $0.address == nil }
    }
}
