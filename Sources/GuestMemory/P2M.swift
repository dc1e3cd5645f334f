/// The p2m: a guest's physical-to-machine table. For each guest frame (gfn) it holds the machine
/// frame (mfn) behind it, the frame's p2m type and its access rights.
///
/// Shape: a 4-level radix table like EPT. Each node is 4 KiB, 512 64-bit entries (encoding in
/// P2MEntry.swift); the root (L4) entry covers 512 GiB, an L3 entry 1 GiB, an L2 entry 2 MiB, an
/// L1 entry 4 KiB. L3 and L2 entries may be superpage leaves. Guest frames go up to 2^36 - 1
/// (48-bit guest-physical addresses).
///
/// Invariants (hold between calls; every mutating call restores them before returning):
/// 1. The root node always exists; its entries are never leaves.
/// 2. Every entry is a leaf, a table entry, or the empty entry (P2MEntry.swift); an entry with
///    the leaf bit clear is always a readable node address, so the walk needs no empty test.
///    The shared empty node is never written.
/// 3. Canonical form: no node other than the root is empty, and no L1 or L2 node is
///    "uniform" (512 leaves of one type and access whose mfns run contiguously from a base
///    aligned to the parent entry's size). A uniform node is replaced by one superpage leaf
///    ("re-coalesced"), an empty node by the empty entry. So the shape of the table is a function of
///    what it maps: two p2ms mapping the same frames have the same `stats`.
/// 4. A superpage leaf's mfn is aligned to its size; frameless types (mmio_dm) store mfn 0.
/// 5. `counts` equals, per level, the number of leaf and table entries in the table.
/// 6. A mutating call that throws has changed nothing: all arguments, and the table-node
///    budget, are checked before the first entry is written.
/// 7. `generation` grows with every call that may change an entry, so an unchanged generation
///    means every translation read since is still the table's.
///
/// Why a final class: the table owns unsafe memory that must be freed exactly once, so the
/// owner is either a class or a ~Copyable struct. A ~Copyable struct cannot be captured by the
/// escaping closures callers use (benchmarks, the physmap's users), so this is a final class.
/// The hot path does not retain it: `translate` is `@inlinable`, reads only `root` (a `let`,
/// so no exclusivity check) and then follows raw pointers; measured in benchmarks/P2M.
///
/// Why pointers in table entries rather than node indices: a table entry is the child's
/// 4 KiB-aligned address itself, so one 4K translation is exactly four dependent loads, with no
/// slab lookup or mask between them.
///
/// Not thread-safe: a reader running while a writer changes the table may see freed nodes.
/// Serialise with a lock, as Xen's p2m lock does.
public final class P2M {
    public typealias Node = UnsafeMutablePointer<UInt64>

    /// The root (L4) node. Never changes and never freed before `deinit`.
    @usableFromInline let root: Node
    private var pool: P2MNodePool
    /// counts[level] = leaf entries at level (0 = L1 ... 3 = L4);
    /// counts[4 + level] = table entries (not empty, not leaves) at level.
    private let counts: UnsafeMutablePointer<Int>
    /// `P2MEntry.empty`, read once (the global's lazy initialisation check stays out of loops).
    private let empty: UInt64
    /// Bumped by every call that changes an entry (`generation`).
    @usableFromInline let changes: UnsafeMutablePointer<UInt64>

    /// The last gfn a p2m maps. (Constants, not stored globals: a global's lazy
    /// initialisation check would be a call on every hot path that range-checks against it.)
    @inlinable public static var maxGfn: Gfn { Gfn(uncheckedRaw: P2MEntry.maxGfn) }
    /// The last mfn a p2m entry holds.
    @inlinable public static var maxMfn: Mfn { Mfn(uncheckedRaw: P2MEntry.maxMfn) }

    /// An empty p2m whose tables may grow without limit.
    public convenience init() {
        self.init(pool: P2MNodePool(limit: nil))
    }

    /// An empty p2m whose tables may use at most `nodeLimit` nodes of 4 KiB, the root included
    /// (like Xen's per-domain p2m pool). An operation that could need more is refused.
    public convenience init(nodeLimit: Int) throws(P2MError) {
        guard nodeLimit >= 1 else { throw .nodeLimitTooSmall(nodeLimit) }
        self.init(pool: P2MNodePool(limit: nodeLimit))
    }

