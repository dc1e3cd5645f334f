import GuestMemory

/// One frame-table entry: who owns a machine frame, how many references it has, and its state.
///
/// Packed into 8 bytes so a 64 GiB host (16 Mi frames) has a 128 MiB table, and so the live-update
/// rebuild can write whole records as single 64-bit stores:
///
///     bits  0..15  owner      DomainID XOR DOMID_INVALID (0 when unowned)
///     bits 16..31  flags      FrameFlags XOR `.free`
///     bits 32..63  refcount   references held on the frame (Xen's count_info count)
///
/// The XORs make a free, unowned RAM frame all zeros, so a frame table on fresh zeroed memory
/// (`ZeroedMemory`) already says "free" everywhere and a cold boot writes only what differs
/// (holes, static memory, the region, bad pages): a 1 TiB host does not write 2 GiB of records.
///
/// Xen's `struct page_info` is 32 bytes on x86-64 (list links, count_info, type_info, owner);
/// vpmem keeps only what the allocators and the live-update rebuild read and write. Host pmem has
/// no records at all: it is tracked by extents (`HostMachine.hostRanges`, `HostDomain.pmem`).
@frozen public struct FrameRecord: Hashable, Sendable, CustomStringConvertible {
    public var raw: UInt64

    @inlinable public init(raw: UInt64) { self.raw = raw }

    /// What the owner and flags fields are XORed with: the owner and flags of a free frame.
    @usableFromInline static let ownerBias = DomainID.invalid.raw
    @usableFromInline static let flagsBias = FrameFlags.free.rawValue

    @inlinable public init(owner: DomainID, flags: FrameFlags, refcount: UInt32) {
        raw = UInt64(owner.raw ^ Self.ownerBias) | (UInt64(flags.rawValue ^ Self.flagsBias) << 16) | (UInt64(refcount) << 32)
    }

    @inlinable public var owner: DomainID { DomainID(uncheckedRaw: UInt16(truncatingIfNeeded: raw) ^ Self.ownerBias) }
    @inlinable public var flags: FrameFlags { FrameFlags(rawValue: UInt16(truncatingIfNeeded: raw >> 16) ^ Self.flagsBias) }
    @inlinable public var refcount: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }

    /// A frame that is not RAM (a hole between banks): no flags, no owner.
    public static let hole = FrameRecord(owner: .invalid, flags: [], refcount: 0)
    /// A free RAM frame, available to the boot allocator or the heap. Its raw value is 0.
    public static let free = FrameRecord(owner: .invalid, flags: .free, refcount: 0)
    /// A bad frame: never handed out.
    public static let bad = FrameRecord(owner: .invalid, flags: .bad, refcount: 0)
    /// A static-memory frame in its guest's reserved pool (free, withheld from every allocator).
    public static let staticFree = FrameRecord(owner: .invalid, flags: [.free, .reserved, .staticMemory], refcount: 0)

    /// A frame owned by `owner` with one reference (the allocation reference, Xen's PGC_allocated).
    @inlinable public static func owned(by owner: DomainID, extra: FrameFlags = []) -> FrameRecord {
        FrameRecord(owner: owner, flags: FrameFlags.inUse.union(extra), refcount: 1)
    }

    public var description: String { "owner \(owner) flags \(flags) refcount \(refcount)" }
}

/// The state of a machine frame. Exactly one of `free`, `inUse`, `bad` is set for a RAM frame; a
/// hole has no flags. The others qualify it.
@frozen public struct FrameFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Available: on an allocator's free list, or in a static guest's reserved pool.
    public static let free = FrameFlags(rawValue: 1 << 0)
    /// Allocated to an owner.
    public static let inUse = FrameFlags(rawValue: 1 << 1)
    /// Broken (offlined): never handed out by any allocator.
    public static let bad = FrameFlags(rawValue: 1 << 2)
    /// Withheld from the boot and buddy allocators (static memory, the live-update region).
    public static let reserved = FrameFlags(rawValue: 1 << 3)
    /// Part of some guest's static memory (`xen,static-mem`; Xen's PGC_static). Always `reserved`.
    public static let staticMemory = FrameFlags(rawValue: 1 << 4)
    /// Allocated from the Xen heap (Xen's PGC_xen_heap).
    public static let xenHeap = FrameFlags(rawValue: 1 << 5)
    /// Inside the `liveupdate=` boot-memory region. Always `reserved`.
    public static let liveUpdateRegion = FrameFlags(rawValue: 1 << 6)
    /// A guest's p2m table page: owned by the guest but not mapped in its physmap.
    public static let p2mTable = FrameFlags(rawValue: 1 << 7)

    public var description: String {
        let names: [(FrameFlags, String)] = [
            (.free, "free"), (.inUse, "in-use"), (.bad, "bad"), (.reserved, "reserved"),
            (.staticMemory, "static"), (.xenHeap, "xen-heap"), (.liveUpdateRegion, "liveupdate"),
            (.p2mTable, "p2m"),
        ]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "hole" : set.joined(separator: "|")
    }
}
