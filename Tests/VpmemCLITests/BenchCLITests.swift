import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// `vpmem bench`. No assertion here depends on a timing: figures are checked for presence and
/// consistency (ratio = value / baseline), comparisons run on synthetic reports or on saved
/// ratios ten-thousandfold away from anything a run can produce.
@Suite struct BenchCLITests {
    static func figures(_ report: [String: Any]) -> [[String: Any]] { report["figures"] as? [[String: Any]] ?? [] }
    static func number(_ f: [String: Any], _ key: String) -> Double? { (f[key] as? NSNumber)?.doubleValue }

    /// Every figure a --quick pmem run must produce, on one or two threads.
    @Test(arguments: [1, 2])
    func quickPmemRunProducesEveryFigureInTheJSON(threads: Int) throws {
        let dir = TempDir()
        let r = try VpmemProcess.run(["bench", "pmem", "--quick", "--json", "--emulated", "8M", "--dir", dir.path, "--threads", "\(threads)"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(r.stdout)
        let figures = Self.figures(report)
        let names = Set(figures.compactMap { $0["name"] as? String })
        let methods = ["memcpy_persist", "memcpy_nodrain+drain", "memcpy_nontemporal", "memcpy_temporal", "store+persist", "store+msync"]
        for t in 1...threads where t == 1 || t == threads {
            for pattern in ["seq", "rand"] {
                for size in [64, 4096] {
                    for m in methods { #expect(names.contains("write \(m) \(pattern) \(size)B t\(t)")) }
                    #expect(names.contains("read \(pattern) \(size)B t\(t)"))
                }
            }
        }
        for p in ["p50", "p90", "p99", "p99.9", "max"] { #expect(names.contains("latency store8+msync \(p)")) }
        #expect(names.count == figures.count, "figure names are unique")
        for f in figures {
            let v = try #require(Self.number(f, "value")), b = try #require(Self.number(f, "baseline_value"))
            let ratio = try #require(Self.number(f, "ratio"))
            #expect(v > 0 && b > 0, "\(f)")
            #expect(abs(ratio - v / b) <= 1e-9 * max(1, ratio))
            #expect((f["baseline"] as? String)?.hasPrefix("DRAM") == true)
        }
        // Host facts: pmem or not, NUMA (or why not), libpmem's choice, the force variable, durability.
        let backing = try #require(report["backing"] as? [String: Any])
        #expect(backing["is_pmem"] as? Bool == false)
        #expect(backing["numa_node"] != nil || (backing["numa_source"] as? String)?.isEmpty == false)
        let durability = try #require(backing["durability"] as? [String: Any])
        let mount = try #require(backing["mount"] as? [String: Any])
        #expect(durability["mechanism"] as? String == (mount["fs_type"] as? String == "tmpfs" ? "none-volatile-memory" : "msync"))
        let libpmem = try #require(report["libpmem"] as? [String: Any])
        #expect((libpmem["flush"] as? String)?.isEmpty == false && (libpmem["copy"] as? String)?.isEmpty == false)
        #expect(libpmem["pmem_is_pmem_force"] == nil)
        // The temporary backing is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    /// PMEM_IS_PMEM_FORCE=1 makes libpmem call the file pmem: msync is no longer offered, and the
    /// report says the writes are not durable and why.
    @Test func forcedPmemOnAFileIsReportedAsNotDurable() throws {
        let dir = TempDir()
        let r = try VpmemProcess.run(["bench", "pmem", "--quick", "--json", "--emulated", "8M", "--dir", dir.path],
                                     environment: ["PMEM_IS_PMEM_FORCE": "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(r.stdout)
        let backing = try #require(report["backing"] as? [String: Any])
        #expect(backing["is_pmem"] as? Bool == true)
        let durability = try #require(backing["durability"] as? [String: Any])
        #expect(durability["durable"] as? Bool == false)
        let writes = Self.figures(report).filter { $0["group"] as? String == "write" }
        #expect(!writes.contains { $0["method"] as? String == "store+msync" })
        #expect(writes.allSatisfy { $0["durable"] as? Bool == false })
        #expect((report["libpmem"] as? [String: Any])?["pmem_is_pmem_force"] as? String == "1")
    }

    /// Writes `report` with every ratio moved the wrong way by `fraction` (only the named figure
    /// when `only` is given).
    static func degraded(_ report: [String: Any], by fraction: Double, only: String? = nil) -> [String: Any] {
        var r = report
        r["figures"] = figures(report).map { f -> [String: Any] in
            guard only == nil || f["name"] as? String == only else { return f }
            var f = f
            let ratio = number(f, "ratio")!
            f["ratio"] = f["better"] as? String == "higher" ? ratio * (1 - fraction) : ratio * (1 + fraction)
            return f
        }
        return r
    }

    static func write(_ object: [String: Any], _ path: String) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    @Test func compareFlagsASynthetic20PercentRegressionAndPassesA2PercentOne() throws {
        let dir = TempDir()
        let saved = dir.file("saved.json")
        let run = try VpmemProcess.run(["bench", "pmem", "--quick", "--emulated", "8M", "--dir", dir.path, "--save", saved])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try json(String(contentsOfFile: saved, encoding: .utf8))
        let names = Self.figures(report).compactMap { $0["name"] as? String }
        let victim = try #require(names.first { $0.hasPrefix("write memcpy_persist seq 4096B") })
        let latency = try #require(names.first { $0.hasSuffix("p50") })

        for (name, which) in [(victim, "a bandwidth ratio (higher is better)"), (latency, "a latency ratio (lower is better)")] {
            try Self.write(Self.degraded(report, by: 0.20, only: name), dir.file("worse.json"))
            let worse = try VpmemProcess.run(["bench", "compare", saved, dir.file("worse.json")])
            #expect(worse.status == 1, "\(which)")
            #expect(worse.stdout.split(separator: "\n").contains { $0.hasPrefix(name) && $0.contains("REGRESSED") }, "\(worse.stdout)")
            #expect(worse.stderr.contains("1 figure regressed by more than 5.0%"))
            // A looser threshold lets it through.
            #expect(try VpmemProcess.run(["bench", "compare", saved, dir.file("worse.json"), "--max-regression", "25%"]).status == 0)
        }
        try Self.write(Self.degraded(report, by: 0.02), dir.file("slight.json"))
        let slight = try VpmemProcess.run(["bench", "compare", saved, dir.file("slight.json")])
        #expect(slight.status == 0, "\(slight.stdout)\(slight.stderr)")
        #expect(slight.stdout.contains("\(names.count - 1) within 5.0%, 0 regressed"), "every figure but the maximum latency")
    }

    /// --compare on a live run: against ratios ten thousand times better than any run reaches it
    /// fails; against ratios ten thousand times worse it passes.
    @Test func compareDuringARunJudgesThatRunsRatios() throws {
        let dir = TempDir()
        let saved = dir.file("saved.json")
        #expect(try VpmemProcess.run(["bench", "pmem", "--quick", "--emulated", "8M", "--dir", dir.path, "--save", saved]).status == 0)
        let report = try json(String(contentsOfFile: saved, encoding: .utf8))
        func scaled(_ factor: Double) -> [String: Any] {
            var r = report
            r["figures"] = Self.figures(report).map { f -> [String: Any] in
                var f = f
                let ratio = Self.number(f, "ratio")!
                f["ratio"] = f["better"] as? String == "higher" ? ratio * factor : ratio / factor
                return f
            }
            return r
        }
        try Self.write(scaled(10_000), dir.file("unreachable.json"))
        try Self.write(scaled(0.0001), dir.file("easy.json"))
        let fail = try VpmemProcess.run(["bench", "pmem", "--quick", "--emulated", "8M", "--dir", dir.path, "--compare", dir.file("unreachable.json")])
        #expect(fail.status == 1)
        #expect(fail.stderr.contains("regressed by more than 5.0%"))
        let pass = try VpmemProcess.run(["bench", "pmem", "--quick", "--emulated", "8M", "--dir", dir.path, "--compare", dir.file("easy.json")])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        // A hotpaths baseline cannot judge a pmem run.
        var other = report
        other["kind"] = "hotpaths"
        try Self.write(other, dir.file("other.json"))
        let mismatch = try VpmemProcess.run(["bench", "compare", dir.file("other.json"), saved])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("compare like with like"))
    }

    @Test func plotsAreValidSVGAndPNG() throws {
        let dir = TempDir()
        let svg = dir.file("bandwidth.svg"), png = dir.file("bandwidth.png")
        let run = try VpmemProcess.run(["bench", "pmem", "--quick", "--emulated", "8M", "--dir", dir.path, "--plot", svg, "--save", dir.file("r.json")])
        #expect(run.status == 0, "\(run.stderr)")
        try expectSVG(svg, mentions: ["memcpy_persist", "DRAM memcpy", "GB/s"])
        #expect(try VpmemProcess.run(["bench", "plot", dir.file("r.json"), png]).status == 0)
        try expectPNG(png)
    }

    /// The hot paths: every figure of the list in the JSON, each with its baseline, and the
    /// lookup picture.
    @Test func quickHotpathsRunProducesEveryFigureAndTheLookupPlot() throws {
        let dir = TempDir()
        let svg = dir.file("lookup.svg")
        let r = try VpmemProcess.run(["bench", "hotpaths", "--quick", "--json", "--plot", svg])
        #expect(r.status == 0, "\(r.stderr)")
        let figures = Self.figures(try json(r.stdout))
        let pairs = Set(figures.map { "\($0["name"] as? String ?? "")" })
        for expected in [
            "rangeset.lookup-256-random vs baseline.xen-list-lookup-256-random",
            "rangeset.lookup-8192-random vs baseline.swift-rangeset-lookup-8192-random",
            "rangeset.lookup-1m-random vs baseline.binary-search-lookup-1m-random",
            "p2m.translate-hot-4k vs baseline.four-load-chase",
            "p2m.translate-hot-4k vs baseline.dictionary-hot",
            "p2m.translate-random-4g vs baseline.dictionary-random-4g",
            "steer.decide-type-8192 vs baseline.p2m-translate-8192",
            "steer.decide-range-8192 vs baseline.xen-style-select-8192",
            "nvdimm.dsm-get-label-128k vs baseline.memcpy-label-128k",
            "liveupdate.one-pass-1m-frames-1m-ranges vs baseline.bare-scan-1m-frames",
        ] { #expect(pairs.contains(expected), "\(expected)") }
        #expect(figures.count == 18)
        for f in figures {
            #expect((Self.number(f, "value") ?? 0) > 0 && (Self.number(f, "baseline_value") ?? 0) > 0)
            #expect(f["better"] as? String == "lower")
        }
        try expectSVG(svg, mentions: ["vpmem RangeSet", "Swift.RangeSet", "Xen-style linked list", "binary search"])
    }

    @Test func badParametersGetOneClearLine() throws {
        let dir = TempDir()
        try "{}".write(toFile: dir.file("junk.json"), atomically: true, encoding: .utf8)
        for (args, needle) in [
            (["bench", "pmem", "--threads", "0"], "--threads 0: give 1 to 256"),
            (["bench", "pmem", "--plot", dir.file("x.jpg")], "must end in .svg or .png"),
            (["bench", "pmem", dir.file("x"), "--emulated", "8M"], "not both"),
            (["bench", "pmem", "--emulated", "8X"], "unknown size suffix"),
            (["bench", "hotpaths", "--max-regression", "lots"], "'lots' is not a percentage"),
            (["bench", "compare", dir.file("junk.json"), dir.file("junk.json")], "not a vpmem bench report"),
            (["bench", "compare", dir.file("missing.json"), dir.file("junk.json")], "cannot read it"),
            (["bench", "pmem", "--emulated", "2M", "--dir", dir.path, "--quick"], "needs at least"),
        ] {
            let r = try VpmemProcess.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("vpmem: ") && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("DecodingError") && !r.stderr.contains("The operation could not be completed"), "no Foundation text: \(r.stderr)")
        }
    }

    /// Ctrl-C in the middle of a sweep removes the temporary backing and exits 130.
    @Test func interruptRemovesTheTemporaryBacking() throws {
        let dir = TempDir()
        let p = Process()
        p.executableURL = VpmemProcess.binary
        p.arguments = ["bench", "pmem", "--emulated", "16M", "--dir", dir.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait (bounded) for the backing to appear, then interrupt.
        var appeared = false
        for _ in 0..<600 {
            if let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path), !files.isEmpty { appeared = true; break }
            usleep(50_000)
        }
        #expect(appeared)
        usleep(200_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func pmemInfoSaysWhetherWritesAreDurable() throws {
        let dir = TempDir()
        let path = dir.file("d.pmem")
        #expect(try VpmemProcess.run(["pmem", "create", path, "--size", "4M"]).status == 0)
        let info = try json(VpmemProcess.run(["pmem", "info", path, "--json"]).stdout)
        let d = try #require(info["durability"] as? [String: Any])
        let fs = ((info["facts"] as? [String: Any])?["mount"] as? [String: Any])?["fs_type"] as? String
        #expect(d["mechanism"] as? String == (fs == "tmpfs" ? "none-volatile-memory" : "msync"))
        let text = try VpmemProcess.run(["pmem", "info", path]).stdout
        #expect(text.contains("durable: "))
        let forced = try VpmemProcess.run(["pmem", "info", path], environment: ["PMEM_IS_PMEM_FORCE": "1"]).stdout
        #expect(forced.contains("durable: NO") && forced.contains("warning: PMEM_IS_PMEM_FORCE=1"))
    }
}

func expectSVG(_ path: String, mentions: [String]) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.hasPrefix("<?xml") && text.contains("<svg") && text.contains("</svg>"))
    final class Root: NSObject, XMLParserDelegate {
        var first: String?
        func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
            if first == nil { first = e }
        }
    }
    let parser = XMLParser(data: data)
    let root = Root()
    parser.delegate = root
    #expect(parser.parse(), "well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
    #expect(root.first == "svg")
    for m in mentions { #expect(text.contains(m), "\(m)") }
}

func expectPNG(_ path: String) throws {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    #expect(bytes.count > 33 && String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR")
    let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
    #expect(width == 960 && height == 540)
    #expect(Array(bytes.suffix(8).prefix(4)) == Array("IEND".utf8))
}
