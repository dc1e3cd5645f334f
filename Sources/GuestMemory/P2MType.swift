/// The type of a guest frame in the p2m: what kind of memory backs it and who handles accesses.
///
/// Raw values are Xen's `p2m_type_t` numbers where Xen has the type, so a dump reads the same
/// as `xl debug-keys` output; `pmem` (host persistent memory mapped into the guest) is vpmem's
/// own and takes the first number Xen leaves free. The p2m entry keeps 6 bits of type (Xen's
/// limit: "at most 6 bits of type space"), so raw values stay below 64.
///
/// Xen types not modelled here (their numbers are kept free): populate_on_demand (6),
/// ram_paging_out (9), ram_paged (10), ram_paging_in (11), ram_shared (12), ram_broken (13).
public enum P2MType: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// Normal read/write guest RAM.
    case ramRW = 0
    /// Nothing mapped. Never stored in the table: `translate` returns nil for such a frame.
    case invalid = 1
    /// RAM temporarily read-only so that writes can be logged (live migration).
    case ramLogDirty = 2
    /// Read-only RAM; guest writes are dropped.
    case ramRO = 3
    /// Emulated MMIO: reads and writes go to the device model. No machine frame behind it.
    case mmioDM = 4
    /// A genuine device's MMIO range mapped straight into the guest.
    case mmioDirect = 5
    /// A frame of another domain mapped read/write through a grant.
    case grantMapRW = 7
    /// A frame of another domain mapped read-only through a grant.
    case grantMapRO = 8
    /// A frame of another domain mapped by a privileged domain (Xen's `p2m_map_foreign`).
    case foreign = 14
    /// RAM whose writes are claimed by an ioreq server (reads go to RAM); an unclaimed page of
    /// this type behaves as RAM. Only `ramRW <-> ioreqServer` transitions are expected.
    case ioreqServer = 15
    /// Host persistent memory (a vNVDIMM's SPA range) mapped into the guest. vpmem's own type.
    case pmem = 16

    /// The largest raw value the entry's 6-bit type field holds.
    public static let maxRawValue: UInt8 = 63

    /// Xen's spelling (`p2m_<name>` in xen/include/asm-x86/p2m.h), e.g. "ram_rw", "map_foreign".
    public var name: String {
        switch self {
        case .ramRW: return "ram_rw"
        case .invalid: return "invalid"
        case .ramLogDirty: return "ram_logdirty"
        case .ramRO: return "ram_ro"
        case .mmioDM: return "mmio_dm"
        case .mmioDirect: return "mmio_direct"
        case .grantMapRW: return "grant_map_rw"
        case .grantMapRO: return "grant_map_ro"
        case .foreign: return "map_foreign"
        case .ioreqServer: return "ioreq_server"
        case .pmem: return "pmem"
        }
    }

    public var description: String { name }

    /// Parses Xen's spelling (with or without the `p2m_` prefix); "foreign" is accepted too.
    public init?(name: String) {
        let bare = name.hasPrefix("p2m_") ? String(name.dropFirst(4)) : name
        if bare == "foreign" { self = .foreign; return }
        guard let t = P2MType.allCases.first(where: { $0.name == bare }) else { return nil }
        self = t
    }

    // Type groups below are computed masks, not `static let`: a global would cost a
    // lazy-initialisation check on every use from another module (the steering hot path).
    @inlinable var mask: UInt64 { 1 &<< UInt64(rawValue) }

    // Type groups as bit masks, like Xen's P2M_*_TYPES, so a predicate is one AND.
    @inlinable static var ramMask: UInt64 {
        P2MType.ramRW.mask | P2MType.ramLogDirty.mask | P2MType.ramRO.mask | P2MType.ioreqServer.mask
    }
    @inlinable static var mmioMask: UInt64 { P2MType.mmioDM.mask | P2MType.mmioDirect.mask }
    @inlinable static var grantMask: UInt64 { P2MType.grantMapRW.mask | P2MType.grantMapRO.mask }
    @inlinable static var readOnlyMask: UInt64 {
        P2MType.ramLogDirty.mask | P2MType.ramRO.mask | P2MType.grantMapRO.mask
    }
    @inlinable static var discardWriteMask: UInt64 { P2MType.ramRO.mask | P2MType.grantMapRO.mask }
    @inlinable static var changeableMask: UInt64 {
        P2MType.ramRW.mask | P2MType.ramLogDirty.mask | P2MType.ioreqServer.mask
    }
    @inlinable static var framelessMask: UInt64 { P2MType.invalid.mask | P2MType.mmioDM.mask }

    /// Guest RAM backed by a machine frame of this domain (Xen's `p2m_is_ram`, which counts
    /// ioreq_server pages as RAM).
    @inlinable public var isRAM: Bool { mask & P2MType.ramMask != 0 }
    /// RAM of any origin: this domain's, granted, foreign or host pmem (Xen's `p2m_is_any_ram`
    /// plus pmem).
    @inlinable public var isAnyRAM: Bool {
        mask & (P2MType.ramMask | P2MType.grantMask | P2MType.foreign.mask | P2MType.pmem.mask) != 0
    }
    /// A device range, emulated or direct (Xen's `p2m_is_mmio`).
    @inlinable public var isMMIO: Bool { mask & P2MType.mmioMask != 0 }
    /// A grant mapping (Xen's `p2m_is_grant`).
    @inlinable public var isGrant: Bool { mask & P2MType.grantMask != 0 }
    /// A foreign mapping (Xen's `p2m_is_foreign`).
    @inlinable public var isForeign: Bool { self == .foreign }
    /// Host persistent memory.
    @inlinable public var isPmem: Bool { self == .pmem }
    /// The hardware entry must not allow writes (Xen's `p2m_is_readonly`).
    @inlinable public var isReadOnly: Bool { mask & P2MType.readOnlyMask != 0 }
    /// Guest writes are dropped rather than faulted to anyone (Xen's `p2m_is_discard_write`).
    @inlinable public var isDiscardWrite: Bool { mask & P2MType.discardWriteMask != 0 }
    /// A type Xen changes in bulk (log-dirty, ioreq server claims: `p2m_is_changeable`).
    @inlinable public var isChangeable: Bool { mask & P2MType.changeableMask != 0 }
    /// Entries of this type carry a machine frame. `mmioDM` and `invalid` do not.
    @inlinable public var hasMachineFrame: Bool { mask & P2MType.framelessMask == 0 }
    /// Some guest access of this type leaves the guest to be emulated: every access for
    /// `mmioDM`, writes for `ioreqServer` (when a server claims the type).
    @inlinable public var isEmulated: Bool { self == .mmioDM || self == .ioreqServer }

    /// What the hardware entry allows for this type before any `P2MAccess` restriction, as
    /// Xen's `ept_p2m_type_to_flags` derives it: RAM-like types rwx, read-only types r-x,
    /// `ioreqServer` r-x (writes trap), grant read-only r--, direct MMIO rw-, emulated and
    /// invalid nothing.
    @inlinable public var hardwareAccess: P2MAccess {
        switch self {
        case .ramRW, .grantMapRW, .foreign, .pmem: return .rwx
        case .ramLogDirty, .ramRO, .ioreqServer: return [.read, .execute]
        case .grantMapRO: return .read
        case .mmioDirect: return [.read, .write]
        case .mmioDM, .invalid: return []
        }
    }
}

