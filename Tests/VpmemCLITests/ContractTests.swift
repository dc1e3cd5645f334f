#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// What scripts rely on beyond the bad-input table: exit statuses of requests that ran, --json
/// on the commands that print a result, snake_case keys, and files replaced only when asked.
@Suite struct ContractTests {
    /// A host with guest g, a vNVDIMM in slot 0 with an initialised label area.
    func hostWithLabels() throws -> TempHostDir {
        let h = try TempHostDir()
        try "name = \"g\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n".write(toFile: h.file("g.toml"), atomically: true, encoding: .utf8)
        #expect(try h.run(["guest", "create", h.file("g.toml")]).status == 0)
        return h
    }

    /// Every key of a JSON value, recursively (dictionary keys of data, like "2M", excepted by
    /// the caller).
    func keys(_ v: Any) -> [String] {
        if let d = v as? [String: Any] { return d.keys + d.values.flatMap(keys) }
        if let a = v as? [Any] { return a.flatMap(keys) }
        return []
    }

    func isSnakeCase(_ k: String) -> Bool { k.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" } }

    @Test func attachDetachAndInitLabelsPrintJSON() throws {
        let h = try hostWithLabels()
        let attach = try h.run(["nvdimm", "attach", "g", "--backing", h.file("b.pmem"), "--size", "2M", "--create", "--json"])
        #expect(attach.status == 0, "\(attach.stderr)")
        let a = try json(attach.stdout)
        #expect(a["slot"] as? Int == 0 && a["size"] as? Int == 2 << 20 && a["backing_created"] as? Bool == true && a["label_size"] as? Int == 128 << 10)
        #expect(keys(a).allSatisfy(isSnakeCase), "\(keys(a))")
        let initLabels = try h.run(["nvdimm", "init-labels", "g", "--slot", "0", "--json"])
        let i = try json(initLabels.stdout)
        #expect(initLabels.status == 0 && i["nslot"] as? Int ?? 0 > 0 && i["dsm_calls"] as? Int ?? 0 > 0, "\(initLabels.stdout)\(initLabels.stderr)")
        #expect(keys(i).allSatisfy(isSnakeCase))
        let detach = try h.run(["nvdimm", "detach", "g", "--slot", "0", "--json"])
        let d = try json(detach.stdout)
        #expect(detach.status == 0 && d["slot"] as? Int == 0 && d["backing"] as? String == h.file("b.pmem"))
    }

    /// The issue's `nvdimm labels` exited 0 while reporting problems: now the report still goes
    /// to stdout, then one line on stderr and status 1.
    @Test func labelsWithProblemsExitOne() throws {
        let h = try hostWithLabels()
        #expect(try h.run(["nvdimm", "attach", "g", "--backing", h.file("b.pmem"), "--size", "2M", "--create"]).status == 0)
        #expect(try h.run(["nvdimm", "init-labels", "g", "--slot", "0"]).status == 0)
        let clean = try h.run(["nvdimm", "labels", "g", "--slot", "0"])
        #expect(clean.status == 0 && clean.stderr.isEmpty && clean.stdout.contains("clean"))
        // Index block 0's first bytes overwritten through _DSM, as a buggy guest would.
        #expect(try h.run(["dsm", "g", "set-label", "--nvdimm", "0", "--offset", "0", "--data", "ffffffff", "--fail-on-status"]).status == 0)
        for extra in [[], ["--json"]] {
            let r = try h.run(["nvdimm", "labels", "g", "--slot", "0"] + extra)
            #expect(r.status == 1, "\(extra): \(r.status)")
            #expect(r.stderr.hasPrefix("vpmem: slot 0: the label area has ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            if extra.isEmpty { #expect(r.stdout.contains("INVALID")) } else { #expect(try json(r.stdout)["clean"] as? Bool == false) }
        }
    }

    @Test func dsmFailsOnStatusOnlyWhenAsked() throws {
        let h = try hostWithLabels()
        #expect(try h.run(["nvdimm", "attach", "g", "--backing", h.file("b.pmem"), "--size", "2M", "--create"]).status == 0)
        let bad = ["dsm", "g", "get-label", "--nvdimm", "0", "--offset", "4294967295", "--length", "2"]
        let lenient = try h.run(bad + ["--json"])
        #expect(lenient.status == 0 && lenient.stderr.isEmpty)
        #expect(try json(lenient.stdout)["status"] as? Int == 3, "invalid input parameters")
        let strict = try h.run(bad + ["--json", "--fail-on-status"])
        #expect(strict.status == 1)
        #expect(try json(strict.stdout)["status"] as? Int == 3, "the report still comes first")
        #expect(strict.stderr.hasPrefix("vpmem: _DSM function 5 returned status ") && strict.stderr.split(separator: "\n").count == 1, "\(strict.stderr)")
        let good = try h.run(["dsm", "g", "label-size", "--nvdimm", "0", "--fail-on-status"])
        #expect(good.status == 0 && good.stderr.isEmpty, "\(good.stderr)")
        let query = try h.run(["dsm", "g", "query", "--nvdimm", "0", "--fail-on-status"])
        #expect(query.status == 0, "\(query.stderr)")
    }

    /// acpi dump keeps existing files unless --force, which replaces them by rename (a new
    /// inode: a reader holding the old file keeps the old bytes).
    @Test func acpiDumpReplacesOnlyWithForce() throws {
        let h = try hostWithLabels()
        #expect(try h.run(["nvdimm", "attach", "g", "--backing", h.file("b.pmem"), "--size", "2M", "--create"]).status == 0)
        let out = h.file("tables")
        #expect(try h.run(["acpi", "dump", "g", "--out", out]).status == 0)
        let nfit = out + "/nfit.aml"
        let first = try Data(contentsOf: URL(fileURLWithPath: nfit))
        #expect(first.prefix(4) == Data("NFIT".utf8))
        try "old\n".write(toFile: nfit, atomically: false, encoding: .utf8)
        var before = stat()
        stat(nfit, &before)
        let refused = try h.run(["acpi", "dump", "g", "--out", out])
        #expect(refused.status == 1 && refused.stderr.contains("nfit.aml exists: give --force"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: nfit, encoding: .utf8) == "old\n")
        let forced = try h.run(["acpi", "dump", "g", "--out", out, "--force", "--json"])
        #expect(forced.status == 0, "\(forced.stderr)")
        var after = stat()
        stat(nfit, &after)
        #expect(try Data(contentsOf: URL(fileURLWithPath: nfit)) == first)
        #expect(after.st_ino != before.st_ino, "replaced by rename, not rewritten in place")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["nfit.aml", "ssdt.aml"], "no temporary file left")
    }

    @Test func reportsAreSnakeCase() throws {
        let p = try VpmemProcess.run(["p2m", "populate", "--size", "64M", "--page", "4K", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let pk = keys(try json(p.stdout))
        #expect(pk.contains("leaf_entries") && pk.contains("table_bytes") && pk.allSatisfy(isSnakeCase), "\(pk)")
        let dir = TempDir()
        let s = try VpmemProcess.run(["liveupdate", "simulate", "--host-mem", "4G", "--guests", "2", "--pmem", "4M", "--pmem-dir", dir.path, "--json"])
        #expect(s.status == 0, "\(s.stderr)")
        let sk = keys(try json(s.stdout))
        #expect(sk.contains("host_bytes") && sk.contains("frame_table_bytes") && sk.allSatisfy(isSnakeCase), "\(sk)")
        #expect(FileManager.default.fileExists(atPath: dir.file("d1-pmem.img")), "--pmem-dir keeps the backing")
        let again = try VpmemProcess.run(["liveupdate", "simulate", "--host-mem", "4G", "--guests", "2", "--pmem", "4M", "--pmem-dir", dir.path])
        #expect(again.status == 1 && again.stderr.contains("d1-pmem.img exists"), "a second run never reuses the first one's backing")
    }

    @Test func usageOnlyForHelpAndAMissingSubcommand() throws {
        let group = try VpmemProcess.run(["nvdimm"])
        #expect(group.status == 2 && group.stdout.isEmpty && group.stderr.contains("USAGE: vpmem nvdimm <subcommand>"))
        let help = try VpmemProcess.run(["--help"])
        #expect(help.status == 0 && help.stderr.isEmpty && help.stdout.contains("Exit status") || help.stdout.contains("Exit\nstatus"), "\(help.stdout)")
        let sub = try VpmemProcess.run(["dsm", "--help"])
        #expect(sub.status == 0 && sub.stdout.contains("--fail-on-status"))
    }

    @Test func holdReleasesAfterAFractionOfASecond() throws {
        let dir = TempDir()
        #expect(try VpmemProcess.run(["pmem", "create", dir.file("h.pmem"), "--size", "2M"]).status == 0)
        let start = Date()
        let r = try VpmemProcess.run(["pmem", "hold", dir.file("h.pmem"), "--seconds", "0.2", "--json"])
        let report = try json(r.stdout)
        #expect(r.status == 0 && report["size"] as? Int == 2 << 20, "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) >= 0.2)
    }
}
