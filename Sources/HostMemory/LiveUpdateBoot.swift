import GuestMemory
import HostPmem

// The incoming instance of a live update, as a chain of ~Copyable phases (seed 004):
//
//   LiveUpdateBoot.init        boot on the region: read the handover word and the MFN-list header
//                              (read-only), size the frame table and the range list, refuse a
//                              region that is too small before writing anything, then allocate
//                              both from a boot allocator that sees only the region.
//   .parseState()              read every list and data page with bounds and checksum checks;
//                              refuse anything corrupt or overlapping the region; map every pmem
//                              backing the state names again (libpmem), refusing a missing,
//                              resized or still-locked one. Nothing preserved is touched yet.
//   .rebuildFrameTable()       the one pass over the frame table.
//   .handBackToHeap()          every frame neither preserved nor in the region goes to the heap;
//                              guests, their RAM (ram_rw) and pmem (pmem) are mapped again in
//                              the p2m; only now does a HostMachine (with heaps) exist.
//
// Each phase consumes the previous one: the heap cannot be reached before the pass, and the boot
// allocator cannot be asked for memory outside the region, because no such API exists.

/// Phase 1: booted on the liveupdate region only.
public struct LiveUpdateBoot: ~Copyable {
    public let config: HostMemoryConfig
    public let layout: HostLayout
    public let memory: FrameContents
    public let region: MfnRange
    let frameTable: FrameTable
    var boot: BootAllocator
    let listMfn: Mfn
    let dataPageCount: UInt64
    let recordCount: UInt64
    /// What the boot allocator handed out (frame table, range list), all inside the region.
    public let bootAllocations: [MfnRange]

    /// The boot allocator's free ranges: never anything outside the region.
    public var bootAllocatorRanges: [MfnRange] { boot.ranges }

    public init(config: HostMemoryConfig, memory: FrameContents) throws(LiveUpdateError) {
        typealias F = LiveUpdateFormat
        let layout: HostLayout
        do { layout = try HostLayout(config) } catch { throw .host(error) }
        guard let region = config.liveUpdateRegion else { throw .noRegion }
        guard UInt64(memory.frames) == layout.frameCount else {
            throw .corruptState(where: "machine", problem: "memory has \(memory.frames) frames but the host config describes \(layout.frameCount)")
        }
        // Read-only until the size check passes.
        let word = PageReader(bytes: memory.readPage(region.first)).u64(0)!
        guard word & (PageOrder.frameBytes - 1) == 0 else {
            throw .corruptState(where: "handover word at \(region.first.address)", problem: "0x\(String(word, radix: 16)) is not page aligned")
        }
        let listMfn = Mfn(uncheckedRaw: word >> PageOrder.frameShift)
        try StateReader.checkStatePage(listMfn, layout: layout, what: "MFN-list page 0")
        let head = try StateReader.listHeader(memory.readPage(listMfn), at: listMfn, index: 0, frames: layout.frameCount)

        let ftFrames = HostMachine.frameTableFrames(for: layout.frameCount)
        let runBytes = head.records * UInt64(MemoryLayout<FrameRun>.stride)
        let stateFrames = (runBytes + PageOrder.frameBytes - 1) / PageOrder.frameBytes
        let needed = ftFrames + stateFrames
        guard needed <= region.count - 1 else {
            throw .regionTooSmall(region: region, neededFrames: needed, frameTableFrames: ftFrames, stateFrames: stateFrames)
        }

        // From here on the instance writes, and only inside the region.
        var boot = BootAllocator(ranges: [MfnRange(uncheckedFirst: region.first.raw + 1, end: region.end)])
        var allocations: [MfnRange] = []
        do {
            allocations.append(try boot.allocate(frames: ftFrames, for: "frame table"))
            if stateFrames > 0 { allocations.append(try boot.allocate(frames: stateFrames, for: "live-update range list")) }
        } catch { throw .host(error) }
        let contents = memory.newContentId()
        for a in allocations { memory.fill(a, contentId: contents) }
        let table: FrameTable
        do { table = try FrameTable(frames: layout.frameCount) } catch { throw .host(error) }

        self.config = config
        self.layout = layout
        self.memory = memory
        self.region = region
        self.frameTable = table
        self.boot = boot
        self.listMfn = listMfn
        self.dataPageCount = head.dataPages
        self.recordCount = head.records
        self.bootAllocations = allocations
    }

