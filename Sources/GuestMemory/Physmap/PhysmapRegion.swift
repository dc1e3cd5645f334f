/// What a stretch of guest-physical address space is used for.
public enum RegionKind: String, Sendable, Codable, CaseIterable {
    /// Guest RAM (below the 32-bit MMIO hole, above 4 GiB, or added later).
    case ram
    /// RAM pages holding the guest's ACPI tables (E820 type 3), at the end of low RAM just
    /// before the NVS page: where seed 002 puts the NFIT and SSDT ("the end of guest memory
    /// below 4G").
    case acpiTables = "acpi_tables"
    /// The firmware NVS page after the ACPI tables (E820 type 4): the vNVDIMM DSM page, which
    /// the guest's _DSM methods use for as long as it runs. ACPI-tables memory (type 3) is the
    /// guest's to reclaim once it has read the tables; NVS memory never is (QEMU's firmware
    /// puts its DSM buffer in reserved or NVS memory for the same reason).
    case acpiNVS = "acpi_nvs"
    /// Where the guest maps its own grant-table frames: on x86 HVM, the Xen platform PCI
    /// device's 16 MiB BAR, fixed here at the start of the MMIO hole.
    case grantTable = "grant_table"
    /// The 32-bit PCI MMIO aperture: the rest of the hole up to the firmware-reserved area.
    case pciMmio32 = "pci_mmio32"
    /// hvmloader's RESERVED_MEMBASE (0xFC000000) up to 4 GiB: special pages, IOAPIC, HPET,
    /// LAPIC, BIOS. Reserved in the E820.
    case firmwareReserved = "firmware_reserved"
    /// The 64-bit PCI MMIO aperture above high RAM.
    case pciMmio64 = "pci_mmio64"
    /// A pmem (NVDIMM) region, inside the pmem aperture. Never RAM in the E820: the NFIT
    /// describes it.
    case pmem
    /// An MMIO region added after build (a device or identity region).
    case mmio
}

/// One named, non-empty range of the guest physmap.
public struct PhysmapRegion: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let kind: RegionKind
    public let range: GpaRange

    public init(name: String, kind: RegionKind, range: GpaRange) {
        self.name = name
        self.kind = kind
        self.range = range
    }

    public var description: String { "\(kind.rawValue) '\(name)' \(range)" }
}
