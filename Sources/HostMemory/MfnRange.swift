import GuestMemory

/// A half-open range of machine frames `[start, end)`, never empty.
///
/// Half-open (unlike Xen's inclusive rangesets) because the frame table, the live-update records
/// and the allocators all work in start + count; `end` is at most 2^52 so `end - start` is exact.
@frozen public struct MfnRange: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let start: Mfn
    /// One past the last frame.
    public let end: Mfn

    /// `count` frames from `start`; an error when empty or past the 52-bit frame space.
    public init(start: Mfn, count: UInt64) throws(HostMemoryError) {
        guard count > 0 else { throw .emptyRange(what: "range at \(start)") }
        let (sum, overflow) = start.raw.addingReportingOverflow(count)
        guard !overflow, sum <= maxFrameNumber + 1 else {
            throw .address(.overflow(what: "mfn range", base: start.raw, offset: count))
        }
        self.start = start
        self.end = Mfn(uncheckedRaw: sum)
    }

    /// Frames `[start, end)` with `start < end <= 2^52` already established by the caller.
    @inlinable public init(uncheckedStart start: UInt64, end: UInt64) {
        self.start = Mfn(uncheckedRaw: start)
        self.end = Mfn(uncheckedRaw: end)
    }

    @inlinable public var count: UInt64 { end.raw - start.raw }
    @inlinable public func contains(_ mfn: Mfn) -> Bool { mfn.raw >= start.raw && mfn.raw < end.raw }
    @inlinable public func contains(_ other: MfnRange) -> Bool { other.start.raw >= start.raw && other.end.raw <= end.raw }
    @inlinable public func overlaps(_ other: MfnRange) -> Bool { start.raw < other.end.raw && other.start.raw < end.raw }

    /// The bytes this range covers, e.g. for messages.
    public var maddrDescription: String {
        "[0x\(String(start.raw << 12, radix: 16)), 0x\(String(end.raw << 12, radix: 16)))"
    }

    public static func < (a: MfnRange, b: MfnRange) -> Bool {
        a.start.raw != b.start.raw ? a.start.raw < b.start.raw : a.end.raw < b.end.raw
    }

    public var description: String {
        "mfn [0x\(String(start.raw, radix: 16)), 0x\(String(end.raw, radix: 16)))"
    }
}
