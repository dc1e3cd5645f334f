import GuestMemory

/// Where a guest's vNVDIMM firmware tables and its DSM page live: the `acpi_tables` region at
/// the end of low RAM (seed 002: "QEMU copies NFIT and SSDT to the end of guest memory below
/// 4G"), laid out as
/// ```
/// region.first              NFIT, then SSDT, back to back (the blob hvmloader appends)
/// ...                       free
/// region.last - 4095        the DSM page (4 KiB, page aligned, below 4 GiB as the AML needs)
/// ```
/// The blob's guest address and length are published in the guest's key store under
/// `hvmloader/dm-acpi/address` and `hvmloader/dm-acpi/length` (decimal), where a patched
/// hvmloader would read them.
public struct AcpiTablesArea: Equatable, Sendable {
    public static let addressKey = "hvmloader/dm-acpi/address"
    public static let lengthKey = "hvmloader/dm-acpi/length"

    public let region: GpaRange
    public var tablesBase: Gpa { region.first }
    public var dsmPage: Gpa { Gpa(region.last.raw - UInt64(4096) + 1) }
    /// Bytes the tables may take.
    public var room: Int { Int(region.size) - 4096 }

    public init(physmap: GuestPhysmap) throws(DomainError) {
        guard let r = physmap.regions.first(where: { $0.kind == .acpiTables }), r.range.size > 4096,
              r.range.last.raw < 1 << 32 else {
            throw .guestMemory("the guest has no ACPI-tables region below 4 GiB with room for the DSM page")
        }
        region = r.range
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
