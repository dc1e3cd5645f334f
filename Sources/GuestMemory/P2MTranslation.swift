/// What the p2m says about one guest frame: the result of `P2M.translate(_:)`.
///
/// Holds the raw leaf entry and decodes fields on demand, so a walk returns two words and
/// callers pay only for what they read.
@frozen public struct P2MTranslation: Sendable, Hashable, CustomStringConvertible {
    /// The leaf entry, encoded as described in P2MEntry.swift.
    @usableFromInline let entry: UInt64
    /// The machine frame backing the translated gfn (the leaf's mfn plus the gfn's offset
    /// inside the superpage); 0 for frameless types.
    @usableFromInline let frame: UInt64
    /// The level of the leaf: 0 (4K), 1 (2M), 2 (1G).
    @usableFromInline let level: UInt8

    @inlinable init(entry: UInt64, frame: UInt64, level: UInt8) {
        self.entry = entry
        self.frame = frame
        self.level = level
    }

    /// The machine frame behind the gfn, or nil for a type without one (mmio_dm).
    @inlinable public var mfn: Mfn? { P2MEntry.hasFrame(entry) ? Mfn(uncheckedRaw: frame) : nil }
    @inlinable public var type: P2MType { P2MEntry.type(entry) }
    /// True when the leaf's type is `type`: one compare of the entry's type bits, without
    /// decoding them into a `P2MType` (whose raw values are sparse, so decoding takes a table
    /// lookup). For hot paths that test for one or two types before a full `switch`.
    @inlinable public func isType(_ type: P2MType) -> Bool { P2MEntry.typeRaw(entry) == type.rawValue }
    @inlinable public var access: P2MAccess { P2MEntry.access(entry) }
    /// True when the entry grants the right whose `P2MAccess` bit number is `bit` (0 read,
    /// 1 write, 2 execute; other values are false): one bit test of the entry.
    @inlinable public func grants(accessBit bit: UInt8) -> Bool {
        bit < 3 && (entry &>> (P2MEntry.accessShift &+ UInt64(bit))) & 1 != 0
    }
    /// The rights a guest access gets: the entry's access restricted by its type.
    @inlinable public var effectiveAccess: P2MAccess { access.intersection(type.hardwareAccess) }
    /// The size of the leaf that maps the gfn.
    @inlinable public var order: PageOrder { P2MEntry.order(Int(level)) }

    public var description: String {
        let target = mfn.map { "\($0)" } ?? "no mfn"
        return "\(target) \(type.name) \(access) \(order)"
    }
}

/// One leaf of the p2m, clipped to the range asked for: `count` frames from `gfn` map to frames
/// from `mfn` (nil for frameless types) with one type and access. Returned by
/// `P2M.mappings(gfn:count:)`; not used on any hot path.
public struct P2MMapping: Sendable, Hashable, CustomStringConvertible {
    public var gfn: Gfn
    public var count: UInt64
    public var mfn: Mfn?
    public var type: P2MType
    public var access: P2MAccess
    /// The order of the leaf this piece comes from.
    public var order: PageOrder

    public init(gfn: Gfn, count: UInt64, mfn: Mfn?, type: P2MType, access: P2MAccess, order: PageOrder) {
        self.gfn = gfn
        self.count = count
        self.mfn = mfn
        self.type = type
        self.access = access
        self.order = order
    }

    public var description: String {
        let target = mfn.map { "\($0)" } ?? "no mfn"
        return "\(gfn) +\(count) -> \(target) \(type.name) \(access) (\(order) leaf)"
    }
}

