import Foundation

/// A progress line on stderr for long runs: rewritten in place, only when stderr is a terminal
/// (so scripts and pipes see no control characters), cleared when the run ends.
final class BenchProgress {
    private let total: Int
    private var step = 0
    private let enabled: Bool
    private let started = KernelClock.now()

    init(total: Int) {
        self.total = max(total, 1)
        enabled = isatty(STDERR_FILENO) == 1
    }

    func advance(_ what: String) {
        step += 1
        guard enabled else { return }
        let pct = min(100, step * 100 / total)
        let elapsed = Double(KernelClock.now() - started) / 1e9
        let width = 24, filled = pct * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(pct)% \(fmt(elapsed, 0))s  \(what)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
