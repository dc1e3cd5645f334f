/// Why a rangeset operation was refused. Every case names the set and the values involved, and
/// the set is unchanged after the error (Xen's rangeset.c returns -ENOMEM / -EINVAL instead).
public enum RangeSetError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The change would leave the set with more ranges than its limit (Xen's `nr_ranges`).
    /// `needed` is the number of ranges the set would have held after the operation.
    case limitReached(set: String, limit: UInt64, needed: UInt64, operation: String, first: UInt64, last: UInt64)
    /// `first > last`: ranges are inclusive `[first, last]` and must not be empty.
    case invertedRange(set: String, first: UInt64, last: UInt64)
    /// A new limit below the number of ranges the set already holds.
    case limitBelowCount(set: String, limit: UInt64, count: UInt64)
    /// A limit above `RangeSet.maximumLimit`.
    case limitAboveMaximum(set: String, limit: UInt64, maximum: UInt64)
    /// `reserveCapacity` asked for more slots than the limit allows ranges.
    case capacityAboveLimit(set: String, requested: UInt64, limit: UInt64)

    public var description: String {
        switch self {
        case let .limitReached(set, limit, needed, operation, first, last):
            return "rangeset '\(set)': \(operation) [\(hex(first)), \(hex(last))] needs \(needed) ranges "
                + "but the limit is \(limit): remove or merge ranges first, or raise the set's limit"
        case let .invertedRange(set, first, last):
            return "rangeset '\(set)': range [\(hex(first)), \(hex(last))] has its first value above its last: "
                + "ranges are inclusive [first, last] with first <= last"
        case let .limitBelowCount(set, limit, count):
            return "rangeset '\(set)': cannot lower the limit to \(limit) while the set holds \(count) ranges: "
                + "remove ranges first or choose a limit of at least \(count)"
        case let .limitAboveMaximum(set, limit, maximum):
            return "rangeset '\(set)': limit \(limit) is above the maximum of \(maximum) ranges a set may hold"
        case let .capacityAboveLimit(set, requested, limit):
            return "rangeset '\(set)': cannot reserve room for \(requested) ranges, the set's limit is \(limit): "
                + "raise the limit first or reserve at most \(limit)"
        }
    }
}

@inline(__always) private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