    private init(pool: P2MNodePool) {
        self.pool = pool
        counts = .allocate(capacity: 8)
        counts.initialize(repeating: 0, count: 8)
        changes = .allocate(capacity: 1)
        changes.initialize(to: 0)
        empty = P2MEntry.empty
        root = self.pool.allocate()
        root.update(repeating: empty, count: P2MEntry.entriesPerNode)
    }

    deinit {
        pool.destroy()
        counts.deallocate()
        changes.deallocate()
    }

    // MARK: Lookup (hot path)

    /// A number every change to the table (`set`, `remove`, `changeType`) makes larger: a
    /// translation read while it was g is still the table's answer while it is still g. Lets a
    /// caller carry one walk's result to a later use instead of walking again (the steering
    /// engine's batch path). One load.
    @inlinable public var generation: UInt64 { changes.pointee }

    /// The mapping of one guest frame, or nil when nothing is mapped there (type invalid) or the
    /// gfn lies beyond `maxGfn`. No allocation, no reference counting, no bounds checks: four
    /// dependent loads through raw pointers (fewer at a superpage) and one test per level.
    ///
    /// The range check is the root index's compare (a gfn beyond `maxGfn` has `gfn >> 27` >=
    /// 512), so it costs no mask and runs beside the first load. Every non-leaf entry is a node
    /// address (empty entries lead to the shared empty node, P2MEntry.swift), so the walk loads
    /// through it unchanged and tests only the leaf bit.
    @inlinable @inline(__always)
    public func translate(_ gfn: Gfn) -> P2MTranslation? {
        let g = gfn.raw
        // Read before the range check, so it is read on every path and a caller's loop can
        // keep it in a register instead of reloading it after the branch.
        let root = self.root
        let top = g &>> P2MEntry.rootShift
        guard top < 512 else { return nil }
        // L4: entries are node addresses (a child or the empty node), never leaves.
        var e = root[Int(truncatingIfNeeded: top)]
        // L3: a 1G leaf, or a node address.
        e = P2MEntry.node(e)[Int(truncatingIfNeeded: (g &>> 18) & P2MEntry.indexMask)]
        if e & P2MEntry.leafBit != 0 {
            return P2MTranslation(entry: e, frame: P2MEntry.leafFrame(e, g, mask: (1 << 18) - 1), level: 2)
        }
        // L2: a 2M leaf, or a node address.
        e = P2MEntry.node(e)[Int(truncatingIfNeeded: (g &>> 9) & P2MEntry.indexMask)]
        if e & P2MEntry.leafBit != 0 {
            return P2MTranslation(entry: e, frame: P2MEntry.leafFrame(e, g, mask: (1 << 9) - 1), level: 1)
        }
        // L1: a 4K leaf, or the empty entry.
        e = P2MEntry.node(e)[Int(truncatingIfNeeded: g & P2MEntry.indexMask)]
        guard e & P2MEntry.leafBit != 0 else { return nil }
        return P2MTranslation(entry: e, frame: P2MEntry.mfn(e), level: 0)
    }

    /// The entry `translate(gfn)` reads last (the leaf, or the empty entry), for a cache
    /// prefetch: a caller that will translate `gfn` soon asks for this line now, so the walk's
    /// last and least cached load is already on its way. Walks the upper levels (three loads,
    /// usually cached) and reads nothing at the address returned. nil beyond `maxGfn`.
    @inlinable @inline(__always)
    public func lastEntryAddress(_ gfn: Gfn) -> UnsafeRawPointer? {
        UnsafeRawPointer(bitPattern: leafEntry(gfn) & ~3)
    }

