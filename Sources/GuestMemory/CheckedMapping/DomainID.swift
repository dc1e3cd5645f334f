/// A guest's domain id (Xen's domid_t). Ids from 0x7FF0 up are Xen's reserved ones
/// (DOMID_SELF, DOMID_IO, ...), never a guest.
public struct DomainID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt16
    public static let firstReserved: UInt16 = 0x7FF0

    public init(_ raw: UInt16) throws(MappingError) {
        guard raw < DomainID.firstReserved else { throw .reservedDomainID(raw) }
        self.raw = raw
    }

    public static func < (a: DomainID, b: DomainID) -> Bool { a.raw < b.raw }
    public var description: String { "d\(raw)" }
}
