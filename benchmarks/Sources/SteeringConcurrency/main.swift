import DeviceModel
import Foundation
import GuestMemory
import VpmemCore

// Steering on many vCPUs (issue 18 §3), in one run: wp_mem decisions a second at 1 and 2 vCPU
// threads, with and without a device-model thread changing wp_mem ranges 1,000 times a second,
// for SteeringEngine (views published with RCU-style reclamation: SteeringReclamation.swift)
// against the same sets behind a pthread_rwlock_t per set (xen/common/rangeset.c's rwlock_t) and
// against the Xen-style sorted list behind the same locks; then the writer's change rate alone
// and beside the vCPUs.
//
// The guest: 2 GiB, QEMU (default server) and a XenGT-like vGPU whose 8,192 page-table pages
// lie in 4,096 runs (fragmentation 0.5), one wp_mem range each (range mode). Each vCPU steers
// its own precomputed page-table writes (65,536, looped), quiescent every 4,096.
//
//   swift run -c release vpmem-steering-concurrency [--seconds 1]
//
// Targets (the issue): with the writer, 2 threads >= 1.8x 1 thread; 2 threads >= 5x the rwlock
// version at 2 threads; the writer's change rate beside the vCPUs no lower than alone.

let seconds = CommandLine.arguments.firstIndex(of: "--seconds").flatMap { Double(CommandLine.arguments[$0 + 1]) } ?? 1.0
let physmap = try GuestPhysmap(config: GuestConfig(name: "bench", memory: ByteSize(bytes: 2 << 30)))
let options = ScenarioOptions(workload: .ptwrite, pageTablePages: 8192, fragmentation: 0.5, seed: 1, mode: .range)
let scenario = try SteeringScenario(physmap: physmap, options: options, domain: try DomainID(1), wpMemRangeLimit: 8192)
precondition(scenario.unprotectedPages == 0)
let engine = scenario.engine
let accessCount = 1 << 16
nonisolated(unsafe) let streams: [UnsafeMutableBufferPointer<GuestAccess>] = (0..<2).map { i in
    var s = try! AccessStream(mix: WorkloadKind.ptwrite.mix, targets: scenario.targets, seed: 100 + UInt64(i))
    let b = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: accessCount)
    s.fill(b)
    return b
}
nonisolated(unsafe) let vcpus = [engine.makeVCPU(), engine.makeVCPU()]
let rwRangeSet = try RWLockedSteering<RangeSet>(mirroring: engine)
let rwXenList = try RWLockedSteering<XenStyleRangeSet>(mirroring: engine)
let gpu = scenario.gpu
let runs = scenario.targets.pageTables.runs

/// Runs `threads` vCPUs for about `seconds` each (a fixed count, calibrated by `perSecond`).
func measure(_ label: String, threads: Int, writer: (@Sendable () -> Bool)?, perSecond: Double,
             _ body: @escaping @Sendable (Int, Int) -> UInt64) -> ConcurrentSteeringResult {
    let n = max(4096, Int(perSecond * seconds) / 4096 * 4096)
    let r = ConcurrentSteering.run(vcpus: threads, changesPerSecond: 1000, change: writer) { i in
        (UInt64(n), body(i, n))
    }
    let rate = r.decisionsPerSecond
    var line = "  \(label.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%9.2f", rate / 1e6))M decisions/s"
    if writer != nil { line += String(format: "   writer %6.0f changes/s", r.changesPerSecond) }
    print(line)
    return r
}

func engineBody(_ i: Int, _ n: Int) -> UInt64 {
    let vcpu = vcpus[i], a = streams[i].baseAddress!
    var sum: UInt64 = 0, k = 0
    vcpu.online()
    while k < n {
        for j in 0..<4096 { sum &+= UInt64(vcpu.decide(a[(k &+ j) & (accessCount - 1)]).counter.rawValue) }
        k += 4096
        vcpu.quiescent()
    }
    vcpu.offline()
    return sum
}

func lockedBody<S: LockedSet & ~Copyable>(_ s: RWLockedSteering<S>) -> @Sendable (Int, Int) -> UInt64 {
    { i, n in
        let a = streams[i].baseAddress!
        var sum: UInt64 = 0
        for k in 0..<n { sum &+= UInt64(bitPattern: Int64(s.decide(a[k & (accessCount - 1)]))) }
        return sum
    }
}

func toggler<S: LockedSet & ~Copyable>(_ s: RWLockedSteering<S>) -> @Sendable () -> Bool {
    nonisolated(unsafe) var next = 0
    return {
        let r = runs[next]
        next = (next + 1) % runs.count
        return s.toggle(gpu.raw, r.first.raw...r.last.raw)
    }
}

print("Steering on many vCPUs: \(engine.servers.first { $0.name == "xengt" }?.rangeCounts[.wpMem] ?? 0) wp_mem ranges, page-table writes, \(seconds) s a point")
for v in vcpus { v.offline() }
var results: [String: Double] = [:]
for (name, writer) in [("no writer", false), ("writer 1,000/s", true)] {
    print(name)
    for threads in [1, 2] {
        let e = measure("vpmem engine (RCU views), \(threads) thread\(threads > 1 ? "s" : "")", threads: threads,
                        writer: writer ? scenario.wpMemChanger() : nil, perSecond: 40e6, engineBody)
        results["engine \(threads) \(writer)"] = e.decisionsPerSecond
        let r = measure("RangeSet behind rwlock_t, \(threads) thread\(threads > 1 ? "s" : "")", threads: threads,
                        writer: writer ? toggler(rwRangeSet) : nil, perSecond: 15e6, lockedBody(rwRangeSet))
        results["rwlock \(threads) \(writer)"] = r.decisionsPerSecond
        let x = measure("Xen-style list behind rwlock_t, \(threads) thread\(threads > 1 ? "s" : "")", threads: threads,
                        writer: writer ? toggler(rwXenList) : nil, perSecond: 0.2e6, lockedBody(rwXenList))
        results["xen \(threads) \(writer)"] = x.decisionsPerSecond
    }
}
engine.reclaim()

// The writer alone, as fast as it can, then beside two vCPUs.
let change = scenario.wpMemChanger()
let clock = ContinuousClock()
var made = 0
let start = clock.now
while clock.now - start < .milliseconds(Int64(seconds * 500)) { _ = change(); made += 1 }
let alone = Double(made) / ConcurrentSteering.seconds(clock.now - start)
let beside = ConcurrentSteering.run(vcpus: 2, changesPerSecond: 0, change: change) { i in
    let n = Int(40e6 * seconds / 2) / 4096 * 4096
    return (UInt64(n), engineBody(i, n))
}
engine.reclaim()
print("writer, unpaced: alone \(String(format: "%.0f", alone)) changes/s; beside 2 vCPUs \(String(format: "%.0f", beside.changesPerSecond)) changes/s")

let scaling = results["engine 2 true"]! / results["engine 1 true"]!
let overRW = results["engine 2 true"]! / results["rwlock 2 true"]!
let overXen = results["engine 2 true"]! / results["xen 2 true"]!
print("")
print(String(format: "with the writer: 2 threads / 1 thread = %.2fx (target >= 1.8)", scaling))
print(String(format: "with the writer, 2 threads: engine / rwlock RangeSet = %.2fx (target >= 5); engine / rwlock Xen list = %.0fx", overRW, overXen))
print(String(format: "writer rate beside the vCPUs / alone = %.2f (target >= 1, paced runs hold 1,000/s)", beside.changesPerSecond / alone))
print("\(engine.viewsAwaitingReclamation) views awaiting reclamation at the end")
