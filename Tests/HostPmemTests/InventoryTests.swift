import Foundation
import Testing
@testable import HostPmem
import VpmemCore

@Suite struct InventoryTests {
    /// `ndctl list` is the oracle: libndctl through vpmem must see what ndctl sees.
    @Test func inventoryAgreesWithNdctlAndIsWellFormedJSON() throws {
        let inventory = try NdctlDiscovery.inventory()
        let ndctl = try runNdctlList()
        #expect(inventory.buses.count == ndctl.buses)
        #expect(inventory.namespaces.count == ndctl.namespaces)

        let json = try JSONOutput.encode(inventory)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(parsed?["buses"] is [Any])
        if ndctl.buses == 0 {
            // A host without NVDIMMs: an empty inventory, not an error.
            #expect(inventory.buses.isEmpty)
            #expect(json.contains("\"buses\" : [\n\n  ]") || json.contains("\"buses\" : []"))
        }
    }

    @Test func jsonFieldNamesFollowNdctlList() throws {
        let ns = PmemInventory.Namespace(
            dev: "namespace0.0", mode: .devdax, size: 1 << 34, align: 2 << 20, numaNode: 1,
            uuid: "5e1c0d1e-0000-4000-8000-000000000001", blockdev: nil, chardev: "dax0.0")
        let region = PmemInventory.Region(dev: "region0", size: 1 << 35, align: 16 << 20, availableSize: 1 << 34, type: "pmem", numaNode: 1, namespaces: [ns])
        let dimm = PmemInventory.Dimm(dev: "nmem0", id: "8089-a2-1740-00000001", handle: 0x1, physId: 0x20)
        let inv = PmemInventory(buses: [.init(provider: "ACPI.NFIT", dev: "ndbus0", dimms: [dimm], regions: [region])])
        let json = try JSONOutput.encode(inv)
        for key in ["\"provider\"", "\"dev\"", "\"available_size\"", "\"numa_node\"", "\"phys_id\"", "\"chardev\"", "\"mode\" : \"devdax\"", "\"align\""] {
            #expect(json.contains(key), "missing \(key)")
        }
        #expect(!json.contains("blockdev"), "absent values are omitted, as ndctl does")
        #expect(try JSONDecoder().decode(PmemInventory.self, from: Data(json.utf8)) == inv)
        #expect(ns.devicePath == "/dev/dax0.0")
    }

    /// Counts buses and namespaces in `ndctl list -BN` output (no output at all: none).
    func runNdctlList() throws -> (buses: Int, namespaces: Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ndctl")
        p.arguments = ["list", "-B", "-N", "-i"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return (0, 0) }
        let obj = try JSONSerialization.jsonObject(with: data)
        let buses: [[String: Any]] = (obj as? [[String: Any]]) ?? [(obj as? [String: Any]) ?? [:]]
        let namespaces = buses.reduce(0) { n, b in n + ((b["namespaces"] as? [Any])?.count ?? 0) }
        return (buses.count, namespaces)
    }
}
