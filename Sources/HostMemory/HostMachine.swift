import GuestMemory
import HostPmem

/// A modelled host's memory: frame table, boot-time layout, heaps and the guests built on them.
///
/// Rules it keeps (the tests check each against a naive model):
///  - Static memory (`xen,static-mem`) never reaches the boot allocator or a heap: it is assigned
///    to its guest after a per-page check (whole, or as much as its RAM regions hold, the rest
///    staying in its reserved pool), ballooned out back to that guest's reserved pool, and
///    returned to the pool, not the heap, when the guest is destroyed.
///  - A direct-mapped guest has gfn == mfn for every mapped page.
///  - Bad pages are never handed out.
///  - With a reserved Xen heap, Xen-heap pages come only from it and domain pages never do.
///  - Host pmem never reaches an allocator and has no frame-table records: it is registered as
///    pmem (`hostRanges`, extents), given to one guest at a time with `attachPmem` (the guest's
///    `pmem` extents) and mapped as p2m type `pmem`; the host holds the backing's libpmem
///    mapping until the guest is destroyed or the instance hands over.
///  - Every failed operation leaves the frame table, heaps and guests as they were.
public final class HostMachine {
    public let config: HostMemoryConfig
    public let layout: HostLayout
    public let frameTable: FrameTable
    public let memory: FrameContents
    /// The domain heap (and the Xen heap too, when no reserved Xen heap is configured).
    public internal(set) var domainHeap: BuddyHeap
    /// The reserved Xen-heap pool (`xen,reserved-heap`), when configured.
    public internal(set) var xenHeap: BuddyHeap?
    public internal(set) var domains: [DomainID: HostDomain]
    /// Receives every guest mapping change (the guest memory core's p2m).
    public let physmapSink: (any GuestPhysmapSink)?
    /// Frames this instance took at boot for itself (the frame table's backing).
    public let bootAllocations: [MfnRange]
    /// Which host frames are RAM and which pmem, and which guest owns each pmem frame, as
    /// extents: the guest memory core's registry, the check every pmem attach goes through.
    public internal(set) var hostRanges: HostRangeRegistry
    /// The libpmem mapping of each attached pmem region's backing, held (with its exclusive
    /// lock) while the region is attached.
    public internal(set) var pmemMappings: [GuestPmem: PmemMapping]

    init(config: HostMemoryConfig, layout: HostLayout, frameTable: FrameTable, memory: FrameContents,
         domainHeap: BuddyHeap, xenHeap: BuddyHeap?, domains: [DomainID: HostDomain],
         bootAllocations: [MfnRange], physmapSink: (any GuestPhysmapSink)?,
         hostRanges: HostRangeRegistry, pmemMappings: [GuestPmem: PmemMapping] = [:]) {
        self.hostRanges = hostRanges
        self.pmemMappings = pmemMappings
        self.config = config
        self.layout = layout
        self.frameTable = frameTable
        self.memory = memory
        self.domainHeap = domainHeap
        self.xenHeap = xenHeap
        self.domains = domains
        self.bootAllocations = bootAllocations
        self.physmapSink = physmapSink
    }

    /// The registry a validated config implies: every RAM bank as `ram`, every pmem range as
    /// `pmem`, nothing owned.
    static func hostRangeRegistry(_ config: HostMemoryConfig) throws(HostMemoryError) -> HostRangeRegistry {
        var registry = HostRangeRegistry()
        do {
            for b in config.banks { try registry.register(.ram, b) }
            for p in config.pmem { try registry.register(.pmem, p) }
        } catch { throw .mapping(error) }
        return registry
    }

    /// Frames needed to hold a frame table for `frames` frames.
    public static func frameTableFrames(for frames: UInt64) -> UInt64 {
        (frames * UInt64(MemoryLayout<UInt64>.stride) + PageOrder.frameBytes - 1) / PageOrder.frameBytes
    }

