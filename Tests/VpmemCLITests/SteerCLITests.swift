import Foundation
import Testing

@Suite struct SteerCLITests {
    static let example = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/small.toml").path

    /// `vpmem` with `--host` inside `dir` (no host there unless made), so no test reads or
    /// changes a user's default host.
    static func vpmem(_ args: [String], host: String) throws -> VpmemProcess.Result {
        try VpmemProcess.run(args + ["--host", host], environment: ["VPMEM_HOST": host])
    }

    @Test func jsonCountsEveryAccessOncePerDecisionAndPerServer() throws {
        let dir = TempDir()
        let r = try Self.vpmem(["steer", Self.example, "--pages", "512", "--fragmentation", "1",
                                "--accesses", "20K", "--mode", "range", "--wp-mem-limit", "512", "--json"], host: dir.file("no-host"))
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        let decisions = o["decisions"] as? [String: Int] ?? [:]
        #expect(decisions.values.reduce(0, +) == 20_000)
        #expect(o["protected_runs"] as? Int == 512 && o["unprotected_pages"] as? Int == 0)
        #expect((decisions["emulate_wp_mem"] ?? 0) > 5_000 && decisions["emulate_type_claim"] == 0)
        // A config outside any host runs on a private host, with the default allowance.
        #expect(o["host"] == nil && o["config"] as? String == Self.example)
        #expect(o["guest_allowance"] as? Int == 4 << 20 && o["range_memory_allowance"] as? Int == 4 << 20)
        // The guest's own engine: its vNVDIMMs' "nvdimm" server, then QEMU and the vGPU.
        let servers = o["servers"] as? [[String: Any]] ?? []
        #expect(servers.compactMap { $0["name"] as? String }.sorted() == ["nvdimm", "qemu", "xengt"])
        let emulated = servers.map { ($0["counters"] as? [String: Int])?["reads"] ?? 0 }.reduce(0, +)
            + servers.map { ($0["counters"] as? [String: Int])?["writes"] ?? 0 }.reduce(0, +)
        #expect(emulated == decisions.filter { $0.key.hasPrefix("emulate") }.values.reduce(0, +))
        #expect(!r.stdout.contains("\r"))  // no progress bar in JSON
    }

    @Test func aWpMemLimitAbove32BitsIsRefusedNotTruncated() throws {
        let dir = TempDir()
        let r = try Self.vpmem(["steer", Self.example, "--mode", "range", "--accesses", "1K",
                                "--wp-mem-limit", "4294967301"], host: dir.file("no-host"))
        #expect(r.status != 0)
        #expect(r.stderr.contains("4294967301") && r.stderr.contains("above the maximum"))
        let bad = try Self.vpmem(["steer", Self.example, "--accesses", "ten"], host: dir.file("no-host"))
        #expect(bad.status != 0 && bad.stderr.contains("--accesses 'ten'"))
    }

    @Test func textNamesTheServersAndTheRate() throws {
        let dir = TempDir()
        let r = try Self.vpmem(["steer", Self.example, "--accesses", "5K"], host: dir.file("no-host"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("accesses/s") && r.stdout.contains("qemu (default)") && r.stdout.contains("xengt"))
        #expect(r.stdout.contains("emulate: type claim"))
        #expect(r.stdout.contains("on a private host"))
    }

    // MARK: Seed 001 on one host

    /// A host with 8G of RAM and a 64K range-memory allowance per guest, and guests `a` and
    /// `b` like examples/hole-3g.toml (2G each) admitted to it.
    static func hostWithTwoGuests(_ dir: TempDir) throws -> String {
        let host = dir.file("host")
        let initRun = try vpmem(["host", "init", "--ram", "8G", "--guest-allowance", "64K"], host: host)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        for name in ["a", "b"] {
            let cfg = dir.file(name + ".toml")
            try """
                # Like examples/hole-3g.toml, smaller: low RAM ends at 1 GiB, the rest above 4 GiB.
                name = "\(name)"
                memory = "2G"
                vcpus = 2
                mmio_hole = "3G"
                pci_mmio64 = "64G"
                pmem_aperture = "64G"

                """.write(toFile: cfg, atomically: true, encoding: .utf8)
            let create = try vpmem(["guest", "create", cfg], host: host)
            #expect(create.status == 0, "\(create.stderr)")
        }
        return host
    }

    static let exhausting = ["--mode", "range", "--pages", "8192", "--fragmentation", "1", "--wp-mem-limit", "8192", "--accesses", "20K"]
    static let small = ["--mode", "range", "--pages", "64", "--accesses", "20K"]

    /// What B's run decided, without its timings.
    static func outcome(_ o: [String: Any]) -> String {
        let keys = ["protected_runs", "unprotected_pages", "page_table_runs", "range_memory_charged", "range_memory_allowance",
                    "wp_mem_limit", "decisions", "checksum", "shadow_updates"]
        return keys.map { key in
            let value = (o[key] as? [String: Int]).map { d in d.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",") }
                ?? String(describing: o[key] ?? "missing")
            return "\(key)=\(value)"
        }.joined(separator: " ")
    }

