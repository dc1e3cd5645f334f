import ArgumentParser
import DomainModel
import GuestConfigFile
import GuestMemory
import VpmemCore
import VpmemHost

struct GuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Guests of the host: admit, list and destroy them; their physmap, firmware memory map and safe range.",
        discussion: """
            GUEST is a guest of the host by name, or its config file. A config outside the host can be             inspected (show, keys, nvdimm list, labels, acpi dump, dsm reads) through a private, throw-away             host; changing it needs `vpmem guest create CONFIG` first.
            """,
        subcommands: [Create.self, List.self, Destroy.self, Balloon.self, GuestShowCommand.self, GuestKeysCommand.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Admit a guest to the host: a domid, its RAM from the host's frame table, its allowance, then its vNVDIMMs.",
            discussion: """
                RAM comes from the guest's static memory when host.toml has [[static_memory]] for its name                 (1:1 when the config says direct_map = true), else from the domain heap. Each vNVDIMM's                 backing must belong to no other guest. The config file stays where it is and remains the                 guest's source of truth; the host records its path. Each existing backing's label area \
                is checked as `nvdimm attach` checks it: warned about where a label area is found elsewhere \
                than the config puts it, refused without --force where the label area holds data.
                """)
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest config file.") var config: String
        @Flag(name: .customLong("create-backings"), help: "Create missing vNVDIMM backings as emulated pmem files.")
        var createBackings = false
        @Flag(help: "Admit the guest even if a vNVDIMM's label area holds data the guest's label writes would overwrite.")
        var force = false
        @OptionGroup var output: JSONFlag

        /// The host's entry for the guest, and each vNVDIMM's label-area check.
        struct Report: Encodable {
            struct Slot: Encodable {
                let slot: Int
                let backing: String
                let label_area: LabelAreaCheckReport?
            }
            let entry: HostReport.GuestEntry
            let labelAreas: [Slot]
            enum Keys: String, CodingKey { case label_areas }
            func encode(to encoder: any Encoder) throws {
                try entry.encode(to: encoder)
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(labelAreas, forKey: .label_areas)
            }
        }

        func run() async throws {
            let host = try hostOption.open(.change)
            let g = try host.createGuest(configPath: GuestTarget.absolute(config), createBackings: createBackings,
                                         labelAreas: force ? .warn : .refuseOverwrite)
            let checks = g.nvdimms.map { d in
                Report.Slot(slot: d.slot, backing: d.path,
                            label_area: d.labelAreaCheck.map { LabelAreaCheckReport($0, slot: d.slot, path: d.path, readOnly: d.config.readOnly, forced: force) })
            }
            let entry = HostReport(host).guests.first { $0.name == g.config.name }
            if output.json, let entry { print(try JSONOutput.encode(Report(entry: entry, labelAreas: checks))); return }
            print("guest '\(g.config.name)' admitted to \(host.location) as \(g.id): \(g.config.memory.humanReadable) RAM"
                + (entry.map { $0.static_memory ? ($0.direct_map ? " (static memory, 1:1)" : " (static memory)") : " (domain heap)" } ?? "")
                + ", \(g.nvdimms.count) vNVDIMM\(g.nvdimms.count == 1 ? "" : "s"), range allowance \(ByteSize(bytes: host.allowance(of: g.config.name)))")
            for d in g.nvdimms { print("  slot \(d.slot): \(d.path) -> host pmem \(d.hostFrames), gpa \(d.guestRange)") }
            for c in checks { if let m = c.label_area?.message { print("warning: \(m)") } }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The host's guests.")
        @OptionGroup var hostOption: HostOption
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let report = HostReport(try hostOption.open(.inspect))
            if output.json { print(try JSONOutput.encode(report.guests)); return }
            if report.guests.isEmpty { print("no guests on \(report.directory): admit one with `vpmem guest create CONFIG`"); return }
            let rows = report.guests.map { g -> [String] in
                let slots = g.nvdimms.map(String.init).joined(separator: ",")
                let note = g.error.map { " (\($0))" } ?? ""
                return [g.name, "\(g.domid)", ByteSize(bytes: g.ram_frames << 12).humanReadable, slots.isEmpty ? "-" : slots, g.config + note]
            }
            print(table(["NAME", "DOMID", "RAM", "VNVDIMMS", "CONFIG"], rows))
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy a guest: its RAM back to the host, its pmem unowned, its allowance back to the budget.",
            discussion: "The config file and the backings are kept, bytes untouched.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var guest: String
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let guest: String
            let host: String
            let destroyed: Bool
        }

        func run() async throws {
            let target = try GuestTarget.resolve(guest, host: hostOption, change: true)
            try target.host.destroyGuest(target.name)
            if output.json { print(try JSONOutput.encode(Report(guest: target.name, host: target.host.location, destroyed: true))); return }
            print("guest '\(target.name)' destroyed on \(target.host.location); its config and backings are kept")
        }
    }

    struct Balloon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The guest gives back (--out) or asks for (--in) one page, with seed 003's rules for static memory.",
            discussion: "A static-memory guest's pages go back to its reserved pool and come from it first; a direct-mapped guest only gets gfn == mfn; heap pages only with balloon_from_heap = true.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var guest: String
        @Option(help: "Guest frame to give back (hex with 0x, or decimal).") var out: String?
        @Option(name: .customLong("in"), help: "Guest frame to populate (hex with 0x, or decimal).") var into: String?
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let guest: String
            let direction: String
            let gfn: UInt64
            let mfn: UInt64?
        }

        func run() async throws {
            guard (out == nil) != (into == nil) else { throw UsageError(problem: out == nil ? "neither --out nor --in" : "both --out and --in", fix: "give --out GFN or --in GFN") }
            let text = out ?? into!
            let value: UInt64
            do { value = try Parsers.wholeNumber(text, in: 0...maxFrameNumber) } catch {
                throw UsageError(problem: "\(out != nil ? "--out" : "--in") \(Echo.quoted(text))", fix: "\(error)")
            }
            let target = try GuestTarget.resolve(guest, host: hostOption, change: true)
            let mfn = try target.host.balloon(target.name, out != nil ? HostState.Balloon.Direction.out : .in, gfn: Gfn(uncheckedRaw: value))
            if output.json { print(try JSONOutput.encode(Report(guest: target.name, direction: out != nil ? "out" : "in", gfn: value, mfn: mfn?.raw))); return }
            print("guest '\(target.name)': gfn 0x\(String(value, radix: 16)) \(out != nil ? "given back" : "populated")" + (mfn.map { " (mfn 0x\(String($0.raw, radix: 16)))" } ?? ""))
        }
    }
}

struct GuestShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a guest's physmap, E820 table, device-tree memory nodes and safe range.",
        discussion: "CONFIG is a guest config file (TOML, like an xl.cfg); see examples/*.toml.")

    @OptionGroup var hostOption: HostOption
    @Argument(help: "The guest's name, or a config file.")
    var config: String

    @Flag(help: "Print JSON with stable snake_case keys instead of tables.")
    var json = false

    func run() async throws {
        let target = try GuestTarget.resolve(config, host: hostOption, change: false)
        let guestConfig = try target.host.admittedGuest(target.name).config.get()
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