    /// Boots a host from power-on: lays out the frame table, allocates it with the boot allocator
    /// (which never sees static memory, the liveupdate region, the reserved Xen heap or bad
    /// pages), then hands what is left to the domain heap and the reserved Xen heap to its pool.
    ///
    /// Cost: O(layout segments + heap blocks), not O(frames): a fresh table already reads free
    /// (`FrameRecord.free` is all zeros), so only holes, static memory, the region, bad pages and
    /// the table's own frames are written; pmem, however large, is a registry entry.
    public static func coldBoot(_ config: HostMemoryConfig, physmapSink: (any GuestPhysmapSink)? = nil) throws(HostMemoryError) -> HostMachine {
        let layout = try HostLayout(config)
        let table = try FrameTable(frames: layout.frameCount)
        for s in layout.segments where s.record != FrameRecord.free.raw { table.fill(s.frames, with: FrameRecord(raw: s.record)) }
        let memory = FrameContents(frames: layout.frameCount)

        var boot = BootAllocator(ranges: layout.freeRanges)
        if let h = config.reservedXenHeap { boot.remove(h) }
        let ft = try boot.allocate(frames: frameTableFrames(for: layout.frameCount), for: "frame table")
        table.fill(ft, with: .owned(by: .xen, extra: .xenHeap))
        memory.fill(ft, contentId: memory.newContentId())

        var heap = BuddyHeap(frames: layout.frameCount)
        for r in boot.finish() { heap.free(r) }
        var xenPool: BuddyHeap?
        if let h = config.reservedXenHeap {
            var pool = BuddyHeap(frames: layout.frameCount)
            for r in layout.freeRanges {
                if let part = r.intersection(h) { pool.free(part) }
            }
            xenPool = pool
        }
        return HostMachine(config: config, layout: layout, frameTable: table, memory: memory, domainHeap: heap,
                           xenHeap: xenPool, domains: [:], bootAllocations: [ft], physmapSink: physmapSink,
                           hostRanges: try hostRangeRegistry(config))
    }

    // MARK: Xen heap

    /// Allocates one Xen-heap page: from the reserved Xen heap when configured, else the shared heap.
    public func allocateXenHeapPage() throws(HostMemoryError) -> Mfn {
        let got: Mfn?
        if xenHeap != nil { got = xenHeap!.allocate(order: 0) } else { got = domainHeap.allocate(order: 0) }
        guard let mfn = got else {
            throw .outOfMemory(what: "Xen-heap page", frames: 1, available: 0, pool: xenHeap != nil ? "reserved Xen heap" : "heap")
        }
        frameTable[mfn] = .owned(by: .xen, extra: .xenHeap)
        return mfn
    }

    /// Returns a Xen-heap page to the pool it came from.
    public func freeXenHeapPage(_ mfn: Mfn) throws(HostMemoryError) {
        guard frameTable.contains(mfn) else { throw .notAXenHeapPage(mfn, FrameRecord.hole) }
        let rec = frameTable[mfn]
        guard rec.owner == .xen, rec.flags.contains([.inUse, .xenHeap]) else { throw .notAXenHeapPage(mfn, rec) }
        frameTable[mfn] = .free
        if let h = config.reservedXenHeap, h.contains(mfn) { xenHeap!.free(mfn, order: 0) } else { domainHeap.free(mfn, order: 0) }
    }

    // MARK: Guests

