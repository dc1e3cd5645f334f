import Foundation
import HostPmem

/// fio's libpmem engine on the same backing, sizes, patterns and thread counts, beside vpmem's
/// figures. fio's settings pick libpmem's flags (engines/libpmem.c): direct=1 non-temporal
/// stores, direct=0 temporal; sync=1 drains after every write. scramble_buffers=1 changes the
/// source between writes, so a source that stays in cache flatters nothing. A read is libc's
/// memcpy from fio's mapping into its one I/O buffer of the block size (iodepth=1), reused for
/// every read; vpmem's read is libc's memmove (glibc's memcpy and memmove are one routine) into
/// the first `size` bytes of one 2 MiB buffer per thread, reused likewise, faulted in before
/// the sweep: the same copy into an equally warm destination of the same size.
/// Matched methods:
///   memcpy_nontemporal  direct=1 sync=1
///   memcpy_temporal     direct=0 sync=1
///   memcpy_persist      the one of the two libpmem picks at that size (non-temporal at or
///                       above its threshold)
///   read                rw=read / randread
/// The others have no fio equivalent (`unmatched`) and are listed as such.
///
/// Each cell is measured in alternating rounds, vpmem then fio, so drift in the machine's load
/// falls on both; the medians are compared, and each side's spread is reported. Each turn runs
/// untimed first (fio's ramp_time; vpmem the same time), so neither is timed cold after the
/// other's turn.
enum BenchFio {
    struct Setting: Hashable {
        var read: Bool
        var direct: Bool
        var description: String {
            read ? "rw=read" : "rw=write direct=\(direct ? 1 : 0) sync=1"
        }
    }

    /// One compared figure: a vpmem method (or read) at a size, pattern and thread count.
    struct Cell: Equatable {
        var method: String
        var write: PmemWriteMethod?
        var setting: Setting
        var size: Int
        var threads: Int
        var random: Bool
    }

    /// vpmem's methods fio cannot be matched to, and why.
    static func unmatched(_ methods: [PmemWriteMethod]) -> [BenchReport.FioUnmatched] {
        var out: [BenchReport.FioUnmatched] = []
        for m in methods {
            switch m {
            case .memcpyPersist, .nonTemporal, .temporal: continue
            case .memcpyNoDrainThenDrain:
                out.append(.init(method: m.rawValue, reason: "fio's libpmem engine drains after every write (sync=1) or not at all; it has no batch of copies with one drain"))
            case .storePersist:
                out.append(.init(method: m.rawValue, reason: "fio copies with pmem_memcpy; it has no plain stores followed by pmem_persist"))
            case .msync:
                out.append(.init(method: m.rawValue, reason: "fio's libpmem engine never calls pmem_msync (its fsync flushes only page-multiple blocks)"))
            }
        }
        out.append(.init(method: "latency of an 8-byte durable store",
                         reason: "fio's latency is per I/O of a whole block, not one store made durable"))
        return out
    }

    /// The cells to compare: every size, both patterns, every thread count; reads and each
    /// matched write method of the plan.
    static func cells(sizes: [Int], threads: [Int], methods: [PmemWriteMethod], threshold: Int) -> [Cell] {
        var out: [Cell] = []
        for t in threads {
            for random in [false, true] {
                for size in sizes {
                    for m in methods {
                        let direct: Bool
                        switch m {
                        case .nonTemporal: direct = true
                        case .temporal: direct = false
                        case .memcpyPersist: direct = size >= threshold
                        default: continue
                        }
                        out.append(Cell(method: m.rawValue, write: m, setting: Setting(read: false, direct: direct),
                                        size: size, threads: t, random: random))
                    }
                    out.append(Cell(method: "read", write: nil, setting: Setting(read: true, direct: false),
                                    size: size, threads: t, random: random))
                }
            }
        }
        return out
    }

    /// The middle value (the mean of the two middle ones for an even count).
    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// (max - min) / median: how far apart one side's rounds were.
    static func spread(_ xs: [Double]) -> Double {
        let m = median(xs)
        guard m > 0, let lo = xs.min(), let hi = xs.max() else { return 0 }
        return (hi - lo) / m
    }

    /// `rounds` alternating measurements of `a` then `b`.
    static func alternate(rounds: Int, _ a: () throws -> Double, _ b: () throws -> Double) rethrows -> (a: [Double], b: [Double]) {
        var xa: [Double] = [], xb: [Double] = []
        for _ in 0..<rounds {
            xa.append(try a())
            xb.append(try b())
        }
        return (xa, xb)
    }

