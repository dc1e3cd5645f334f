#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time per operation of a kernel's loop, for `vpmem bench hotpaths`. The gate
/// counts instructions instead (callgrind), which repeat exactly; this measures what the host
/// really does, so each hot path is read only as a ratio to a baseline timed in the same run,
/// alternated with it, so that both see the same machine.
public struct KernelTimer {
    /// Each timed run lasts at least this long.
    public var targetNanoseconds: UInt64
    private var loops: [String: (Int64) -> Void] = [:]
    private var counts: [String: Int64] = [:]

    public init(targetNanoseconds: UInt64) { self.targetNanoseconds = targetNanoseconds }

    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Builds the kernel's data once; later calls reuse it.
    public mutating func prepare(_ kernel: Kernel) {
        if loops[kernel.name] == nil { loops[kernel.name] = kernel.prepare() }
    }

    /// One timed run of `kernel`, in nanoseconds per operation. The first call finds an
    /// operation count that lasts `targetNanoseconds` (doubling from one), and keeps it.
    public mutating func nanosecondsPerOp(_ kernel: Kernel) -> Double {
        prepare(kernel)
        let loop = loops[kernel.name]!
        var n = counts[kernel.name] ?? 0
        if n == 0 {
            n = 1
            while true {
                let t0 = Self.now()
                loop(n)
                let dt = Self.now() - t0
                if dt >= targetNanoseconds / 4 || n >= 1 << 40 {
                    // Scale to the target from the last run, at least once more.
                    n = max(1, Int64(Double(n) * Double(targetNanoseconds) / Double(max(dt, 1))))
                    break
                }
                n *= 2
            }
            counts[kernel.name] = n
        }
        let t0 = Self.now()
        loop(n)
        return Double(Self.now() - t0) / Double(n)
    }
}

/// The median of a non-empty list.
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
