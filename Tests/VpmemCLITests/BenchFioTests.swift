import Foundation
import HostPmem
import Testing
@testable import VpmemCLI

/// `bench pmem --compare-fio`: which figures meet which fio settings, the alternation of rounds
/// and the medians; then a real run where fio is installed. No assertion depends on a timing.
@Suite struct BenchFioTests {
    @Test func roundsAlternateAndTheMediansAreCompared() throws {
        var calls: [String] = []
        var va = [5.0, 1.0, 3.0].makeIterator(), fa = [2.0, 4.0, 6.0].makeIterator()
        let cell = BenchFio.Cell(method: "read", write: nil, setting: .init(read: true, direct: false), size: 4096, threads: 1, random: true)
        let rows = try BenchFio.compare(cells: [cell], rounds: 3,
                                        vpmem: { _ in calls.append("vpmem"); return va.next()! },
                                        fio: { _ in calls.append("fio"); return fa.next()! }, progress: { _ in })
        #expect(calls == ["vpmem", "fio", "vpmem", "fio", "vpmem", "fio"])
        let row = try #require(rows.first)
        #expect(row.vpmemGBps == 3 && row.fioGBps == 4 && row.ratio == 0.75)
        #expect(abs(row.vpmemSpread - 4.0 / 3.0) < 1e-12 && abs(row.fioSpread - 1.0) < 1e-12)
        #expect(row.pattern == "rand" && row.fioSettings == "rw=randread" && row.rounds == 3)
        #expect(BenchFio.median([4, 1, 3, 2]) == 2.5 && BenchFio.median([7]) == 7)
    }

    /// memcpy_persist meets the fio setting of the stores libpmem picks at that size; the
    /// methods with no fio counterpart are listed with a reason, never silently dropped.
    @Test func everyMethodIsMatchedOrListedAsUnmatched() {
        let methods = PmemWriteMethod.allCases
        let cells = BenchFio.cells(sizes: [64, 1 << 20], threads: [1, 2], methods: methods, threshold: 256 << 10)
        #expect(cells.count == 2 * 2 * 2 * 4)  // threads x patterns x sizes x (3 write methods + read)
        let persist = cells.filter { $0.method == "memcpy_persist" && !$0.random && $0.threads == 1 }
        #expect(persist.map(\.setting.direct) == [false, true])
        #expect(cells.filter { $0.method == "memcpy_nontemporal" }.allSatisfy { $0.setting.direct })
        #expect(cells.filter { $0.method == "memcpy_temporal" }.allSatisfy { !$0.setting.direct })
        #expect(Set(cells.map(\.random)) == [false, true])
        let unmatched = BenchFio.unmatched(methods).map(\.method)
        let matched = Set(cells.map(\.method))
        for m in methods { #expect(matched.contains(m.rawValue) != unmatched.contains(m.rawValue), "\(m)") }
        #expect(unmatched.contains { $0.contains("latency") })
    }

    /// The text names every method without a fio equivalent, with why, beside the rows.
    @Test func theTextLabelsMethodsWithNoFioEquivalent() {
        var report = BenchReport(kind: .pmem, host: .current(), backing: nil, libpmem: nil, quick: true, figures: [])
        report.fio = [.init(method: "read", fioSettings: "rw=randread", pattern: "rand", size: 4096, threads: 1, rounds: 3,
                            vpmemGBps: 3, fioGBps: 4, vpmemSpread: 0.1, fioSpread: 0.2, ratio: 0.75)]
        report.fioUnmatched = BenchFio.unmatched(PmemWriteMethod.allCases)
        let text = BenchCommand.Pmem.text(report)
        #expect(report.fioUnmatched?.count == 4)
        for u in report.fioUnmatched ?? [] { #expect(text.contains("no fio equivalent: \(u.method): \(u.reason)")) }
        #expect(text.contains("rw=randread") && text.contains("0.750"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/fio")))
    func aQuickRunPutsFioBesideEveryMatchedFigure() throws {
        let dir = TempDir()
        let r = try VpmemProcess.run(["bench", "pmem", "--quick", "--json", "--emulated", "8M", "--dir", dir.path, "--compare-fio"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(r.stdout)
        let rows = report["fio"] as? [[String: Any]] ?? []
        #expect(rows.count == 2 * 2 * 4, "\(report["fio_skipped"] ?? "")")
        for row in rows {
            for key in ["vpmem_median_gbps", "fio_median_gbps", "ratio"] {
                #expect(((row[key] as? NSNumber)?.doubleValue ?? 0) > 0, "\(key) in \(row)")
            }
        }
        #expect(Set(rows.compactMap { $0["pattern"] as? String }) == ["seq", "rand"])
        #expect(Set(rows.compactMap { $0["fio_settings"] as? String }).isSuperset(of: ["rw=read", "rw=randread"]))
        for row in rows {
            for key in ["vpmem_spread", "fio_spread", "rounds"] { #expect(row[key] is NSNumber, "\(key) in \(row)") }
        }
        let unmatched = (report["fio_unmatched"] as? [[String: Any]] ?? []).compactMap { $0["method"] as? String }
        #expect(unmatched.contains("store+msync") && unmatched.contains("memcpy_nodrain+drain"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "the temporary backing is removed")
    }

    /// fio's libpmem engine resizes a file to its I/O size: on an existing backing of a size
    /// no power of two, with two threads, the backing keeps its size and both tools report.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/fio")))
    func fioLeavesAnExistingBackingItsSize() throws {
        let dir = TempDir()
        let path = dir.file("backing")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, 12 << 20) == 0)
        let r = try VpmemProcess.run(["bench", "pmem", path, "--quick", "--json", "--threads", "2", "--sizes", "4K", "--compare-fio"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = (try json(r.stdout))["fio"] as? [[String: Any]] ?? []
        #expect(Set(rows.compactMap { $0["threads"] as? Int }) == [1, 2])
        #expect(rows.allSatisfy { (($0["fio_median_gbps"] as? NSNumber)?.doubleValue ?? 0) > 0 }, "\(rows)")
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        #expect(size == 12 << 20)
    }

    /// --sizes sweeps exactly the sizes given (the latency figure is always an 8-byte store).
    @Test func sizesChoosesTheSweptSizes() throws {
        let dir = TempDir()
        let r = try VpmemProcess.run(["bench", "pmem", "--quick", "--json", "--emulated", "8M", "--dir", dir.path, "--sizes", "16K,256"])
        #expect(r.status == 0, "\(r.stderr)")
        let figures = (try json(r.stdout))["figures"] as? [[String: Any]] ?? []
        let sizes = Set(figures.filter { ($0["group"] as? String)?.hasPrefix("latency") == false }.compactMap { $0["size"] as? Int })
        #expect(sizes == [256, 16384])
    }
}

/// A baseline saved before fio rows had rounds still loads: --compare reads every saved report.
@Suite struct BenchFioBaselineTests {
    @Test func theCommittedBaselineLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let report = try BenchReport.load(root.appendingPathComponent("docs/bench/pmem.json").path)
        let rows = try #require(report.fio)
        #expect(!rows.isEmpty && rows.allSatisfy { $0.vpmemGBps > 0 && $0.fioGBps > 0 && $0.rounds >= 1 })
    }
}
