import GuestMemory

/// Where a guest's vNVDIMM firmware tables and its DSM page live: the `acpi_tables` region near
/// the end of low RAM (seed 002: "QEMU copies NFIT and SSDT to the end of guest memory below
/// 4G") and the `acpi_nvs` page right after it:
/// ```
/// region.first              NFIT, then SSDT, back to back (the blob hvmloader appends)
/// ...                       free
/// dsmPage                   the DSM page (4 KiB, page aligned, below 4 GiB as the AML needs),
///                           E820 NVS: the guest may reclaim the tables' memory, never this page
/// ```
/// The blob's guest address and length are published in the guest's key store under
/// `hvmloader/dm-acpi/address` and `hvmloader/dm-acpi/length` (decimal), where a patched
/// hvmloader would read them.
public struct AcpiTablesArea: Equatable, Sendable {
    public static let addressKey = "hvmloader/dm-acpi/address"
    public static let lengthKey = "hvmloader/dm-acpi/length"

    /// The ACPI-tables region (the tables' room).
    public let region: GpaRange
    public let dsmPage: Gpa
    public var tablesBase: Gpa { region.first }
    /// Bytes the tables may take.
    public var room: Int { Int(region.size) }

    public init(physmap: GuestPhysmap) throws(GuestError) {
        guard let r = physmap.regions.first(where: { $0.kind == .acpiTables }), r.range.last.raw < 1 << 32 else {
            throw .guestMemory("the guest has no ACPI-tables region below 4 GiB")
        }
        guard let nvs = physmap.regions.first(where: { $0.kind == .acpiNVS }), nvs.range.size >= 4096,
              nvs.range.first.raw % 4096 == 0, nvs.range.last.raw < 1 << 32 else {
            throw .guestMemory("the guest has no page of ACPI NVS memory below 4 GiB for the DSM page")
        }
        region = r.range
        dsmPage = nvs.range.first
    }
}

/// The firmware tables as placed in guest memory.
public struct PublishedTables: Equatable, Sendable {
    public let nfit: [UInt8]
    public let ssdt: [UInt8]
    public let address: Gpa
    public var length: Int { nfit.count + ssdt.count }
    public var nfitAddress: Gpa { address }
    public var ssdtAddress: Gpa { Gpa(address.raw + UInt64(nfit.count)) }
}
