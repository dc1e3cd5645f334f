import Foundation

/// A run's ratios against a saved baseline's. A figure regressed when its ratio moved the
/// wrong way (`better`) by more than the threshold, as a fraction of the saved ratio.
struct BenchComparison {
    struct Row {
        var name: String
        var saved: Double
        var now: Double
        var better: BenchReport.Better
        /// How much worse, as a fraction of the saved ratio (negative: better).
        var worse: Double { better == .higher ? (saved - now) / saved : (now - saved) / saved }
    }

    var rows: [Row]
    /// Saved figures this run did not produce (a --quick run against a full baseline).
    var missing: [String]
    var threshold: Double

    var regressions: [Row] { rows.filter { $0.worse > threshold } }

    init(saved: BenchReport, now: BenchReport, threshold: Double) {
        let current = Dictionary(now.figures.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // The maximum latency is one sample, a preemption or not: reported, never compared.
        rows = saved.figures.filter { $0.group != "latency-max" }.compactMap { s in
            current[s.name].map { Row(name: s.name, saved: s.ratio, now: $0.ratio, better: s.better) }
        }
        missing = saved.figures.filter { $0.group != "latency-max" }.map(\.name).filter { current[$0] == nil }
        self.threshold = threshold
    }

    func render() -> String {
        var lines = [table(["FIGURE", "SAVED RATIO", "RATIO NOW", "CHANGE", "RESULT"], rows.map { r in
            let change = r.now / r.saved - 1
            return [r.name, fmt(r.saved, 3), fmt(r.now, 3), (change >= 0 ? "+" : "") + fmt(change * 100, 1) + "%",
                    r.worse > threshold ? "REGRESSED (\(r.better) is better)" : "ok"]
        })]
        if !missing.isEmpty { lines.append("not measured in this run: \(missing.count) saved figure(s), e.g. \(missing[0])") }
        lines.append("compare: \(rows.count - regressions.count) within \(fmt(threshold * 100, 1))%, \(regressions.count) regressed")
        return lines.joined(separator: "\n")
    }
}

/// "5%", "5" or "2.5%": a percentage, returned as a fraction.
func parsePercentage(_ text: String) throws -> Double {
    let digits = text.hasSuffix("%") ? String(text.dropLast()) : text
    guard let v = Double(digits), v.isFinite, v >= 0, v < 1000 else { throw BenchError.badPercentage(text) }
    return v / 100
}

func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
