import DomainModel
import GuestMemory
import HostMemory

/// What `vpmem host show --json` prints: the host's memory map with the owner of each run, its
/// pmem with the guest and slot each backing belongs to, its guests and its steering budget.
public struct HostReport: Encodable, Sendable {
    public struct Run: Encodable, Sendable {
        public let start: UInt64
        public let last: UInt64
        public let kind: String
        public let owner: String?
    }
    public struct Owner: Encodable, Sendable {
        public let guest: String
        public let slot: Int
    }
    public struct Pmem: Encodable, Sendable {
        public let path: String?
        public let namespace: String?
        public let size: UInt64
        public let spa: UInt64
        public let exists: Bool
        public let owner: Owner?
    }
    public struct GuestEntry: Encodable, Sendable {
        public let name: String
        public let domid: UInt16
        public let config: String
        public let ram_frames: UInt64
        public let static_memory: Bool
        public let direct_map: Bool
        public let allowance: UInt64
        public let nvdimms: [Int]
        public let owned: [Run]
        public let error: String?
    }

    public let directory: String
    public let ram_bytes: UInt64
    public let steering_budget: UInt64
    public let steering_reserved: UInt64
    public let memory_map: [Run]
    public let pmem: [Pmem]
    public let guests: [GuestEntry]

    public init(_ host: ModelledHost) {
        directory = host.location
        ram_bytes = host.config.ramBanks.reduce(0) { $0 + $1.count } << 12
        steering_budget = host.config.steering.hostBudgetBytes
        steering_reserved = host.admitted.reduce(0) { $0 + host.allowance(of: $1.name) }
        func run(_ r: MfnRange, _ kind: String, _ owner: String?) -> Run {
            Run(start: r.first.raw << 12, last: (r.end << 12) - 1, kind: kind, owner: owner)
        }
        let m = host.machine
        var map: [Run] = []
        var names: [UInt16: String] = [:]
        for a in host.admitted { names[a.record.domid] = a.name }
        var guests: [GuestEntry] = []
        for a in host.admitted {
            let owned = m.ownedRanges(of: a.domid).map { run($0, "ram", a.name) }
            map += owned
            let c = try? a.config.get()
            guests.append(GuestEntry(
                name: a.name, domid: a.record.domid, config: a.record.config,
                ram_frames: m.domains[a.domid]?.physmap.mappedFrames ?? 0,
                static_memory: host.config.staticMemory.contains { $0.guest == a.name },
                direct_map: c?.directMap ?? false, allowance: host.allowance(of: a.name),
                nvdimms: c?.nvdimms.map(\.slot) ?? [], owned: owned,
                error: { if case .failure(let e) = a.config { return e.description } else { return nil } }()))
        }
        map += m.heapFreeRanges().map { run($0, "ram (free)", nil) }
        map += m.bootAllocations.map { run($0, "frame table", "xen") }
        for s in host.config.staticMemory {
            // The parts of a guest's static memory it does not have mapped: its reserved pool.
            var cursor = s.range.first.raw
            let taken = map.filter { $0.kind == "ram" }.map { MfnRange(uncheckedFirst: $0.start >> 12, end: ($0.last + 1) >> 12) }
                .compactMap { $0.intersection(s.range) }.sorted { $0.first < $1.first }
            for t in taken {
                if cursor < t.first.raw { map.append(run(MfnRange(uncheckedFirst: cursor, end: t.first.raw), "static memory (pool)", s.guest)) }
                cursor = max(cursor, t.end)
            }
            if cursor < s.range.end { map.append(run(MfnRange(uncheckedFirst: cursor, end: s.range.end), "static memory (pool)", s.guest)) }
        }
        if let l = host.config.liveUpdateRegion { map.append(run(l, "liveupdate region", nil)) }
        if let h = host.config.reservedXenHeap { map.append(run(h, "xen heap", "xen")) }
        var pmem: [Pmem] = []
        for (i, p) in host.config.pmem.enumerated() {
            let id = i < host.pmemIdentities.count ? host.pmemIdentities[i] : nil
            let owner = id.flatMap { host.owners[$0] }.map { Owner(guest: $0.guest, slot: $0.slot) }
            pmem.append(Pmem(path: p.path, namespace: p.namespace, size: p.size, spa: p.spa, exists: id != nil, owner: owner))
            map.append(run(p.frames, "pmem", owner.map { "\($0.guest) slot \($0.slot)" }))
        }
        memory_map = map.sorted { $0.start < $1.start }
        self.pmem = pmem
        self.guests = guests
    }
}
