/// wyrand (Wang Yi's generator, from wyhash): one word of state, each value one add and one
/// 64 x 64 -> 128-bit multiply. The access generator draws twice per access, so its cost is part
/// of every end-to-end steering figure; SplitMix64's three multiplies and shifts a draw were
/// half of that. Deterministic from a seed; not for anything that needs unpredictability.
public struct WyRand: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0xA076_1D64_78BD_642F
        let m = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return m.high ^ m.low
    }

    /// A value in `0..<bound` (bound > 0), by Lemire's multiply-shift (the bias is below
    /// bound / 2^64, which no workload here can observe).
    @inlinable public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        return next().multipliedFullWidth(by: bound).high
    }
}
