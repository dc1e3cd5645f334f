import VpmemCore

/// A modelled guest as its config file describes it: the source of truth for that guest, like an
/// xl.cfg. The file format (TOML) lives in the GuestConfigFile module; this type holds the values
/// and the rules they obey, so every way of building a config (file, test, CLI) is checked the
/// same way.
///
/// Keys follow xl.cfg where xl has one (`name`, `memory`, `vcpus`, `mmio_hole`,
/// `max_grant_frames`, `max_maptrack_frames`); the others are vpmem's (`pci_mmio64`,
/// `pmem_aperture`, `safe_range_size`).
public struct GuestConfig: Equatable, Sendable {
    /// Guest name: letters, digits, `-`, `_`, `.`; 1 to 64 characters.
    public var name: String
    /// Guest RAM. A multiple of 1 MiB (xl's unit), at least 16 MiB.
    public var memory: ByteSize
    /// Virtual CPUs, 1 to 128 (Xen's HVM_MAX_VCPUS).
    public var vcpus: Int
    /// Size of the 32-bit MMIO hole that ends at 4 GiB (xl's `mmio_hole`): 256 MiB to 3840 MiB,
    /// a multiple of 1 MiB. RAM that does not fit below the hole goes above 4 GiB.
    public var mmioHole: ByteSize
    /// Size of the 64-bit PCI aperture placed above high RAM; 0 for none. A multiple of 1 GiB.
    public var pciMmio64: ByteSize
    /// Grant-table frames the guest may have (xl's `max_grant_frames`, Xen's default 64).
    public var maxGrantFrames: Int
    /// Maptrack frames: bounds the grants this guest may map from others (xl's
    /// `max_maptrack_frames`, Xen's default 1024, 512 mappings a frame).
    public var maxMaptrackFrames: Int
    /// The guest-physical window reserved at build for pmem (NVDIMM) regions, attached at build
    /// or later; 0 for none. A multiple of 1 GiB. Like QEMU's device-memory region (`maxmem`),
    /// it is fixed for the guest's life so that later attachments never move anything.
    public var pmemAperture: ByteSize
    /// Requested safe-range size; nil for the default (128 GiB, or more when the maptrack
    /// frames need more). A multiple of 1 GiB and never below what the maptrack and fixed
    /// frames need.
    public var safeRangeSize: ByteSize?
    /// Virtual NVDIMMs (`[[nvdimm]]` tables), in slot order. Placed in the pmem aperture when
    /// the guest is built, lowest slot first.
    public var nvdimms: [NVDIMMConfig]
    /// The NFIT's persistence domain (`nvdimm_persistence`); nil: no Platform Capabilities.
    public var nvdimmPersistence: NVDIMMPersistence?
    /// ACPI header fields for the guest's NFIT and SSDT (`acpi_oem_*`, `acpi_creator_*`).
    public var acpiOem: AcpiOemConfig
    /// Seed 003's 1:1 direct map (`direct_map`, dom0less `direct-map`): every RAM page's gfn
    /// equals its machine frame. Needs static memory for this guest in the host's config,
    /// covering each RAM region of the physmap at the same addresses.
    public var directMap: Bool = false
    /// Whether balloon-in may take domain-heap pages once a static-memory guest's reserved pool
    /// is empty (`balloon_from_heap`; seed 003 leaves it a policy, off by default). Guests
    /// without static memory always balloon from the heap.
    public var balloonFromHeap: Bool = false

    public static let defaultVcpus = 1
    public static let defaultMmioHole = ByteSize(bytes: 256 * ByteSize.mib)
    /// QEMU q35's default `pci-hole64-size`.
    public static let defaultPciMmio64 = ByteSize(bytes: 32 * ByteSize.gib)
    public static let defaultMaxGrantFrames = 64
    public static let defaultMaxMaptrackFrames = 1024
    public static let maxVcpus = 128
    public static let minMemory = ByteSize(bytes: 16 * ByteSize.mib)
    public static let minMmioHole = ByteSize(bytes: 256 * ByteSize.mib)
    public static let maxMmioHole = ByteSize(bytes: 3840 * ByteSize.mib)
    /// The grant-table region is 16 MiB (the Xen platform PCI device's BAR): 4096 frames.
    public static let maxGrantFramesLimit = Int(GuestLayout.grantTableSize / PageOrder.frameBytes)
    /// 2^22 maptrack frames = 2^31 mappings = 8 TiB of safe range; above that is a typo.
    public static let maxMaptrackFramesLimit = 1 << 22

    public init(
        name: String, memory: ByteSize, vcpus: Int = GuestConfig.defaultVcpus,
        mmioHole: ByteSize = GuestConfig.defaultMmioHole,
        pciMmio64: ByteSize = GuestConfig.defaultPciMmio64,
        maxGrantFrames: Int = GuestConfig.defaultMaxGrantFrames,
        maxMaptrackFrames: Int = GuestConfig.defaultMaxMaptrackFrames,
        pmemAperture: ByteSize = ByteSize(bytes: 0), safeRangeSize: ByteSize? = nil,
        nvdimms: [NVDIMMConfig] = [], nvdimmPersistence: NVDIMMPersistence? = nil,
        acpiOem: AcpiOemConfig = AcpiOemConfig()
    ) {
        self.name = name
        self.memory = memory
        self.vcpus = vcpus
        self.mmioHole = mmioHole
        self.pciMmio64 = pciMmio64
        self.maxGrantFrames = maxGrantFrames
        self.maxMaptrackFrames = maxMaptrackFrames
        self.pmemAperture = pmemAperture
        self.safeRangeSize = safeRangeSize
        self.nvdimms = nvdimms.sorted { $0.slot < $1.slot }
        self.nvdimmPersistence = nvdimmPersistence
        self.acpiOem = acpiOem
    }

