import Benchmark
import GuestMemory

// Checked frame arithmetic sits under every walk; it must cost no more than the raw add.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    Benchmark("gfn.advanced(by:) checked", configuration: .init(scalingFactor: .mega)) { benchmark in
        var g = Gfn(uncheckedRaw: 1)
        for _ in benchmark.scaledIterations {
            g = (try? g.advanced(by: 1)) ?? Gfn(uncheckedRaw: 0)
        }
        blackHole(g)
    }
    Benchmark("baseline: raw UInt64 add", configuration: .init(scalingFactor: .mega)) { benchmark in
        var g: UInt64 = 1
        for _ in benchmark.scaledIterations { g = g &+ 1 }
        blackHole(g)
    }
}