    /// Where the walk for `gfn` ends: the address of the entry `translate(gfn)` reads last,
    /// with that entry's level (0 for L1, 1 for a 2M leaf, 2 for a 1G leaf) in its low two bits
    /// (entries are 8-byte aligned); 0 beyond `maxGfn`. The first half of a walk, for a caller
    /// that prefetches the entry now and finishes with `translate(_:from:)` later.
    ///
    /// 2M and 4K leaves mix at random where pages of another type split RAM's superpages, so
    /// the L2 level is chosen with a select, not a branch. The L1 address is computed from an
    /// L2 leaf's bits too, and then dropped: it is never read.
    @inlinable @inline(__always)
    public func leafEntry(_ gfn: Gfn) -> UInt {
        let g = gfn.raw
        let root = self.root
        let top = g &>> P2MEntry.rootShift
        guard top < 512 else { return 0 }
        let l3 = P2MEntry.node(root[Int(truncatingIfNeeded: top)]) + Int(truncatingIfNeeded: (g &>> 18) & P2MEntry.indexMask)
        let e3 = l3.pointee
        if e3 & P2MEntry.leafBit != 0 { return UInt(bitPattern: l3) | 2 }
        let l2 = P2MEntry.node(e3) + Int(truncatingIfNeeded: (g &>> 9) & P2MEntry.indexMask)
        let e2 = l2.pointee
        // All ones at a 2M leaf, else zero.
        let big = UInt(truncatingIfNeeded: 0 &- ((e2 & P2MEntry.leafBit) &>> UInt64(P2MEntry.leafBit.trailingZeroBitCount)))
        // As an integer: at a leaf these bits are no pointer.
        let l1 = UInt(truncatingIfNeeded: e2) &+ UInt(truncatingIfNeeded: (g & P2MEntry.indexMask) &<< 3)
        return ((UInt(bitPattern: l2) | 1) & big) | (l1 & ~big)
    }

    /// Precondition: `at` is 0 or `leafEntry(gfn)` of this table (it is dereferenced).
    /// `translate(gfn)` finished from `at`, what `leafEntry(gfn)` returned while `generation`
    /// was what it still is: one load, and no branch on the level. With the table changed
    /// since, the answer is meaningless (but `at` still points into the table's nodes, which
    /// live as long as the table, so the load itself is safe).
    @inlinable @inline(__always)
    public func translate(_ gfn: Gfn, from at: UInt) -> P2MTranslation? {
        guard at != 0 else { return nil }
        let level = UInt64(at & 3)
        let e = UnsafePointer<UInt64>(bitPattern: at & ~3).unsafelyUnwrapped.pointee
        guard e & P2MEntry.leafBit != 0 else { return nil }
        // 0, 511 or 2^18 - 1: the frames below the leaf's first.
        let below = (UInt64(1) &<< (level &* 9)) &- 1
        return P2MTranslation(entry: e, frame: P2MEntry.leafFrame(e, gfn.raw, mask: below), level: UInt8(truncatingIfNeeded: level))
    }

    /// The leaves covering `count` frames from `gfn`, in gfn order, each clipped to the range.
    /// Unmapped frames are simply absent. Not a hot path: allocates the result.
    public func mappings(gfn: Gfn, count: UInt64) throws(P2MError) -> [P2MMapping] {
        let (start, end) = try Self.checkedRange(gfn, count)
        var out: [P2MMapping] = []
        collect(root, level: P2MEntry.rootLevel, base: 0, start: start, end: end, into: &out)
        return out
    }

    /// Counts and memory of the table.
    public var stats: P2MStats {
        var levels: [P2MLevelStats] = []
        for level in 0...P2MEntry.rootLevel {
            let nodes = level == P2MEntry.rootLevel ? 1 : counts[4 + level + 1]
            levels.append(P2MLevelStats(level: level + 1, nodes: nodes, leafEntries: counts[level],
                                        tableEntries: counts[4 + level]))
        }
        var frames: UInt64 = 0
        for level in 0...2 { frames += UInt64(counts[level]) * P2MEntry.span(level) }
        return P2MStats(levels: levels, mappedFrames: frames, nodes: pool.inUse,
                        tableBytes: UInt64(pool.inUse) * UInt64(P2MNodePool.nodeBytes),
                        poolBytes: UInt64(pool.capacity) * UInt64(P2MNodePool.nodeBytes),
                        freeNodes: pool.freeNodes, nodeLimit: pool.limit)
    }

    // MARK: Changes

