import Foundation
import Histogram
import HostPmem

/// The `bench pmem` sweep over one mapped backing: every write + persist method libpmem offers,
/// reads, sequential and random, each access size, each thread count, every figure beside the
/// same copy DRAM to DRAM in the same run; then the latency of an 8-byte store made durable.
///
/// Layout: thread t works in its own power-of-two region at t * region in the backing and in a
/// DRAM buffer of the same span, so the pmem figure and its DRAM baseline touch the same
/// amount of memory at the same offsets. Sources and read destinations are per-thread 2 MiB
/// DRAM buffers of random bytes.
struct PmemSweep: @unchecked Sendable {
    struct Plan {
        var sizes: [Int]
        var threads: [Int]
        var methods: [PmemWriteMethod]
        var nanosecondsPerFigure: UInt64
        var latencySamples: Int
    }

    static let fullSizes = [64, 256, 1024, 4096, 16384, 65536, 262_144, 1 << 20, 2 << 20]
    static let quickSizes = [64, 4096]
    static let maxSize = 2 << 20

    enum Op: Equatable {
        case write(PmemWriteMethod)
        case read
        case dramWrite
        case dramRead
    }

    let pmem: UnsafeMutableRawPointer
    let span: Int
    let region: Int
    let isPmem: Bool
    let path: String
    let plan: Plan
    let dram: UnsafeMutableRawPointer
    let buffers: UnsafeMutableRawPointer  // per thread: 2 MiB source, then 2 MiB read destination

