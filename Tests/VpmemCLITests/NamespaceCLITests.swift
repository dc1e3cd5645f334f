import Foundation
import Testing

/// `vpmem nvdimm create-namespace` / `destroy-namespace` as a user runs them: separate
/// processes over a host, a guest's config and its backing on disk.
@Suite struct NamespaceCLITests {
    static let MiB = 1 << 20

    /// A host with guest "g" (one 1G vNVDIMM in slot 0, its backing created) and initialised labels.
    func guestWithLabels(_ host: TempHostDir, version: String = "1.2") throws -> String {
        let cfg = host.file("g.toml")
        try "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"g0.pmem\"\nsize = \"1G\"\n"
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try host.run(["guest", "create", cfg, "--create-backings"])
        #expect(r.status == 0, "\(r.stderr)")
        let i = try host.run(["nvdimm", "init-labels", "g", "--slot", "0", "--label-version", version])
        #expect(i.status == 0, "\(i.stderr)")
        return cfg
    }

    @Test func createListDestroyAcrossProcesses() throws {
        let host = try TempHostDir()
        let cfg = try guestWithLabels(host)
        let uuid = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
        let made = try host.run(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "256M", "--name", "data", "--uuid", uuid, "--json"])
        #expect(made.status == 0, "\(made.stderr)")
        let j = try json(made.stdout)
        let ns = j["namespace"] as? [String: Any] ?? [:]
        #expect(ns["uuid"] as? String == uuid && ns["name"] as? String == "data" && ns["mode"] as? String == "fsdax")
        #expect(ns["raw_size"] as? Int == 256 * Self.MiB && ns["usable_size"] as? Int == 250 * Self.MiB && ns["dpa"] as? Int == 0)
        #expect(ns["isetcookie"] as? Int == 0x00BA_9012_0012_B4DC && ns["cookie_valid"] as? Bool == true && ns["claim_class"] as? String == "pfn")
        let pfn = ns["pfn"] as? [String: Any] ?? [:]
        #expect(pfn["dataoff"] as? Int == 6 * Self.MiB && pfn["npfns"] as? Int == 64_000 && pfn["align"] as? Int == 2 * Self.MiB)
        #expect(pfn["parent_uuid"] as? String == uuid && pfn["version"] as? String == "1.4" && (pfn["problems"] as? [String])?.isEmpty == true)
        #expect(j["label_slot"] as? Int == 0 && j["index_block"] as? Int == 1 && j["index_seq"] as? Int == 1 && j["label_version"] as? String == "1.2")
        // A raw one after it, in text.
        let raw = try host.run(["nvdimm", "create-namespace", cfg, "--slot", "0", "--size", "64M", "--mode", "raw"])
        #expect(raw.status == 0 && raw.stdout.contains("created raw namespace") && raw.stdout.contains("dpa 0x10000000"), "\(raw.stderr)")
        #expect(raw.stdout.contains("raw size 64M (67108864 bytes), usable 64M"))
        // Another process lists both.
        let labels = try json(host.run(["nvdimm", "labels", "g", "--slot", "0", "--json"]).stdout)
        let listed = labels["namespaces"] as? [[String: Any]] ?? []
        #expect(labels["clean"] as? Bool == true && listed.map { $0["mode"] as? String } == ["fsdax", "raw"])
        let text = try host.run(["nvdimm", "labels", cfg, "--slot", "0"]).stdout
        #expect(text.contains("namespace \(uuid) 'data': fsdax, raw size 256M (268435456 bytes), usable 250M (262144000 bytes, what ndctl list shows as its size)"), "\(text)")
        // Destroy by name: the slot is freed, the info block zeroed; the raw one stays.
        let gone = try host.run(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--name", "data"])
        #expect(gone.status == 0 && gone.stdout.contains("destroyed fsdax namespace \(uuid) 'data'") && gone.stdout.contains("info block zeroed"), "\(gone.stderr)")
        let after = try json(host.run(["nvdimm", "labels", "g", "--slot", "0", "--json"]).stdout)
        #expect((after["namespaces"] as? [[String: Any]] ?? []).map { $0["mode"] as? String } == ["raw"])
        // The freed range is used again first.
        let again = try json(host.run(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "16M", "--json"]).stdout)
        #expect((again["namespace"] as? [String: Any])?["dpa"] as? Int == 0)
    }

    @Test func v11LabelsCarryTheV11Cookie() throws {
        let host = try TempHostDir()
        _ = try guestWithLabels(host, version: "1.1")
        let made = try json(host.run(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "32M", "--mode", "raw", "--json"]).stdout)
        let ns = made["namespace"] as? [String: Any] ?? [:]
        #expect(ns["isetcookie"] as? Int == 0x0024_68AC_0012_3456 && made["label_version"] as? String == "1.1" && ns["claim_class"] as? String == "none")
    }

    @Test func refusedRequestsSayWhyAndChangeNothing() throws {
        let host = try TempHostDir()
        let cfg = host.file("g.toml")
        try "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"g0.pmem\"\nsize = \"1G\"\n"
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        #expect(try host.run(["guest", "create", cfg, "--create-backings"]).status == 0)
        let uninitialised = try host.run(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "16M"])
        #expect(uninitialised.status != 0 && uninitialised.stderr.contains("vpmem nvdimm init-labels"), "\(uninitialised.stderr)")
        #expect(try host.run(["nvdimm", "init-labels", "g", "--slot", "0"]).status == 0)
        let backing = host.file("g0.pmem")
        // What a create writes: the label area (the backing's last 128K) and a namespace's head.
        func written() throws -> Data {
            let f = try FileHandle(forReadingFrom: URL(fileURLWithPath: backing))
            defer { try? f.close() }
            let head = try f.read(upToCount: 64 << 10) ?? Data()
            try f.seek(toOffset: UInt64(1 << 30))
            return head + (try f.readToEnd() ?? Data())
        }
        let before = try written()
        #expect(before.count == (64 << 10) + (128 << 10))
        let cases: [([String], String)] = [
            (["--size", "100M"], "use 96M or 112M"),
            (["--size", "2G"], "no free contiguous, aligned range of 2G"),
            (["--size", "16M", "--mode", "devdax"], "use fsdax or raw"),
            (["--size", "16M", "--uuid", "not-a-uuid"], "--uuid 'not-a-uuid': not a UUID"),
            (["--size", "16M", "--uuid", "00000000-0000-0000-0000-000000000000"], "all-zero uuid"),
            (["--size", "16M", "--name", String(repeating: "n", count: 64)], "at most 63"),
            (["--size", "16M", "--slot", "5"], "no vNVDIMM in slot 5"),
        ]
        for (args, message) in cases {
            let slotArgs = args.contains("--slot") ? [] : ["--slot", "0"]
            let r = try host.run(["nvdimm", "create-namespace", "g"] + slotArgs + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        #expect(try written() == before, "nothing written")
        let both = try host.run(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--name", "a", "--uuid", "6ba7b810-9dad-41d1-80b4-00c04fd430c8"])
        #expect(both.status != 0 && both.stderr.contains("exactly one of --uuid and --name"))
        let missing = try host.run(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--name", "a"])
        #expect(missing.status != 0 && missing.stderr.contains("no namespace named 'a'"), "\(missing.stderr)")
        // A config outside the host cannot be changed.
        let outside = host.file("o.toml")
        try "name = \"o\"\nmemory = \"2G\"\npmem_aperture = \"8G\"\n".write(toFile: outside, atomically: true, encoding: .utf8)
        let o = try host.run(["nvdimm", "create-namespace", outside, "--slot", "0", "--size", "16M"])
        #expect(o.status != 0 && o.stderr.contains("vpmem guest create"), "\(o.stderr)")
    }
}
