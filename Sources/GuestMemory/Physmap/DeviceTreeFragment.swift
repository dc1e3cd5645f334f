/// The guest physmap as a device-tree source (DTS) fragment: what a device-tree guest (Xen on
/// Arm) is told about its memory. The addresses are those of the same layout the E820 describes;
/// vpmem does not model Xen's separate Arm guest layout (GUEST_RAM0_BASE and friends).
///
/// - `/memory@...`: the RAM banks (ACPI-tables area excluded: a DT guest has no ACPI) and the
///   safe range. The safe range is listed as memory so that Linux gives it `struct page`s, as
///   grant mappings need (seed 000, Stefano Stabellini's proposal), and ...
/// - `/reserved-memory/xen-safe-range@...` with compatible `"xen,safe-range"` (modelled on the
///   `xen,shared-memory` binding; a new binding so it is not mistaken for shared memory) keeps
///   the kernel's allocator off it. No `no-map`: the range must keep its struct pages.
/// - `/pmem@...` with compatible `"pmem-region"` (Linux's binding for pmem described by the DT,
///   the counterpart of an NFIT SPA range) for each pmem region; never in `/memory`.
///
/// Cells are 2 address + 2 size (64-bit), the usual for 64-bit guests. The text compiles
/// with `dtc -I dts -O dtb`.
public struct DeviceTreeFragment: Equatable, Sendable, CustomStringConvertible {
    /// The compatible string of the safe-range reserved-memory node.
    public static let safeRangeCompatible = "xen,safe-range"
    public static let pmemCompatible = "pmem-region"

    /// RAM banks then the safe range, in the order of the `/memory` node's `reg`.
    public let memoryBanks: [GpaRange]
    public let safeRange: GpaRange
    public let pmemRegions: [GpaRange]

    public init(physmap: GuestPhysmap) {
        var banks: [GpaRange] = []
        for region in physmap.regions where region.kind == .ram {
            // Adjacent RAM regions become one bank.
            if let last = banks.last, let end = last.end, end == region.range.first,
               let merged = try? GpaRange(first: last.first, last: region.range.last) {
                banks[banks.count - 1] = merged
            } else {
                banks.append(region.range)
            }
        }
        banks.append(physmap.safeRange.range)
        self.memoryBanks = banks
        self.safeRange = physmap.safeRange.range
        self.pmemRegions = physmap.pmemRegions.map(\.range)
    }

    /// The DTS text.
    public var description: String {
        var out = "/dts-v1/;\n\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n\n"
        let firstBank = memoryBanks.first?.first.raw ?? 0
        out += "\tmemory@\(unitAddress(firstBank)) {\n\t\tdevice_type = \"memory\";\n"
        out += "\t\treg = " + memoryBanks.map(cells).joined(separator: ",\n\t\t      ") + ";\n\t};\n\n"
        out += "\treserved-memory {\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n\t\tranges;\n\n"
        out += "\t\txen-safe-range@\(unitAddress(safeRange.first.raw)) {\n"
        out += "\t\t\tcompatible = \"\(DeviceTreeFragment.safeRangeCompatible)\";\n"
        out += "\t\t\treg = \(cells(safeRange));\n\t\t};\n\t};\n"
        for pmem in pmemRegions {
            out += "\n\tpmem@\(unitAddress(pmem.first.raw)) {\n"
            out += "\t\tcompatible = \"\(DeviceTreeFragment.pmemCompatible)\";\n"
            out += "\t\treg = \(cells(pmem));\n\t};\n"
        }
        return out + "};\n"
    }

    private func unitAddress(_ value: UInt64) -> String { String(value, radix: 16) }

    /// `<hi lo hi lo>` for a 2+2-cell reg entry.
    private func cells(_ range: GpaRange) -> String {
        func pair(_ v: UInt64) -> String { "\(hex(v >> 32)) \(hex(v & 0xffff_ffff))" }
        return "<\(pair(range.first.raw)) \(pair(range.size))>"
    }
}
