/// The 64-bit p2m entry: how one slot of a table node is encoded.
///
///   bit  0..2   access r, w, x (EPT bit positions)             leaf only
///   bit  7      L: leaf. Set in every 4K entry and in 2M/1G superpage entries (EPT's "page size"
///               bit); clear in an entry that points to the next table node
///   bit  11     P: present. Clear means the whole entry is 0: nothing mapped below it
///   bit 12..51  leaf: machine frame number (40 bits, so mfn < 2^40, 4 PiB of machine memory);
///               table: the host virtual address of the child node (4 KiB aligned, so its low
///               12 bits are 0 and the address itself is stored, below 2^52)
///   bit 52..57  type: P2MType raw value (6 bits, Xen's limit)             leaf only
///   other bits  0
///
/// A superpage leaf's mfn is aligned to its size. Frameless types (mmio_dm) store mfn 0 in every
/// entry. Two leaves of one node are "contiguous" when they differ only by `span << 12`: the
/// coalescing test compares whole entries.
@usableFromInline enum P2MEntry {
    @inlinable static var accessMask: UInt64 { 0x7 }
    @inlinable static var leafBit: UInt64 { 1 << 7 }
    @inlinable static var presentBit: UInt64 { 1 << 11 }
    @inlinable static var frameShift: UInt64 { 12 }
    @inlinable static var mfnBits: UInt64 { 40 }
    @inlinable static var mfnMask: UInt64 { ((1 << 40) - 1) << 12 }
    /// Address bits of a table entry: bits 12..51.
    @inlinable static var pointerMask: UInt64 { ((1 << 52) - 1) & ~0xfff }
    @inlinable static var typeShift: UInt64 { 52 }
    @inlinable static var typeMask: UInt64 { 0x3f << 52 }
    /// The largest mfn an entry holds.
    @inlinable static var maxMfn: UInt64 { (1 << 40) - 1 }

    /// Bits 9*level.. of a gfn index a node of `level` (0 = the 4K level, 3 = the root).
    @inlinable static var bitsPerLevel: UInt64 { 9 }
    @inlinable static var entriesPerNode: Int { 512 }
    @inlinable static var indexMask: UInt64 { 511 }
    /// Levels below the root: the root's entries each cover 512 GiB.
    @inlinable static var rootLevel: Int { 3 }
    /// The last gfn a 4-level table maps: 48-bit guest-physical addresses.
    @inlinable static var maxGfn: UInt64 { (1 << 36) - 1 }

    /// A leaf entry. `mfn` must be < 2^40 and aligned to the leaf's size (callers check).
    @inlinable static func leaf(mfn: UInt64, type: P2MType, access: P2MAccess) -> UInt64 {
        presentBit | leafBit | (mfn << frameShift) | (UInt64(type.rawValue) << typeShift)
            | UInt64(access.rawValue)
    }

    /// A table entry pointing at `node`.
    @inlinable static func table(_ node: UnsafeMutablePointer<UInt64>) -> UInt64 {
        UInt64(UInt(bitPattern: node)) | presentBit
    }

    @inlinable static func isLeaf(_ e: UInt64) -> Bool { e & leafBit != 0 }
    @inlinable static func isTable(_ e: UInt64) -> Bool { e & (presentBit | leafBit) == presentBit }

    @inlinable static func child(_ e: UInt64) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(e & pointerMask)).unsafelyUnwrapped
    }
    /// The child of an entry already known to be a table entry (present, not a leaf): such an
    /// entry is exactly `address | presentBit`, so subtracting the bit recovers the address, and
    /// the compiler folds the subtraction into the next load's displacement (no AND on the walk).
    @inlinable static func tableChild(_ e: UInt64) -> UnsafePointer<UInt64> {
        UnsafePointer<UInt64>(bitPattern: UInt(truncatingIfNeeded: e &- presentBit)).unsafelyUnwrapped
    }
    /// Whether a leaf's type carries a machine frame, from the raw type bits (no enum decode).
    @inlinable static func hasFrame(_ e: UInt64) -> Bool {
        (P2MType.framelessMask &>> ((e &>> typeShift) & 0x3f)) & 1 == 0
    }

    @inlinable static func mfn(_ e: UInt64) -> UInt64 { (e & mfnMask) >> frameShift }
    /// The machine frame for gfn `g` inside the superpage leaf `e`; `mask` is the leaf's
    /// frames - 1. The leaf's mfn is aligned, so OR is the addition.
    @inlinable static func leafFrame(_ e: UInt64, _ g: UInt64, mask: UInt64) -> UInt64 {
        ((e & mfnMask) >> frameShift) | (g & mask)
    }
    @inlinable static func typeRaw(_ e: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: (e & typeMask) >> typeShift) }
    /// The type of a leaf. Only valid raw values are ever stored, so the unwrap cannot fail.
    @inlinable static func type(_ e: UInt64) -> P2MType { P2MType(rawValue: typeRaw(e)).unsafelyUnwrapped }
    @inlinable static func access(_ e: UInt64) -> P2MAccess {
        P2MAccess(rawValue: UInt8(truncatingIfNeeded: e & accessMask))
    }
    /// The entry with its type replaced (leaf only).
    @inlinable static func retyped(_ e: UInt64, to t: P2MType) -> UInt64 {
        (e & ~typeMask) | (UInt64(t.rawValue) << typeShift)
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
