import ArgumentParser
import Foundation
import HotPathKernels

/// The performance gate: instruction counts (callgrind) of each hot path against its baseline
/// measured in the same run, held to the ratios in gate.json. Instruction counts repeat exactly
/// on a noisy machine, where wall-clock time does not; the wall-clock targets live in the
/// package-benchmark suites.
@main
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpmem-gate",
        abstract: "Gate hot-path instruction counts against same-run baselines (callgrind).",
        subcommands: [Check.self, Measure.self, List.self, Run.self], defaultSubcommand: Check.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the kernels.")
        func run() {
            for k in allKernels { print("\(pad(k.name, 44)) \(k.summary)") }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run one kernel natively (what callgrind runs).")
        @Argument var kernel: String
        @Option var iterations: Int64 = 10_000
        func run() throws {
            guard let k = allKernels.first(where: { $0.name == kernel }) else { throw GateError.unknownKernel(kernel) }
            runMeasured(k, iterations: iterations)
        }
    }

    struct Measure: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print instructions per operation for kernels.")
        @Argument var kernels: [String] = []
        @Option var iterations: Int64 = 20_000
        func run() throws {
            for name in kernels.isEmpty ? allKernels.map(\.name) : kernels {
                print("\(pad(name, 44)) \(fixed(try instructionsPerOp(name, iterations: iterations), 1)) instructions/op")
            }
        }
    }

    struct Spec: Decodable {
        struct Check: Decodable {
            var kernel: String
            var baseline: String
            /// kernel instructions / baseline instructions must not exceed this.
            var maxRatio: Double
            var why: String
            /// Operations per measurement, when the spec-wide count does not suit this kernel.
            var iterations: Int64?
            enum CodingKeys: String, CodingKey { case kernel, baseline, why, iterations, maxRatio = "max_ratio" }
        }
        var iterations: Int64
        var checks: [Check]
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Measure every check in the spec and fail on a ratio above its budget.")
        @Option(help: "The gate spec.") var spec = "gate.json"
        func run() throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: spec))
            let s: Spec
            do { s = try JSONDecoder().decode(Spec.self, from: data) } catch { throw GateError.badSpec("\(spec): \(error)") }
            for c in s.checks {
                for k in [c.kernel, c.baseline] where !allKernels.contains(where: { $0.name == k }) { throw GateError.unknownKernel(k) }
            }
            var cache: [String: Double] = [:]
            func measure(_ k: String, _ iterations: Int64) throws -> Double {
                let key = "\(k)/\(iterations)"
                if let v = cache[key] { return v }
                let v = try instructionsPerOp(k, iterations: iterations)
                cache[key] = v
                return v
            }
            var passed = 0, failed = 0
            print("\(pad("KERNEL", 44)) \(pad("INSTR/OP", 9)) \(pad("BASELINE", 40)) \(pad("INSTR/OP", 9)) \(pad("RATIO", 8)) \(pad("BUDGET", 8)) RESULT")
            for c in s.checks {
                let n = c.iterations ?? s.iterations
                let a = try measure(c.kernel, n), b = try measure(c.baseline, n)
                let ratio = a / max(b, 1e-9)
                let ok = ratio <= c.maxRatio
                if ok { passed += 1 } else { failed += 1 }
                print("\(pad(c.kernel, 44)) \(pad(fixed(a, 1), 9)) \(pad(c.baseline, 40)) \(pad(fixed(b, 1), 9)) \(pad(fixed(ratio, 3), 8)) \(pad(fixed(c.maxRatio, 3), 8)) \(ok ? "ok" : "OVER BUDGET: \(c.why)")")
            }
            print("gate: \(passed) checks within budget, \(failed) over budget")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