/// Access rights of a p2m entry: read, write, execute (Xen's `p2m_access_t` restrictions as
/// EPT bits 0..2). The rights a guest access gets are these intersected with the type's
/// `hardwareAccess`.
public struct P2MAccess: OptionSet, Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    // Computed, not `static let`: a global would cost a lazy-initialisation check on every
    // use from another module, and these are used on the steering hot path.
    @inlinable public static var read: P2MAccess { P2MAccess(rawValue: 1 << 0) }
    @inlinable public static var write: P2MAccess { P2MAccess(rawValue: 1 << 1) }
    @inlinable public static var execute: P2MAccess { P2MAccess(rawValue: 1 << 2) }
    @inlinable public static var rwx: P2MAccess { P2MAccess(rawValue: 0x7) }
    @inlinable public static var rw: P2MAccess { P2MAccess(rawValue: 0x3) }
    /// The bits an entry can hold; any other bit in a raw value is an error.
    @inlinable public static var all: P2MAccess { .rwx }

    /// "rwx" style, "-" for a missing right.
    public var description: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
    }

    /// Parses "rwx", "r-x", "rw", "" (none); refuses any other letter.
    public init?(letters: String) {
        var a: P2MAccess = []
        for c in letters {
            switch c {
            case "r": a.insert(.read)
            case "w": a.insert(.write)
            case "x": a.insert(.execute)
            case "-": continue
            default: return nil
            }
        }
        self = a
    }
}