    /// `pmem` points at `length` mapped bytes that stay mapped until the sweep is done.
    init(pmem: UnsafeMutableRawPointer, length: Int, isPmem: Bool, path: String, plan: Plan) throws {
        let maxThreads = plan.threads.max() ?? 1
        let region = Self.region(length: length, maxThreads: maxThreads)
        guard region >= 2 * Self.maxSize else {
            throw BenchError.backingTooSmall(size: UInt64(length), needed: UInt64(2 * Self.maxSize * maxThreads))
        }
        self.pmem = pmem
        self.region = region
        self.span = region * maxThreads
        self.isPmem = isPmem
        self.path = path
        self.plan = plan
        dram = .allocate(byteCount: span, alignment: 2 << 20)
        buffers = .allocate(byteCount: 2 * Self.maxSize * maxThreads, alignment: 4096)
        // Touch everything once, so no figure pays for first-touch page faults.
        var x: UInt64 = 0x9e37_79b9_7f4a_7c15
        let words = buffers.bindMemory(to: UInt64.self, capacity: 2 * Self.maxSize * maxThreads / 8)
        for i in 0..<(2 * Self.maxSize * maxThreads / 8) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; words[i] = x }
        memset(dram, 0, span)
        memset(pmem, 0, span)
        _ = PmemPrimitives.persist(pmem, span, isPmem: isPmem)
    }

    /// Each thread's region: the largest power of two that `maxThreads` of fit in `length`.
    /// The sweep writes `region * maxThreads` bytes from the backing's start, nothing after.
    static func region(length: Int, maxThreads: Int) -> Int {
        var region = 1
        while region * 2 <= length / maxThreads { region *= 2 }
        return region
    }

    func release() {
        dram.deallocate()
        buffers.deallocate()
    }


    /// Every figure of the plan, in order; `progress` is told before each measurement.
    func run(progress: (String) -> Void) throws -> [BenchReport.Figure] {
        var figures: [BenchReport.Figure] = []
        for threads in plan.threads {
            for pattern in ["seq", "rand"] {
                for size in plan.sizes {
                    progress("DRAM baselines, \(pattern) \(sizeLabel(size)), \(threads) thread(s)")
                    let dramWrite = try measure(.dramWrite, size: size, random: pattern == "rand", threads: threads)
                    let dramRead = try measure(.dramRead, size: size, random: pattern == "rand", threads: threads)
                    for method in plan.methods {
                        progress("write \(method.rawValue), \(pattern) \(sizeLabel(size)), \(threads) thread(s)")
                        let v = try measure(.write(method), size: size, random: pattern == "rand", threads: threads)
                        figures.append(.init(
                            name: "write \(method.rawValue) \(pattern) \(size)B t\(threads)", group: "write", method: method.rawValue,
                            pattern: pattern, size: size, threads: threads, value: v, unit: "GB/s",
                            baseline: "DRAM memcpy", baselineValue: dramWrite, ratio: v / dramWrite, better: .higher,
                            durable: method.isDurable(onPmem: isPmem)))
                    }
                    progress("read, \(pattern) \(sizeLabel(size)), \(threads) thread(s)")
                    let r = try measure(.read, size: size, random: pattern == "rand", threads: threads)
                    figures.append(.init(
                        name: "read \(pattern) \(size)B t\(threads)", group: "read", method: "memcpy", pattern: pattern, size: size,
                        threads: threads, value: r, unit: "GB/s", baseline: "DRAM memcpy", baselineValue: dramRead,
                        ratio: r / dramRead, better: .higher, durable: nil))
                }
            }
        }
        progress("latency of an 8-byte durable store")
        figures += try latency()
        return figures
    }

    /// GB/s of `op` at `size` over `threads` threads, each running for `nanoseconds` (the
    /// plan's time per figure by default) over the first `span` bytes of its region (all of it
    /// by default; a power of two of at least `size`), or with `shared` every thread over the
    /// first `span` bytes of the first region (as fio's jobs, see BenchFio.span).
    func measure(_ op: Op, size: Int, random: Bool, threads: Int, nanoseconds: UInt64? = nil, span: Int? = nil,
                 shared: Bool = false) throws -> Double {
        let time = nanoseconds ?? plan.nanosecondsPerFigure
        let used = min(span ?? region, region)
        let results = Parallel.run(threads) { t in
            self.worker(op, size: size, random: random, thread: t, nanoseconds: time, span: used, shared: shared)
        }
        if results.contains(where: { $0.failedErrno != 0 }) {
            throw BenchError.msyncFailed(path: path, errno: results.first { $0.failedErrno != 0 }!.failedErrno)
        }
        let start = results.map(\.start).min()!, end = results.map(\.end).max()!
        let bytes = results.reduce(0) { $0 + $1.bytes }
        return Double(bytes) / Double(max(end - start, 1))
    }

    struct WorkerResult: Sendable {
        var bytes = 0
        var start: UInt64 = 0
        var end: UInt64 = 0
        var failedErrno: Int32 = 0
    }

    func worker(_ op: Op, size: Int, random: Bool, thread t: Int, nanoseconds: UInt64, span: Int, shared: Bool = false) -> WorkerResult {
        let mask = span / size - 1
        let pmemRegion = pmem + (shared ? 0 : t * region)
        let dramRegion = dram + t * region
        let src = UnsafeRawPointer(buffers + t * 2 * Self.maxSize)
        let dst = buffers + t * 2 * Self.maxSize + Self.maxSize
        let batch = max(1, 65536 / size)
        var slot = 0
        var x = UInt64(0x2545_f491_4f6c_dd1d) &+ UInt64(t) &* 0x9e37_79b9
        var result = WorkerResult()
        result.start = KernelClock.now()
        let deadline = result.start + nanoseconds
        var ops = 0
        repeat {
            for _ in 0..<batch {
                if random {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17
                    slot = Int(truncatingIfNeeded: x >> 20) & mask
                } else {
                    slot = (slot &+ 1) & mask
                }
                let offset = slot * size
                switch op {
                case .write(let m):
                    if !PmemPrimitives.write(m, to: pmemRegion + offset, from: src, count: size) {
                        result.failedErrno = errno
                        result.end = KernelClock.now()
                        return result
                    }
                case .read: dst.copyMemory(from: pmemRegion + offset, byteCount: size)
                case .dramWrite: (dramRegion + offset).copyMemory(from: src, byteCount: size)
                case .dramRead: dst.copyMemory(from: dramRegion + offset, byteCount: size)
                }
            }
            ops += batch
            result.end = KernelClock.now()
        } while result.end < deadline
        result.bytes = ops * size
        return result
    }

    /// Percentiles of one 8-byte store made durable (pmem_persist, or pmem_msync on a mapping
    /// that is not pmem), at random 8-byte-aligned places in the first region, against the same
    /// store to DRAM timed the same way (the clock's own cost is in both).
    func latency() throws -> [BenchReport.Figure] {
        var onPmem = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var onDram = onPmem
        let words = region / 8
        var x: UInt64 = 0x1234_5678_9abc_def1
        for i in 0..<plan.latencySamples {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            let offset = Int(truncatingIfNeeded: x >> 16) % words * 8
            let p = pmem + offset
            let t0 = KernelClock.now()
            p.storeBytes(of: UInt64(i), as: UInt64.self)
            let ok = PmemPrimitives.persist(p, 8, isPmem: isPmem)
            let t1 = KernelClock.now()
            if !ok { throw BenchError.msyncFailed(path: path, errno: errno) }
            _ = onPmem.record(t1 - t0)
            let d = dram + offset
            let t2 = KernelClock.now()
            d.storeBytes(of: UInt64(i), as: UInt64.self)
            let t3 = KernelClock.now()
            _ = onDram.record(t3 - t2)
        }
        let how = isPmem ? "store8+persist" : "store8+msync"
        return [50.0, 90.0, 99.0, 99.9].map { p in
            let v = Double(onPmem.valueAtPercentile(p)), b = Double(max(onDram.valueAtPercentile(p), 1))
            return .init(name: "latency \(how) p\(pctLabel(p))", group: "latency", method: how, pattern: "rand", size: 8, threads: 1,
                         value: v, unit: "ns", baseline: "DRAM 8-byte store", baselineValue: b, ratio: v / b, better: .lower,
                         durable: true)  // by the mapping's own method; the backing may still say no
        } + [.init(name: "latency \(how) max", group: "latency-max", method: how, pattern: "rand", size: 8, threads: 1,
                   value: Double(onPmem.max), unit: "ns", baseline: "DRAM 8-byte store", baselineValue: Double(max(onDram.max, 1)),
                   ratio: Double(onPmem.max) / Double(max(onDram.max, 1)), better: .lower, durable: nil)]
    }
}

