import Benchmark
import DeviceModel
import GuestMemory
import VpmemCore

// The steering decision against the p2m walk it starts with and against Xen's way of choosing a
// server, measured in the same run (issue 4 §6).
//
// Every guest is the same 2 GiB guest with QEMU (default server) and a XenGT-like vGPU server;
// its GPU page tables are N scattered 4 KiB pages (fragmentation 1: every page alone, so N pages
// need N wp_mem ranges), p2m type ioreq_server. The access stream is 65,536 page-table writes
// (8-byte PTE stores at random pages and offsets), precomputed from the workload generator with
// a fixed seed. Each scaled iteration is 16 accesses (so one-digit figures keep their precision):
// p50 figures read as ns per 16 accesses.
//
//   translate alone       P2M.translate of the access's gfn: the floor
//   type                  SteeringEngine.decide, the vGPU claims the ioreq_server type
//   range N               SteeringEngine.decide, the vGPU lists the pages in its wp_mem set
//   baseline Xen-style N  XenStyleIoreqSelect.decide: server list, linked-list rangesets
//   type, counted         SteeringEngine.steer (decision and counters)
//   type, delivered       SteeringEngine.handle: decision, counters, the vGPU model's shadow
//                         update and its write into guest RAM (through GuestMemoryAccess)
//
// The accesses do not depend on each other, so the CPU overlaps several decisions and their
// cache misses: these are throughput figures. (A chain that made each access wait for the
// previous decision does not measure latency here: the decision's result comes out of predicted
// branches, not out of the loaded p2m entry, so the CPU speculates straight through it.)
//
// Targets: type <= 2x translate alone; range 8,192 <= 1.5x type; range 8,192 >= 100x faster
// than the Xen-style baseline at 8,192. Read the decide figures with mallocCountTotal = 0.

final class Fixture: @unchecked Sendable {
    let scenario: SteeringScenario
    let accesses: UnsafeMutableBufferPointer<GuestAccess>
    var cursor = 0

    init(pages: Int, mode: SteeringMode) {
        let physmap = try! GuestPhysmap(config: GuestConfig(name: "bench", memory: ByteSize(bytes: 2 << 30)))
        let options = ScenarioOptions(workload: .ptwrite, pageTablePages: pages, fragmentation: 1, seed: 1, mode: mode)
        scenario = try! SteeringScenario(physmap: physmap, options: options, domain: try! DomainID(1),
                                         wpMemRangeLimit: UInt64(max(pages, 256)))
        precondition(scenario.unprotectedPages == 0, "every page must be protected")
        var stream = try! scenario.stream()
        accesses = .allocate(capacity: accessCount)
        stream.fill(accesses)
    }
}

let accessCount = 1 << 16
let accessMask = accessCount - 1

/// Runs `step` over 16 consecutive accesses of the stream per scaled iteration.
@inline(__always)
func run(_ benchmark: Benchmark, _ f: Fixture, _ step: (GuestAccess) -> UInt64) {
    let a = f.accesses.baseAddress!
    var j = f.cursor
    var sum: UInt64 = 0
    for _ in benchmark.scaledIterations {
        for k in 0..<16 { sum &+= step(a[(j &+ k) & accessMask]) }
        j &+= 16
    }
    f.cursor = j
    blackHole(sum)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(2))

    let typed = Fixture(pages: 8192, mode: .type)
    let ranged = [256, 8192, 100_000].map { Fixture(pages: $0, mode: .range) }

    Benchmark("translate alone: 8,192 pt pages (x16)") { benchmark in
        let p2m = typed.scenario.engine.p2m
        run(benchmark, typed) { x in UInt64(p2m.translate(Gfn(uncheckedRaw: x.address &>> 12))?.type.rawValue ?? 0) }
    }

    Benchmark("decide type: 8,192 pt pages (x16)") { benchmark in
        let engine = typed.scenario.engine
        run(benchmark, typed) { x in UInt64(engine.decide(x).counter.rawValue) }
    }

    for f in ranged {
        let n = f.scenario.engine.servers.first { $0.name == "xengt" }?.rangeCounts[.wpMem] ?? 0
        Benchmark("decide range: \(n) wp ranges (x16)") { benchmark in
            let engine = f.scenario.engine
            run(benchmark, f) { x in UInt64(engine.decide(x).counter.rawValue) }
        }
        // Walking 100,000 list nodes per access is not worth a run: 8,192 makes the point.
        guard n <= 8192 else { continue }
        let xen = try! XenStyleIoreqSelect(mirroring: f.scenario.engine)
        Benchmark("baseline Xen-style select: \(n) wp ranges (x16)",
                  configuration: .init(scalingFactor: n > 1000 ? .one : .kilo)) { benchmark in
            run(benchmark, f) { x in UInt64(xen.decide(x).counter.rawValue) }
        }
    }

    Benchmark("steer type, counted: 8,192 pt pages (x16)") { benchmark in
        let engine = typed.scenario.engine
        run(benchmark, typed) { x in UInt64(engine.steer(x).counter.rawValue) }
    }

    Benchmark("handle type, delivered to the vGPU model: 8,192 pt pages (x16)",
              configuration: .init(scalingFactor: .one)) { benchmark in
        let engine = typed.scenario.engine
        run(benchmark, typed) { x in
            if case let .completed(d) = try! engine.handle(x) { return d }
            return 1
        }
    }
}
