import ArgumentParser
import DomainModel
import GuestConfigFile
import GuestMemory
import VpmemCore

struct GuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Modelled guests: their config, physmap, firmware memory map and safe range.",
        subcommands: [GuestShowCommand.self, GuestKeysCommand.self])
}

struct GuestShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a guest's physmap, E820 table, device-tree memory nodes and safe range.",
        discussion: "CONFIG is a guest config file (TOML, like an xl.cfg); see examples/*.toml.")

    @Argument(help: "The guest config file.")
    var config: String

    @Flag(help: "Print JSON with stable snake_case keys instead of tables.")
    var json = false

    func run() async throws {
        let guestConfig = try GuestConfigFile.load(from: config)
        let physmap = try Guest.plannedPhysmap(guestConfig)
        if json {
            print(try JSONOutput.encode(PhysmapReport(physmap)))
        } else {
            print(PhysmapText.render(physmap, source: config), terminator: "")
        }
    }
}

/// The human form of `guest show`: tables in the spirit of `xl info` and QEMU's `info mtree`.
enum PhysmapText {
    static func render(_ physmap: GuestPhysmap, source: String) -> String {
        let c = physmap.config
        var out = "guest '\(c.name)' (\(source)): \(c.memory.humanReadable) RAM, \(c.vcpus) vCPU\(c.vcpus == 1 ? "" : "s"), "
        out += "MMIO hole \(c.mmioHole.humanReadable) from \(addr(physmap.holeStart.raw))\n\n"

        out += "Physmap\n"
        var rows: [[String]] = [["start", "last", "size", "kind", "name"]]
        var entries = physmap.regions.map { ($0.range, $0.kind.rawValue, $0.name) }
        if let aperture = physmap.pmemAperture {
            let used = physmap.pmemRegions.reduce(0) { $0 + $1.range.size }
            entries.append((aperture, "pmem_aperture", "\(size(aperture.size - used)) free"))
        }
        entries.append((physmap.safeRange.range, "safe_range", "grant/foreign mappings"))
        // Sort by start; the aperture sorts before the pmem regions it contains.
        entries.sort { ($0.0.first, $0.1 == "pmem_aperture" ? 0 : 1) < ($1.0.first, $1.1 == "pmem_aperture" ? 0 : 1) }
        for (range, kind, name) in entries {
            let indent = kind == "pmem" ? "  " : ""
            rows.append([addr(range.first.raw), addr(range.last.raw), size(range.size), indent + kind, name])
        }
        out += table(rows)

        out += "\nE820 (x86 firmware memory map)\n"
        rows = [["start", "last", "size", "type"]]
        for entry in E820Table(physmap: physmap).entries {
            rows.append([addr(entry.range.first.raw), addr(entry.range.last.raw), size(entry.range.size),
                         "\(entry.type.rawValue) \(entry.type)"])
        }
        out += table(rows)

        let safe = physmap.safeRange
        out += "\nSafe range (fixed at build, constant for the guest's life)\n"
        out += "  \(addr(safe.range.first.raw)) - \(addr(safe.range.last.raw))  \(size(safe.range.size))\n"
        out += "  1G-aligned above the highest used address; E820 type 2, DT compatible \"\(DeviceTreeFragment.safeRangeCompatible)\"\n"
        out += "  needs \(safe.requiredBytes) bytes (\(ByteSize(bytes: safe.requiredBytes).humanReadable)): "
        out += "\(safe.maxMaptrackFrames) maptrack frames x \(SafeRange.mappingsPerMaptrackFrame) grant mappings "
        out += "+ \(safe.fixedFrames) fixed frames (shared info, vCPU info), one 4K frame each\n"

        out += "\nDevice tree (Arm firmware memory map)\n"
        out += DeviceTreeFragment(physmap: physmap).description
        return out
    }

    static func addr(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 13 - digits.count)) + digits
    }

    /// Exact sizes (`3839M`, `1025G`), as xl and QEMU print them.
    static func size(_ bytes: UInt64) -> String { ByteSize(bytes: bytes).description }

    /// Left-aligned columns separated by two spaces, indented by two.
    static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.map(\.count).max() ?? 0)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var line = "  "
            for (i, cell) in row.enumerated() {
                line += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
            }
            return line
        }.joined(separator: "\n") + "\n"
    }
}