    func files(_ host: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: host) {
            out[f] = try Data(contentsOf: URL(fileURLWithPath: host + "/" + f))
        }
        return out
    }

    @Test func aGuestExhaustingItsAllowanceDegradesAloneAndAnotherGuestProtectsEveryPage() throws {
        let dir = TempDir()
        let host = try Self.hostWithTwoGuests(dir)
        let before = try files(host)

        let a = try Self.vpmem(["steer", "a"] + Self.exhausting + ["--json"], host: host)
        #expect(a.status == 0, "\(a.stderr)")
        let ao = try json(a.stdout)
        #expect(ao["guest"] as? String == "a" && ao["host"] as? String == host && ao["config"] as? String == dir.file("a.toml"))
        #expect(ao["guest_allowance"] as? Int == 64 << 10 && ao["range_memory_allowance"] as? Int == 64 << 10)
        #expect(ao["allowance_from"] as? String == "guest_allowance")
        #expect(ao["wp_mem_limit"] as? Int == 8192, "the admin's limit, not the allowance, is the guest's limit")
        let protected = ao["protected_runs"] as? Int ?? -1
        #expect(protected > 0 && protected < 8192)
        #expect(ao["unprotected_pages"] as? Int == 8192 - protected)
        #expect((ao["range_memory_charged"] as? Int ?? .max) <= 64 << 10)
        let why = ao["degradation"] as? String ?? ""
        #expect(why.contains("allowance ran out"), "\(why)")

        let text = try Self.vpmem(["steer", "a"] + Self.exhausting, host: host)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("guest 'a' (domid 1, \(dir.file("a.toml"))) of host \(host)"))
        #expect(text.stdout.contains("range-memory allowance 64K (guest_allowance in host.toml)"))
        #expect(text.stdout.contains("\(8192 - protected) pages left unprotected"))
        #expect(text.stdout.contains("protection stopped short: steering: guest") && text.stdout.contains("allowance ran out"))

        let b = try Self.vpmem(["steer", "b"] + Self.small + ["--json"], host: host)
        #expect(b.status == 0, "\(b.stderr)")
        let bo = try json(b.stdout)
        #expect(bo["guest"] as? String == "b" && bo["domid"] as? Int == 2 && bo["guest_allowance"] as? Int == 64 << 10)
        #expect(bo["protected_runs"] as? Int == bo["page_table_runs"] as? Int && bo["unprotected_pages"] as? Int == 0)
        #expect(bo["degradation"] == nil)

        // The runs change nothing on disk: the host and the guests' configs are as they were.
        #expect(try files(host) == before)
    }

    @Test func anotherGuestsResultDoesNotDependOnTheExhaustingGuest() throws {
        let dir = TempDir()
        let host = try Self.hostWithTwoGuests(dir)
        // B first, then A exhausts its allowance, then B again: B's result is the same.
        let first = try Self.vpmem(["steer", "b"] + Self.small + ["--json"], host: host)
        #expect(first.status == 0, "\(first.stderr)")
        let a = try Self.vpmem(["steer", "a"] + Self.exhausting + ["--json"], host: host)
        let ao = try json(a.stdout)
        #expect(a.status == 0 && (ao["unprotected_pages"] as? Int ?? 0) > 0, "\(a.stderr)")
        let again = try Self.vpmem(["steer", "b"] + Self.small + ["--json"], host: host)
        #expect(again.status == 0, "\(again.stderr)")
        let b1 = try json(first.stdout), b2 = try json(again.stdout)
        #expect(b1["unprotected_pages"] as? Int == 0 && b1["degradation"] == nil)
        #expect(Self.outcome(b1) == Self.outcome(b2))
        // And B by its config file is the same guest of the host.
        let byPath = try Self.vpmem(["steer", dir.file("b.toml")] + Self.small + ["--json"], host: host)
        #expect(byPath.status == 0, "\(byPath.stderr)")
        let b3 = try json(byPath.stdout)
        #expect(b3["host"] as? String == host && Self.outcome(b3) == Self.outcome(b1))
        // A limit above B's maximum is refused before anything runs.
        let refused = try Self.vpmem(["steer", "b", "--mode", "range", "--wp-mem-limit", "4294967301"], host: host)
        #expect(refused.status != 0 && refused.stderr.contains("above the maximum"))
    }
}

