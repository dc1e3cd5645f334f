import VpmemCore

/// Errors of `vpmem bench`, each naming the problem and the fix.
enum BenchError: Error, CustomStringConvertible {
    case unreadableBaseline(path: String, reason: String)
    case kindMismatch(path: String, saved: String, running: String)
    case badPercentage(String)
    case badPlotFile(String)
    case gnuplotMissing
    case gnuplotFailed(status: Int32, output: String)
    case backingTooSmall(size: UInt64, needed: UInt64)
    case pathAndEmulated
    case badThreads(Int)
    case badSizes(String, reason: String)
    case badRounds(Int)
    case roundsWithoutFio
    case msyncFailed(path: String, errno: Int32)
    case fioFailed(status: Int32, output: String)
    case fioResizedBacking(path: String, from: Int, to: Int)
    case regressions(count: Int, threshold: String)
    case backingHoldsLabelArea(path: String, summary: String, swept: UInt64)
    case backingHoldsData(path: String, swept: UInt64, at: UInt64)

    var description: String {
        switch self {
        case let .unreadableBaseline(p, r): return "\(p): \(r): give a file written by `vpmem bench ... --save FILE`"
        case let .kindMismatch(p, saved, running):
            return "\(p) holds a `bench \(saved)` baseline, but this is `bench \(running)`: compare like with like"
        case .badPercentage(let s): return "'\(s)' is not a percentage: give e.g. 5% or 2.5"
        case .badPlotFile(let s): return "--plot \(s): the file must end in .svg or .png"
        case .gnuplotMissing: return "--plot needs gnuplot: run scripts/setup (apt-get install gnuplot-nox)"
        case let .gnuplotFailed(s, o): return "gnuplot failed (status \(s)): \(o.suffix(400))"
        case let .backingTooSmall(size, needed):
            return "the backing has \(size) bytes; the sweep needs at least \(needed) (2 MiB per thread, twice over): use a bigger backing or fewer --threads"
        case .pathAndEmulated: return "PATH and --emulated both given: give a PATH or --emulated SIZE, not both"
        case .badThreads(let n): return "--threads \(n): give 1 to 256"
        case let .badSizes(s, reason): return "--sizes '\(s)': \(reason): give a comma-separated list of powers of two from 64 to 2M, e.g. 4K,64K,2M"
        case .badRounds(let n): return "--rounds \(n): give 1 to 99"
        case .roundsWithoutFio: return "--rounds sets how often vpmem and fio take turns: give --compare-fio too"
        case let .msyncFailed(p, e): return "msync of \(p) failed (errno \(e)): is the filesystem full or read-only?"
        case let .fioFailed(s, o): return "fio failed (status \(s)): \(o.suffix(400))"
        case let .fioResizedBacking(p, from, to):
            return "fio resized \(p) from \(from) to \(to) bytes; the comparison stopped: restore its size with `truncate -s \(from) \(p)`"
        case let .regressions(n, t): return "\(n) figure\(n == 1 ? "" : "s") regressed by more than \(t)"
        case let .backingHoldsLabelArea(p, summary, swept):
            return "\(p) holds a \(summary), so it is a vNVDIMM's backing: the sweep writes its first \(ByteSize(bytes: swept)), "
                + "the guest's data, and nothing of it comes back: benchmark a scratch file, a directory (a temporary file is made "
                + "there) or --emulated SIZE, or give --overwrite-backing to destroy its contents"
        case let .backingHoldsData(p, swept, at):
            return "\(p) holds data where the sweep writes (its first \(ByteSize(bytes: swept)); non-zero at offset 0x\(String(at, radix: 16))), "
                + "and nothing of it comes back: benchmark a scratch file, a directory (a temporary file is made there) or "
                + "--emulated SIZE, or give --overwrite-backing to destroy its contents"
        }
    }
}
