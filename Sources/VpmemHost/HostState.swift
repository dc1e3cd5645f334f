import Foundation
import GuestMemory

/// What vpmem decides about a host as it runs, kept in `state.json` beside host.toml: the guests
/// it admitted (name, domid, config path) in the order they were created, and the balloon
/// operations since, in the order they happened. Opening the host replays both on a fresh boot
/// of the machine, so ownership is the same in every command.
///
/// Invariants: names, domids and config paths are unique; domids are guest domids below
/// `DomainID.provisional`; every balloon entry names a guest in `guests`.
public struct HostState: Codable, Equatable, Sendable {
    public struct GuestRecord: Codable, Equatable, Sendable {
        public var name: String
        public var domid: UInt16
        /// Absolute path of the guest's config file, the source of truth for the guest.
        public var config: String
    }

    public struct Balloon: Codable, Equatable, Sendable {
        public enum Direction: String, Codable, Sendable { case out, `in` }
        public var guest: String
        public var direction: Direction
        public var gfn: UInt64
    }

    public var version = 1
    public var guests: [GuestRecord] = []
    public var balloons: [Balloon] = []

    public init() {}

    /// The lowest guest domid no guest has (Xen starts at 1; dom0 is the host itself).
    public func freeDomid() -> UInt16? {
        let used = Set(guests.map(\.domid))
        return (1..<DomainID.provisional.raw).first { !used.contains($0) }
    }

    static func decode(_ data: Data, path: String) throws(HostError) -> HostState {
        let state: HostState
        do { state = try JSONDecoder().decode(HostState.self, from: data) } catch {
            throw .state(path: path, problem: "is not a vpmem host state (\(error))")
        }
        guard state.version == 1 else { throw .state(path: path, problem: "has version \(state.version); this vpmem reads version 1") }
        let names = Set(state.guests.map(\.name)), domids = Set(state.guests.map(\.domid))
        guard names.count == state.guests.count, domids.count == state.guests.count,
              state.guests.allSatisfy({ $0.domid >= 1 && $0.domid < DomainID.provisional.raw }),
              state.balloons.allSatisfy({ names.contains($0.guest) }) else {
            throw .state(path: path, problem: "names a guest or domid twice, a reserved domid, or balloons an unknown guest")
        }
        return state
    }

    func encoded() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding plain strings and integers cannot fail.
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }
}
