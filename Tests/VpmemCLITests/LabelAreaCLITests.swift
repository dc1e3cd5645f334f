import Foundation
import Testing

/// Issue 16 item 6, the label-area half: a backing reused without its label area, with another
/// label size, or given a label area over its data, as `pmem info`, `nvdimm attach`,
/// `guest create` and `bench pmem` see it: what they print, their JSON, their exit status, and
/// that a refusal leaves every byte where it was.
@Suite struct LabelAreaCLITests {
    /// A host with guest `g` (no vNVDIMMs) and `labelled(...)` to make a backing whose label
    /// area a guest initialised.
    final class Fixture {
        let host: TempHostDir
        let config: String
        init() throws {
            host = try TempHostDir()
            config = host.file("g.toml")
            try "name = \"g\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let r = try host.run(["guest", "create", config])
            #expect(r.status == 0, "\(r.stderr)")
        }
        func file(_ name: String) -> String { host.file(name) }
        func run(_ args: [String]) throws -> VpmemProcess.Result { try host.run(args) }

        /// A backing of size + label bytes whose label area guest g initialised (v1.2), detached again.
        func labelled(_ name: String, size: String, label: String) throws -> String {
            let path = file(name)
            for args in [["nvdimm", "attach", "g", "--backing", path, "--size", size, "--label-size", label, "--create", "--slot", "7"],
                         ["nvdimm", "init-labels", "g", "--slot", "7", "-V", "1.2"], ["nvdimm", "detach", "g", "--slot", "7"]] {
                let r = try run(args)
                #expect(r.status == 0, "\(args): \(r.stderr)")
            }
            return path
        }