    /// The vNVDIMM in `slot`, if any.
    public func nvdimm(slot: Int) -> NVDIMMConfig? { nvdimms.first { $0.slot == slot } }

    /// Checks every rule above; the first broken one is thrown, naming the key and the fix.
    public func validate() throws(GuestConfigError) {
        let nameOK = !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
        guard nameOK else { throw .invalid(key: "name", value: name, rule: "1 to 64 characters from A-Z, a-z, 0-9, '-', '_', '.'") }
        try requireMultiple(memory, of: ByteSize.mib, key: "memory", unit: "1M")
        guard memory >= GuestConfig.minMemory else {
            throw .invalid(key: "memory", value: memory.description, rule: "at least 16M")
        }
        guard (1...GuestConfig.maxVcpus).contains(vcpus) else {
            throw .invalid(key: "vcpus", value: String(vcpus), rule: "1 to \(GuestConfig.maxVcpus) (Xen's HVM_MAX_VCPUS)")
        }
        try requireMultiple(mmioHole, of: ByteSize.mib, key: "mmio_hole", unit: "1M")
        guard mmioHole >= GuestConfig.minMmioHole && mmioHole <= GuestConfig.maxMmioHole else {
            throw .invalid(key: "mmio_hole", value: mmioHole.description, rule: "256M to 3840M, as xl's mmio_hole")
        }
        try requireMultiple(pciMmio64, of: ByteSize.gib, key: "pci_mmio64", unit: "1G")
        guard (1...GuestConfig.maxGrantFramesLimit).contains(maxGrantFrames) else {
            throw .invalid(key: "max_grant_frames", value: String(maxGrantFrames),
                           rule: "1 to \(GuestConfig.maxGrantFramesLimit) (the 16M grant-table region)")
        }
        guard (0...GuestConfig.maxMaptrackFramesLimit).contains(maxMaptrackFrames) else {
            throw .invalid(key: "max_maptrack_frames", value: String(maxMaptrackFrames),
                           rule: "0 to \(GuestConfig.maxMaptrackFramesLimit)")
        }
        try requireMultiple(pmemAperture, of: ByteSize.gib, key: "pmem_aperture", unit: "1G")
        if let safe = safeRangeSize {
            guard safe.bytes > 0 else { throw .invalid(key: "safe_range_size", value: "0", rule: "more than 0; leave the key out for the 128G default") }
            try requireMultiple(safe, of: ByteSize.gib, key: "safe_range_size", unit: "1G")
            let need = SafeRange.requiredBytes(maxMaptrackFrames: maxMaptrackFrames, vcpus: vcpus)
            guard safe.bytes >= need else {
                throw .safeRangeTooSmall(configured: safe, required: ByteSize(bytes: need),
                                         maptrackFrames: maxMaptrackFrames, vcpus: vcpus)
            }
        }
        var slots = Set<Int>(), backings = Set<String>()
        for d in nvdimms {
            try d.validate()
            guard slots.insert(d.slot).inserted else {
                throw .invalid(key: "nvdimm.slot", value: String(d.slot), rule: "a slot no other vNVDIMM of this guest uses")
            }
            guard backings.insert(d.backing).inserted else {
                throw .invalid(key: "nvdimm slot \(d.slot) backing", value: "\"\(d.backing)\"",
                               rule: "a backing no other vNVDIMM of this guest uses (each vNVDIMM maps its own)")
            }
        }
        let pinned = nvdimms.compactMap { d in d.pinnedRange.map { (slot: d.slot, range: $0) } }
        for (i, a) in pinned.enumerated() {
            for b in pinned[(i + 1)...] where a.range.overlaps(b.range) {
                throw .invalid(key: "nvdimm slot \(b.slot) address", value: b.range.first.description,
                               rule: "an address whose range (\(b.range)) does not overlap nvdimm slot \(a.slot)'s \(a.range): "
                                   + "start it at \(a.range.end.map { $0.description } ?? "the end of slot \(a.slot)") or later, or leave the address out")
            }
        }
        if !nvdimms.isEmpty && pmemAperture.bytes == 0 {
            throw .invalid(key: "pmem_aperture", value: "0", rule: "a pmem aperture (e.g. pmem_aperture = \"64G\") large enough for the vNVDIMMs, each starting on a 1G boundary")
        }
        try acpiOem.validate()
    }

    private func requireMultiple(_ size: ByteSize, of unit: UInt64, key: String, unit name: String) throws(GuestConfigError) {
        guard size.bytes % unit == 0 else {
            throw .invalid(key: key, value: size.description, rule: "a multiple of \(name)")
        }
    }
}

/// A config value that breaks a rule. Each case names the key, the value and what is allowed.
public enum GuestConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalid(key: String, value: String, rule: String)
    case safeRangeTooSmall(configured: ByteSize, required: ByteSize, maptrackFrames: Int, vcpus: Int)

    public var description: String {
        switch self {
        case let .invalid(key, value, rule):
            return "\(key) = \(value) is not allowed: use \(rule)"
        case let .safeRangeTooSmall(configured, required, frames, vcpus):
            let needed = ByteSize(bytes: alignUp(required.bytes, to: ByteSize.gib) ?? required.bytes)
            return "safe_range_size = \(configured) is smaller than the \(required.humanReadable) that "
                + "max_maptrack_frames = \(frames) (\(UInt64(frames) * SafeRange.mappingsPerMaptrackFrame) grant mappings) "
                + "and \(1 + vcpus) fixed frames (shared info, \(vcpus) vCPU info) need: "
                + "set safe_range_size to at least \(needed), or lower max_maptrack_frames"
        }
    }
}
