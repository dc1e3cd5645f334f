import ArgumentParser
import Foundation
import GuestMemory
import HostPmem
import VpmemCore
import VpmemHost

struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "The host: its RAM, its pmem and the guests it runs; and its NVDIMMs through libndctl.",
        discussion: """
            A host is a directory (--host DIR, else $VPMEM_HOST, else $XDG_STATE_HOME/vpmem/host) holding \
            host.toml (the machine: RAM, reserved regions, the live-update region, pmem, static memory, the \
            steering budget) and state.json (the guests vpmem admitted). Every change takes the host's lock, \
            so concurrent commands serialise.
            """,
        subcommands: [Init.self, Show.self, AddPmem.self, List.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a host: host.toml with its RAM, its pmem and a live-update region.",
            discussion: """
                Each --pmem PATH takes the --size at the same position: an emulated pmem file, created \
                sparse through libpmem when missing (an existing file keeps its size and bytes). \
                --namespace UUID adds a real namespace found through libndctl, at its SPA.
                """)
        @OptionGroup var hostOption: HostOption
        @Option(help: "ModelledHost RAM, one bank from address 0.", transform: parseSize) var ram = ByteSize(bytes: 64 << 30)
        @Option(help: "An emulated pmem file for the host (repeatable).") var pmem: [String] = []
        @Option(help: "Size of the --pmem at the same position (repeatable).", transform: parseSize) var size: [ByteSize] = []
        @Option(help: "A real pmem namespace by uuid (repeatable).") var namespace: [String] = []
        @Option(name: .customLong("steering-budget"), help: "Range memory for all guests together.", transform: parseSize)
        var steeringBudget: ByteSize?
        @Option(name: .customLong("guest-allowance"), help: "Each guest's range-memory allowance.", transform: parseSize)
        var guestAllowance: ByteSize?
        @OptionGroup var output: JSONFlag

        func validate() throws {
            guard pmem.count == size.count else {
                throw UsageError(problem: "\(pmem.count) --pmem but \(size.count) --size", fix: "give one --size for each --pmem")
            }
        }

        func run() async throws {
            let directory = hostOption.directory
            guard !HostStore.exists(directory) else { throw HostError.hostExists(directory: directory) }
            var config = try HostSetup.config(ram: ram.bytes, steeringBudget: steeringBudget?.bytes, guestAllowance: guestAllowance?.bytes)
            for (p, s) in zip(pmem, size) {
                let path = GuestTarget.absolute(p)
                let m = try PmemMapping.create(path: path, size: s.bytes)
                guard let spa = config.nextPmemSPA(size: m.length) else { throw HostError.pmemFull(bytes: m.length) }
                config.pmem.append(.init(path: path, size: m.length, spa: spa))
            }
            for ns in namespace { config.pmem.append(try HostSetup.namespaceEntry(ns, config: config)) }
            _ = try HostStore.create(directory: directory, config: config)
            let host = try hostOption.open(.inspect)
            let report = HostReport(host)
            if output.json { print(try JSONOutput.encode(report)); return }
            print("created host \(directory)")
            print(Show.render(report))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The host's memory map, its pmem, its guests, and who owns what.")
        @OptionGroup var hostOption: HostOption
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let report = HostReport(try hostOption.open(.inspect))
            if output.json { print(try JSONOutput.encode(report)); return }
            print(Self.render(report))
        }

        static func render(_ r: HostReport) -> String {
            var out = "host \(r.directory): \(ByteSize(bytes: r.ram_bytes).humanReadable) RAM, "
            out += "\(r.pmem.count) pmem backing\(r.pmem.count == 1 ? "" : "s") (\(ByteSize(bytes: r.pmem.reduce(0) { $0 + $1.size }).humanReadable)), "
            out += "\(r.guests.count) guest\(r.guests.count == 1 ? "" : "s"); steering budget \(ByteSize(bytes: r.steering_budget)), "
            out += "\(ByteSize(bytes: r.steering_reserved)) reserved\n\nMemory map (host-physical)\n"
            out += table(["START", "LAST", "SIZE", "WHAT", "OWNER"], r.memory_map.map {
                [addr($0.start), addr($0.last), ByteSize(bytes: $0.last - $0.start + 1).description, $0.kind, $0.owner ?? "-"]
            })
            out += "\n\nGuests\n"
            out += r.guests.isEmpty ? "  none: admit one with `vpmem guest create CONFIG`" : table(
                ["NAME", "DOMID", "RAM", "MEMORY", "VNVDIMMS", "ALLOWANCE", "CONFIG"],
                r.guests.map { g in
                    [g.name, "\(g.domid)", ByteSize(bytes: g.ram_frames << 12).humanReadable,
                     g.direct_map ? "static, 1:1" : g.static_memory ? "static" : "heap",
                     "\(g.nvdimms.count)", ByteSize(bytes: g.allowance).description, g.config + (g.error.map { " (\($0))" } ?? "")]
                })
            out += "\n\nPmem\n"
            out += r.pmem.isEmpty ? "  none: add some with `vpmem host add-pmem PATH --size SIZE`" : table(
                ["SPA", "SIZE", "BACKING", "OWNER"],
                r.pmem.map { p in
                    [addr(p.spa), ByteSize(bytes: p.size).description, (p.path ?? "namespace \(p.namespace ?? "?")") + (p.exists ? "" : " (missing)"),
                     p.owner.map { "\($0.guest) slot \($0.slot)" } ?? "free"]
                })
            return out
        }
    }

    struct AddPmem: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-pmem",
            abstract: "Add pmem to the host: an emulated pmem file (created sparse with --size when missing) or a real namespace.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "An emulated pmem file, a file on an fsdax mount, or a devdax device.") var path: String?
        @Option(help: "Size of a new emulated file.", transform: parseSize) var size: ByteSize?
        @Option(help: "A real namespace by uuid, instead of PATH.") var namespace: String?
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let path: String?
            let namespace: String?
            let size: UInt64
            let spa: UInt64
            let config: String
        }

        func run() async throws {
            guard (path == nil) != (namespace == nil) else { throw UsageError(problem: path == nil ? "neither PATH nor --namespace" : "both PATH and --namespace", fix: "give PATH or --namespace UUID") }
            let store = try HostStore(directory: hostOption.directory, access: .change)
            let config = try store.loadConfig()
            let entry: HostConfig.Pmem
            if let path {
                let abs = GuestTarget.absolute(path)
                let m: PmemMapping
                if FileManager.default.fileExists(atPath: abs) {
                    m = try PmemMapping.open(path: abs, expectedSize: size?.bytes, access: .readOnly)
                } else {
                    guard let size else { throw RequestFailure(problem: "\(abs) does not exist", fix: "give --size to create it") }
                    m = try PmemMapping.create(path: abs, size: size.bytes)
                }
                if let id = BackingIdentity.of(path: abs),
                   let i = config.pmem.firstIndex(where: {
                       $0.path.flatMap { BackingIdentity.of(path: $0.hasPrefix("/") ? $0 : store.directory + "/" + $0) } == id
                   }) {
                    throw RequestFailure(problem: "\(abs) is host pmem already (pmem[\(i)] in \(store.configPath))", fix: "attach it to a guest (vpmem nvdimm attach), or add another backing")
                }
                guard let spa = config.nextPmemSPA(size: m.length) else { throw HostError.pmemFull(bytes: m.length) }
                entry = .init(path: abs, size: m.length, spa: spa)
            } else {
                entry = try HostSetup.namespaceEntry(namespace!, config: config)
            }
            try store.appendPmem(entry)
            if output.json {
                print(try JSONOutput.encode(Report(path: entry.path, namespace: entry.namespace, size: entry.size, spa: entry.spa, config: store.configPath)))
                return
            }
            print("host pmem: \(entry.path ?? "namespace " + (entry.namespace ?? "")) \(ByteSize(bytes: entry.size)) at SPA \(addr(entry.spa)), added to \(store.configPath)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List NVDIMM buses, DIMMs, regions and namespaces (through libndctl).",
            discussion: "JSON field names follow `ndctl list`. A host without NVDIMMs has an empty list.")
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let inventory = try NdctlDiscovery.inventory()
            if output.json { print(try JSONOutput.encode(inventory)); return }
            print(render(inventory))
        }
    }

    static func render(_ inventory: PmemInventory) -> String {
        if inventory.buses.isEmpty {
            return """
                No NVDIMMs on this host (libndctl found no nvdimm bus).
                Emulated pmem works the same way: vpmem pmem create /tmp/guest.pmem --size 4G
                """
        }
        var out: [String] = []
        for bus in inventory.buses {
            out.append("\(bus.dev) (\(bus.provider)): \(bus.dimms.count) DIMMs, \(bus.regions.count) regions")
            let rows = bus.regions.flatMap { r in
                r.namespaces.map { ns in
                    [ns.dev, r.dev, ns.mode.rawValue, ByteSize(bytes: ns.size).humanReadable,
                     ns.align.map { ByteSize(bytes: $0).description } ?? "-",
                     ns.numaNode.map(String.init) ?? "-", ns.devicePath ?? "-", ns.uuid ?? "-"]
                }
            }
            out.append(rows.isEmpty ? "  no namespaces" : table(["NAMESPACE", "REGION", "MODE", "SIZE", "ALIGN", "NODE", "DEVICE", "UUID"], rows))
        }
        return out.joined(separator: "\n")
    }
}
