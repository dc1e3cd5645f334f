/// The interleave-set cookies Linux computes for a pmem region from the NFIT
/// (drivers/acpi/nfit/core.c, the interleave-set code). A namespace label whose isetcookie is
/// not the region's cookie is ignored, so every label vpmem writes carries it.
///
/// For each memory device map of the SPA range, with its control region:
/// - v1.1 labels: a 16-byte record {u64 region offset, u32 serial number, u32 zero}; the records
///   sorted by region offset; the cookie is Fletcher-64 over them (32-bit little-endian words).
/// - v1.2 labels: a 48-byte record {u64 region offset, u32 serial number, u16 vendor id, u16
///   manufacturing date, u8 manufacturing location, 31 zero bytes}; sorted by region offset;
///   Fletcher-64 over them.
/// - the alternate v1.1 cookie: the 16-byte records sorted by the bytes of their region offset
///   (memcmp, an older kernel's order), which Linux still accepts in v1.1 labels.
/// A label's position is its DIMM's index in the v1.2 sort.
public struct InterleaveSetCookie: Sendable, Hashable {
    /// For v1.1 (128-byte) labels.
    public let v1_1: UInt64
    /// For v1.2 (256-byte) labels.
    public let v1_2: UInt64
    /// Also accepted in v1.1 labels.
    public let v1_1Alternate: UInt64
    /// Device handle -> position in the set.
    public let positions: [UInt32: UInt16]

    /// The cookie a label of `labelSize` bytes (128: v1.1, 256: v1.2) carries.
    public func cookie(labelSize: Int) -> UInt64 { labelSize == 128 ? v1_1 : v1_2 }

    /// The cookies of SPA range `rangeIndex` of `fit` (the NFIT structures).
    public init(fit: [UInt8], rangeIndex: UInt16) throws(NamespaceError) {
        let reader = try NFITStructureReader(fit: fit)
        try self.init(mappings: reader.mappings(ofRange: rangeIndex))
    }

    init(mappings: [(map: NFITStructureReader.MemoryDeviceMap, controlRegion: NFITStructureReader.ControlRegion)]) {
        struct Entry { let offset: UInt64; let handle: UInt32; let v11: [UInt8]; let v12: [UInt8] }
        let entries = mappings.map { m, dcr -> Entry in
            var v11: [UInt8] = []
            v11.appendLE(m.regionOffset); v11.appendLE(dcr.serialNumber); v11.appendLE(UInt32(0))
            var v12: [UInt8] = []
            v12.appendLE(m.regionOffset); v12.appendLE(dcr.serialNumber); v12.appendLE(dcr.vendorID)
            v12.appendLE(dcr.manufacturingDate); v12.append(dcr.manufacturingLocation); v12.appendZeros(31)
            return Entry(offset: m.regionOffset, handle: m.deviceHandle, v11: v11, v12: v12)
        }
        // Linux's sort() is not stable; equal offsets cannot occur in a valid interleave set.
        let byOffset = entries.sorted { $0.offset < $1.offset }
        v1_1 = Fletcher64.checksum(byOffset.flatMap(\.v11))
        v1_2 = Fletcher64.checksum(byOffset.flatMap(\.v12))
        let byOffsetBytes = entries.sorted { $0.v11[0..<8].lexicographicallyPrecedes($1.v11[0..<8]) }
        v1_1Alternate = Fletcher64.checksum(byOffsetBytes.flatMap(\.v11))
        var positions: [UInt32: UInt16] = [:]
        for (i, e) in byOffset.enumerated() { positions[e.handle] = UInt16(truncatingIfNeeded: i) }
        self.positions = positions
    }
}
