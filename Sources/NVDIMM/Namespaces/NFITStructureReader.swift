/// Reads the NFIT structures a guest kernel uses for one pmem region: the SPA range, the memory
/// device maps that reference it, and each one's control region. The input is the FIT (the
/// structures after the table's 40 bytes of header and reserved field), as `_FIT` returns it.
///
/// Never traps on any input: a structure whose length field is too small for its type, or runs
/// past the end, stops the walk with an error naming its offset.
public struct NFITStructureReader: Sendable {
    public struct SPARange: Sendable, Hashable {
        public let rangeIndex: UInt16
        public let rangeTypeGUID: [UInt8]
        public let base: UInt64
        public let length: UInt64
    }

    public struct MemoryDeviceMap: Sendable, Hashable {
        public let deviceHandle: UInt32
        public let spaRangeIndex: UInt16
        public let controlRegionIndex: UInt16
        public let regionSize: UInt64
        public let regionOffset: UInt64
        public let regionDPA: UInt64
        public let interleaveWays: UInt16
        public let flags: UInt16
    }

    public struct ControlRegion: Sendable, Hashable {
        public let index: UInt16
        public let vendorID: UInt16
        public let manufacturingLocation: UInt8
        public let manufacturingDate: UInt16
        public let serialNumber: UInt32
    }

    public private(set) var spaRanges: [SPARange] = []
    /// In table order: Linux pairs the n-th map of a range with the region's n-th mapping.
    public private(set) var memoryDeviceMaps: [MemoryDeviceMap] = []
    public private(set) var controlRegions: [ControlRegion] = []

    public init(fit: [UInt8]) throws(NamespaceError) {
        var at = 0
        while at < fit.count {
            guard at + 4 <= fit.count else { throw .nfitMalformed(offset: at, reason: "a structure header runs past the end") }
            let type = fit.readLE(UInt16.self, at: at), length = Int(fit.readLE(UInt16.self, at: at + 2))
            guard length >= 4, at + length <= fit.count else {
                throw .nfitMalformed(offset: at, reason: "structure type \(type) has length \(length), past the end or below 4")
            }
            let s = Array(fit[at..<at + length])
            func need(_ n: Int) throws(NamespaceError) {
                guard length >= n else { throw .nfitMalformed(offset: at, reason: "structure type \(type) is \(length) bytes, needs \(n)") }
            }
            switch type {
            case NFITBuilder.StructureType.spaRange.rawValue:
                try need(56)
                spaRanges.append(SPARange(rangeIndex: s.readLE(UInt16.self, at: 4), rangeTypeGUID: Array(s[16..<32]),
                                          base: s.readLE(UInt64.self, at: 32), length: s.readLE(UInt64.self, at: 40)))
            case NFITBuilder.StructureType.memoryDeviceMap.rawValue:
                try need(48)
                memoryDeviceMaps.append(MemoryDeviceMap(
                    deviceHandle: s.readLE(UInt32.self, at: 4), spaRangeIndex: s.readLE(UInt16.self, at: 12),
                    controlRegionIndex: s.readLE(UInt16.self, at: 14), regionSize: s.readLE(UInt64.self, at: 16),
                    regionOffset: s.readLE(UInt64.self, at: 24), regionDPA: s.readLE(UInt64.self, at: 32),
                    interleaveWays: s.readLE(UInt16.self, at: 42), flags: s.readLE(UInt16.self, at: 44)))
            case NFITBuilder.StructureType.controlRegion.rawValue:
                try need(80)
                controlRegions.append(ControlRegion(index: s.readLE(UInt16.self, at: 4), vendorID: s.readLE(UInt16.self, at: 6),
                                                    manufacturingLocation: s[19], manufacturingDate: s.readLE(UInt16.self, at: 20),
                                                    serialNumber: s.readLE(UInt32.self, at: 24)))
            default:
                break
            }
            at += length
        }
    }

    /// The FIT of a complete NFIT table (its 36-byte header and 4 reserved bytes skipped).
    public init(nfit: [UInt8]) throws(NamespaceError) {
        guard nfit.count >= 40 else { throw .nfitMalformed(offset: 0, reason: "an NFIT is at least 40 bytes, this one is \(nfit.count)") }
        try self.init(fit: Array(nfit[40...]))
    }

    /// The memory device maps of SPA range `index`, each with its control region, in table order.
    public func mappings(ofRange index: UInt16) throws(NamespaceError) -> [(map: MemoryDeviceMap, controlRegion: ControlRegion)] {
        guard spaRanges.contains(where: { $0.rangeIndex == index }) else { throw .nfitNoRange(index: index) }
        let maps = memoryDeviceMaps.filter { $0.spaRangeIndex == index }
        guard !maps.isEmpty else { throw .nfitNoMapping(index: index) }
        var out: [(MemoryDeviceMap, ControlRegion)] = []
        for m in maps {
            guard let dcr = controlRegions.first(where: { $0.index == m.controlRegionIndex }) else {
                throw .nfitNoControlRegion(rangeIndex: index, controlRegionIndex: m.controlRegionIndex)
            }
            out.append((m, dcr))
        }
        return out
    }
}
