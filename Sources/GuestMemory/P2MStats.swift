/// Counts of one level of the p2m table. Levels are numbered as in x86 paging: L1 holds 4K
/// entries, L2 2M, L3 1G, L4 is the root (one node, entries of 512 GiB).
public struct P2MLevelStats: Sendable, Hashable, Codable {
    /// 1...4.
    public var level: Int
    /// Table nodes (4 KiB, 512 entries) at this level.
    public var nodes: Int
    /// Present entries that map a page (4K at L1, 2M at L2, 1G at L3; never at L4).
    public var leafEntries: Int
    /// Present entries that point to a node of the level below.
    public var tableEntries: Int
    /// All present entries at this level.
    public var entries: Int { leafEntries + tableEntries }

    public init(level: Int, nodes: Int, leafEntries: Int, tableEntries: Int) {
        self.level = level
        self.nodes = nodes
        self.leafEntries = leafEntries
        self.tableEntries = tableEntries
    }
}

/// What a p2m holds and what its tables cost. Kept up to date on every change, so reading it is
/// O(1).
public struct P2MStats: Sendable, Hashable, Codable {
    /// L1, L2, L3, L4 in that order.
    public var levels: [P2MLevelStats]
    /// Guest frames with a present leaf.
    public var mappedFrames: UInt64
    /// Table nodes in use, the root included.
    public var nodes: Int
    /// Bytes of the nodes in use (4 KiB each).
    public var tableBytes: UInt64
    /// Bytes the node pool holds from the host: nodes in use plus free nodes kept for reuse.
    public var poolBytes: UInt64
    /// Nodes in the pool's free list or not yet handed out from its slabs.
    public var freeNodes: Int
    /// The node limit the p2m was created with, nil when unbounded.
    public var nodeLimit: Int?

    public init(levels: [P2MLevelStats], mappedFrames: UInt64, nodes: Int, tableBytes: UInt64,
                poolBytes: UInt64, freeNodes: Int, nodeLimit: Int?) {
        self.levels = levels
        self.mappedFrames = mappedFrames
        self.nodes = nodes
        self.tableBytes = tableBytes
        self.poolBytes = poolBytes
        self.freeNodes = freeNodes
        self.nodeLimit = nodeLimit
    }

    /// Leaves of one page order.
    public func leaves(_ order: PageOrder) -> Int {
        switch order {
        case .size4K: return levels[0].leafEntries
        case .size2M: return levels[1].leafEntries
        case .size1G: return levels[2].leafEntries
        }
    }
}
