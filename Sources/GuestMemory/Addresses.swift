/// Byte addresses, one type per address space.
///
/// `Gpa` is a guest-physical address, `Maddr` a machine (host-physical) address. Arithmetic
/// that would wrap is an error; conversion to a frame number is explicit.

public protocol PhysicalAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    associatedtype Frame: FrameNumber
    var raw: UInt64 { get }
    init(_ raw: UInt64)
    static var kind: String { get }
}

extension PhysicalAddress {
    /// The frame this address falls in.
    @inlinable public var frame: Frame { Frame(uncheckedRaw: raw >> PageOrder.frameShift) }
    /// The byte offset inside its 4 KiB frame.
    @inlinable public var offsetInFrame: UInt64 { raw & (PageOrder.frameBytes - 1) }

    /// `self + bytes`, or an error when that wraps past 2^64.
    @inlinable public func adding(_ bytes: UInt64) throws(AddressError) -> Self {
        let (sum, overflow) = raw.addingReportingOverflow(bytes)
        guard !overflow else { throw .overflow(what: Self.kind, base: raw, offset: bytes) }
        return Self(sum)
    }

    /// The last byte of a `bytes`-long region starting here (bytes > 0), or an error on wrap.
    @inlinable public func lastByte(ofLength bytes: UInt64) throws(AddressError) -> Self {
        precondition(bytes > 0, "a region has at least one byte")
        return try adding(bytes - 1)
    }

    @inlinable public func isAligned(to order: PageOrder) -> Bool { raw & (order.bytes - 1) == 0 }

    /// Rounds up to the next `order` boundary, or an error when that wraps.
    @inlinable public func alignedUp(to order: PageOrder) throws(AddressError) -> Self {
        let mask = order.bytes - 1
        let (sum, overflow) = raw.addingReportingOverflow(mask)
        guard !overflow else { throw .overflow(what: Self.kind, base: raw, offset: mask) }
        return Self(sum & ~mask)
    }

    public static func < (a: Self, b: Self) -> Bool { a.raw < b.raw }
    public var description: String { "\(Self.kind) 0x\(String(raw, radix: 16))" }
}

/// Guest-physical address.
@frozen public struct Gpa: PhysicalAddress {
    public typealias Frame = Gfn
    public let raw: UInt64
    @inlinable public init(_ raw: UInt64) { self.raw = raw }
    public static var kind: String { "gpa" }
}

/// Machine (host-physical) address.
@frozen public struct Maddr: PhysicalAddress {
    public typealias Frame = Mfn
    public let raw: UInt64
    @inlinable public init(_ raw: UInt64) { self.raw = raw }
    public static var kind: String { "maddr" }
}