    /// Builds a guest. All or nothing.
    ///
    /// Where its RAM goes: without `ramRegions`, one run of gfns from `ramBase`; with them, laid
    /// on the regions in order (each run of machine frames at the next gfns, split where a
    /// region ends). By memory kind:
    ///  - dynamic: `frames` frames from the domain heap (exactly the regions' total, if given);
    ///  - static: the guest's static regions, checked page by page, their frames laid in
    ///    configuration order; with `ramRegions` only as many as the regions hold (fewer is an
    ///    error), the rest stay in the guest's reserved pool for balloon-in;
    ///  - direct-mapped static: gfn == mfn; without `ramRegions` every static frame is mapped,
    ///    with them each region must be static memory of the guest at identity and only the
    ///    regions are mapped, the other static frames staying in the pool.
    @discardableResult
    public func createDomain(_ dc: HostDomainConfig) throws(HostMemoryError) -> HostDomain {
        guard dc.id.isGuest else { throw .mapping(.reservedDomainID(dc.id.raw)) }
        guard domains[dc.id] == nil else { throw .domainExists(dc.id) }
        try dc.checkRamRegions()
        let regionFrames = dc.ramRegions?.reduce(0) { $0 + $1.count }
        var physmap = PhysmapExtents()
        var owned: [MfnRange] = []
        var assigned: [MfnRange] = []
        var staticRegions: [MfnRange] = []

        switch dc.memory {
        case .staticMemory(let directMap, _):
            staticRegions = config.staticRegions(of: dc.id)
            guard !staticRegions.isEmpty else { throw .noStaticMemory(dc.id) }
            let total = staticRegions.reduce(0) { $0 + $1.count }
            // Where each assigned static run goes.
            var placement: [(gfn: Gfn, frames: MfnRange)] = []
            if directMap {
                if let regions = dc.ramRegions {
                    let merged = MfnRange.merging(staticRegions)
                    for r in regions {
                        let m = MfnRange(uncheckedFirst: r.first.raw, end: r.end)
                        guard merged.contains(where: { $0.contains(m) }) else {
                            throw .ramRegionOutsideStaticMemory(dc.id, region: r, staticRanges: staticRegions)
                        }
                        placement.append((r.first, m))
                    }
                } else {
                    placement = staticRegions.map { (Gfn(uncheckedRaw: $0.first.raw), $0) }
                }
            } else {
                if let need = regionFrames, need > total {
                    throw .staticMemoryTooSmall(dc.id, staticFrames: total, regionFrames: need)
                }
                if dc.ramRegions == nil { try checkGuestRange(dc, frames: total) }
                var lay = GfnLayout(dc.ramRegions ?? [GfnRange(uncheckedFirst: dc.ramBase.raw, end: dc.ramBase.raw + total)])
                for r in staticRegions { placement += lay.place(r) }
            }
            // Verify every page before assigning any (seed 003: free, refcount 0, reserved/static).
            for (_, r) in placement {
                for m in r.first.raw..<r.end {
                    let rec = frameTable[Mfn(uncheckedRaw: m)]
                    if let reason = StaticPageProblem(rec) {
                        throw .staticPageCheckFailed(domain: dc.id, mfn: Mfn(uncheckedRaw: m), reason)
                    }
                }
            }
            guard domainHeap.freeFrames >= 1 else {
                throw .outOfMemory(what: "p2m root of \(dc.id)", frames: 1, available: 0, pool: "domain heap")
            }
            for (gfn, r) in placement {
                frameTable.fill(r, with: .owned(by: dc.id, extra: [.reserved, .staticMemory]))
                physmap.map(gfn, to: r.first, count: r.count)
                assigned.append(r)
            }
        case .dynamic(let frames):
            guard frames > 0 else { throw .emptyRange(what: "memory of \(dc.id)") }
            if let regionFrames {
                guard frames == regionFrames else { throw .ramRegionsSize(dc.id, frames: frames, regionFrames: regionFrames) }
            } else {
                try checkGuestRange(dc, frames: frames)
            }
            guard domainHeap.freeFrames >= frames + 1 else {
                throw .outOfMemory(what: "memory of \(dc.id)", frames: frames + 1, available: domainHeap.freeFrames, pool: "domain heap")
            }
            var lay = GfnLayout(dc.ramRegions ?? [GfnRange(uncheckedFirst: dc.ramBase.raw, end: dc.ramBase.raw + frames)])
            var remaining = frames
            while remaining > 0 {
                var o = min(63 - remaining.leadingZeroBitCount, BuddyHeap.maxOrder)
                var got = domainHeap.allocate(order: o)
                while got == nil && o > 0 { o -= 1; got = domainHeap.allocate(order: o) }
                let block = MfnRange(uncheckedFirst: got!.raw, end: got!.raw + (1 << UInt64(o)))
                frameTable.fill(block, with: .owned(by: dc.id))
                for (gfn, part) in lay.place(block) { physmap.map(gfn, to: part.first, count: part.count) }
                owned.append(block)
                remaining -= block.count
            }
        }
        let root = domainHeap.allocate(order: 0)!
        frameTable[root] = .owned(by: dc.id, extra: .p2mTable)

        if let sink = physmapSink {
            var done: [PhysmapExtent] = []
            do {
                for e in physmap.extents {
                    try sink.map(dc.id, gfn: e.gfn, to: e.mfn, frames: e.count, type: .ramRW)
                    done.append(e)
                }
            } catch {
                for e in done { try? sink.unmap(dc.id, gfn: e.gfn, frames: e.count) }
                for r in assigned { frameTable.fill(r, with: .staticFree) }
                for r in owned { frameTable.fill(r, with: .free); domainHeap.free(r) }
                frameTable[root] = .free
                domainHeap.free(root, order: 0)
                throw .physmap(domain: dc.id, "\(error)")
            }
        }
        // The guest runs and writes its memory: fresh contents (Xen scrubs first; same effect).
        let contents = memory.newContentId()
        for e in physmap.extents { memory.fill(e.mfnRange, contentId: contents) }
        memory.fill(MfnRange(uncheckedFirst: root.raw, end: root.raw + 1), contentId: contents)

        let d = HostDomain(config: dc, physmap: physmap, staticRegions: staticRegions, p2mRoot: root)
        domains[dc.id] = d
        return d
    }

