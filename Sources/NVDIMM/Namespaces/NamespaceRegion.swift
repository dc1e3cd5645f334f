/// What a guest kernel knows, from the NFIT, of the pmem region one NVDIMM provides: where it is,
/// its size on the DIMM, the interleave-set cookies, the range type its labels must name, and the
/// DIMM's position in the set.
public struct NamespaceRegion: Sendable, Hashable {
    /// Guest-physical base of the SPA range (a namespace at DPA d starts at base + d, region
    /// offset and DPA being 0).
    public let base: UInt64
    /// The memory device map's region size: DPA 0 up to this is the region on the DIMM.
    public let size: UInt64
    public let cookie: InterleaveSetCookie
    /// The SPA range type GUID as stored (labels' type GUID, v1.2).
    public let typeGUID: [UInt8]
    /// This DIMM's label position.
    public let position: UInt16
    /// Memory devices in the set (a label's nlabel).
    public let mappings: UInt16

    /// The region of SPA range `rangeIndex` as seen by the DIMM with NFIT handle `deviceHandle`.
    public init(fit: [UInt8], rangeIndex: UInt16, deviceHandle: UInt32) throws(NamespaceError) {
        let reader = try NFITStructureReader(fit: fit)
        let maps = try reader.mappings(ofRange: rangeIndex)
        guard let range = reader.spaRanges.first(where: { $0.rangeIndex == rangeIndex }),
              let mine = maps.first(where: { $0.map.deviceHandle == deviceHandle }) else {
            throw .nfitNoMapping(index: rangeIndex)
        }
        cookie = InterleaveSetCookie(mappings: maps)
        base = range.base
        size = mine.map.regionSize
        typeGUID = range.rangeTypeGUID
        position = cookie.positions[deviceHandle] ?? 0
        mappings = UInt16(truncatingIfNeeded: maps.count)
    }
}
