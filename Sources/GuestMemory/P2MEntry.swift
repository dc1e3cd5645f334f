/// The 64-bit p2m entry: how one slot of a table node is encoded.
///
/// An entry is one of three things, told apart by bit 11 and one compare:
///
///   leaf    bit 11 (L) set. Every 4K entry that maps something, and 2M/1G superpage entries.
///             bit  0..5   type: P2MType raw value (6 bits, Xen's limit)
///             bit  6..8   access r, w, x
///             bit  11     L = 1
///             bit 24..63  machine frame number (40 bits, so mfn < 2^40, 4 PiB of machine
///                         memory): the top of the word, so decoding it is one shift
///             other bits  0
///   table   the host address of the child node itself (4 KiB aligned, so L = 0)
///   empty   the address of the shared empty node (`P2MEntry.empty`), never 0
///
/// The empty node is one read-only 4 KiB page per process whose 512 entries each hold its own
/// address. So every non-leaf entry, empty or not, is a valid node address: a walk never tests
/// for "nothing here" on the way down. An empty root entry leads to the empty node, which leads
/// to itself, and the walk ends at L1 on an entry with L = 0, which `translate` reports as not
/// mapped. The walk's only tests are "L set?" at L3 and L2 (a superpage ends the walk) and at L1
/// (mapped or not): one test and branch per level, no present bit, no pointer mask.
///
/// A superpage leaf's mfn is aligned to its size. Frameless types (mmio_dm) store mfn 0 in every
/// entry. Two leaves of one node are "contiguous" when they differ only by `span << 24`: the
/// coalescing test compares whole entries. Type sits in bits 0..5 so "has a machine frame" is a
/// bit test of `P2MType.framelessMask` at the entry's low 6 bits, with no shift or mask first.
@usableFromInline enum P2MEntry {
    @inlinable static var typeMask: UInt64 { 0x3f }
    @inlinable static var accessShift: UInt64 { 6 }
    @inlinable static var accessMask: UInt64 { 0x7 << 6 }
    @inlinable static var leafBit: UInt64 { 1 << 11 }
    @inlinable static var frameShift: UInt64 { 24 }
    @inlinable static var mfnBits: UInt64 { 40 }
    /// The largest mfn an entry holds.
    @inlinable static var maxMfn: UInt64 { (1 << 40) - 1 }

    /// Bits 9*level.. of a gfn index a node of `level` (0 = the 4K level, 3 = the root).
    @inlinable static var bitsPerLevel: UInt64 { 9 }
    @inlinable static var entriesPerNode: Int { 512 }
    @inlinable static var indexMask: UInt64 { 511 }
    /// Levels below the root: the root's entries each cover 512 GiB.
    @inlinable static var rootLevel: Int { 3 }
    /// The shift from a gfn to its root index.
    @inlinable static var rootShift: UInt64 { 27 }
    /// The last gfn a 4-level table maps: 48-bit guest-physical addresses. A gfn is in range
    /// exactly when its root index (`gfn >> 27`) is below 512.
    @inlinable static var maxGfn: UInt64 { (1 << 36) - 1 }

    /// The empty entry: the address of the shared empty node, whose entries all hold this same
    /// value. Allocated once per process, never written after, never freed. Not used by
    /// `translate` (which only follows addresses), so its lazy initialisation is off the hot path.
    static let empty: UInt64 = {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        let node = raw.bindMemory(to: UInt64.self, capacity: 512)
        let address = UInt64(UInt(bitPattern: node))
        node.initialize(repeating: address, count: 512)
        return address
    }()

    /// A leaf entry. `mfn` must be < 2^40 and aligned to the leaf's size (callers check).
    @inlinable static func leaf(mfn: UInt64, type: P2MType, access: P2MAccess) -> UInt64 {
        leafBit | (mfn << frameShift) | (UInt64(access.rawValue) << accessShift) | UInt64(type.rawValue)
    }

    /// A table entry pointing at `node`: the address itself.
    @inlinable static func table(_ node: UnsafeMutablePointer<UInt64>) -> UInt64 {
        UInt64(UInt(bitPattern: node))
    }

    @inlinable static func isLeaf(_ e: UInt64) -> Bool { e & leafBit != 0 }

    /// The node an entry with L = 0 points at (a child, or the empty node): the entry is the
    /// address, so the walk's next load uses it unchanged.
    @inlinable static func node(_ e: UInt64) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(truncatingIfNeeded: e)).unsafelyUnwrapped
    }
    /// Whether a leaf's type carries a machine frame: bit `type` of the frameless-types mask,
    /// and the type is the entry's low 6 bits, which is what a 64-bit shift count uses anyway.
    @inlinable static func hasFrame(_ e: UInt64) -> Bool {
        (P2MType.framelessMask &>> (e & typeMask)) & 1 == 0
    }

    @inlinable static func mfn(_ e: UInt64) -> UInt64 { e &>> frameShift }
    /// The machine frame for gfn `g` inside the superpage leaf `e`; `mask` is the leaf's
    /// frames - 1. The leaf's mfn is aligned, so OR is the addition.
    @inlinable static func leafFrame(_ e: UInt64, _ g: UInt64, mask: UInt64) -> UInt64 {
        (e &>> frameShift) | (g & mask)
    }
    @inlinable static func typeRaw(_ e: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: e & typeMask) }
    /// The type of a leaf. Only valid raw values are ever stored, so the unwrap cannot fail.
    @inlinable static func type(_ e: UInt64) -> P2MType { P2MType(rawValue: typeRaw(e)).unsafelyUnwrapped }
    @inlinable static func access(_ e: UInt64) -> P2MAccess {
        P2MAccess(rawValue: UInt8(truncatingIfNeeded: (e & accessMask) &>> accessShift))
    }
    /// The entry with its type replaced (leaf only).
    @inlinable static func retyped(_ e: UInt64, to t: P2MType) -> UInt64 {
        (e & ~typeMask) | UInt64(t.rawValue)
    }

    /// Frames covered by one entry at `level`.
    @inlinable static func span(_ level: Int) -> UInt64 { 1 &<< (bitsPerLevel &* UInt64(level)) }
    /// The page order of a leaf at `level` (0, 1, 2).
    @inlinable static func order(_ level: Int) -> PageOrder {
        switch level {
        case 0: return .size4K
        case 1: return .size2M
        default: return .size1G
        }
    }
}