    private func checkGuestRange(_ dc: HostDomainConfig, frames: UInt64) throws(HostMemoryError) {
        do { _ = try dc.ramBase.advanced(by: frames) } catch { throw .address(error) }
    }

    /// The guest gives back the page at `gfn` (XENMEM_decrease_reservation): a static page goes
    /// back to the guest's reserved pool, never to the heap; a dynamic page goes to the heap.
    public func balloonOut(_ id: DomainID, gfn: Gfn) throws(HostMemoryError) {
        guard var d = domains[id] else { throw .noSuchDomain(id) }
        guard d.physmap.translate(gfn) != nil else { throw .gfnNotMapped(id, gfn) }
        if let sink = physmapSink {
            do { try sink.unmap(id, gfn: gfn, frames: 1) } catch { throw .physmap(domain: id, "\(error)") }
        }
        let mfn = d.physmap.unmap(gfn)!
        release(mfn)
        domains[id] = d
    }

    /// The guest asks for a page at `gfn` (XENMEM_populate_physmap): from its reserved pool
    /// first; a direct-mapped guest only gets mfn == gfn; heap pages only if its config allows.
    @discardableResult
    public func balloonIn(_ id: DomainID, gfn: Gfn) throws(HostMemoryError) -> Mfn {
        guard var d = domains[id] else { throw .noSuchDomain(id) }
        guard gfn.raw <= maxFrameNumber else { throw .address(.frameOutOfRange(what: "gfn", frame: gfn.raw)) }
        guard d.physmap.translate(gfn) == nil, !d.pmemOverlaps(gfn, count: 1) else { throw .gfnAlreadyMapped(id, gfn) }
        var mfn: Mfn?
        var fromHeap = false
        if d.config.isDirectMapped {
            let m = Mfn(uncheckedRaw: gfn.raw)
            guard d.staticRegions.contains(where: { $0.contains(m) }), frameTable[m] == .staticFree else {
                throw .directMapPageUnavailable(id, gfn)
            }
            mfn = m
        } else {
            if d.config.isStatic { mfn = firstFreeStaticPage(of: d) }
            if mfn == nil {
                guard d.config.allowsDynamicPages else { throw .staticPoolExhausted(id) }
                mfn = domainHeap.allocate(order: 0)
                guard mfn != nil else {
                    throw .outOfMemory(what: "balloon-in page for \(id)", frames: 1, available: 0, pool: "domain heap")
                }
                fromHeap = true
            }
        }
        let m = mfn!
        if let sink = physmapSink {
            do { try sink.map(id, gfn: gfn, to: m, frames: 1, type: .ramRW) } catch {
                if fromHeap { domainHeap.free(m, order: 0) }
                throw .physmap(domain: id, "\(error)")
            }
        }
        frameTable[m] = fromHeap ? .owned(by: id) : .owned(by: id, extra: [.reserved, .staticMemory])
        d.physmap.map(gfn, to: m, count: 1)
        memory.fill(MfnRange(uncheckedFirst: m.raw, end: m.raw + 1), contentId: memory.newContentId())
        domains[id] = d
        return m
    }

