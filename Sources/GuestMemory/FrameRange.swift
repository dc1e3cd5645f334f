import VpmemCore
/// A non-empty run of frames `[first, last]` (inclusive, like Xen's rangesets) in one frame
/// space: guest frames (`GfnRange`) or machine frames (`MfnRange`).
///
/// Invariants: `first <= last <= maxFrameNumber` (2^52 - 1). Hence `count` is in 1 ... 2^52 and
/// `end` (one past `last`, as a raw number) is at most 2^52: start + count arithmetic on a range
/// never wraps. The checked initializers establish the invariant from untrusted input; the
/// unchecked one is for loops that derive ranges from ranges already checked.
///
/// Ranges order by `first`, then `last`, so a sorted list of disjoint ranges is in address order.
@frozen public struct FrameRange<Frame: FrameNumber>: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let first: Frame
    public let last: Frame

    public init(first: Frame, last: Frame) throws(MappingError) {
        guard first <= last else { throw .emptyRange(first: first.raw, count: 0) }
        guard last.raw <= maxFrameNumber else {
            throw .beyondFrameSpace(first: first.raw, count: last.raw &- first.raw &+ 1)
        }
        self.first = first
        self.last = last
    }

    /// `count` frames from `first`; zero frames or a run past the frame space is an error.
    public init(first: Frame, count: UInt64) throws(MappingError) {
        guard count > 0 else { throw .emptyRange(first: first.raw, count: 0) }
        let last: Frame
        do { last = try first.advanced(by: count - 1) } catch { throw .beyondFrameSpace(first: first.raw, count: count) }
        self.first = first
        self.last = last
    }

    /// Frames `[first, end)` that the caller has already established satisfy
    /// `first < end <= 2^52` (they come from checked ranges). No checks: for hot loops.
    @inlinable public init(uncheckedFirst first: UInt64, end: UInt64) {
        self.first = Frame(uncheckedRaw: first)
        self.last = Frame(uncheckedRaw: end &- 1)
    }

    /// Frames in the range: 1 ... 2^52.
    @inlinable public var count: UInt64 { last.raw &- first.raw &+ 1 }
    /// One past the last frame, as a raw frame number: `last.raw + 1`, at most 2^52 (which is not
    /// a valid frame, so it is not a `Frame`). For start + count loops over a range.
    @inlinable public var end: UInt64 { last.raw &+ 1 }

    @inlinable public func contains(_ frame: Frame) -> Bool { first <= frame && frame <= last }
    @inlinable public func contains(_ other: FrameRange) -> Bool { first <= other.first && other.last <= last }
    @inlinable public func overlaps(_ other: FrameRange) -> Bool { first <= other.last && other.first <= last }

    /// The frames of `self` that are also in `other`, if any.
    @inlinable public func intersection(_ other: FrameRange) -> FrameRange? {
        guard overlaps(other) else { return nil }
        return FrameRange(uncheckedFirst: Swift.max(first.raw, other.first.raw), end: Swift.min(end, other.end))
    }

    /// `ranges` (any order) as sorted ranges that neither overlap nor touch: overlapping and
    /// adjacent ranges become one, as a Xen rangeset holds them.
    public static func merging(_ ranges: some Sequence<FrameRange>) -> [FrameRange] {
        var out: [FrameRange] = []
        for r in ranges.sorted() {
            if let last = out.last, r.first.raw <= last.end {
                out[out.count - 1] = FrameRange(uncheckedFirst: last.first.raw, end: Swift.max(last.end, r.end))
            } else {
                out.append(r)
            }
        }
        return out
    }

    public static func < (a: FrameRange, b: FrameRange) -> Bool {
        a.first != b.first ? a.first < b.first : a.last < b.last
    }

    public var description: String { "\(Frame.kind) [\(hex(first.raw)), \(hex(last.raw))]" }
}

public typealias MfnRange = FrameRange<Mfn>
public typealias GfnRange = FrameRange<Gfn>

extension FrameRange where Frame == Mfn {
    /// The machine addresses the frames cover: `[first.address, last.address + 4095]`.
    public var maddrs: MaddrRange {
        // last < 2^52, so last.address + 4095 < 2^64: the bounds are in order and cannot wrap.
        MaddrRange(uncheckedFirst: first.address, last: Maddr(last.address.raw | (PageOrder.frameBytes - 1)))
    }
}

extension FrameRange where Frame == Gfn {
    /// The guest-physical addresses the frames cover: `[first.address, last.address + 4095]`.
    public var gpas: GpaRange {
        GpaRange(uncheckedFirst: first.address, last: Gpa(last.address.raw | (PageOrder.frameBytes - 1)))
    }
}
