import ArgumentParser
import DomainModel
import Foundation
import HostPmem
import VpmemCore

extension BenchCommand {
    struct Pmem: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sweep a pmem backing: every libpmem write + persist method, reads, durable-store latency, against DRAM.",
            discussion: """
                PATH is a /dev/daxN.M device, a file (on an fsdax mount, or anywhere), or a directory \
                to put a temporary file of --size in. Without PATH, --emulated SIZE makes a temporary \
                emulated file (in --dir, else /dev/shm, else the temporary directory). Temporary files \
                are removed at the end and on Ctrl-C. An existing backing is written from its start \
                (the largest power of two per thread that fits, times the threads) and zeroed there \
                again at the end; one that holds a namespace label area (a vNVDIMM's backing) or any \
                non-zero byte where the sweep writes is refused unless --overwrite-backing is given. \
                Ctrl-C on an existing backing leaves the sweep's bytes in it. Sizes 64 B to 2 MiB, \
                sequential and random, on 1 to N threads; every figure beside the same copy DRAM to DRAM.
                """)
        @Argument(help: "A device-dax device, a file, or a directory for a temporary file.") var path: String?
        @Option(help: "Make a temporary emulated pmem file of this size (default 256M; 8M with --quick).", transform: parseSize)
        var emulated: ByteSize?
        @Option(help: "Size of the temporary file when PATH is a directory (default 256M).", transform: parseSize) var size: ByteSize?
        @Option(help: "Where --emulated puts its file.") var dir: String?
        @Option(help: "Measure on 1, 2, 4 ... up to N threads.") var threads = 1
        @Option(help: "Access sizes to sweep, comma-separated powers of two from 64 to 2M (default 64,256,1K,4K,16K,64K,256K,1M,2M; 64,4K with --quick).")
        var sizes: String?
        @Flag(name: .customLong("compare-fio"), help: "Run fio's libpmem engine on the same backing and sizes and print it beside vpmem.")
        var compareFio = false
        @Option(help: "With --compare-fio: rounds vpmem and fio take turns in on each figure (default 3; 1 with --quick).")
        var rounds: Int?
        @Flag(name: .customLong("overwrite-backing"),
              help: "Sweep an existing backing even if it holds data or a namespace label area (destroys them).")
        var overwriteBacking = false
        @OptionGroup var output: Output

        func validate() throws {
            guard (1...256).contains(threads) else { throw BenchError.badThreads(threads) }
            if let rounds {
                guard (1...99).contains(rounds) else { throw BenchError.badRounds(rounds) }
                guard compareFio else { throw BenchError.roundsWithoutFio }
            }
            if let sizes { _ = try Self.parseSizes(sizes) }
            if path != nil && emulated != nil { throw BenchError.pathAndEmulated }
        }

        func run() async throws {
            let threadCounts = Array(Set(sequence(first: 1) { $0 * 2 <= threads ? $0 * 2 : nil } + [threads])).sorted()
            let minimum = UInt64(PmemSweep.maxSize * 2 * threads)
            let defaultSize = UInt64(output.quick ? 8 << 20 : 256 << 20)
            var temporary: TemporaryBacking?
            let mapping: PmemMapping
            var isDirectory: ObjCBool = false
            if let path, !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
                mapping = try PmemMapping.open(path: path)
            } else {
                let t = TemporaryBacking(directory: path ?? dir ?? TemporaryBacking.defaultDirectory)
                temporary = t
                let asked = (path == nil ? emulated : size)?.bytes
                if let asked, asked < minimum {
                    t.remove()
                    throw BenchError.backingTooSmall(size: asked, needed: minimum)
                }
                let bytes = asked ?? max(defaultSize, minimum)
                do { mapping = try PmemMapping.create(path: t.path, size: bytes) } catch {
                    t.remove()
                    throw error
                }
            }
            defer { temporary?.remove() }
            guard mapping.length >= minimum else { throw BenchError.backingTooSmall(size: mapping.length, needed: minimum) }
            // An existing backing: refuse to destroy what it holds, unless asked to.
            let swept = UInt64(PmemSweep.region(length: Int(mapping.length), maxThreads: threads) * threads)
            var labelArea: LabelAreaCheckReport?
            if temporary == nil {
                let labels = try BackingLabelProbe.check(mapping, configuredLabelSize: nil)
                labelArea = LabelAreaCheckReport(labels, path: mapping.path)
                if !overwriteBacking {
                    if let area = labels.found.first {
                        throw BenchError.backingHoldsLabelArea(path: mapping.path, summary: area.summary, swept: swept)
                    }
                    if let at = try mapping.firstNonZero(offset: 0, count: swept) {
                        throw BenchError.backingHoldsData(path: mapping.path, swept: swept, at: at)
                    }
                }
            }
            // What the sweep and fio write goes again at the end, however the run ends (but a
            // signal): a backing that held zeros there is left as it was.
            defer { if temporary == nil { Self.zero(mapping, count: swept) } }

            let facts = BackingFacts.gather(path: mapping.path, isPmem: mapping.isPmem)
            let choice = LibpmemChoice.current()
            let plan = PmemSweep.Plan(
                sizes: try sizes.map(Self.parseSizes) ?? (output.quick ? PmemSweep.quickSizes : PmemSweep.fullSizes), threads: threadCounts,
                methods: PmemWriteMethod.offered(isPmem: mapping.isPmem),
                nanosecondsPerFigure: output.quick ? 2_000_000 : 100_000_000,
                latencySamples: output.quick ? 2000 : 200_000)
            let steps = threadCounts.count * 2 * plan.sizes.count * (plan.methods.count + 2) + 1
            let progress = BenchProgress(total: steps)
            let isPmem = mapping.isPmem, path = mapping.path
            let existing = temporary == nil
            let fio = compareFio ? which("fio") : nil
            let fioSeconds = output.quick ? 0.1 : 0.25
            let rounds = self.rounds ?? (output.quick ? 1 : 3)
            let cells = BenchFio.cells(sizes: plan.sizes, threads: threadCounts, methods: plan.methods,
                                       threshold: choice.nonTemporalThreshold)
            let fioProgress = BenchProgress(total: cells.count)
            var fioRows: Result<[BenchReport.FioRow], Error>?
            let measured = try mapping.withUnsafeMutableBytes(offset: 0, count: Int(mapping.length)) { buf -> [BenchReport.Figure] in
                let sweep = try PmemSweep(pmem: buf.baseAddress!, length: buf.count, isPmem: isPmem, path: path, plan: plan)
                defer { sweep.release() }
                let figures = try sweep.run(progress: progress.advance)
                progress.finish()
                // fio and vpmem take turns on each cell while the sweep's buffers are still warm.
                if let fio {
                    fioRows = Result {
                        try BenchFio.compare(
                            cells: cells, rounds: rounds,
                            vpmem: { c in
                                // Untimed first, as fio's ramp_time: fio's turn has just left the
                                // caches, TLB and branch predictors its own.
                                let op: PmemSweep.Op = c.write.map { .write($0) } ?? .read
                                let span = BenchFio.span(region: sweep.region), ns = UInt64(fioSeconds * 1e9)
                                _ = try sweep.measure(op, size: c.size, random: c.random, threads: c.threads, nanoseconds: ns, span: span,
                                                      shared: true)
                                return try sweep.measure(op, size: c.size, random: c.random, threads: c.threads, nanoseconds: ns,
                                                         span: span, shared: true)
                            },
                            fio: { c in
                                try BenchFio.run(fio: fio, path: path, length: buf.count, span: BenchFio.span(region: sweep.region),
                                                 cell: c, seconds: fioSeconds, forcePmem: !isPmem)
                            },
                            progress: fioProgress.advance)
                    }
                    fioProgress.finish()
                }
                return figures
            }
            // A method is durable here only if the backing can be: nothing on tmpfs is.
            let figures = try measured.get().map { f in
                var f = f
                if f.durable == true && !facts.durability.durable { f.durable = false }
                return f
            }
            var report = BenchReport(kind: .pmem, host: .current(), backing: facts, libpmem: choice, quick: output.quick,
                                     figures: figures)
            report.labelArea = labelArea
            report.sweptBytes = existing ? swept : nil
            if compareFio {
                if fio == nil {
                    report.fioSkipped = "fio is not installed: apt-get install fio (its libpmem engine is built in)"
                } else if let fioRows {
                    switch fioRows {
                    case let .success(rows):
                        report.fio = rows
                        report.fioUnmatched = BenchFio.unmatched(plan.methods)
                        if !isPmem {
                            report.fioNote = "fio's libpmem engine refuses a backing that is not pmem: it ran with PMEM_IS_PMEM_FORCE=1, making the same flush-based calls (durable on neither)"
                        }
                    case let .failure(error):
                        // The sweep is done and worth printing: fio's failure is reported, not fatal.
                        report.fioSkipped = "\(error)"
                    }
                }
            }
            withExtendedLifetime(mapping) {}
            try BenchCommand.finish(report, output, text: { Self.text(report) }, plot: BenchPlot.pmemBandwidth)
        }

        /// `--sizes`: powers of two from 64 B to 2 MiB, each once, ascending.
        static func parseSizes(_ text: String) throws -> [Int] {
            var out: [Int] = []
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let bytes: UInt64
                do { bytes = try Parsers.size(String(part)).bytes } catch {
                    throw BenchError.badSizes(text, reason: "'\(part)' is not a size (\(error))")
                }
                guard bytes >= 64, bytes <= UInt64(PmemSweep.maxSize), bytes & (bytes - 1) == 0 else {
                    throw BenchError.badSizes(text, reason: "\(part) is not a power of two from 64 to 2M")
                }
                out.append(Int(bytes))
            }
            let sorted = Array(Set(out)).sorted()
            guard sorted.count == out.count else { throw BenchError.badSizes(text, reason: "a size is given twice") }
            return sorted
        }

        /// Zeroes and persists the first `count` bytes of `mapping`.
        static func zero(_ mapping: PmemMapping, count: UInt64) {
            do {
                _ = try mapping.withUnsafeMutableBytes(offset: 0, count: Int(count)) { buf in memset(buf.baseAddress!, 0, buf.count) }
                try mapping.persist(offset: 0, count: Int(count))
            } catch {
                FileHandle.standardError.write(Data("warning: the swept bytes of \(mapping.path) were not zeroed again: \(error)\n".utf8))
            }
        }

        static func text(_ r: BenchReport) -> String {
            var lines: [String] = []
            if r.host.build == "debug" { lines.append("note: a debug build: rebuild with `swift build -c release` for figures worth reading") }
            if let b = r.backing {
                lines.append("backing: \(b.path) (\(b.kind.rawValue)), \(b.isPmem ? "real pmem (pmem_is_pmem)" : "not pmem (pmem_is_pmem says no)")")
                lines.append("device: \(b.device ?? "none")\(b.mount.map { ", \($0.fsType) on \($0.source) at \($0.mountPoint)\($0.dax ? ", dax" : "")" } ?? "")"
                             + "\(b.namespace.map { ", namespace \($0)" } ?? "")")
                lines.append("NUMA node: \(b.numaNode.map(String.init) ?? "unknown") (\(b.numaSource))")
            }
            if let c = r.libpmem {
                lines.append("libpmem: flush \(c.flush), copy \(c.copy) (non-temporal from \(c.nonTemporalThreshold) B), "
                             + "hardware drain \(c.hardwareDrain ? "yes" : "no"), eADR \(c.autoFlush.map { $0 ? "yes" : "no" } ?? "unknown")")
                lines.append("PMEM_IS_PMEM_FORCE: \(c.pmemIsPmemForce ?? "not set")\(c.overrides.isEmpty ? "" : "; set: " + c.overrides.joined(separator: " "))")
            }
            if let d = r.backing?.durability {
                lines.append("durable: \(d.durable ? "yes" : "NO"): \(d.explanation)")
                for w in d.warnings { lines.append("warning: \(w)") }
            }
            if let l = r.labelArea, let m = l.message { lines.append("label area: \(m)") }
            if let s = r.sweptBytes {
                lines.append("swept: the backing's first \(ByteSize(bytes: s)), zeroed again at the end")
            }
            let bandwidth = r.figures.filter { $0.group == "write" || $0.group == "read" }
            let threads = Array(Set(bandwidth.compactMap(\.threads))).sorted()
            let columns = BenchPlot.uniq(bandwidth.map { $0.group == "read" ? "read" : $0.method ?? "?" })
            for t in threads {
                for pattern in ["seq", "rand"] {
                    let rows = bandwidth.filter { $0.threads == t && $0.pattern == pattern }
                    let sizes = Array(Set(rows.compactMap(\.size))).sorted()
                    lines.append("")
                    lines.append("\(pattern == "seq" ? "sequential" : "random"), \(t) thread\(t == 1 ? "" : "s"): GB/s (x DRAM memcpy of the same size)")
                    lines.append(table(["SIZE", "DRAM COPY"] + columns, sizes.map { s in
                        let at = rows.filter { $0.size == s }
                        let dram = at.first { $0.group == "write" }?.baselineValue ?? 0
                        return [sizeLabel(s), fmt(dram, 2)] + columns.map { c in
                            at.first { ($0.group == "read" ? "read" : $0.method) == c }
                                .map { fmt($0.value, 2) + " (" + fmt($0.ratio, 2) + "x)" + ($0.durable == false ? "*" : "") } ?? "-"
                        }
                    }))
                }
            }
            if bandwidth.contains(where: { $0.durable == false }) {
                lines.append("* not durable on this backing when the call returns (see durable: above)")
            }
            let latency = r.figures.filter { $0.group.hasPrefix("latency") }
            if let first = latency.first {
                lines.append("")
                lines.append("\(first.method ?? "store") latency, ns (DRAM 8-byte store in brackets): "
                             + latency.map { "\($0.name.split(separator: " ").last!) \(fmt($0.value, 0)) (\(fmt($0.baselineValue, 0)))" }.joined(separator: ", "))
            }
            if let fio = r.fio, !fio.isEmpty {
                lines.append("")
                let rounds = fio.first?.rounds ?? 1
                lines.append("fio libpmem engine on the same backing, alternating with vpmem (\(rounds) round\(rounds == 1 ? "" : "s") each, medians): GB/s; spread = (max - min) / median")
                lines.append(table(["METHOD", "FIO SETTINGS", "SIZE", "THREADS", "VPMEM", "SPREAD", "FIO", "SPREAD", "VPMEM/FIO"], fio.map {
                    [$0.method, $0.fioSettings, sizeLabel($0.size), String($0.threads), fmt($0.vpmemGBps, 2), fmt($0.vpmemSpread, 2),
                     fmt($0.fioGBps, 2), fmt($0.fioSpread, 2), fmt($0.ratio, 3)]
                }))
                let worst = fio.min { $0.ratio < $1.ratio }!
                lines.append("lowest vpmem/fio: \(fmt(worst.ratio, 3)) (\(worst.method) \(worst.pattern) \(sizeLabel(worst.size)), \(worst.threads) thread(s))")
            }
            for u in r.fioUnmatched ?? [] { lines.append("no fio equivalent: \(u.method): \(u.reason)") }
            if let note = r.fioNote { lines.append("note: \(note)") }
            if let why = r.fioSkipped { lines.append("fio: not run: \(why)") }
            return lines.joined(separator: "\n")
        }
    }
}