    /// Every cell, vpmem (`vpmem`) and fio (`fio`) alternating for `rounds` rounds.
    static func compare(cells: [Cell], rounds: Int, vpmem: (Cell) throws -> Double, fio: (Cell) throws -> Double,
                        progress: (String) -> Void) throws -> [BenchReport.FioRow] {
        try cells.map { c in
            progress("vpmem and fio, \(c.method) \(c.random ? "rand" : "seq") \(sizeLabel(c.size)), \(c.threads) thread(s)")
            let (v, f) = try alternate(rounds: rounds, { try vpmem(c) }, { try fio(c) })
            let mv = median(v), mf = median(f)
            return BenchReport.FioRow(method: c.method, fioSettings: settingText(c), pattern: c.random ? "rand" : "seq", size: c.size,
                                      threads: c.threads, rounds: rounds, vpmemGBps: mv, fioGBps: mf,
                                      vpmemSpread: spread(v), fioSpread: spread(f), ratio: mv / max(mf, 1e-12))
        }
    }

    static func settingText(_ c: Cell) -> String {
        let rw = c.setting.read ? (c.random ? "randread" : "read") : (c.random ? "randwrite" : "write")
        return c.setting.read ? "rw=\(rw)" : "rw=\(rw) direct=\(c.setting.direct ? 1 : 0) sync=1"
    }

    /// The bytes both tools use in a comparison: the first `span(region:)` of the backing, for
    /// every thread. fio maps the file anew in every run and pays a page fault for each page it
    /// first touches, so it first runs as long again unmeasured (`ramp_time`) over a span small
    /// enough to be touched whole in that time, still larger than the last-level cache; vpmem's
    /// mapping is faulted in already.
    ///
    /// Why every thread in the same span: fio's libpmem engine maps the file from offset 0 with
    /// pmem_map_file(PMEM_FILE_CREATE, its I/O size), which resizes a regular file to that
    /// size. So fio is given the whole file (`--size` = its length, a no-op resize) and kept to
    /// the span by zones (strided for sequential, zoned_abs for random) rather than by
    /// --size or --offset_increment, which would shrink the backing under vpmem's mapping
    /// (SIGBUS) and a user's file with it.
    static let maxSpan = 64 << 20
    static func span(region: Int) -> Int { min(region, maxSpan) }

    /// GB/s of one fio job group on `cell`, warmed for `seconds` and then measured for `seconds`,
    /// every job in the first `span` bytes of the `length`-byte backing.
    /// fio's libpmem engine refuses a mapping libpmem does not call pmem; on such a backing fio
    /// runs with PMEM_IS_PMEM_FORCE=1, which makes it issue the same flush-based calls vpmem's
    /// methods make there (durable on neither).
    static func run(fio: String, path: String, length: Int, span: Int, cell: Cell, seconds: Double, forcePmem: Bool) throws -> Double {
        let ms = max(100, Int(seconds * 1000))
        let rw = cell.setting.read ? (cell.random ? "randread" : "read") : (cell.random ? "randwrite" : "write")
        var args = [
            "--name=vpmem-compare", "--ioengine=libpmem", "--filename=\(path)", "--size=\(length)",
            "--bs=\(cell.size)", "--rw=\(rw)",
            "--time_based", "--ramp_time=\(ms)ms", "--runtime=\(ms)ms", "--numjobs=\(cell.threads)", "--group_reporting", "--thread",
            "--scramble_buffers=1", "--norandommap", "--randrepeat=0", "--output-format=json",
        ]
        if span < length {
            args += cell.random
                ? ["--random_distribution=zoned_abs:100/\(span):0/\(length - span)"]
                : ["--zonemode=strided", "--zonerange=\(length)", "--zonesize=\(span)"]
        }
        if !cell.setting.read { args += ["--direct=\(cell.setting.direct ? 1 : 0)", "--sync=1"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: fio)
        p.arguments = args
        if forcePmem { p.environment = ProcessInfo.processInfo.environment.merging(["PMEM_IS_PMEM_FORCE": "1"]) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        // Past this point vpmem touches the backing again: had fio resized it, that would fault.
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) != length {
            throw BenchError.fioResizedBacking(path: path, from: length, to: Int(st.st_size))
        }
        let text = String(decoding: o, as: UTF8.self)
        guard p.terminationStatus == 0,
              let start = text.firstIndex(of: "{"),  // fio may print notes before the JSON
              let json = try? JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any],
              let job = (json["jobs"] as? [[String: Any]])?.first,
              let dir = job[cell.setting.read ? "read" : "write"] as? [String: Any],
              let bw = (dir["bw_bytes"] as? NSNumber)?.doubleValue
        else {
            throw BenchError.fioFailed(status: p.terminationStatus, output: String(decoding: e, as: UTF8.self) + text.prefix(300))
        }
        return bw / 1e9
    }
}
