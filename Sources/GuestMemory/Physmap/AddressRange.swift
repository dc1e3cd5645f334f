import VpmemCore
/// A non-empty range of byte addresses in one address space, stored as inclusive bounds
/// `[first, last]` like Xen's rangesets, so a range that ends at 2^64 - 1 is representable and
/// no arithmetic on it can wrap.
///
/// Invariants: `first <= last`. `size` is `last - first + 1` and is 2^64 only for the whole
/// space, which no physmap uses (sizes are reported through `UInt64` and that one case traps
/// nowhere because constructors refuse zero-sized and whole-space ranges).
public struct AddressRange<Address: PhysicalAddress>: Hashable, Sendable, CustomStringConvertible {
    public let first: Address
    public let last: Address

    /// A range from inclusive bounds; `first <= last` is checked.
    public init(first: Address, last: Address) throws(PhysmapError) {
        guard first <= last else { throw .emptyRange(start: first.raw, size: 0) }
        self.first = first
        self.last = last
    }

    /// `size` bytes from `start`; a zero size or a range past 2^64 - 1 is an error.
    public init(start: Address, size: UInt64) throws(PhysmapError) {
        guard size > 0 else { throw .emptyRange(start: start.raw, size: size) }
        let (end, overflow) = start.raw.addingReportingOverflow(size - 1)
        guard !overflow else { throw .rangeBeyondAddressSpace(start: start.raw, size: size) }
        self.first = start
        self.last = Address(end)
    }

    /// Bounds the caller has already established as `first <= last` (e.g. from a frame range).
    init(uncheckedFirst first: Address, last: Address) {
        self.first = first
        self.last = last
    }

    /// Bytes in the range.
    public var size: UInt64 { last.raw - first.raw + 1 }

    /// The first address after the range, or nil when the range ends at 2^64 - 1.
    public var end: Address? { last.raw == .max ? nil : Address(last.raw + 1) }

    public func contains(_ address: Address) -> Bool { first <= address && address <= last }
    public func contains(_ other: AddressRange) -> Bool { first <= other.first && other.last <= last }
    public func overlaps(_ other: AddressRange) -> Bool { first <= other.last && other.first <= last }

    /// `[0x..., 0x...]` with both bounds inclusive, as Xen prints ranges.
    public var description: String { "[\(hex(first.raw)), \(hex(last.raw))]" }
}

public typealias GpaRange = AddressRange<Gpa>
public typealias MaddrRange = AddressRange<Maddr>


/// Rounds `value` up to a multiple of `alignment` (a power of two), or nil when that wraps.
func alignUp(_ value: UInt64, to alignment: UInt64) -> UInt64? {
    let mask = alignment - 1
    let (sum, overflow) = value.addingReportingOverflow(mask)
    return overflow ? nil : sum & ~mask
}