    /// Adds `frames` domain-heap pages at gfn, gfn + 1, ... (XENMEM_populate_physmap with 4 KiB
    /// extents): what ballooning and late growth do, and what fragments a host's ownership.
    /// Returns the machine runs used. All or nothing.
    @discardableResult
    public func populate(_ id: DomainID, at gfn: Gfn, frames: UInt64) throws(HostMemoryError) -> [MfnRange] {
        guard var d = domains[id] else { throw .noSuchDomain(id) }
        guard frames > 0 else { throw .emptyRange(what: "populate of \(id)") }
        if d.config.isDirectMapped { throw .directMapPageUnavailable(id, gfn) }
        guard d.config.allowsDynamicPages else { throw .staticPoolExhausted(id) }
        do { _ = try gfn.advanced(by: frames) } catch { throw .address(error) }
        guard !d.physmap.anyMapped(gfn, count: frames), !d.pmemOverlaps(gfn, count: frames) else { throw .gfnAlreadyMapped(id, gfn) }
        guard domainHeap.freeFrames >= frames else {
            throw .outOfMemory(what: "populate of \(id)", frames: frames, available: domainHeap.freeFrames, pool: "domain heap")
        }
        var runs: [MfnRange] = []
        for _ in 0..<frames {
            let m = domainHeap.allocate(order: 0)!
            if let last = runs.last, last.end == m.raw {
                runs[runs.count - 1] = MfnRange(uncheckedFirst: last.first.raw, end: m.raw + 1)
            } else {
                runs.append(MfnRange(uncheckedFirst: m.raw, end: m.raw + 1))
            }
        }
        var g = gfn.raw
        var mappedRuns: [(Gfn, MfnRange)] = []
        for r in runs {
            mappedRuns.append((Gfn(uncheckedRaw: g), r))
            g += r.count
        }
        if let sink = physmapSink {
            var done: [(Gfn, MfnRange)] = []
            do {
                for (g, r) in mappedRuns {
                    try sink.map(id, gfn: g, to: r.first, frames: r.count, type: .ramRW)
                    done.append((g, r))
                }
            } catch {
                for (g, r) in done { try? sink.unmap(id, gfn: g, frames: r.count) }
                for r in runs { domainHeap.free(r) }
                throw .physmap(domain: id, "\(error)")
            }
        }
        let contents = memory.newContentId()
        for (g, r) in mappedRuns {
            frameTable.fill(r, with: .owned(by: id))
            d.physmap.map(g, to: r.first, count: r.count)
            memory.fill(r, contentId: contents)
        }
        domains[id] = d
        return runs
    }

    private func firstFreeStaticPage(of d: HostDomain) -> Mfn? {
        for r in d.staticRegions {
            for m in r.first.raw..<r.end where frameTable[Mfn(uncheckedRaw: m)] == .staticFree {
                return Mfn(uncheckedRaw: m)
            }
        }
        return nil
    }

