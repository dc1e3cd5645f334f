import GuestMemory
@testable import HostMemory

/// A recording p2m: the naive model of every guest's gfn -> mfn table, fed through the seam.
final class RecordingPhysmap: GuestPhysmapSink {
    var tables: [DomainID: [UInt64: UInt64]] = [:]
    /// gfns mapped with a type other than ram_rw.
    var types: [DomainID: [UInt64: P2MType]] = [:]
    var failNextMap = false

    struct Refused: Error {}

    func map(_ domain: DomainID, gfn: Gfn, to mfn: Mfn, frames: UInt64, type: P2MType) throws {
        if failNextMap { failNextMap = false; throw Refused() }
        for i in 0..<frames {
            precondition(tables[domain, default: [:]][gfn.raw + i] == nil, "double map")
            tables[domain, default: [:]][gfn.raw + i] = mfn.raw + i
            if type != .ramRW { types[domain, default: [:]][gfn.raw + i] = type }
        }
    }
    func unmap(_ domain: DomainID, gfn: Gfn, frames: UInt64) throws {
        for i in 0..<frames { tables[domain]?[gfn.raw + i] = nil; types[domain]?[gfn.raw + i] = nil }
    }
    func translate(_ domain: DomainID, gfn: Gfn) -> (mfn: Mfn, type: P2MType)? {
        tables[domain]?[gfn.raw].map { (Mfn(uncheckedRaw: $0), types[domain]?[gfn.raw] ?? .ramRW) }
    }
    func destroy(_ domain: DomainID) { tables[domain] = nil; types[domain] = nil }
}

func mfn(_ raw: UInt64) -> Mfn { Mfn(uncheckedRaw: raw) }
func frames(_ start: UInt64, _ end: UInt64) -> MfnRange { MfnRange(uncheckedFirst: start, end: end) }
let d1 = DomainID(uncheckedRaw: 1)
let d2 = DomainID(uncheckedRaw: 2)
let d3 = DomainID(uncheckedRaw: 3)
let d4 = DomainID(uncheckedRaw: 4)

/// A small host: 2 banks with a hole, static memory for d1 and d2, a liveupdate region, bad pages;
/// with `pmem`, 4 MiB of host pmem above RAM at 0x9000.
func smallConfig(reservedXenHeap: Bool = false, region: MfnRange? = frames(0x5000, 0x5080), pmem: Bool = false) -> HostMemoryConfig {
    HostMemoryConfig(
        banks: [frames(0x10, 0x3000), frames(0x5000, 0x8000)],
        pmem: pmem ? [smallPmem] : [],
        staticMemory: [
            StaticMemoryRegion(domain: d1, range: frames(0x6000, 0x6040)),
            StaticMemoryRegion(domain: d1, range: frames(0x6100, 0x6110)),
            StaticMemoryRegion(domain: d2, range: frames(0x6200, 0x6220)),
        ],
        reservedXenHeap: reservedXenHeap ? frames(0x7000, 0x7400) : nil,
        liveUpdateRegion: region,
        badPages: [mfn(0x20), mfn(0x2abc)])
}

let smallPmem = frames(0x9000, 0x9400)

/// A snapshot of everything a failed operation must leave unchanged.
struct HostSnapshot: Equatable {
    let table: [UInt64]
    let heap: [MfnRange]
    let domains: [DomainID: HostDomain]
    let hostRanges: HostRangeRegistry
    let pmemBackings: Set<GuestPmem>
    init(_ h: HostMachine) {
        table = h.frameTable.snapshot()
        heap = h.heapFreeRanges()
        domains = h.domains
        hostRanges = h.hostRanges
        pmemBackings = Set(h.pmemMappings.keys)
    }
}