        /// A file of `bytes` bytes of non-zero data: a guest's data with no label area.
        func data(_ name: String, bytes: Int) throws -> String {
            let path = file(name)
            try Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 1) | 1 }).write(to: URL(fileURLWithPath: path))
            return path
        }

        func configText() throws -> String { try String(contentsOfFile: config, encoding: .utf8) }
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    static func oneErrorLine(_ r: VpmemProcess.Result, _ what: String) {
        #expect(r.stderr.hasPrefix("vpmem: ") && r.stderr.split(separator: "\n").count == 1, "\(what): \(r.stderr)")
    }

    // MARK: pmem info

    @Test func pmemInfoSaysWhereTheLabelAreaIsAndWhatToGiveTheGuest() throws {
        let f = try Fixture()
        let fresh = f.file("fresh.pmem")
        #expect(try f.run(["pmem", "create", fresh, "--size", "4M"]).status == 0)
        let none = try json(f.run(["pmem", "info", fresh, "--json"]).stdout)
        let noneArea = try #require(none["label_area"] as? [String: Any])
        #expect(noneArea["label_area_found"] as? Bool == false && noneArea["verdict"] as? String == "none-found")
        #expect(none["durability"] != nil, "pmem info's own fields are all still there")
        #expect(try f.run(["pmem", "info", fresh]).stdout.contains("label area: no namespace label area found"))

        let path = try f.labelled("l.pmem", size: "4M", label: "128K")
        let info = try json(f.run(["pmem", "info", path, "--json"]).stdout)
        let area = try #require(info["label_area"] as? [String: Any])
        #expect(area["label_area_found"] as? Bool == true && area["verdict"] as? String == "found")
        let first = try #require((area["areas"] as? [[String: Any]])?.first)
        #expect(first["offset"] as? Int == 4 << 20 && first["size"] as? Int == 128 << 10 && first["version"] as? String == "1.2")
        let text = try f.run(["pmem", "info", path]).stdout
        #expect(text.contains("label area: holds a namespace label area of 128K (v1.2, 510 slots, 0 in use) at offset 0x400000: "
                              + "give the guest size 4M (the backing less the label area) and label-size 128K"), "\(text)")
    }

    // MARK: nvdimm attach: the clean cases

    @Test func aFreshOrMatchingLabelAreaAttachesWithoutAWord() throws {
        let f = try Fixture()
        let created = try f.run(["nvdimm", "attach", "g", "--backing", f.file("n.pmem"), "--size", "2M", "--create", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect((try json(created.stdout)["label_area"] as? [String: Any])?["verdict"] as? String == "fresh")
        #expect(try f.run(["nvdimm", "detach", "g", "--slot", "0"]).status == 0)

        let path = try f.labelled("l.pmem", size: "2M", label: "2M")
        let same = try f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "2M", "--label-size", "2M"])
        #expect(same.status == 0 && !same.stdout.contains("warning") && same.stderr.isEmpty, "\(same.stdout)\(same.stderr)")
        #expect(try f.run(["nvdimm", "detach", "g", "--slot", "0"]).status == 0)
        // Without --size and --label-size, the label area found gives both (the default 128K would hide it).
        let found = try f.run(["nvdimm", "attach", "g", "--backing", path])
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdout.contains("2M at gpa") && found.stdout.contains("2M label area")
                && found.stdout.contains("label-size 2M: the label area found at the end of the backing") && !found.stdout.contains("warning"))
    }

    // MARK: (a) reused with no label area

    @Test func aBackingReusedWithoutItsLabelAreaIsWarnedAbout() throws {
        let f = try Fixture()
        let path = try f.labelled("l.pmem", size: "2M", label: "2M")
        let before = try Self.bytes(path)
        let r = try f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "4M", "--label-size", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("warning: vNVDIMM slot 0: backing \(path) holds a namespace label area of 2M (v1.2")
                && r.stdout.contains("but the vNVDIMM has no label area") && r.stdout.contains("give it size 2M and label-size 2M"), "\(r.stdout)")
        #expect(try Self.bytes(path) == before, "nothing overwritten")
        #expect(try f.run(["nvdimm", "detach", "g", "--slot", "0"]).status == 0)
        let j = try json(f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "4M", "--label-size", "0", "--json"]).stdout)
        let area = try #require(j["label_area"] as? [String: Any])
        #expect(area["verdict"] as? String == "labels-ignored" && area["label_area_found"] as? Bool == true && area["overwrites_data"] as? Bool == false)
        #expect((area["message"] as? String)?.contains("none of its namespaces") == true)
    }

    // MARK: (b) data given a label area

    @Test func dataGivenALabelAreaIsRefusedUnlessForced() throws {
        let f = try Fixture()
        let path = try f.data("d.pmem", bytes: 4 << 20)
        let before = try Self.bytes(path), config = try f.configText()
        let r = try f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "2M", "--label-size", "2M"])
        #expect(r.status == 1 && r.stdout.isEmpty)
        Self.oneErrorLine(r, "refusal")
        #expect(r.stderr.contains("its last 2M (the label area, from offset 0x200000) hold data")
                && r.stderr.contains("give it label-size 0 and size 4M") && r.stderr.contains("--force"), "\(r.stderr)")
        #expect(try Self.bytes(path) == before && f.configText() == config, "the backing and the config are untouched")
        // What the fix says works: the data stays the guest's.
        let keep = try f.run(["nvdimm", "attach", "g", "--backing", path, "--label-size", "0"])
        #expect(keep.status == 0 && !keep.stdout.contains("warning"), "\(keep.stderr)")
        #expect(try f.run(["nvdimm", "detach", "g", "--slot", "0"]).status == 0)
        // --force: attached, said once more, without offering --force again.
        let forced = try f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "2M", "--label-size", "2M", "--force", "--json"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let area = try #require(try json(forced.stdout)["label_area"] as? [String: Any])
        #expect(area["verdict"] as? String == "data-in-label-area" && area["overwrites_data"] as? Bool == true
                && area["first_non_zero"] as? Int == 2 << 20 && area["configured_offset"] as? Int == 2 << 20)
        #expect((area["message"] as? String)?.contains("(--force: those bytes are the label area's now)") == true)
    }

    // MARK: (c) another label size

    @Test func aChangedLabelSizeIsRefusedWhereItWouldOverwriteAndNamed() throws {
        let f = try Fixture()
        let path = try f.labelled("l.pmem", size: "4M", label: "128K")
        let before = try Self.bytes(path)
        // A larger label area over the old index blocks' bytes.
        let r = try f.run(["nvdimm", "attach", "g", "--backing", path, "--size", "2M", "--label-size", "2176K"])
        #expect(r.status == 1)
        Self.oneErrorLine(r, "refusal")
        #expect(r.stderr.contains("holds a namespace label area of 128K") && r.stderr.contains("not the 2176K label area at offset 0x200000")
                && r.stderr.contains("give it size 4M and label-size 128K"), "\(r.stderr)")
        #expect(try Self.bytes(path) == before)
    }

    // MARK: guest create

    @Test func guestCreateChecksEveryVNVDIMMsLabelArea() throws {
        let f = try Fixture()
        let path = try f.data("k.pmem", bytes: 4 << 20)
        let config = f.file("k.toml")
        try "name = \"k\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"k.pmem\"\nsize = \"2M\"\nlabel_size = \"2M\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let before = try Self.bytes(path)
        let r = try f.run(["guest", "create", config])
        #expect(r.status == 1)
        Self.oneErrorLine(r, "refusal")
        #expect(r.stderr.contains("guest 'k': vNVDIMM slot 0") && r.stderr.contains("--force"), "\(r.stderr)")
        let guests = try JSONSerialization.jsonObject(with: Data(f.run(["guest", "list", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(guests?.map { $0["name"] as? String } == ["g"], "not admitted")
        #expect(try Self.bytes(path) == before)
        let forced = try f.run(["guest", "create", config, "--force", "--json"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let report = try json(forced.stdout)
        #expect(report["name"] as? String == "k" && report["domid"] != nil, "the host's entry for the guest")
        let slots = try #require(report["label_areas"] as? [[String: Any]])
        #expect(slots.count == 1 && slots[0]["slot"] as? Int == 0)
        #expect((slots[0]["label_area"] as? [String: Any])?["verdict"] as? String == "data-in-label-area")
    }

    // MARK: bench pmem

    @Test func benchPmemRefusesABackingThatHoldsSomethingAndLeavesAZeroOneZero() throws {
        let f = try Fixture()
        let labelled = try f.labelled("l.pmem", size: "4M", label: "128K")
        let data = try f.data("d.pmem", bytes: 4 << 20)
        for (path, needle) in [(labelled, "holds a namespace label area of 128K"), (data, "holds data where the sweep writes (its first 4M; non-zero at offset 0x0)")] {
            let before = try Self.bytes(path)
            let r = try f.run(["bench", "pmem", path, "--quick"])
            #expect(r.status == 1 && r.stdout.isEmpty)
            Self.oneErrorLine(r, path)
            #expect(r.stderr.contains(needle) && r.stderr.contains("--overwrite-backing"), "\(r.stderr)")
            #expect(try Self.bytes(path) == before, "\(path) untouched")
        }
        // A zeroed backing is swept and zeroed again: as it was.
        let zero = f.file("z.pmem")
        #expect(try f.run(["pmem", "create", zero, "--size", "4M"]).status == 0)
        let swept = try f.run(["bench", "pmem", zero, "--quick", "--json"])
        #expect(swept.status == 0, "\(swept.stderr)")
        let report = try json(swept.stdout)
        #expect(report["swept_bytes"] as? Int == 4 << 20)
        #expect((report["label_area"] as? [String: Any])?["verdict"] as? String == "none-found")
        #expect(try Self.bytes(zero) == Data(count: 4 << 20))
        // --overwrite-backing: the data goes, and the swept bytes are left zero.
        let overwritten = try f.run(["bench", "pmem", data, "--quick", "--overwrite-backing", "--json"])
        #expect(overwritten.status == 0, "\(overwritten.stderr)")
        #expect(try Self.bytes(data) == Data(count: 4 << 20))
    }
}
