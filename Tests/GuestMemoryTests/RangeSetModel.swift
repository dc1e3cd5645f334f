@testable import GuestMemory
import Testing

/// What the property tests need from a rangeset; both RangeSet and the Xen-style baseline have it.
protocol RangeSetUnderTest: ~Copyable {
    init(name: String, limit: UInt64) throws(RangeSetError)
    var count: Int { get }
    var isEmpty: Bool { get }
    var limit: UInt64 { get }
    var first: ClosedRange<UInt64>? { get }
    var ranges: [ClosedRange<UInt64>] { get }
    var memory: RangeSetMemory { get }
    func contains(_ point: UInt64) -> Bool
    func contains(_ range: ClosedRange<UInt64>) -> Bool
    func overlaps(_ range: ClosedRange<UInt64>) -> Bool
    func next(after value: UInt64) -> ClosedRange<UInt64>?
    mutating func add(first: UInt64, last: UInt64) throws(RangeSetError)
    mutating func remove(first: UInt64, last: UInt64) throws(RangeSetError)
    mutating func setLimit(_ newLimit: UInt64) throws(RangeSetError)
    /// Heap bytes after the change, forecast before it (nil: would throw, or no forecast).
    func heapBytes(afterAdding range: ClosedRange<UInt64>) -> Int?
    func heapBytes(afterRemoving range: ClosedRange<UInt64>) -> Int?
    /// Checks the set's own structures against the model (nothing for a linked list).
    func expectInternalsAgree(with model: NaiveRangeSet)
}

extension RangeSet: RangeSetUnderTest {
    func expectInternalsAgree(with model: NaiveRangeSet) {
        let broken = invariantViolations()
        #expect(broken.isEmpty, "RangeSet invariants: \(broken.prefix(5).joined(separator: "; "))")
        expectDirectoryAgreesWithIndex(self, model)
        expectPointTableAgrees(self, model)
    }
}
extension XenStyleRangeSet: RangeSetUnderTest {
    // The linked list makes no forecast (the checks below apply to RangeSet only).
    func heapBytes(afterAdding range: ClosedRange<UInt64>) -> Int? { nil }
    func heapBytes(afterRemoving range: ClosedRange<UInt64>) -> Int? { nil }
    func expectInternalsAgree(with model: NaiveRangeSet) {}
}

/// The naive model: an array of ranges normalised after every change by sorting and merging
/// whatever overlaps or touches. Obviously right, and slow.
struct NaiveRangeSet: Equatable {
    var ranges: [ClosedRange<UInt64>] = []
    var limit: UInt64

    static func normalised(_ input: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        for r in input.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound == .max || r.lowerBound <= last.upperBound + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// The ranges after adding, or nil when that breaks the limit.
    func adding(_ r: ClosedRange<UInt64>) -> [ClosedRange<UInt64>]? {
        let result = Self.normalised(ranges + [r])
        return UInt64(result.count) <= limit ? result : nil
    }

    /// The ranges after removing, or nil when that breaks the limit.
    func removing(_ r: ClosedRange<UInt64>) -> [ClosedRange<UInt64>]? {
        var result: [ClosedRange<UInt64>] = []
        for x in ranges {
            if x.upperBound < r.lowerBound || x.lowerBound > r.upperBound {
                result.append(x)
                continue
            }
            if x.lowerBound < r.lowerBound { result.append(x.lowerBound...(r.lowerBound - 1)) }
            if x.upperBound > r.upperBound { result.append((r.upperBound + 1)...x.upperBound) }
        }
        return UInt64(result.count) <= limit ? result : nil
    }

    func contains(_ p: UInt64) -> Bool { ranges.contains { $0.contains(p) } }
    /// Every value of r is in the set.
    func contains(_ r: ClosedRange<UInt64>) -> Bool {
        ranges.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
    }
    func overlaps(_ r: ClosedRange<UInt64>) -> Bool { ranges.contains { $0.overlaps(r) } }
    func next(after v: UInt64) -> ClosedRange<UInt64>? { ranges.first { $0.lowerBound > v } }
}

/// One step of a random operation sequence, decoded from a random word.
enum RangeSetOp: CustomStringConvertible {
    case add(UInt64, UInt64)
    case remove(UInt64, UInt64)
    case setLimit(UInt64)

    /// Values land in a low window [0, span), a high window just below UInt64.max, or (rarely)
    /// span both, so merges, splits and the top of the value space all get exercised.
    init(_ v: UInt64, span: UInt64, maxLength: UInt64) {
        let window = (v >> 3) & 15
        var s = (v >> 8) % span
        var len = (v >> 32) % maxLength
        if window == 0 {
            s = UInt64.max - (v >> 8) % 48
            len = min(len, UInt64.max - s)
        } else if window == 1 {
            len = UInt64.max - 8 - s - (v >> 40) % 8
        }
        switch v % 8 {
        case 0, 1, 2, 3: self = .add(s, s + len)
        case 4, 5, 6: self = .remove(s, s + len)
        default: self = .setLimit((v >> 16) % 24)
        }
    }

    var description: String {
        switch self {
        case let .add(s, e): return "add [\(s), \(e)]"
        case let .remove(s, e): return "remove [\(s), \(e)]"
        case let .setLimit(l): return "setLimit(\(l))"
        }
    }
}