func pctLabel(_ p: Double) -> String { p == p.rounded() ? String(Int(p)) : String(p) }

func sizeLabel(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1024 && n % 1024 == 0 { return "\(n >> 10) KiB" }
    return "\(n) B"
}

/// The monotonic clock in nanoseconds.
enum KernelClock {
    @inline(__always) static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// Runs `body(t)` for t in 0..<n on n threads released together by a barrier; one thread
/// runs on the caller's.
enum Parallel {
    static func run<R: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) -> R) -> [R] {
        if n == 1 { return [body(0)] }
        let shared = ParallelSlots<R>(n)
        for t in 0..<n {
            shared.done.enter()
            let thread = Thread {
                pthread_barrier_wait(&shared.barrier)
                shared.results[t] = body(t)
                shared.done.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        shared.done.wait()
        return (0..<n).map { shared.results[$0]! }
    }
}

/// Per-thread result slots and the start barrier of one Parallel.run.
final class ParallelSlots<R>: @unchecked Sendable {
    /// One slot per thread; each thread writes only its own.
    let results: UnsafeMutablePointer<R?>
    let count: Int
    var barrier = pthread_barrier_t()
    let done = DispatchGroup()
    init(_ n: Int) {
        count = n
        results = .allocate(capacity: n)
        results.initialize(repeating: nil, count: n)
        pthread_barrier_init(&barrier, nil, UInt32(n))
    }
    deinit {
        pthread_barrier_destroy(&barrier)
        results.deinitialize(count: count)
        results.deallocate()
    }
}
