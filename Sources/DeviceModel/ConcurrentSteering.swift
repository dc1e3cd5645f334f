import Atomics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a run of `ConcurrentSteering.run` measured.
public struct ConcurrentSteeringResult: Sendable {
    /// Accesses each vCPU thread steered, in vCPU order.
    public var decisions: [UInt64]
    /// Wall time from the moment every thread was released until the last vCPU finished.
    public var seconds: Double
    /// Changes the writer made and changes it was refused (a limit or the allowance).
    public var changes: UInt64
    public var refusedChanges: UInt64
    /// Wall time the writer ran.
    public var writerSeconds: Double
    /// What the vCPUs' bodies returned, combined (so their work cannot be dropped).
    public var checksum: UInt64

    public var totalDecisions: UInt64 { decisions.reduce(0, +) }
    public var decisionsPerSecond: Double { seconds > 0 ? Double(totalDecisions) / seconds : 0 }
    public var changesPerSecond: Double { writerSeconds > 0 ? Double(changes + refusedChanges) / writerSeconds : 0 }
}

/// Runs vCPU threads and a writer thread at once, for the CLI's `--vcpus`, the benchmarks and the
/// concurrency tests: every thread starts at one barrier; the writer makes one change per
/// `1 / changesPerSecond` seconds (as fast as it can when that is 0) until the last vCPU is done.
public enum ConcurrentSteering {
    /// `vcpu(i)` runs vCPU i's whole loop on its own thread and returns (accesses steered,
    /// checksum). `change()` makes one change and returns false when it was refused.
    public static func run(vcpus: Int, changesPerSecond: Double, change: (@Sendable () -> Bool)?,
                           vcpu: @escaping @Sendable (Int) -> (UInt64, UInt64)) -> ConcurrentSteeringResult {
        let shared = Shared(vcpus: vcpus)
        var threads: [pthread_t] = []
        for i in 0..<vcpus {
            threads.append(spawn {
                shared.arrive()
                let (n, sum) = vcpu(i)
                shared.finish(i, decisions: n, checksum: sum)
            })
        }
        if let change {
            threads.append(spawn {
                shared.arrive()
                let clock = ContinuousClock()
                let start = clock.now
                var made: UInt64 = 0, refused: UInt64 = 0
                let interval = changesPerSecond > 0 ? Duration.nanoseconds(Int64(1e9 / changesPerSecond)) : .zero
                var next = start
                while !shared.vcpusDone {
                    if change() { made += 1 } else { refused += 1 }
                    if interval > .zero {
                        next += interval
                        while clock.now < next && !shared.vcpusDone {
                            let left = next - clock.now
                            let ns = min(left.components.attoseconds / 1_000_000_000, 1_000_000)
                            if ns > 0 {
                                var t = timespec(tv_sec: 0, tv_nsec: Int(ns))
                                nanosleep(&t, nil)
                            }
                        }
                    }
                }
                shared.writerFinished(made: made, refused: refused, seconds: seconds(clock.now - start))
            })
        }
        shared.release(threads: threads.count)
        for t in threads { pthread_join(t, nil) }
        return shared.result()
    }

    /// A duration in seconds.
    public static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private static func spawn(_ body: @escaping () -> Void) -> pthread_t {
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var t = pthread_t()
        #else
        var t: pthread_t?
        #endif
        let r = pthread_create(&t, nil, { raw in
            #if canImport(Glibc)
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            #else
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            #endif
            box.body()
            return nil
        }, context)
        precondition(r == 0, "pthread_create failed: \(r)")
        #if canImport(Glibc)
        return t
        #else
        return t!
        #endif
    }

    /// The threads' meeting point and results (each field written by one thread, read after the
    /// joins, which order them).
    private final class Shared: @unchecked Sendable {
        let arrived = UnsafeAtomic<Int>.create(0)
        let go = UnsafeAtomic<Bool>.create(false)
        let running: UnsafeAtomic<Int>
        var decisions: [UInt64]
        var checksums: [UInt64]
        var ends: [ContinuousClock.Instant]
        var start = ContinuousClock.now
        var made: UInt64 = 0, refused: UInt64 = 0, writerSeconds = 0.0

        init(vcpus: Int) {
            running = .create(vcpus)
            decisions = Array(repeating: 0, count: vcpus)
            checksums = Array(repeating: 0, count: vcpus)
            ends = Array(repeating: .now, count: vcpus)
        }

        deinit {
            arrived.destroy()
            go.destroy()
            running.destroy()
        }

        func arrive() {
            arrived.wrappingIncrement(ordering: .sequentiallyConsistent)
            while !go.load(ordering: .acquiring) { sched_yield() }
        }

        func release(threads: Int) {
            while arrived.load(ordering: .acquiring) < threads { sched_yield() }
            start = .now
            go.store(true, ordering: .releasing)
        }

        func finish(_ i: Int, decisions n: UInt64, checksum: UInt64) {
            ends[i] = .now
            decisions[i] = n
            checksums[i] = checksum
            running.wrappingDecrement(ordering: .sequentiallyConsistent)
        }

        var vcpusDone: Bool { running.load(ordering: .acquiring) == 0 }

        func writerFinished(made: UInt64, refused: UInt64, seconds: Double) {
            self.made = made
            self.refused = refused
            writerSeconds = seconds
        }

        func result() -> ConcurrentSteeringResult {
            let end = ends.max() ?? start
            return ConcurrentSteeringResult(decisions: decisions, seconds: ConcurrentSteering.seconds(end - start),
                                            changes: made, refusedChanges: refused, writerSeconds: writerSeconds,
                                            checksum: checksums.reduce(0, ^))
        }
    }
}