    /// Maps `count` guest frames from `gfn` to machine frames from `mfn` (nil for a frameless
    /// type such as mmio_dm), replacing whatever was mapped there. Uses the largest leaves the
    /// alignment of gfn and mfn allows (1G, 2M, 4K), and re-coalesces neighbours that become
    /// uniform. All or nothing: a thrown error leaves the p2m unchanged.
    public func set(gfn: Gfn, count: UInt64, to mfn: Mfn?, type: P2MType,
                    access: P2MAccess = .rwx) throws(P2MError) {
        let (start, end) = try Self.checkedRange(gfn, count)
        guard type != .invalid else { throw .invalidTypeNotStorable(gfn: gfn) }
        guard access.rawValue & ~P2MAccess.all.rawValue == 0 else { throw .accessBits(access) }
        var delta: UInt64 = 0  // mfn(x) = x &+ delta
        if type.hasMachineFrame {
            guard let mfn else { throw .machineFrameMismatch(type: type, gfn: gfn, mfn: nil) }
            let (last, overflow) = mfn.raw.addingReportingOverflow(count - 1)
            guard !overflow, last <= P2MEntry.maxMfn else {
                throw .mfnBeyondEncoding(first: mfn, count: count, limit: Self.maxMfn)
            }
            delta = mfn.raw &- start
        } else if let mfn {
            throw .machineFrameMismatch(type: type, gfn: gfn, mfn: mfn)
        }
        let frameless = !type.hasMachineFrame
        // Worst case of new nodes: one per root slot for L3 nodes; for L2 (L1) nodes one per
        // 1G (2M) slot unless leaves of that size fit, then only the two partial end slots.
        let need = Self.slots(start, end, level: 3)
            + Self.nodeBound(start, end, level: 2, leavesFit: frameless || delta & ((1 << 18) - 1) == 0)
            + Self.nodeBound(start, end, level: 1, leavesFit: frameless || delta & ((1 << 9) - 1) == 0)
        try reserve(need)
        let op = SetOp(delta: delta, frameless: frameless,
                       template: P2MEntry.leaf(mfn: 0, type: type, access: access))
        changes.pointee &+= 1
        setRange(root, level: P2MEntry.rootLevel, base: 0, start: start, end: end, op)
    }

    /// Unmaps `count` guest frames from `gfn`. Frames not mapped are skipped; a superpage that
    /// is partly removed is split. All or nothing: a thrown error leaves the p2m unchanged.
    /// Returns the number of frames that were mapped and now are not.
    @discardableResult
    public func remove(gfn: Gfn, count: UInt64) throws(P2MError) -> UInt64 {
        let (start, end) = try Self.checkedRange(gfn, count)
        try reserve(Self.splitBound(start, end))
        changes.pointee &+= 1
        return removeRange(root, level: P2MEntry.rootLevel, base: 0, start: start, end: end)
    }

    /// Changes the type of the mapped frames in the range whose type is `from` to `to`; frames
    /// of other types, and unmapped frames, are left alone (Xen's `p2m_change_type_range`).
    /// Machine frames and access are kept. Superpages partly in the range, or partly of the
    /// type, are split; uniform results are re-coalesced. Returns the number of frames changed.
    ///
    /// All or nothing: the arguments and the node budget (the at most four nodes splitting the
    /// two ends can take) are checked first; a thrown error leaves the p2m unchanged. The
    /// steering engine uses it for ram_rw <-> ioreq_server.
    @discardableResult
    public func changeType(gfn: Gfn, count: UInt64, from: P2MType, to: P2MType) throws(P2MError) -> UInt64 {
        let (start, end) = try Self.checkedRange(gfn, count)
        guard from != .invalid else { throw .invalidTypeNotStorable(gfn: gfn) }
        guard to != .invalid else { throw .invalidTypeNotStorable(gfn: gfn) }
        guard from.hasMachineFrame == to.hasMachineFrame else {
            throw .typeChangeLosesFrames(from: from, to: to)
        }
        try reserve(Self.splitBound(start, end))
        if from == to { return countFrames(of: from, start: start, end: end) }
        changes.pointee &+= 1
        return changeTypeRange(root, level: P2MEntry.rootLevel, base: 0, start: start, end: end,
                               from: from, to: to)
    }

    // MARK: Argument checks

