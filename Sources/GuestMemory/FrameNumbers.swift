/// Frame numbers: 4 KiB page indexes in one address space each.
///
/// A `Gfn` is a guest frame (guest-physical address >> 12) and an `Mfn` a machine frame
/// (host-physical address >> 12). They are distinct types so a guest frame cannot be passed
/// where a machine frame is wanted; convert only through the p2m or an explicit `init(raw:)`.
/// Frame numbers are below 2^52, so that their byte address fits in 64 bits.

/// The largest frame number whose byte address fits in 64 bits.
public let maxFrameNumber: UInt64 = (1 << 52) - 1

public protocol FrameNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The frame number as a plain integer.
    var raw: UInt64 { get }
    /// Wraps a raw number without checks; use `checked(_:)` for untrusted input.
    init(uncheckedRaw raw: UInt64)
    /// A short name for messages ("gfn", "mfn").
    static var kind: String { get }
}

extension FrameNumber {
    /// A frame number from untrusted input: refuses numbers above `maxFrameNumber`.
    @inlinable public static func checked(_ raw: UInt64) throws(AddressError) -> Self {
        guard raw <= maxFrameNumber else { throw .frameOutOfRange(what: kind, frame: raw) }
        return Self(uncheckedRaw: raw)
    }

    /// `self + count` frames, or an error when that leaves the frame space.
    @inlinable public func advanced(by count: UInt64) throws(AddressError) -> Self {
        let (sum, overflow) = raw.addingReportingOverflow(count)
        guard !overflow else { throw .overflow(what: Self.kind, base: raw, offset: count) }
        guard sum <= maxFrameNumber else { throw .frameOutOfRange(what: Self.kind, frame: sum) }
        return Self(uncheckedRaw: sum)
    }

    /// Frames from `other` up to `self` (self >= other), or an error.
    @inlinable public func distance(from other: Self) throws(AddressError) -> UInt64 {
        guard raw >= other.raw else { throw .underflow(what: Self.kind, base: raw, offset: other.raw) }
        return raw - other.raw
    }

    @inlinable public func isAligned(to order: PageOrder) -> Bool { raw & order.frameMask == 0 }

    /// The first frame of the `order`-sized page containing this frame.
    @inlinable public func alignedDown(to order: PageOrder) -> Self {
        Self(uncheckedRaw: raw & ~order.frameMask)
    }

    public static func < (a: Self, b: Self) -> Bool { a.raw < b.raw }
    public var description: String { "\(Self.kind) 0x\(String(raw, radix: 16))" }
}

/// Guest frame number: an index of a 4 KiB page in a guest's physical address space.
@frozen public struct Gfn: FrameNumber {
    public let raw: UInt64
    @inlinable public init(uncheckedRaw raw: UInt64) { self.raw = raw }
    public static var kind: String { "gfn" }
    /// The guest-physical address of the frame's first byte.
    @inlinable public var address: Gpa { Gpa(raw &<< PageOrder.frameShift) }
}

/// Machine frame number: an index of a 4 KiB page in the host's physical address space.
@frozen public struct Mfn: FrameNumber {
    public let raw: UInt64
    @inlinable public init(uncheckedRaw raw: UInt64) { self.raw = raw }
    public static var kind: String { "mfn" }
    /// The machine (host-physical) address of the frame's first byte.
    @inlinable public var address: Maddr { Maddr(raw &<< PageOrder.frameShift) }
}
