/// An ioreq server's id within its guest (Xen's `ioservid_t`, a 16-bit number). Ids are handed
/// out by `SteeringEngine.createServer` and are slot numbers below
/// `SteeringEngine.maxServers`; an id is reused only after its server is destroyed.
@frozen public struct IoreqServerID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let raw: UInt16

    @inlinable public init(_ raw: UInt16) { self.raw = raw }

    public static func < (a: IoreqServerID, b: IoreqServerID) -> Bool { a.raw < b.raw }
    public var description: String { "ioreq server \(raw)" }
}
