/// The allocator for p2m table nodes: 4 KiB, 4 KiB-aligned blocks of 512 `UInt64` entries, cut
/// from slabs of unsafe memory and recycled through a free list.
///
/// Invariants:
/// - Every slab is allocated with 4 KiB alignment and a size that is a multiple of 4 KiB; it
///   stays allocated until `destroy()`, so a node pointer stays valid while the pool lives.
/// - A node is in exactly one of three places: handed out (counted by `inUse`), on the free
///   list, or in the unused tail of the newest slab (`freshLeft` nodes from `fresh`).
///   `capacity == inUse + free-list length + freshLeft`.
/// - The free list is intrusive: word 0 of a free node holds the address of the next free node
///   (0 ends the list). The other words of a free node are garbage.
/// - Node addresses are 4 KiB aligned and not 0, so a p2m table entry can be the address itself
///   (its leaf bit, bit 11, is then clear).
/// - With a limit, `capacity` never exceeds it: slabs are cut to fit.
struct P2MNodePool {
    typealias Node = UnsafeMutablePointer<UInt64>

    static let nodeBytes = 4096
    static let entriesPerNode = 512
    /// Slabs double from `firstSlabNodes` up to `maxSlabNodes` (2 MiB) nodes.
    static let firstSlabNodes = 16
    static let maxSlabNodes = 512

    private var slabs: [UnsafeMutableRawPointer] = []
    private var freeList: Node? = nil
    private var fresh: Node? = nil
    private var freshLeft = 0
    /// Nodes handed out.
    private(set) var inUse = 0
    /// Nodes the pool holds from the host.
    private(set) var capacity = 0
    /// The most nodes the pool may hold, nil when unbounded.
    let limit: Int?

    init(limit: Int?) { self.limit = limit }

    /// Nodes that can still be handed out without passing the limit.
    var available: Int {
        guard let limit else { return Int.max }
        return limit - inUse
    }

    var freeNodes: Int { capacity - inUse }

    /// A node whose 512 entries are garbage the caller overwrites. Callers check `available`
    /// first; handing out past the limit is a programming error.
    mutating func allocate() -> Node {
        let node: Node
        if let head = freeList {
            freeList = Node(bitPattern: UInt(head.pointee))
            node = head
        } else {
            if freshLeft == 0 { addSlab() }
            node = fresh.unsafelyUnwrapped
            fresh = node + Self.entriesPerNode
            freshLeft -= 1
        }
        inUse += 1
        return node
    }

    /// Returns a node to the free list.
    mutating func release(_ node: Node) {
        node.pointee = UInt64(UInt(bitPattern: freeList))
        freeList = node
        inUse -= 1
    }

    private mutating func addSlab() {
        var n = min(max(Self.firstSlabNodes, capacity), Self.maxSlabNodes)
        if let limit { n = min(n, limit - capacity) }
        precondition(n > 0, "p2m node pool: allocation past the node limit (caller must check available)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * Self.nodeBytes, alignment: Self.nodeBytes)
        let base = raw.bindMemory(to: UInt64.self, capacity: n * Self.entriesPerNode)
        slabs.append(raw)
        fresh = base
        freshLeft = n
        capacity += n
    }

    /// Frees every slab. Node pointers handed out are dangling afterwards.
    mutating func destroy() {
        for s in slabs { s.deallocate() }
        slabs = []
        freeList = nil
        fresh = nil
        freshLeft = 0
        inUse = 0
        capacity = 0
    }
}
