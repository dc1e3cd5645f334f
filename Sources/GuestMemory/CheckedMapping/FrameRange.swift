/// A non-empty run of frames `[first, last]` (inclusive, like Xen's rangesets) in one frame
/// space. Invariant: `first <= last`; both are below 2^52 because frame numbers are.
public struct FrameRange<Frame: FrameNumber>: Hashable, Sendable, CustomStringConvertible {
    public let first: Frame
    public let last: Frame

    public init(first: Frame, last: Frame) throws(MappingError) {
        guard first <= last else { throw .emptyRange(first: first.raw, count: 0) }
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

    public var count: UInt64 { last.raw - first.raw + 1 }
    public func contains(_ frame: Frame) -> Bool { first <= frame && frame <= last }
    public func contains(_ other: FrameRange) -> Bool { first <= other.first && other.last <= last }
    public func overlaps(_ other: FrameRange) -> Bool { first <= other.last && other.first <= last }

    /// The frames of `self` that are also in `other`, if any.
    public func intersection(_ other: FrameRange) -> FrameRange? {
        guard overlaps(other) else { return nil }
        return try? FrameRange(first: max(first, other.first), last: min(last, other.last))
    }

    public var description: String { "\(Frame.kind) [\(formatHex(first.raw)), \(formatHex(last.raw))]" }
}

public typealias MfnRange = FrameRange<Mfn>
public typealias GfnRange = FrameRange<Gfn>