    /// Returns one guest page: static to the reserved pool, dynamic to the heap.
    private func release(_ mfn: Mfn) {
        if frameTable[mfn].flags.contains(.staticMemory) {
            frameTable[mfn] = .staticFree
        } else {
            frameTable[mfn] = .free
            domainHeap.free(mfn, order: 0)
        }
    }

    /// Tears a guest down: dynamic pages and the p2m root to the heap, static pages to the pool.
    public func destroyDomain(_ id: DomainID) throws(HostMemoryError) {
        guard let d = domains[id] else { throw .noSuchDomain(id) }
        physmapSink?.destroy(id)
        for e in d.physmap.extents {
            var runStart = e.mfn.raw
            var runStatic = frameTable[e.mfn].flags.contains(.staticMemory)
            let end = e.mfn.raw + e.count
            var m = e.mfn.raw
            while m <= end {
                let isStatic = m < end ? frameTable[Mfn(uncheckedRaw: m)].flags.contains(.staticMemory) : !runStatic
                if m == end || isStatic != runStatic {
                    let run = MfnRange(uncheckedFirst: runStart, end: m)
                    if runStatic {
                        frameTable.fill(run, with: .staticFree)
                    } else {
                        frameTable.fill(run, with: .free)
                        domainHeap.free(run)
                    }
                    runStart = m
                    runStatic = isStatic
                }
                m += 1
            }
        }
        frameTable[d.p2mRoot] = .free
        domainHeap.free(d.p2mRoot, order: 0)
        for p in d.pmem { detachPmemFrames(p, from: id) }
        domains[id] = nil
    }

    // MARK: Bad pages

    /// Offlines a free frame: it leaves whichever heap or pool had it and is never handed out.
    public func markBad(_ mfn: Mfn) throws(HostMemoryError) {
        guard frameTable.contains(mfn) else { throw .frameNotFree(mfn, .hole) }
        let rec = frameTable[mfn]
        guard rec.flags.contains(.free) else { throw .frameNotFree(mfn, rec) }
        if rec.flags.contains(.staticMemory) {
            frameTable[mfn] = FrameRecord(owner: .invalid, flags: [.bad, .reserved, .staticMemory], refcount: 0)
            return
        }
        var taken = domainHeap.take(mfn)
        if !taken, xenHeap != nil { taken = xenHeap!.take(mfn) }
        guard taken else { throw .frameNotFree(mfn, rec) }
        frameTable[mfn] = .bad
    }

    // MARK: Views

    /// Every frame free in some heap, as sorted maximal ranges.
    public func heapFreeRanges() -> [MfnRange] {
        MfnRange.merging(domainHeap.freeRanges() + (xenHeap?.freeRanges() ?? []))
    }

    /// Frames owned by `id` (mapped pages and the p2m root), sorted maximal ranges.
    public func ownedRanges(of id: DomainID) -> [MfnRange] {
        guard let d = domains[id] else { return [] }
        return MfnRange.merging(d.physmap.extents.map(\.mfnRange) + [MfnRange(uncheckedFirst: d.p2mRoot.raw, end: d.p2mRoot.raw + 1)])
    }
}

/// Why a static page failed its check before assignment (seed 003: free, refcount 0, reserved).
public enum StaticPageProblem: Equatable, Sendable, CustomStringConvertible {
    case notFree(FrameFlags)
    case referenced(UInt32)
    case notStatic(FrameFlags)

    /// The problem with `rec` as a static page about to be assigned, or nil when it passes.
    init?(_ rec: FrameRecord) {
        if !rec.flags.contains(.free) || rec.flags.contains(.bad) { self = .notFree(rec.flags); return }
        if rec.refcount != 0 { self = .referenced(rec.refcount); return }
        if !rec.flags.contains([.reserved, .staticMemory]) { self = .notStatic(rec.flags); return }
        return nil
    }

    public var description: String {
        switch self {
        case .notFree(let f): return "the page is not free (state \(f))"
        case .referenced(let n): return "the page still has \(n) reference(s)"
        case .notStatic(let f): return "the page is not reserved static memory (state \(f))"
        }
    }
}