    /// [start, end) from a gfn and a frame count, or the error naming what does not fit.
    static func checkedRange(_ gfn: Gfn, _ count: UInt64) throws(P2MError) -> (UInt64, UInt64) {
        guard count > 0 else { throw .emptyRange(gfn: gfn) }
        let last: Gfn
        do { last = try gfn.advanced(by: count - 1) } catch { throw .address(error) }
        guard last.raw <= P2MEntry.maxGfn else {
            throw .gfnBeyondTable(first: gfn, count: count, limit: maxGfn)
        }
        return (gfn.raw, last.raw + 1)
    }

    /// Entries of `level` that [start, end) touches.
    static func slots(_ start: UInt64, _ end: UInt64, level: Int) -> Int {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        return Int(((end - 1) >> shift) - (start >> shift) + 1)
    }

    /// Entries of `level` that [start, end) covers only in part (0, 1 or 2: the two ends).
    static func partialEnds(_ start: UInt64, _ end: UInt64, level: Int) -> Int {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        let mask = P2MEntry.span(level) - 1
        let headPartial = start & mask != 0
        let tailPartial = end & mask != 0
        if headPartial && tailPartial && start >> shift == (end - 1) >> shift { return 1 }
        return (headPartial ? 1 : 0) + (tailPartial ? 1 : 0)
    }

    /// New nodes of the level below `level` a set may create: one per touched entry of `level`,
    /// or, when leaves of that size fit, only for the entries covered in part.
    static func nodeBound(_ start: UInt64, _ end: UInt64, level: Int, leavesFit: Bool) -> Int {
        leavesFit ? partialEnds(start, end, level: level) : slots(start, end, level: level)
    }

    /// New nodes splitting the superpages at the two ends of a range may create: an L2 node per
    /// 1G entry covered in part, an L1 node per 2M entry covered in part.
    static func splitBound(_ start: UInt64, _ end: UInt64) -> Int {
        partialEnds(start, end, level: 2) + partialEnds(start, end, level: 1)
    }

    private func reserve(_ need: Int) throws(P2MError) {
        let available = pool.available
        guard need <= available else {
            throw .tableMemoryExhausted(needNodes: need, freeNodes: available, limitNodes: pool.limit ?? Int.max)
        }
    }

    // MARK: Table maintenance

    /// An entry pointing at a child node: not a leaf, not empty.
    @inline(__always)
    private func isTable(_ e: UInt64) -> Bool { e & P2MEntry.leafBit == 0 && e != empty }

    /// A new node whose entries are all empty.
    private func newEmptyNode() -> Node {
        let c = pool.allocate()
        c.update(repeating: empty, count: P2MEntry.entriesPerNode)
        return c
    }

    /// Writes an entry and keeps `counts` in step.
    @inline(__always)
    private func store(_ slot: Node, _ new: UInt64, level: Int) {
        account(slot.pointee, level: level, by: -1)
        account(new, level: level, by: 1)
        slot.pointee = new
    }

    @inline(__always)
    private func account(_ e: UInt64, level: Int, by d: Int) {
        guard e != empty else { return }
        if e & P2MEntry.leafBit != 0 { counts[level] += d } else { counts[4 + level] += d }
    }

    /// Frees a node and everything below it.
    private func freeSubtree(_ node: Node, level: Int) {
        for i in 0..<P2MEntry.entriesPerNode {
            let e = node[i]
            guard e != empty else { continue }
            if !P2MEntry.isLeaf(e) { freeSubtree(P2MEntry.node(e), level: level - 1) }
            account(e, level: level, by: -1)
        }
        pool.release(node)
    }

    /// The node below `slot` (an entry of `level` > 0): the existing child, a new empty node, or
    /// a new node holding the split superpage (512 leaves one level down with the same type,
    /// access and consecutive mfns).
    private func ensureChild(_ slot: Node, level: Int) -> Node {
        let e = slot.pointee
        if isTable(e) { return P2MEntry.node(e) }
        if e == empty {
            let c = newEmptyNode()
            store(slot, P2MEntry.table(c), level: level)
            return c
        }
        let c = pool.allocate()
        let step: UInt64 = P2MEntry.type(e).hasMachineFrame ? P2MEntry.span(level - 1) << P2MEntry.frameShift : 0
        var v = e
        for i in 0..<P2MEntry.entriesPerNode {
            c[i] = v
            v &+= step
        }
        counts[level - 1] += P2MEntry.entriesPerNode
        store(slot, P2MEntry.table(c), level: level)
        return c
    }

