/// What `vpmem guest show --json` prints: the physmap, its firmware memory maps and the safe
/// range, with stable snake_case keys. Addresses and sizes are byte counts (integers); ranges
/// carry inclusive `start`/`last` like Xen's rangesets.
public struct PhysmapReport: Encodable, Sendable {
    public struct Range: Encodable, Sendable {
        public let start: UInt64
        public let last: UInt64
        public let size: UInt64
        init(_ r: GpaRange) { start = r.first.raw; last = r.last.raw; size = r.size }
    }
    public struct Region: Encodable, Sendable {
        public let name: String
        public let kind: String
        public let start: UInt64
        public let last: UInt64
        public let size: UInt64
    }
    public struct E820: Encodable, Sendable {
        public let start: UInt64
        public let last: UInt64
        public let size: UInt64
        public let type: String
        public let type_code: UInt32
    }
    public struct Config: Encodable, Sendable {
        public let name: String
        public let memory: UInt64
        public let vcpus: Int
        public let mmio_hole: UInt64
        public let pci_mmio64: UInt64
        public let max_grant_frames: Int
        public let max_maptrack_frames: Int
        public let pmem_aperture: UInt64
        /// null when the config leaves it to the default.
        public let safe_range_size: UInt64?

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(name, forKey: .name)
            try c.encode(memory, forKey: .memory)
            try c.encode(vcpus, forKey: .vcpus)
            try c.encode(mmio_hole, forKey: .mmio_hole)
            try c.encode(pci_mmio64, forKey: .pci_mmio64)
            try c.encode(max_grant_frames, forKey: .max_grant_frames)
            try c.encode(max_maptrack_frames, forKey: .max_maptrack_frames)
            try c.encode(pmem_aperture, forKey: .pmem_aperture)
            try c.encode(safe_range_size, forKey: .safe_range_size)  // null, not absent
        }
        enum Keys: String, CodingKey {
            case name, memory, vcpus, mmio_hole, pci_mmio64, max_grant_frames, max_maptrack_frames, pmem_aperture, safe_range_size
        }
    }
    public struct Safe: Encodable, Sendable {
        public let start: UInt64
        public let last: UInt64
        public let size: UInt64
        public let required_size: UInt64
        public let max_maptrack_frames: Int
        public let fixed_frames: Int
        public let e820_type: String
        public let dt_compatible: String
    }

    public let name: String
    public let config: Config
    public let hole_start: UInt64
    public let regions: [Region]
    /// null when the guest has none.
    public let pmem_aperture: Range?
    public let e820: [E820]
    public let safe_range: Safe
    public let device_tree: String

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(config, forKey: .config)
        try c.encode(hole_start, forKey: .hole_start)
        try c.encode(regions, forKey: .regions)
        try c.encode(pmem_aperture, forKey: .pmem_aperture)  // null, not absent
        try c.encode(e820, forKey: .e820)
        try c.encode(safe_range, forKey: .safe_range)
        try c.encode(device_tree, forKey: .device_tree)
    }
    enum Keys: String, CodingKey {
        case name, config, hole_start, regions, pmem_aperture, e820, safe_range, device_tree
    }

    public init(_ physmap: GuestPhysmap) {
        let c = physmap.config
        name = c.name
        config = Config(
            name: c.name, memory: c.memory.bytes, vcpus: c.vcpus, mmio_hole: c.mmioHole.bytes,
            pci_mmio64: c.pciMmio64.bytes, max_grant_frames: c.maxGrantFrames,
            max_maptrack_frames: c.maxMaptrackFrames, pmem_aperture: c.pmemAperture.bytes,
            safe_range_size: c.safeRangeSize?.bytes)
        hole_start = physmap.holeStart.raw
        regions = physmap.regions.map {
            Region(name: $0.name, kind: $0.kind.rawValue, start: $0.range.first.raw, last: $0.range.last.raw, size: $0.range.size)
        }
        pmem_aperture = physmap.pmemAperture.map(Range.init)
        e820 = E820Table(physmap: physmap).entries.map {
            E820(start: $0.range.first.raw, last: $0.range.last.raw, size: $0.range.size,
                 type: $0.type.description, type_code: $0.type.rawValue)
        }
        let s = physmap.safeRange
        safe_range = Safe(
            start: s.range.first.raw, last: s.range.last.raw, size: s.range.size, required_size: s.requiredBytes,
            max_maptrack_frames: s.maxMaptrackFrames, fixed_frames: s.fixedFrames,
            e820_type: E820Type.reserved.description, dt_compatible: DeviceTreeFragment.safeRangeCompatible)
        device_tree = DeviceTreeFragment(physmap: physmap).description
    }
}
