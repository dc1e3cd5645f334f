/// A domain identifier, as Xen's `domid_t`: 16 bits, guests below `DOMID_FIRST_RESERVED` (0x7FF0),
/// a few reserved values above for owners that are not guests.
@frozen public struct DomainId: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let raw: UInt16

    /// The first identifier that is not a guest (`DOMID_FIRST_RESERVED`).
    public static let firstReserved: UInt16 = 0x7FF0
    /// The hypervisor itself (`DOMID_XEN`): owner of Xen-heap pages and the live-update state.
    public static let xen = DomainId(uncheckedRaw: 0x7FF2)
    /// No owner (`DOMID_INVALID`): the owner field of a free, reserved, bad or hole frame.
    public static let none = DomainId(uncheckedRaw: 0x7FF4)

    @inlinable public init(uncheckedRaw raw: UInt16) { self.raw = raw }

    /// A guest's identifier from untrusted input: refuses the reserved values.
    public static func guest(_ raw: UInt16) throws(HostMemoryError) -> DomainId {
        guard raw < firstReserved else { throw .invalidDomainId(raw) }
        return DomainId(uncheckedRaw: raw)
    }

    @inlinable public var isGuest: Bool { raw < DomainId.firstReserved }

    public static func < (a: DomainId, b: DomainId) -> Bool { a.raw < b.raw }

    public var description: String {
        switch self {
        case .xen: return "DOMID_XEN"
        case .none: return "DOMID_INVALID"
        default: return "d\(raw)"
        }
    }
}