    /// After a change below `slot` (a table entry of `level`): replaces a uniform child by a
    /// superpage leaf, and (when `mayEmpty`) an empty child by 0. Restores invariant 2.
    private func settle(_ slot: Node, level: Int, mayEmpty: Bool) {
        let c = P2MEntry.node(slot.pointee)
        let childLevel = level - 1
        let first = c[0]
        if level <= 2, P2MEntry.isLeaf(first), let leaf = Self.uniformLeaf(c, first: first, childLevel: childLevel) {
            counts[childLevel] -= P2MEntry.entriesPerNode
            pool.release(c)
            store(slot, leaf, level: level)
            return
        }
        if mayEmpty && first == empty {
            for i in 1..<P2MEntry.entriesPerNode where c[i] != empty { return }
            pool.release(c)
            store(slot, empty, level: level)
        }
    }

    /// The superpage leaf one level up that is equivalent to node `c`, if `c` is uniform.
    private static func uniformLeaf(_ c: Node, first: UInt64, childLevel: Int) -> UInt64? {
        let framed = P2MEntry.type(first).hasMachineFrame
        if framed && P2MEntry.mfn(first) & (P2MEntry.span(childLevel + 1) - 1) != 0 { return nil }
        let step: UInt64 = framed ? P2MEntry.span(childLevel) << P2MEntry.frameShift : 0
        var expect = first
        for i in 1..<P2MEntry.entriesPerNode {
            expect &+= step
            if c[i] != expect { return nil }
        }
        return first
    }

    private struct SetOp {
        /// mfn(gfn) = gfn &+ delta for framed types.
        var delta: UInt64
        var frameless: Bool
        /// The leaf with mfn 0.
        var template: UInt64
    }

    private func setRange(_ node: Node, level: Int, base: UInt64, start: UInt64, end: UInt64, _ op: SetOp) {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        let first = Int((start - base) >> shift)
        let last = Int((end - 1 - base) >> shift)
        if level == 0 {
            // Every entry is a whole 4K leaf: write them in one pass, count the new ones.
            var added = 0
            var g = base + UInt64(first)
            for i in first...last {
                let m = op.frameless ? 0 : g &+ op.delta
                if node[i] == empty { added += 1 }
                node[i] = op.template | (m << P2MEntry.frameShift)
                g += 1
            }
            counts[0] += added
            return
        }
        let span = P2MEntry.span(level)
        let leavesFit = level <= 2 && (op.frameless || op.delta & (span - 1) == 0)
        for i in first...last {
            let slotStart = base + UInt64(i) << shift
            let s = max(start, slotStart)
            let e = min(end, slotStart + span)
            let slot = node + i
            if leavesFit && s == slotStart && e == slotStart + span {
                let old = slot.pointee
                if isTable(old) { freeSubtree(P2MEntry.node(old), level: level - 1) }
                let m = op.frameless ? 0 : slotStart &+ op.delta
                store(slot, op.template | (m << P2MEntry.frameShift), level: level)
            } else {
                let c = ensureChild(slot, level: level)
                setRange(c, level: level - 1, base: slotStart, start: s, end: e, op)
                settle(slot, level: level, mayEmpty: false)
            }
        }
    }

    private func removeRange(_ node: Node, level: Int, base: UInt64, start: UInt64, end: UInt64) -> UInt64 {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        let first = Int((start - base) >> shift)
        let last = Int((end - 1 - base) >> shift)
        let span = P2MEntry.span(level)
        var removed: UInt64 = 0
        for i in first...last {
            let slot = node + i
            let old = slot.pointee
            guard old != empty else { continue }
            let slotStart = base + UInt64(i) << shift
            let s = max(start, slotStart)
            let e = min(end, slotStart + span)
            if s == slotStart && e == slotStart + span {
                if !P2MEntry.isLeaf(old) {
                    removed += mappedFrames(P2MEntry.node(old), level: level - 1)
                    freeSubtree(P2MEntry.node(old), level: level - 1)
                } else {
                    removed += span
                }
                store(slot, empty, level: level)
            } else {
                let c = ensureChild(slot, level: level)
                removed += removeRange(c, level: level - 1, base: slotStart, start: s, end: e)
                settle(slot, level: level, mayEmpty: true)
            }
        }
        return removed
    }