/// `vpmem steer` with the user's own inputs: a recorded run replays to the same results.
@Suite struct SteerReplayCLITests {
    static func steer(_ args: [String], _ dir: TempDir) throws -> [String: Any] {
        let r = try SteerCLITests.vpmem(["steer", SteerCLITests.example, "--json"] + args, host: dir.file("no-host"))
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return try json(r.stdout)
    }

    /// examples/steer/xengt.trace is what the generator writes (scripts/steer-examples): a
    /// change to the generator's stream shows here, and the example is regenerated with it.
    @Test func theExampleTraceIsTheGeneratorsOutput() throws {
        let dir = TempDir()
        let root = URL(fileURLWithPath: SteerCLITests.example).deletingLastPathComponent()
        let trace = dir.file("xengt.trace")
        let r = try SteerCLITests.vpmem(["steer", root.appendingPathComponent("hole-3g.toml").path, "--pages", "256",
                                         "--mode", "type", "--accesses", "2000", "--write-trace", trace],
                                        host: dir.file("none"))
        #expect(r.status == 0, "\(r.stderr)")
        let written = try Data(contentsOf: URL(fileURLWithPath: trace))
        let example = try Data(contentsOf: root.appendingPathComponent("steer/xengt.trace"))
        #expect(written == example, "run scripts/steer-examples after changing the generator")
    }

    @Test(arguments: ["text", "binary"]) func aRecordedRunReplaysFromItsScenarioAndTrace(_ format: String) throws {
        let dir = TempDir()
        let trace = dir.file("run.trace"), scenario = dir.file("run.toml")
        let recorded = try Self.steer(["--pages", "256", "--mode", "range", "--seed", "9", "--accesses", "30K",
                                       "--write-trace", trace, "--trace-format", format, "--write-scenario", scenario], dir)
        let replayed = try Self.steer(["--scenario", scenario, "--trace", trace], dir)
        // The same trace on the built-in set-up made with the same options.
        let builtin = try Self.steer(["--pages", "256", "--mode", "range", "--seed", "9", "--trace", trace], dir)
        let digest = recorded["results_digest"] as? String
        #expect(digest != nil && digest?.count == 18)
        for run in [replayed, builtin] {
            #expect(run["results_digest"] as? String == digest)
            #expect(run["shadow_digest"] as? String == recorded["shadow_digest"] as? String)
            #expect(run["decisions"] as? [String: Int] == recorded["decisions"] as? [String: Int])
            #expect(run["accesses"] as? Int == 30_000 && run["workload"] as? String == "trace")
        }
        #expect(replayed["scenario_file"] as? String == scenario && replayed["trace_file"] as? String == trace)
        #expect(((recorded["decisions"] as? [String: Int])?["emulate_wp_mem"] ?? 0) > 5_000)
        // On another seed's set-up the same trace is steered elsewhere (its page tables are other
        // frames): the guest reads the same values, but the decisions and the shadow differ.
        let other = try Self.steer(["--pages", "256", "--mode", "range", "--seed", "10", "--trace", trace], dir)
        #expect(other["decisions"] as? [String: Int] != recorded["decisions"] as? [String: Int])
        #expect(other["shadow_digest"] as? String != recorded["shadow_digest"] as? String)
        // --accesses takes the front of a trace.
        let front = try Self.steer(["--scenario", scenario, "--trace", trace, "--accesses", "1000"], dir)
        #expect(front["accesses"] as? Int == 1000)
    }