/// Checks the host's standing invariants; returns the first broken one.
func brokenInvariant(_ h: HostMachine, sink: RecordingPhysmap?) -> String? {
    let heap = h.heapFreeRanges()
    let freeInTable = h.frameTable.runs { $0 == .free }.map(\.range)
    if heap != freeInTable { return "heap free ranges differ from frames marked free" }
    for s in h.config.staticMemory where heap.contains(where: { $0.overlaps(s.range) }) {
        return "static memory \(s.range) reached a heap"
    }
    for s in h.config.staticMemory {
        if !h.frameTable.allFrames(in: s.range, satisfy: { $0.flags.contains(.staticMemory) && $0.flags.contains(.reserved) }) {
            return "static memory \(s.range) lost its static flag"
        }
    }
    if let r = h.config.liveUpdateRegion, heap.contains(where: { $0.overlaps(r) }) { return "region reached the heap" }
    for p in h.config.pmem where heap.contains(where: { $0.overlaps(p) }) { return "pmem \(p) reached the heap" }
    // Pmem is tracked by extents: pmem frames the table covers (below the end of RAM) are holes,
    // and the registry's owners are exactly the guests' attached regions.
    for p in h.config.pmem where h.frameTable.contains(p.first) {
        if !h.frameTable.allFrames(in: frames(p.first.raw, min(p.end, UInt64(h.frameTable.count))), satisfy: { $0 == .hole }) {
            return "pmem \(p) has frame records that are not holes"
        }
    }
    let attached = h.domains.values.flatMap { d in d.pmem.map { (d.id, $0) } }
    var registryOwned: [DomainID: [MfnRange]] = [:]
    for r in h.hostRanges.ranges where r.kind == .pmem {
        if let o = r.owner { registryOwned[o, default: []].append(r.frames) }
        if !h.config.pmem.contains(where: { $0.contains(r.frames) }) { return "registry pmem \(r.frames) is not configured pmem" }
    }
    var regionsOwned: [DomainID: [MfnRange]] = [:]
    for (id, p) in attached { regionsOwned[id, default: []].append(p.frames) }
    if registryOwned.mapValues({ MfnRange.merging($0) }) != regionsOwned.mapValues({ MfnRange.merging($0) }) {
        return "registry pmem owners \(registryOwned) differ from the attached regions \(regionsOwned)"
    }
    let regions = attached.map(\.1.frames).sorted()
    for (a, b) in zip(regions, regions.dropFirst()) where a.overlaps(b) { return "pmem regions \(a) and \(b) overlap" }
    if Set(h.pmemMappings.keys) != Set(attached.map(\.1)) { return "pmem mappings held do not match the attached regions" }
    for b in h.config.badPages where h.frameTable[b].flags != .bad { return "bad page \(b) is \(h.frameTable[b])" }
    if let x = h.config.reservedXenHeap {
        for (id, d) in h.domains where d.physmap.extents.contains(where: { $0.mfnRange.overlaps(x) }) {
            return "\(id) got pages from the reserved Xen heap"
        }
    }
    for (id, d) in h.domains {
        for e in d.physmap.extents {
            if !h.frameTable.allFrames(in: e.mfnRange, satisfy: { $0.owner == id && $0.flags.contains(.inUse) && $0.refcount == 1 }) {
                return "\(id) maps \(e.mfnRange) but does not own it"
            }
            if d.config.isDirectMapped && e.gfn.raw != e.mfn.raw { return "direct-mapped \(id) maps \(e.gfn) to \(e.mfn)" }
            if d.config.isStatic && !d.config.allowsDynamicPages && !d.staticRegions.contains(where: { $0.contains(e.mfnRange) }) {
                return "static \(id) without dynamic memory maps \(e.mfnRange)"
            }
        }
        if let sink {
            let table = sink.tables[id] ?? [:]
            let pmemFrames = d.pmem.reduce(0) { $0 + $1.frames.count }
            if UInt64(table.count) != d.physmap.mappedFrames + pmemFrames {
                return "p2m of \(id) has \(table.count) entries, host \(d.physmap.mappedFrames) + \(pmemFrames) pmem"
            }
            for p in d.pmem {
                for i in 0..<p.frames.count where sink.translate(id, gfn: Gfn(uncheckedRaw: p.gfn.raw + i))! != (Mfn(uncheckedRaw: p.frames.first.raw + i), .pmem) {
                    return "p2m of \(id) does not map \(p) as pmem"
                }
            }
            for e in d.physmap.extents {
                for i in 0..<e.count where table[e.gfn.raw + i] != e.mfn.raw + i { return "p2m of \(id) disagrees at \(e.gfn)" }
                if d.config.isDirectMapped {
                    for i in 0..<e.count where sink.translate(id, gfn: Gfn(uncheckedRaw: e.gfn.raw + i))?.mfn.raw != e.gfn.raw + i {
                        return "p2m of direct-mapped \(id) has gfn != mfn"
                    }
                }
            }
        }
    }
    return nil
}

/// Checks the guest memory core's p2m against the host's extents, and gfn == mfn for every
/// direct-mapped guest, frame by frame through `P2M.translate`.
func p2mDisagreement(_ h: HostMachine, _ sink: P2MPhysmapSink) -> String? {
    for (id, d) in h.domains {
        guard let p2m = sink.tables[id] else { return "\(id) has no p2m" }
        let pmemFrames = d.pmem.reduce(0) { $0 + $1.frames.count }
        if p2m.stats.mappedFrames != d.physmap.mappedFrames + pmemFrames {
            return "p2m of \(id) maps \(p2m.stats.mappedFrames) frames, host \(d.physmap.mappedFrames) + \(pmemFrames) pmem"
        }
        for p in d.pmem {
            guard let leaves = try? p2m.mappings(gfn: p.gfn, count: p.frames.count),
                  leaves.reduce(0, { $0 + $1.count }) == p.frames.count,
                  leaves.allSatisfy({ $0.type == .pmem && $0.mfn?.raw == p.frames.first.raw + ($0.gfn.raw - p.gfn.raw) }) else {
                return "p2m of \(id) does not map \(p) as pmem"
            }
        }
        for e in d.physmap.extents {
            // Every leaf covering the extent, clipped: contiguous, ram_rw, mfn = e.mfn + offset.
            guard let leaves = try? p2m.mappings(gfn: e.gfn, count: e.count) else { return "p2m of \(id) refused \(e.gfn)" }
            var expect = e.gfn.raw
            for l in leaves {
                guard l.gfn.raw == expect, l.type == .ramRW, let m = l.mfn else { return "p2m of \(id) lacks \(Gfn(uncheckedRaw: expect))" }
                if m.raw != e.mfn.raw + (l.gfn.raw - e.gfn.raw) { return "p2m of \(id) maps \(l.gfn) to \(m), host says otherwise" }
                if d.config.isDirectMapped && m.raw != l.gfn.raw { return "direct-mapped \(id): p2m maps \(l.gfn) to \(m)" }
                expect += l.count
            }
            if expect != e.gfn.raw + e.count { return "p2m of \(id) stops at \(Gfn(uncheckedRaw: expect))" }
        }
    }
    for id in sink.tables.keys where h.domains[id] == nil { return "p2m left behind for destroyed \(id)" }
    return nil
}
