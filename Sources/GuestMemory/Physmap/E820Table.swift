import VpmemCore

/// E820 address-range types the guest's firmware reports (ACPI "Address Range Types").
public enum E820Type: UInt32, Sendable, Codable, CustomStringConvertible {
    case ram = 1
    case reserved = 2
    case acpi = 3
    case nvs = 4

    public var description: String {
        switch self {
        case .ram: return "ram"
        case .reserved: return "reserved"
        case .acpi: return "acpi"
        case .nvs: return "nvs"
        }
    }
}

/// One entry: `size` bytes of `type` from `start`.
public struct E820Entry: Hashable, Sendable, CustomStringConvertible {
    public let range: GpaRange
    public let type: E820Type
    public init(range: GpaRange, type: E820Type) {
        self.range = range
        self.type = type
    }
    public var description: String { "\(range) \(type)" }
}

/// The x86 firmware memory map of a guest physmap, as hvmloader/SeaBIOS would hand it over.
///
/// - First MiB: RAM below the EBDA (0 to 0x9FC00), the EBDA reserved (0x9FC00 to 0xA0000), the
///   VGA window and option ROMs left out (0xA0000 to 0xF0000, as on a PC), the BIOS reserved
///   (0xF0000 to 1 MiB).
/// - RAM regions are type 1, the ACPI-tables area type 3, the NVS page after it (the DSM page)
///   type 4, hvmloader's reserved area below 4 GiB type 2.
/// - The safe range is a reserved entry (type 2): the guest must not allocate from it.
/// - pmem regions are never listed: the NFIT describes them (legacy type 7/12 entries are a
///   different, NFIT-less mechanism). MMIO apertures and the grant-table BAR are not listed
///   either, as on real hardware.
/// Entries are sorted by start and disjoint.
public struct E820Table: Equatable, Sendable {
    public let entries: [E820Entry]

    public static let ebdaStart: UInt64 = 0x9_FC00
    public static let vgaStart: UInt64 = 0xA_0000
    public static let biosStart: UInt64 = 0xF_0000
    public static let oneMiB: UInt64 = 0x10_0000

    public init(physmap: GuestPhysmap) {
        var entries: [E820Entry] = []
        func add(_ first: UInt64, _ last: UInt64, _ type: E820Type) {
            // Bounds come from a valid physmap, so first <= last always holds.
            if let range = try? GpaRange(first: Gpa(first), last: Gpa(last)) {
                entries.append(E820Entry(range: range, type: type))
            }
        }
        for region in physmap.regions {
            let r = region.range
            switch region.kind {
            case .ram where r.first.raw < E820Table.oneMiB:
                // The low bank starts at 0: split out the PC conventions of the first MiB.
                add(r.first.raw, min(r.last.raw, E820Table.ebdaStart - 1), .ram)
                add(E820Table.ebdaStart, E820Table.vgaStart - 1, .reserved)
                add(E820Table.biosStart, E820Table.oneMiB - 1, .reserved)
                if r.last.raw >= E820Table.oneMiB { add(E820Table.oneMiB, r.last.raw, .ram) }
            case .ram:
                add(r.first.raw, r.last.raw, .ram)
            case .acpiTables:
                add(r.first.raw, r.last.raw, .acpi)
            case .acpiNVS:
                add(r.first.raw, r.last.raw, .nvs)
            case .firmwareReserved:
                add(r.first.raw, r.last.raw, .reserved)
            case .grantTable, .pciMmio32, .pciMmio64, .pmem, .mmio:
                continue
            }
        }
        entries.append(E820Entry(range: physmap.safeRange.range, type: .reserved))
        self.entries = entries.sorted { $0.range.first < $1.range.first }
    }

    /// Bytes of usable RAM the map reports.
    public var ramBytes: UInt64 { entries.filter { $0.type == .ram }.reduce(0) { $0 + $1.range.size } }
}