    /// A trace on several vCPUs: each steers its contiguous share. Without a wp_mem range to
    /// change (type mode) nothing moves under them, so they decide exactly as one vCPU does.
    @Test func aTraceSplitOverVCPUsDecidesAsOneVCPUDoes() throws {
        let dir = TempDir()
        let trace = dir.file("type.trace"), scenario = dir.file("type.toml")
        let recorded = try Self.steer(["--pages", "256", "--mode", "type", "--accesses", "30001",
                                       "--write-trace", trace, "--trace-format", "binary", "--write-scenario", scenario], dir)
        let three = try Self.steer(["--scenario", scenario, "--trace", trace, "--vcpus", "3"], dir)
        let c = three["concurrent"] as? [String: Any] ?? [:]
        #expect(c["decisions_per_vcpu"] as? [Int] == [10_001, 10_000, 10_000])
        #expect(c["writer"] as? Bool == false && c["changes"] as? Int == 0)
        #expect(three["accesses"] as? Int == 30_001 && three["results_digest"] == nil)
        #expect(three["decisions"] as? [String: Int] == recorded["decisions"] as? [String: Int])
        // Naming a rate for a writer that has nothing to change is refused, and the refused run
        // writes no scenario file.
        let refusedScenario = dir.file("refused.toml")
        let r = try SteerCLITests.vpmem(["steer", SteerCLITests.example, "--scenario", scenario, "--trace", trace,
                                         "--vcpus", "2", "--changes-per-second", "100", "--write-scenario", refusedScenario], host: dir.file("no-host"))
        #expect(r.status == 1 && r.stderr.contains("--changes-per-second") && r.stderr.contains("no wp_mem range"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: refusedScenario))
        // --accesses takes the front of the trace on vCPUs too.
        let front = try Self.steer(["--scenario", scenario, "--trace", trace, "--vcpus", "2", "--accesses", "1001"], dir)
        #expect((front["concurrent"] as? [String: Any])?["decisions_per_vcpu"] as? [Int] == [501, 500])
    }

    /// A trace from a pipe (`--trace <(zcat run.trace.gz)`) is read once: the decision alone is
    /// timed on the accesses kept from the run, on one vCPU and on several.
    @Test func aTraceFromAPipeIsReadOnceAndTheDecisionStillTimed() throws {
        let dir = TempDir()
        let trace = dir.file("run.trace")
        let recorded = try Self.steer(["--pages", "256", "--mode", "range", "--accesses", "20K", "--write-trace", trace], dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: trace))
        for vcpus in ["1", "2"] {
            let pipe = try PipeFeeder(data, at: dir.file("pipe-\(vcpus)"))
            let piped = try Self.steer(["--pages", "256", "--mode", "range", "--trace", pipe.path, "--vcpus", vcpus], dir)
            #expect(pipe.wait())
            #expect(piped["accesses"] as? Int == 20_000)
            #expect((piped["decision_ns"] as? Double ?? 0) > 0, "vcpus \(vcpus)")
            if vcpus == "1" { #expect(piped["results_digest"] as? String == recorded["results_digest"] as? String) }
        }
    }

    /// The built-in set-up replaying a range-mode trace on two vCPUs, the device-model thread
    /// toggling the vGPU's wp_mem runs meanwhile: every access is decided once, and while the
    /// runs are toggled some page-table writes find their run unprotected (direct RAM).
    @Test func aTraceOnVCPUsRunsWithTheDeviceModelThread() throws {
        let dir = TempDir()
        let trace = dir.file("range.trace")
        let recorded = try Self.steer(["--pages", "256", "--mode", "range", "--accesses", "40K", "--write-trace", trace], dir)
        let two = try Self.steer(["--pages", "256", "--mode", "range", "--trace", trace, "--vcpus", "2",
                                  "--changes-per-second", "0"], dir)
        let c = two["concurrent"] as? [String: Any] ?? [:]
        #expect(c["decisions_per_vcpu"] as? [Int] == [20_000, 20_000] && c["writer"] as? Bool == true)
        #expect((c["changes"] as? Int ?? 0) + (c["refused_changes"] as? Int ?? 0) > 0, "the device-model thread ran")
        let d = two["decisions"] as? [String: Int] ?? [:]
        #expect(d.values.reduce(0, +) == 40_000)
        let protected = (recorded["decisions"] as? [String: Int])?["emulate_wp_mem"] ?? 0
        #expect(protected > 10_000 && (d["emulate_wp_mem"] ?? 0) <= protected)
    }

    @Test func theHandWrittenExampleRunsAsItsCommentsSay() throws {
        let dir = TempDir()
        let root = URL(fileURLWithPath: SteerCLITests.example).deletingLastPathComponent().path
        let r = try SteerCLITests.vpmem(["steer", root + "/hole-3g.toml", "--scenario", root + "/steer/nic.toml",
                                         "--trace", root + "/steer/nic.trace", "--json"], host: dir.file("no-host"))
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        let d = o["decisions"] as? [String: Int] ?? [:]
        #expect(o["accesses"] as? Int == 13)
        #expect(d["emulate_pci_config"] == 2 && d["emulate_wp_mem"] == 2 && d["direct_ram"] == 2 && d["emulate_default"] == 1)
        let servers = o["servers"] as? [[String: Any]] ?? []
        #expect(servers.compactMap { $0["name"] as? String } == ["nvdimm", "qemu", "nic", "unplugged"])
    }
}
