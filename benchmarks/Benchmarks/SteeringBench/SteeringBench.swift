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
// a fixed seed; each scaled iteration is one access, so p50 figures read as ns per access.
//
//   translate alone       P2M.translate of the access's gfn: the floor
//   type                  SteeringEngine.decide, the vGPU claims the ioreq_server type
//   range N               SteeringEngine.decide, the vGPU lists the pages in its wp_mem set
//   baseline Xen-style N  XenStyleIoreqSelect.decide: server list, linked-list rangesets
//   type, counted         SteeringEngine.steer (decision and counters)
//   type, delivered       SteeringEngine.handle: decision, counters, the vGPU model's shadow
//                         update and its write into guest RAM (through GuestMemoryAccess)
//
// Targets: type <= 2x translate alone; range 8,192 <= 1.5x type; range 8,192 >= 100x faster
// than the Xen-style baseline at 8,192. Read the decide figures with mallocCountTotal = 0.

final class Fixture: @unchecked Sendable {
    let scenario: SteeringScenario
    let accesses: UnsafeMutableBufferPointer<GuestAccess>
    var cursor = 0

    init(pages: Int, mode: SteeringMode) {
        let physmap = try! GuestPhysmap(config: GuestConfig(name: "bench", memory: ByteSize(bytes: 2 << 30)))
        let options = ScenarioOptions(workload: .ptwrite, pageTablePages: pages, fragmentation: 1, seed: 1, mode: mode,
                                      wpMemRangeLimit: UInt64(max(pages, 256)))
        scenario = try! SteeringScenario(physmap: physmap, options: options, domain: try! DomainID(1))
        precondition(scenario.unprotectedPages == 0, "every page must be protected")
        var stream = try! scenario.stream()
        accesses = .allocate(capacity: accessCount)
        stream.fill(accesses)
    }
}

let accessCount = 1 << 16
let accessMask = accessCount - 1

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(2))

    let typed = Fixture(pages: 8192, mode: .type)
    let ranged = [256, 8192, 100_000].map { Fixture(pages: $0, mode: .range) }

    Benchmark("translate alone: 8,192 pt pages") { benchmark in
        let f = typed
        let p2m = f.scenario.engine.p2m
        let a = f.accesses.baseAddress!
        var j = f.cursor
        var sum: UInt64 = 0
        for _ in benchmark.scaledIterations {
            let t = p2m.translate(Gfn(uncheckedRaw: a[j & accessMask].address &>> 12))
            sum &+= UInt64(t?.type.rawValue ?? 0)
            j &+= 1
        }
        f.cursor = j
        blackHole(sum)
    }

    Benchmark("decide type: 8,192 pt pages") { benchmark in
        let f = typed
        let engine = f.scenario.engine
        let a = f.accesses.baseAddress!
        var j = f.cursor
        var sum: UInt64 = 0
        for _ in benchmark.scaledIterations {
            sum &+= UInt64(engine.decide(a[j & accessMask]).counter.rawValue)
            j &+= 1
        }
        f.cursor = j
        blackHole(sum)
    }

    for f in ranged {
        let n = f.scenario.engine.servers.first { $0.name == "xengt" }?.rangeCounts[.wpMem] ?? 0
        Benchmark("decide range: \(n) wp ranges") { benchmark in
            let engine = f.scenario.engine
            let a = f.accesses.baseAddress!
            var j = f.cursor
            var sum: UInt64 = 0
            for _ in benchmark.scaledIterations {
                sum &+= UInt64(engine.decide(a[j & accessMask]).counter.rawValue)
                j &+= 1
            }
            f.cursor = j
            blackHole(sum)
        }
        guard n <= 8192 else { continue }  // building 100,000 list nodes in order is fine; walking them per access is not
        let xen = try! XenStyleIoreqSelect(mirroring: f.scenario.engine)
        Benchmark("baseline Xen-style select: \(n) wp ranges",
                  configuration: .init(scalingFactor: n > 1000 ? .one : .kilo)) { benchmark in
            let a = f.accesses.baseAddress!
            var j = f.cursor
            var sum: UInt64 = 0
            for _ in benchmark.scaledIterations {
                sum &+= UInt64(xen.decide(a[j & accessMask]).counter.rawValue)
                j &+= 1
            }
            f.cursor = j
            blackHole(sum)
        }
    }

    Benchmark("steer type, counted: 8,192 pt pages") { benchmark in
        let f = typed
        let engine = f.scenario.engine
        let a = f.accesses.baseAddress!
        var j = f.cursor
        var sum: UInt64 = 0
        for _ in benchmark.scaledIterations {
            sum &+= UInt64(engine.steer(a[j & accessMask]).counter.rawValue)
            j &+= 1
        }
        f.cursor = j
        blackHole(sum)
    }

    Benchmark("handle type, delivered to the vGPU model: 8,192 pt pages") { benchmark in
        let f = typed
        let engine = f.scenario.engine
        let a = f.accesses.baseAddress!
        var j = f.cursor
        var sum: UInt64 = 0
        for _ in benchmark.scaledIterations {
            if case let .completed(d) = try engine.handle(a[j & accessMask]) { sum &+= d }
            j &+= 1
        }
        f.cursor = j
        blackHole(sum)
    }
}
