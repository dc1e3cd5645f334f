import Foundation
import VpmemTestSupport
import Testing
import GuestConfigFile
import GuestMemory
import VpmemCore

/// `[[nvdimm]]` tables, `nvdimm_persistence` and the ACPI OEM keys: read strictly, validated with
/// errors naming the slot and the key, and written back so that parse(render(c)) == c.
@Suite struct NVDIMMConfigFileTests {
    let path = "/etc/vpmem/g.toml"
    let head = "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"64G\"\n"

    func parse(_ text: String) throws -> GuestConfig { try GuestConfigFile.parse(head + text, path: path) }
    func error(_ text: String) -> GuestConfigFileError? {
        do { _ = try parse(text); return nil } catch { return error as? GuestConfigFileError }
    }

    @Test func everyNVDIMMKeyIsRead() throws {
        let c = try parse("""
            nvdimm_persistence = "memory-controller"
            acpi_oem_id = "XENVM"
            acpi_oem_table_id = "NVDIMMS"
            acpi_oem_revision = 7
            acpi_creator_id = "XEN"
            acpi_creator_revision = 4294967295

            [[nvdimm]]
            slot = 3
            backing = "/dev/dax0.0"
            size = "8G"
            label_size = "256K"
            node = 1
            readonly = true
            unarmed = true

            [[nvdimm]]
            slot = 0
            backing = "g-0.pmem"
            size = 4194304
            """)
        #expect(c.nvdimmPersistence == .memoryController)
        #expect(c.acpiOem == AcpiOemConfig(oemID: "XENVM", oemTableID: "NVDIMMS", oemRevision: 7, creatorID: "XEN", creatorRevision: .max))
        #expect(c.nvdimms == [
            NVDIMMConfig(slot: 0, backing: "g-0.pmem", size: bytes(4 * MiB)),
            NVDIMMConfig(slot: 3, backing: "/dev/dax0.0", size: bytes(8 * GiB), labelSize: bytes(256 * KiB), node: 1, readOnly: true, unarmed: true),
        ], "sorted by slot; label size defaults to 128K")
        #expect(c.nvdimm(slot: 3)?.backingSize == 8 * GiB + 256 * KiB)
        #expect(c.nvdimm(slot: 3)?.labelOffset == 8 * GiB)
    }

    @Test func unknownAndMistypedKeysNameTheTableAndKey() {
        let base = "[[nvdimm]]\nslot = 0\nbacking = \"a\"\nsize = \"2M\"\n"
        #expect(error(base + "lable_size = \"128K\"\n") == .unknownNVDIMMKey(path: path, index: 0, key: "lable_size", suggestion: "label_size"))
        #expect(error(base + base.replacingOccurrences(of: "slot = 0", with: "slot = 1") + "numa = 1\n")
                == .unknownNVDIMMKey(path: path, index: 1, key: "numa", suggestion: nil))
        #expect(error(base + "readonly = 1\n") == .wrongType(path: path, key: "nvdimm[0].readonly", expected: "true or false", found: "int"))
        #expect(error("[[nvdimm]]\nbacking = \"a\"\nsize = \"2M\"\n") == .missingKey(path: path, key: "nvdimm[0].slot"))
        #expect(error("[[nvdimm]]\nslot = 0\nsize = \"2M\"\n") == .missingKey(path: path, key: "nvdimm[0].backing"))
        #expect(error("[[nvdimm]]\nslot = 0\nbacking = \"a\"\n") == .missingKey(path: path, key: "nvdimm[0].size"))
        #expect(error("nvdimm = 3\n") == .wrongType(path: path, key: "nvdimm", expected: "an array of tables ([[nvdimm]])", found: "int"))
        #expect(error(base + "node = -1\n") == .outOfRange(path: path, key: "nvdimm[0].node", value: -1, rule: "a NUMA node number, 0 or more"))
        #expect(error("acpi_oem_revision = 4294967296\n") == .outOfRange(path: path, key: "acpi_oem_revision", value: 1 << 32, rule: "0 to 4294967295 (a 32-bit header field)"))
        #expect(error("nvdimm_persistence = \"adr\"\n")?.description.contains("\"cpu\" or \"memory-controller\"") == true)
    }

    @Test func sizeAndLabelRulesAreCheckedWithTheSlotNamed() {
        func invalid(_ body: String) -> GuestConfigError? {
            guard case let .invalid(_, e, _)? = error(body) else { return nil }
            return e
        }
        let t = { (size: String, label: String) in "[[nvdimm]]\nslot = 2\nbacking = \"a\"\nsize = \"\(size)\"\nlabel_size = \"\(label)\"\n" }
        #expect(invalid(t("3M", "128K"))?.description.contains("nvdimm slot 2 size = 3M") == true, "data part not a 2M multiple")
        #expect(invalid(t("0", "128K"))?.description.contains("at least 2M") == true)
        #expect(invalid(t("2M", "64K"))?.description.contains("at least 128K") == true, "QEMU's minimum label area")
        #expect(invalid(t("2M", "130K")) != nil, "label area not a 4K multiple")
        #expect(invalid(t("2M", "4G")) != nil, "label area size is a 32-bit _DSM field")
        #expect(invalid(t("2M", "0")) == nil, "0: no label area")
        #expect(invalid(t("16E", "128K")) != nil || error(t("16E", "128K")) != nil, "sizes past 64 bits never wrap")
        let twoSlots = t("2M", "128K") + t("4M", "128K").replacingOccurrences(of: "\"a\"", with: "\"b\"")
        #expect(invalid(twoSlots)?.description.contains("a slot no other vNVDIMM") == true)
        let twoBackings = t("2M", "128K") + t("4M", "128K").replacingOccurrences(of: "slot = 2", with: "slot = 3")
        #expect(invalid(twoBackings)?.description.contains("a backing no other vNVDIMM") == true)
        #expect(invalid("[[nvdimm]]\nslot = 256\nbacking = \"a\"\nsize = \"2M\"\n")?.description.contains("0 to 255") == true)
        #expect(invalid("[[nvdimm]]\nslot = 0\nbacking = \"a\"\nsize = \"2M\"\nnode = 64\n")?.description.contains("MAX_NUMNODES") == true)
        #expect(invalid("acpi_oem_id = \"TOOLONG\"\n")?.description.contains("acpi_oem_id") == true, "never cut to 6 bytes")
        #expect(invalid("acpi_creator_id = \"\"\n") != nil)
        // vNVDIMMs need a pmem aperture.
        let noAperture = "name = \"g\"\nmemory = \"2G\"\n[[nvdimm]]\nslot = 0\nbacking = \"a\"\nsize = \"2M\"\n"
        #expect {
            try GuestConfigFile.parse(noAperture, path: path)
        } throws: { e in
            guard case let GuestConfigFileError.invalid(_, inner, _) = e else { return false }
            return inner.description.contains("pmem_aperture")
        }
    }

    static let configs = Gen.int(in: 0...Int.max).map { seed -> GuestConfig in
        var r = UInt64(seed)
        func next(_ n: UInt64) -> UInt64 { defer { r /= n }; return r % n }
        var slots = Set<Int>()
        var nvdimms: [NVDIMMConfig] = []
        for i in 0..<Int(next(5)) {
            let slot = Int(next(256))
            guard slots.insert(slot).inserted else { continue }
            nvdimms.append(NVDIMMConfig(
                slot: slot, backing: i % 2 == 0 ? "/pmem/g-\(slot).pmem" : "rel \"quoted\" \(slot).pmem",
                size: bytes((next(4096) + 1) * 2 * MiB), labelSize: next(3) == 0 ? bytes(0) : bytes((next(64) + 32) * 4 * KiB),
                node: UInt32(next(64)), readOnly: next(2) == 0, unarmed: next(2) == 0,
                address: next(3) == 0 ? Gpa((64 + 16 * UInt64(slot)) * GiB) : nil))
        }
        let persistence: [NVDIMMPersistence?] = [nil, .cpu, .memoryController]
        return GuestConfig(
            name: "g", memory: bytes(2 * GiB), pmemAperture: bytes((next(64) + 1) * GiB), nvdimms: nvdimms,
            nvdimmPersistence: persistence[Int(next(3))],
            acpiOem: next(2) == 0 ? AcpiOemConfig() : AcpiOemConfig(oemID: "A\"B", oemTableID: "T", oemRevision: UInt32(next(1 << 32)),
                                                                   creatorID: "C", creatorRevision: 9))
    }

    @Test func addressPinsTheGuestAddressInEitherForm() throws {
        let table = "[[nvdimm]]\nslot = 0\nbacking = \"a.pmem\"\nsize = \"1G\"\n"
        #expect(try parse(table + "address = 0x1000000000\n").nvdimms.first?.address == Gpa(64 * GiB))
        #expect(try parse(table + "address = \"65G\"\n").nvdimms.first?.address == Gpa(65 * GiB))
        #expect(try parse(table).nvdimms.first?.address == nil)
        let rendered = GuestConfigFile.render(try parse(table + "address = \"65G\"\n"))
        #expect(rendered.contains("address = 0x1040000000\n"))
        #expect(!GuestConfigFile.render(try parse(table)).contains("address"), "an unpinned vNVDIMM renders no address")
        for (bad, words) in [("address = 0x1000200000", "a multiple of 1G"), ("address = -1", "0 or more"),
                             ("address = true", "an integer address"), ("address = \"64Q\"", "address")] {
            let e = error(table + bad + "\n")
            #expect(e != nil && "\(e!)".contains(words), "\(bad): \(String(describing: e))")
        }
    }

    @Test func renderThenParseGivesTheSameConfig() async {
        await checkProperty(count: 200, input: Self.configs) { config in
            #expect(throws: Never.self) { try config.validate() }
            #expect((try? GuestConfigFile.parse(GuestConfigFile.render(config), path: "mem")) == config)
        }
    }
}
