/// One measured operation: `prepare` builds its data outside the measurement and returns the
/// loop that runs the operation `n` times.
struct Kernel: Sendable {
    let name: String
    let summary: String
    let prepare: @Sendable () -> (Int64) -> Void
}

import CGate

/// Hands a loop's result to an opaque C function so the optimizer cannot drop the loop.
@inline(__always) func consume(_ value: UInt64) { vpmem_gate_sink(value) }