    private func changeTypeRange(_ node: Node, level: Int, base: UInt64, start: UInt64, end: UInt64,
                                 from: P2MType, to: P2MType) -> UInt64 {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        let first = Int((start - base) >> shift)
        let last = Int((end - 1 - base) >> shift)
        let span = P2MEntry.span(level)
        var changed: UInt64 = 0
        for i in first...last {
            let slot = node + i
            let old = slot.pointee
            guard old != empty else { continue }
            let slotStart = base + UInt64(i) << shift
            let s = max(start, slotStart)
            let e = min(end, slotStart + span)
            if P2MEntry.isLeaf(old) {
                guard P2MEntry.typeRaw(old) == from.rawValue else { continue }
                if s == slotStart && e == slotStart + span {
                    slot.pointee = P2MEntry.retyped(old, to: to)  // leaf stays a leaf: counts unchanged
                    changed += span
                    continue
                }
            }
            let c = ensureChild(slot, level: level)
            changed += changeTypeRange(c, level: level - 1, base: slotStart, start: s, end: e, from: from, to: to)
            settle(slot, level: level, mayEmpty: false)
        }
        return changed
    }

    /// Frames mapped below a node of `level`.
    private func mappedFrames(_ node: Node, level: Int) -> UInt64 {
        var n: UInt64 = 0
        for i in 0..<P2MEntry.entriesPerNode {
            let e = node[i]
            if P2MEntry.isLeaf(e) {
                n += P2MEntry.span(level)
            } else if e != empty {
                n += mappedFrames(P2MEntry.node(e), level: level - 1)
            }
        }
        return n
    }

    /// Frames of type `t` in [start, end).
    private func countFrames(of t: P2MType, start: UInt64, end: UInt64) -> UInt64 {
        var n: UInt64 = 0
        collectLeaves(root, level: P2MEntry.rootLevel, base: 0, start: start, end: end) { leaf, _, s, e in
            if P2MEntry.typeRaw(leaf) == t.rawValue { n += e - s }
        }
        return n
    }

    private func collect(_ node: Node, level: Int, base: UInt64, start: UInt64, end: UInt64,
                         into out: inout [P2MMapping]) {
        collectLeaves(node, level: level, base: base, start: start, end: end) { leaf, leafLevel, s, e in
            let t = P2MEntry.type(leaf)
            let m: Mfn? = t.hasMachineFrame
                ? Mfn(uncheckedRaw: P2MEntry.mfn(leaf) + (s & (P2MEntry.span(leafLevel) - 1))) : nil
            out.append(P2MMapping(gfn: Gfn(uncheckedRaw: s), count: e - s, mfn: m, type: t,
                                  access: P2MEntry.access(leaf), order: P2MEntry.order(leafLevel)))
        }
    }

    /// Calls `body(leaf, level, s, e)` for every leaf touching [start, end), clipped to it, in
    /// gfn order.
    private func collectLeaves(_ node: Node, level: Int, base: UInt64, start: UInt64, end: UInt64,
                               _ body: (UInt64, Int, UInt64, UInt64) -> Void) {
        let shift = P2MEntry.bitsPerLevel * UInt64(level)
        let first = Int((start - base) >> shift)
        let last = Int((end - 1 - base) >> shift)
        let span = P2MEntry.span(level)
        for i in first...last {
            let e = node[i]
            guard e != empty else { continue }
            let slotStart = base + UInt64(i) << shift
            let s = max(start, slotStart)
            let t = min(end, slotStart + span)
            if P2MEntry.isLeaf(e) {
                body(e, level, s, t)
            } else {
                collectLeaves(P2MEntry.node(e), level: level - 1, base: slotStart, start: s, end: t, body)
            }
        }
    }
}