    /// Reads and checks the whole state, then maps every pmem backing it names again, each at
    /// exactly the size it had when its region was attached. Consumes the boot phase: on refusal there is nothing to
    /// continue with (a real host would fall back to a cold boot), and nothing preserved (RAM or
    /// pmem) has been written.
    public consuming func parseState() throws(LiveUpdateError) -> LiveUpdateParsed {
        let state = try StateReader.read(listMfn: listMfn, dataPages: dataPageCount, records: recordCount,
                                          config: config, layout: layout, memory: memory)
        var mappings: [GuestPmem: PmemMapping] = [:]
        for d in state.domains {
            for region in d.pmem {
                do {
                    mappings[region] = try PmemMapping.open(path: region.backingPath, expectedSize: region.backingBytes)
                } catch {
                    throw .pmemBacking(domain: d.config.id, region: region, error)
                }
            }
        }
        return LiveUpdateParsed(config: config, layout: layout, memory: memory, frameTable: frameTable,
                                bootAllocations: bootAllocations, state: state, pmemMappings: mappings)
    }
}

/// Phase 2: the state is read and checked; the frame table is not yet rebuilt.
public struct LiveUpdateParsed: ~Copyable {
    public let config: HostMemoryConfig
    public let layout: HostLayout
    public let memory: FrameContents
    let frameTable: FrameTable
    public let bootAllocations: [MfnRange]
    public let state: ParsedLiveUpdateState
    /// The pmem backings, mapped again.
    public let pmemMappings: [GuestPmem: PmemMapping]

    /// The one pass: every frame-table record written once from the preserved runs and layout.
    public consuming func rebuildFrameTable() -> LiveUpdateRebuilt {
        FrameTableRebuild.onePass(frameTable, plan: state.plan)
        for a in bootAllocations { frameTable.fill(a, with: .owned(by: .xen, extra: .xenHeap)) }
        return LiveUpdateRebuilt(config: config, layout: layout, memory: memory, frameTable: frameTable,
                                 bootAllocations: bootAllocations, state: state, pmemMappings: pmemMappings)
    }
}

/// Phase 3: ownership rebuilt; the heap does not exist yet.
public struct LiveUpdateRebuilt: ~Copyable {
    public let config: HostMemoryConfig
    public let layout: HostLayout
    public let memory: FrameContents
    public let frameTable: FrameTable
    public let bootAllocations: [MfnRange]
    public let state: ParsedLiveUpdateState
    public let pmemMappings: [GuestPmem: PmemMapping]

    /// Gives every frame that is neither preserved nor in the region (nor static, bad or a hole)
    /// to the heap, re-creates the guests and replays their mappings into `physmapSink`.
    public consuming func handBackToHeap(physmapSink: (any GuestPhysmapSink)? = nil) throws(LiveUpdateError) -> HostMachine {
        let frames = layout.frameCount
        var heap = BuddyHeap(frames: frames)
        var xenPool: BuddyHeap? = config.reservedXenHeap.map { _ in BuddyHeap(frames: frames) }
        for g in state.plan.gaps(withLayoutRecord: .free) {
            if let h = config.reservedXenHeap, let part = g.intersection(h) {
                xenPool!.free(part)
                if g.first < part.first { heap.free(MfnRange(uncheckedFirst: g.first.raw, end: part.first.raw)) }
                if part.end < g.end { heap.free(MfnRange(uncheckedFirst: part.end, end: g.end)) }
            } else {
                heap.free(g)
            }
        }
        var domains: [DomainID: HostDomain] = [:]
        var hostRanges: HostRangeRegistry
        do { hostRanges = try HostMachine.hostRangeRegistry(config) } catch { throw .host(error) }
        for d in state.domains {
            let id = d.config.id
            let regions = d.config.isStatic ? config.staticRegions(of: id) : []
            domains[id] = HostDomain(config: d.config, physmap: d.physmap, staticRegions: regions, p2mRoot: d.p2mRoot, pmem: d.pmem)
            do {
                // The state reader checked every region lies in configured pmem and that no two
                // regions overlap: the extents are claimed again, no frame record is involved.
                for p in d.pmem { _ = try hostRanges.claim(p.frames, allowed: [.pmem], for: id) }
            } catch { throw .host(.mapping(error)) }
            if let sink = physmapSink {
                do {
                    for e in d.physmap.extents { try sink.map(id, gfn: e.gfn, to: e.mfn, frames: e.count, type: .ramRW) }
                    for p in d.pmem { try sink.map(id, gfn: p.gfn, to: p.frames.first, frames: p.frames.count, type: .pmem) }
                } catch {
                    throw .host(.physmap(domain: id, "\(error)"))
                }
            }
        }
        return HostMachine(config: config, layout: layout, frameTable: frameTable, memory: memory, domainHeap: heap,
                           xenHeap: xenPool, domains: domains, bootAllocations: bootAllocations, physmapSink: physmapSink,
                           hostRanges: hostRanges, pmemMappings: pmemMappings)
    }
}
