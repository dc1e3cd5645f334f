/// One measured operation: `prepare` builds its data outside the measurement and returns the
/// loop that runs the operation `n` times.
public struct Kernel: Sendable {
    public let name: String
    public let summary: String
    public let prepare: @Sendable () -> (Int64) -> Void

    public init(name: String, summary: String, prepare: @escaping @Sendable () -> (Int64) -> Void) {
        self.name = name
        self.summary = summary
        self.prepare = prepare
    }
}

import CHotPathSink

/// Hands a loop's result to an opaque C function so the optimizer cannot drop the loop.
@inline(__always) func consume(_ value: UInt64) { vpmem_hotpath_sink(value) }
