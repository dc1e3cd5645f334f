import VpmemCore

/// The build-time layout of an x86 HVM guest's physical address space, computed from its config
/// the way hvmloader and libxl lay it out. Bottom to top:
///
/// ```
/// 0                      ram "ram_low"          (first MiB split up only in the E820)
/// low_end - 1M           acpi_tables "acpi"     (end of guest memory below 4 GiB)
/// low_end - 4K           acpi_nvs "dsm"         (the DSM page: firmware NVS)
///   ... unpopulated when memory < hole start ...
/// 4G - mmio_hole         grant_table            (16 MiB: the platform PCI device's BAR)
///                        pci_mmio32             (up to 0xFC000000)
/// 0xFC000000             firmware_reserved      (up to 4 GiB)
/// 4G                     ram "ram_high"         (memory that did not fit below the hole)
/// 1G-aligned             pci_mmio64             (pci_mmio64 bytes, when non-zero)
/// 1G-aligned             pmem aperture          (pmem_aperture bytes, when non-zero; no lower
///                                               than QEMU's device memory: QEMUMachineLayout)
/// 1G-aligned             safe range             (see SafeRange)
/// ```
///
/// The pmem aperture and the safe range are not regions: pmem regions are placed inside the
/// aperture (at build or later), and the safe range is the guest's grant/foreign mapping space.
public struct GuestLayout: Equatable, Sendable {
    public static let fourGiB: UInt64 = 1 << 32
    /// hvmloader's RESERVED_MEMBASE.
    public static let firmwareReservedBase: UInt64 = 0xFC00_0000
    /// The Xen platform PCI device's grant-table BAR.
    public static let grantTableSize: UInt64 = 16 * ByteSize.mib
    /// The firmware area at the end of low RAM: the ACPI tables (NFIT, SSDT and the rest), then
    /// the NVS page.
    public static let acpiTablesSize: UInt64 = 1 * ByteSize.mib
    /// The NVS page at the very end of low RAM (the DSM page), part of `acpiTablesSize`.
    public static let acpiNVSSize: UInt64 = 4 * ByteSize.kib
    /// Alignment of everything placed above 4 GiB (apertures, pmem, safe range).
    public static let highAlignment: UInt64 = ByteSize.gib

    /// Regions sorted by start; pairwise disjoint.
    public let regions: [PhysmapRegion]
    /// The pmem window, when the config asks for one.
    public let pmemAperture: GpaRange?
    /// Start of the 32-bit MMIO hole (4 GiB - mmio_hole).
    public let holeStart: Gpa
    /// The last byte used by anything in the layout (regions and the pmem aperture).
    public let lastUsed: Gpa

    /// Lays out `config` (which must have passed `validate()`).
    public init(config: GuestConfig) throws(PhysmapError) {
        let holeStart = GuestLayout.fourGiB - config.mmioHole.bytes
        let lowRam = min(config.memory.bytes, holeStart)
        let highRam = config.memory.bytes - lowRam
        var regions: [PhysmapRegion] = []
        func add(_ name: String, _ kind: RegionKind, _ start: UInt64, _ size: UInt64) throws(PhysmapError) {
            regions.append(PhysmapRegion(name: name, kind: kind, range: try GpaRange(start: Gpa(start), size: size)))
        }
        try add("ram_low", .ram, 0, lowRam - GuestLayout.acpiTablesSize)
        try add("acpi", .acpiTables, lowRam - GuestLayout.acpiTablesSize, GuestLayout.acpiTablesSize - GuestLayout.acpiNVSSize)
        try add("dsm", .acpiNVS, lowRam - GuestLayout.acpiNVSSize, GuestLayout.acpiNVSSize)
        try add("grant_table", .grantTable, holeStart, GuestLayout.grantTableSize)
        try add("pci_mmio32", .pciMmio32, holeStart + GuestLayout.grantTableSize,
                GuestLayout.firmwareReservedBase - holeStart - GuestLayout.grantTableSize)
        try add("firmware", .firmwareReserved, GuestLayout.firmwareReservedBase,
                GuestLayout.fourGiB - GuestLayout.firmwareReservedBase)
        var top = GuestLayout.fourGiB  // first free byte above everything so far
        if highRam > 0 {
            try add("ram_high", .ram, top, highRam)
            top += highRam  // highRam < 2^64 - 2^32: memory is a ByteSize below 2^64
        }
        if config.pciMmio64.bytes > 0 {
            let start = try GuestLayout.alignedAbove(top)
            try add("pci_mmio64", .pciMmio64, start, config.pciMmio64.bytes)
            top = try GuestLayout.end(of: regions[regions.count - 1].range)
        }
        var aperture: GpaRange?
        if config.pmemAperture.bytes > 0 {
            // No lower than QEMU's device-memory window for the same RAM, so the vNVDIMMs
            // placed here are addresses QEMU accepts (`vpmem qemu`).
            let qemu = QEMUMachineLayout(memory: config.memory.bytes, holeStart: holeStart)
            let start = try GuestLayout.alignedAbove(max(top, qemu.deviceMemoryBase))
            let range = try GpaRange(start: Gpa(start), size: config.pmemAperture.bytes)
            aperture = range
            top = try GuestLayout.end(of: range)
        }
        self.regions = regions
        self.pmemAperture = aperture
        self.holeStart = Gpa(holeStart)
        self.lastUsed = Gpa(top - 1)
    }

    /// The first 1 GiB boundary at or above `address`.
    static func alignedAbove(_ address: UInt64) throws(PhysmapError) -> UInt64 {
        guard let aligned = alignUp(address, to: highAlignment) else {
            throw .rangeBeyondAddressSpace(start: address, size: highAlignment)
        }
        return aligned
    }

    /// The first byte after `range`; an error when the range ends at the top of the space.
    static func end(of range: GpaRange) throws(PhysmapError) -> UInt64 {
        guard let end = range.end else { throw .rangeBeyondAddressSpace(start: range.first.raw, size: range.size) }
        return end.raw
    }
}
