import Foundation

/// Curves drawn by gnuplot from a report's figures: vpmem writes the data and a short script to
/// a temporary directory and runs gnuplot on it. The file name's extension picks the terminal
/// (.svg: svg, .png: pngcairo).
enum BenchPlot {
    enum Format { case svg, png }

    static func format(of path: String) throws -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".svg") { return .svg }
        if lower.hasSuffix(".png") { return .png }
        throw BenchError.badPlotFile(path)
    }

    /// Bandwidth against access size, one line per method and one for reads, with the DRAM
    /// copy as the baseline: sequential, one thread (the first thread count of the run).
    static func pmemBandwidth(_ report: BenchReport, to path: String) throws {
        let threads = report.figures.compactMap(\.threads).min() ?? 1
        let rows = report.figures.filter { ($0.group == "write" || $0.group == "read") && $0.pattern == "seq" && $0.threads == threads }
        let sizes = Array(Set(rows.compactMap(\.size))).sorted()
        let series = uniq(rows.map { $0.group == "read" ? "read" : $0.method ?? "?" })
        var data = "size " + series.map { quote($0) }.joined(separator: " ") + " \"DRAM memcpy\"\n"
        for size in sizes {
            let at = rows.filter { $0.size == size }
            let values = series.map { s in at.first { ($0.group == "read" ? "read" : $0.method) == s }.map { fmt($0.value, 4) } ?? "NaN" }
            let dram = at.first { $0.group == "write" }?.baselineValue ?? .nan
            data += "\(size) " + values.joined(separator: " ") + " \(fmt(dram, 4))\n"
        }
        let backing = report.backing.map { "\($0.path) (\($0.isPmem ? "pmem" : "not pmem"))" } ?? "backing"
        let columns = series.count + 2
        let script = """
            set title \(quote("vpmem bench pmem: \(backing), sequential, \(threads) thread(s)")) noenhanced
            set xlabel "access size (bytes)"
            set ylabel "GB/s"
            set logscale x 2
            set format x "%.0b %BB"
            set key outside right top noenhanced
            set grid
            plot for [i=2:\(columns - 1)] 'data' using 1:i with linespoints title columnheader(i), \\
                 'data' using 1:\(columns) with lines lw 3 dt 2 lc rgb "black" title columnheader(\(columns))
            """
        try render(data: data, script: script, to: path)
    }

    /// Lookup time against the number of ranges, both axes logarithmic: RangeSet and each
    /// baseline (a baseline absent at a size, the Xen list at a million, is left out there).
    static func lookup(_ report: BenchReport, to path: String) throws {
        struct Point { var ranges: Int; var name: String; var ns: Double }
        var points: [Point] = []
        for f in report.figures where f.group == "hotpath" && f.method == "rangeset lookup" {
            guard let n = f.size else { continue }
            points.append(Point(ranges: n, name: "vpmem RangeSet", ns: f.value))
            points.append(Point(ranges: n, name: lookupBaselineLabel(f.baseline), ns: f.baselineValue))
        }
        let names = uniq(points.map(\.name))
        let ranges = Array(Set(points.map(\.ranges))).sorted()
        var data = "ranges " + names.map { quote($0) }.joined(separator: " ") + "\n"
        for n in ranges {
            data += "\(n) " + names.map { name in points.first { $0.ranges == n && $0.name == name }.map { fmt($0.ns, 3) } ?? "NaN" }
                .joined(separator: " ") + "\n"
        }
        let script = """
            set title "vpmem bench hotpaths: rangeset lookup, random keys" noenhanced
            set xlabel "ranges in the set"
            set ylabel "ns per lookup"
            set logscale xy 10
            set format x "%.0s%c"
            set key outside right top noenhanced
            set grid
            set datafile missing "NaN"
            plot for [i=2:\(names.count + 1)] 'data' using 1:i with linespoints lw 2 title columnheader(i)
            """
        try render(data: data, script: script, to: path)
    }

    /// The lookup baselines by what they are, whatever the set's size.
    static func lookupBaselineLabel(_ kernel: String) -> String {
        if kernel.contains("swift-rangeset") { return "Swift.RangeSet" }
        if kernel.contains("binary-search") { return "binary search" }
        if kernel.contains("xen-list") { return "Xen-style linked list" }
        return kernel
    }

    static func render(data: String, script: String, to path: String) throws {
        let format = try format(of: path)
        guard let gnuplot = which("gnuplot") else { throw BenchError.gnuplotMissing }
        let dir = NSTemporaryDirectory() + "vpmem-plot-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = URL(fileURLWithPath: path).standardizedFileURL.path
        let terminal = format == .svg
            ? "set terminal svg size 960,540 dynamic font \"sans,12\" background rgb \"white\""
            : "set terminal pngcairo size 960,540 font \"sans,10\" background rgb \"white\""
        let full = "\(terminal)\nset output \(quote(output))\n\(script)\nset output\n"
        try data.write(toFile: dir + "/data", atomically: true, encoding: .utf8)
        try full.write(toFile: dir + "/plot.gp", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gnuplot)
        p.arguments = ["plot.gp"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw BenchError.gnuplotFailed(status: p.terminationStatus, output: errText) }
    }

    static func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    static func uniq(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}

/// The first executable named `name` on PATH.
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}
