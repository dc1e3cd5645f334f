import Foundation
import Testing
import HostPmem

/// The vNVDIMM commands as a user runs them: separate processes over a host and its guests'
/// configs on disk.
@Suite struct NVDIMMCLITests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    /// A guest config admitted to `host`.
    func guest(_ host: TempHostDir, _ text: String = "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n", create: Bool = false) throws -> String {
        let path = host.file("g.toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try host.run(["guest", "create", path] + (create ? ["--create-backings"] : []))
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    @Test func attachListDetachRewriteTheConfigAtomically() throws {
        let host = try TempHostDir()
        let cfg = try guest(host)
        let backing = host.file("a.pmem")
        let attach = try host.run(["nvdimm", "attach", "g", "--backing", backing, "--size", "64M", "--node", "1", "--create"])
        #expect(attach.status == 0, "\(attach.stderr)")
        #expect(attach.stdout.contains("attached slot 0 (NV00, NFIT handle 1)"))
        #expect(try String(contentsOfFile: cfg, encoding: .utf8).contains("[[nvdimm]]\nslot = 0\nbacking = \"\(backing)\"\nsize = \"64M\""))
        #expect(try PmemInfo.inspect(path: backing).size == 64 << 20 | 128 << 10)
        // The backing became host pmem, owned by g.
        let shown = try json(host.run(["host", "show", "--json"]).stdout)
        let pmem = shown["pmem"] as? [[String: Any]] ?? []
        #expect(pmem.count == 1 && (pmem.first?["owner"] as? [String: Any])?["guest"] as? String == "g")
        let second = try host.run(["nvdimm", "attach", cfg, "--backing", backing, "--slot", "3"])
        #expect(second.status != 0 && second.stderr.contains("already attached in slot 0"), "\(second.stderr)")
        let list = try json(host.run(["nvdimm", "list", "g", "--json"]).stdout)
        let entries = list["nvdimms"] as? [[String: Any]] ?? []
        #expect(entries.count == 1 && entries.first?["node"] as? Int == 1 && entries.first?["size"] as? Int == 64 << 20)
        #expect((entries.first?["pages"] as? [String: Int]) == ["2M": 32])
        let text = try host.run(["nvdimm", "list", cfg]).stdout
        #expect(text.contains("NV00") && text.contains("32x2M"))
        let detach = try host.run(["nvdimm", "detach", "g", "--slot", "0"])
        #expect(detach.status == 0 && detach.stdout.contains("backing \(backing) kept"), "\(detach.stderr)")
        #expect(try !String(contentsOfFile: cfg, encoding: .utf8).contains("[[nvdimm]]"))
        #expect(FileManager.default.fileExists(atPath: backing))
    }

    /// A hot attach fills the first free stretch and a detach leaves a hole, while every command
    /// rebuilds the guest from its config: the vNVDIMMs must stay where they were put.
    @Test func vNVDIMMsKeepTheirAddressesAcrossAttachDetachAndReopen() throws {
        let host = try TempHostDir()
        let cfg = try guest(host)
        func starts() throws -> [Int: Int] {
            let list = try json(host.run(["nvdimm", "list", "g", "--json"]).stdout)
            var out: [Int: Int] = [:]
            for e in list["nvdimms"] as? [[String: Any]] ?? [] { out[e["slot"] as? Int ?? -1] = e["gpa_start"] as? Int }
            return out
        }
        for (slot, file) in [(1, "s1.pmem"), (0, "s0.pmem"), (2, "s2.pmem")] {
            let r = try host.run(["nvdimm", "attach", "g", "--backing", host.file(file), "--size", "64M", "--slot", "\(slot)", "--create"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let placed = try starts()
        #expect(placed.count == 3 && Set(placed.values).count == 3)
        #expect(placed[1]! < placed[0]! && placed[0]! < placed[2]!, "attach order, not slot order: \(placed)")
        // The config pins what a slot-order replay would move.
        let text = try String(contentsOfFile: cfg, encoding: .utf8)
        #expect(text.contains("address = 0x"), "\(text)")
        #expect(try starts() == placed, "a second process sees the same addresses")
        #expect(try host.run(["nvdimm", "detach", "g", "--slot", "1"]).status == 0)
        var after = placed
        after[1] = nil
        #expect(try starts() == after, "the others stay where they were after a detach")
    }

    @Test func aRefusedAttachLeavesConfigAndFilesAsTheyWere() throws {
        let host = try TempHostDir()
        let cfg = try guest(host)
        let before = try Data(contentsOf: URL(fileURLWithPath: cfg))
        let hostToml = try Data(contentsOf: URL(fileURLWithPath: host.path + "/host.toml"))
        for args in [["--size", "3M"], ["--size", "9G"], ["--size", "2M", "--label-size", "64K"], ["--size", "2M"]] {
            let r = try host.run(["nvdimm", "attach", "g", "--backing", host.file("b.pmem")] + args + (args.count == 2 && args[1] == "2M" ? [] : ["--create"]))
            #expect(r.status != 0 && !r.stderr.isEmpty, "\(args)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: cfg)) == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.path + "/host.toml")) == hostToml)
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.dir.path).sorted() == ["g.toml", "host"], "no backing or temporary file left")
    }

    @Test func aConfigOutsideTheHostIsInspectedButNotChanged() throws {
        let host = try TempHostDir()
        let cfg = host.file("outside.toml")
        try "name = \"o\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let before = try Data(contentsOf: URL(fileURLWithPath: cfg))
        let show = try host.run(["guest", "show", cfg])
        #expect(show.status == 0 && show.stdout.contains("guest 'o'"), "\(show.stderr)")
        let attach = try host.run(["nvdimm", "attach", cfg, "--backing", host.file("o.pmem"), "--size", "2M", "--create"])
        #expect(attach.status != 0 && attach.stderr.contains("vpmem guest create"), "\(attach.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cfg)) == before)
        #expect(!FileManager.default.fileExists(atPath: host.file("o.pmem")))
    }

    @Test func labelsSurviveTheProcessAndDecodeInAnother() throws {
        let host = try TempHostDir()
        let cfg = try guest(host, "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"g0.pmem\"\nsize = \"32M\"\n", create: true)
        let before = try host.run(["nvdimm", "labels", cfg, "--slot", "0", "--json"])
        let raw = try json(before.stdout)
        #expect(raw["clean"] as? Bool == false, "a fresh backing has no index blocks")
        let initRun = try host.run(["nvdimm", "init-labels", "g", "--slot", "0"])
        #expect(initRun.status == 0 && initRun.stdout.contains("1020 slots of 128 bytes"), "ndctl's default, v1.1: \(initRun.stderr)")
        let after = try json(host.run(["nvdimm", "labels", "g", "--slot", "0", "--json"]).stdout)
        #expect(after["clean"] as? Bool == true && after["current_block"] as? Int == 0)
        let text = try host.run(["nvdimm", "labels", cfg, "--slot", "0"]).stdout
        #expect(text.contains("index block 0: valid, seq 3") && text.contains("(current)"))
    }

    @Test func acpiDumpWritesTablesIaslAccepts() throws {
        let host = try TempHostDir()
        let cfg = host.file("nvdimm-many.toml")
        try FileManager.default.copyItem(atPath: Self.examples.appendingPathComponent("nvdimm-many.toml").path, toPath: cfg)
        // Inspection opens backings read-only and creates none: a missing one is named.
        let missing = try host.run(["acpi", "dump", cfg, "--out", host.file("t0")])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: host.file("t0")))
        #expect(try host.run(["guest", "create", cfg, "--create-backings"]).status == 0)
        let out = host.file("tables")
        let r = try host.run(["acpi", "dump", cfg, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("/local/domain/1/hvmloader/dm-acpi/address = "))
        let iasl = ["/usr/bin/iasl", "/usr/local/bin/iasl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let iasl else {
            Issue.record("iasl not found: install acpica-tools (scripts/setup)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: iasl)
        p.arguments = ["-d", "nfit.aml", "ssdt.aml"]
        p.currentDirectoryURL = URL(fileURLWithPath: out)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let nfit = try String(contentsOfFile: out + "/nfit.dsl", encoding: .utf8)
        #expect(nfit.contains("Oem ID : \"XENVM \"") && nfit.contains("[Platform Capabilities]"))
        #expect(nfit.components(separatedBy: "Subtable Type : 0000").count == 4)
        let ssdt = try String(contentsOfFile: out + "/ssdt.dsl", encoding: .utf8)
        #expect(ssdt.contains("Device (NV02)"))
    }

    @Test func dsmRunsOneCallThroughTheFullPath() throws {
        let host = try TempHostDir()
        let cfg = try guest(host, "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"g0.pmem\"\nsize = \"2M\"\n", create: true)
        let q = try json(host.run(["dsm", cfg, "--nvdimm", "0", "query", "--json"]).stdout)
        #expect((q["fields"] as? [String: Int])?["supported_functions"] == 0x71)
        let set = try json(host.run(["dsm", "g", "--nvdimm", "0", "set-label", "--offset", "16", "--data", "cafe", "--json"]).stdout)
        #expect(set["status"] as? Int == 0)
        let get = try json(host.run(["dsm", cfg, "--nvdimm", "0", "get-label", "--offset", "16", "--length", "2", "--json"]).stdout)
        #expect(get["returned"] as? String == "00000000cafe", "the write of the previous process persisted")
        let bad = try json(host.run(["dsm", cfg, "--nvdimm", "0", "get-label", "--offset", "4294967295", "--length", "2", "--json"]).stdout)
        #expect(bad["status"] as? Int == 3)
        let keys = try host.run(["guest", "keys", "g"]).stdout
        #expect(keys.contains("/local/domain/1/hvmloader/dm-acpi/length = "))
    }
}
