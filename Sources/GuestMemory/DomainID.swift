/// A domain id, as Xen's `domid_t`: 16 bits. Guests are below `DOMID_FIRST_RESERVED` (0x7FF0);
/// ids from there up are Xen's reserved ones (DOMID_SELF, DOMID_IO, DOMID_XEN, ...), never a guest.
///
/// `init(_:)` takes untrusted input and accepts guest ids only. The two reserved ids vpmem uses
/// as owners that are not guests are static members: `.xen` (DOMID_XEN, the hypervisor's own
/// pages) and `.invalid` (DOMID_INVALID, "no owner" in a frame-table record).
@frozen public struct DomainID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt16
    public static let firstReserved: UInt16 = 0x7FF0

    /// The hypervisor itself (`DOMID_XEN`): owner of Xen-heap pages and the live-update state.
    public static let xen = DomainID(uncheckedRaw: 0x7FF2)
    /// No owner (`DOMID_INVALID`): the owner of a free, reserved, bad or hole frame.
    public static let invalid = DomainID(uncheckedRaw: 0x7FF4)

    /// A guest's id from untrusted input: refuses the reserved ids.
    public init(_ raw: UInt16) throws(MappingError) {
        guard raw < DomainID.firstReserved else { throw .reservedDomainID(raw) }
        self.raw = raw
    }

    /// Any 16-bit id, unchecked: for decoding records whose owner field was written by vpmem
    /// (the frame table) and for the reserved ids above.
    @inlinable public init(uncheckedRaw raw: UInt16) { self.raw = raw }

    /// True for a guest's id (below 0x7FF0), false for Xen's reserved ids.
    @inlinable public var isGuest: Bool { raw < DomainID.firstReserved }

    public static func < (a: DomainID, b: DomainID) -> Bool { a.raw < b.raw }

    public var description: String {
        switch raw {
        case DomainID.xen.raw: return "DOMID_XEN"
        case DomainID.invalid.raw: return "DOMID_INVALID"
        default: return isGuest ? "d\(raw)" : "domid 0x\(String(raw, radix: 16))"
        }
    }
}
