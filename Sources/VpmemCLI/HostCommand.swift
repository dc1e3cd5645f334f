import ArgumentParser
import HostPmem
import VpmemCore

struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host", abstract: "The host's persistent memory.", subcommands: [List.self])

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
