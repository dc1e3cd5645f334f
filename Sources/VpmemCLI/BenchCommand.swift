import ArgumentParser
import Foundation
import HostPmem
import HotPathKernels
import VpmemCore

/// `vpmem bench`: a host's pmem and vpmem's hot paths, each figure beside a baseline measured in
/// the same run; curves through gnuplot; a saved baseline to gate regressions against.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark this host's pmem and vpmem's hot paths against same-run baselines.",
        discussion: """
            Every figure is reported beside its baseline from the same run and as the ratio of the \
            two; --save keeps the ratios, --compare judges a later run by them, so a baseline from \
            a quiet machine still judges a run on a busy one. Build with `swift build -c release` \
            first: a debug build's figures say little.
            """,
        subcommands: [Pmem.self, Hotpaths.self, Compare.self, Plot.self])

    /// Options every bench run takes.
    struct Output: ParsableArguments {
        @Flag(help: "Print the report as JSON for scripts instead of text.") var json = false
        @Flag(help: "A short run: few sizes and short timings, every kind of figure once.") var quick = false
        @Option(help: "Write the report (host facts and every ratio) to FILE, as a baseline for --compare.") var save: String?
        @Option(help: "Compare this run's ratios with a baseline saved by --save; exit 1 past --max-regression.") var compare: String?
        @Option(name: .customLong("max-regression"), help: "How far a ratio may move the wrong way before --compare fails (default 5%).",
                transform: parsePercentage)
        var maxRegression = 0.05
        @Option(help: "Draw the curves with gnuplot into FILE.svg or FILE.png.") var plot: String?
        @Flag(help: "Replace an existing --save or --plot file (atomically); without it they must not exist.") var force = false

        func validate() throws {
            if let plot { _ = try BenchPlot.format(of: plot) }
            // Refused before the run, not after minutes of it.
            for path in [save, plot].compactMap({ $0 }) { try OutputFiles.checkWritable(path, force: force) }
        }
    }

    /// Prints, saves, plots and compares a finished report, in that order, so a failed
    /// comparison still leaves the report and the picture behind.
    static func finish(_ report: BenchReport, _ output: Output, text: () -> String, plot: (BenchReport, String) throws -> Void) throws {
        if output.json { print(try JSONOutput.encode(report)) } else { print(text()) }
        if let save = output.save { try report.save(save, force: output.force) }
        if let path = output.plot { try plot(report, path) }
        guard let path = output.compare else { return }
        let saved = try BenchReport.load(path)
        guard saved.kind == report.kind else {
            throw BenchError.kindMismatch(path: path, saved: saved.kind.rawValue, running: report.kind.rawValue)
        }
        let comparison = BenchComparison(saved: saved, now: report, threshold: output.maxRegression)
        let rendered = comparison.render() + "\n"
        if output.json { FileHandle.standardError.write(Data(rendered.utf8)) } else { print(rendered, terminator: "") }
        if !comparison.regressions.isEmpty {
            throw BenchError.regressions(count: comparison.regressions.count, threshold: fmt(output.maxRegression * 100, 1) + "%")
        }
    }

    struct Plot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw the curves of a saved report (bench pmem: bandwidth; bench hotpaths: lookup) with gnuplot.")
        @Argument(help: "A report written by --save.") var report: String
        @Argument(help: "FILE.svg or FILE.png.") var file: String
        @Flag(help: "Replace FILE if it exists.") var force = false

        func validate() throws {
            _ = try BenchPlot.format(of: file)
            try OutputFiles.checkWritable(file, force: force)
        }

        func run() async throws {
            let r = try BenchReport.load(report)
            switch r.kind {
            case .pmem: try BenchPlot.pmemBandwidth(r, to: file)
            case .hotpaths: try BenchPlot.lookup(r, to: file)
            }
        }
    }

    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two saved reports' ratios; exit 1 when one regressed past --max-regression.")
        @Argument(help: "The baseline, written by --save.") var saved: String
        @Argument(help: "The report to judge, written by --save.") var current: String
        @Option(name: .customLong("max-regression"), help: "How far a ratio may move the wrong way (default 5%).", transform: parsePercentage)
        var maxRegression = 0.05

        func run() async throws {
            let a = try BenchReport.load(saved), b = try BenchReport.load(current)
            guard a.kind == b.kind else { throw BenchError.kindMismatch(path: saved, saved: a.kind.rawValue, running: b.kind.rawValue) }
            let c = BenchComparison(saved: a, now: b, threshold: maxRegression)
            print(c.render())
            if !c.regressions.isEmpty {
                throw BenchError.regressions(count: c.regressions.count, threshold: fmt(maxRegression * 100, 1) + "%")
            }
        }
    }
}

extension BenchCommand {
    struct Hotpaths: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time vpmem's hot paths, each as a ratio to its baseline from benchmarks/, in this run.",
            discussion: """
                Rangeset lookup at 256, 8,192 and 1,000,000 ranges (against the Xen-style list, \
                Swift.RangeSet and a binary search), p2m translate hot and random (the 4-load chase, \
                Dictionary), the steering decision by type and by range, the _DSM label read \
                (memcpy) and the live-update rebuild (the bare scan). The kernels are benchmarks/'s \
                and the gate's own (the HotPathKernels target). Each kernel and its baseline are \
                timed alternately, several times; the medians give the ratio (below 1: faster than \
                the baseline).
                """)
        @OptionGroup var output: Output

        func run() async throws {
            let reps = output.quick ? 3 : 7
            var timer = KernelTimer(targetNanoseconds: output.quick ? 2_000_000 : 25_000_000)
            let progress = BenchProgress(total: hotPathFigures.count)
            var figures: [BenchReport.Figure] = []
            for f in hotPathFigures {
                progress.advance("\(f.path): \(f.kernel) vs \(f.baseline)")
                guard let k = kernel(named: f.kernel), let b = kernel(named: f.baseline) else { continue }
                var ks: [Double] = [], bs: [Double] = []
                for _ in 0..<reps {
                    ks.append(timer.nanosecondsPerOp(k))
                    bs.append(timer.nanosecondsPerOp(b))
                }
                let kv = median(ks), bv = median(bs)
                figures.append(.init(
                    name: "\(f.kernel) vs \(f.baseline)", group: "hotpath", method: f.ranges == nil ? f.path : "rangeset lookup",
                    pattern: nil, size: f.ranges, threads: 1, value: kv, unit: "ns/op", baseline: f.baseline, baselineValue: bv,
                    ratio: kv / bv, better: .lower, durable: nil))
            }
            progress.finish()
            let report = BenchReport(kind: .hotpaths, host: .current(), backing: nil, libpmem: nil, quick: output.quick, figures: figures)
            try BenchCommand.finish(report, output, text: { Self.text(report) }, plot: BenchPlot.lookup)
        }

        static func text(_ r: BenchReport) -> String {
            var lines: [String] = []
            if r.host.build == "debug" { lines.append("note: a debug build: rebuild with `swift build -c release` for figures worth reading") }
            lines.append(table(["HOT PATH", "KERNEL", "NS/OP", "BASELINE", "NS/OP", "RATIO"], r.figures.map { f in
                [f.method == "rangeset lookup" ? "rangeset lookup, \(f.size ?? 0) ranges" : f.method ?? "", String(f.name.prefix { $0 != " " }),
                 fmt(f.value, 2), f.baseline, fmt(f.baselineValue, 2), fmt(f.ratio, 3) + "x"]
            }))
            return lines.joined(separator: "\n")
        }
    }
}
