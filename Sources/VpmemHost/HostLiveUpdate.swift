import DomainModel
import Foundation
import GuestMemory
import HostMemory
import HostPmem
import VpmemCore

// `vpmem liveupdate run`: seed 004 on the configured host.
//
// The outgoing instance is the host as opened: its machine holds every guest's RAM and static
// memory (admitted from state.json, balloons replayed). Each guest's vNVDIMMs are given to the
// machine as host pmem (`attachPmem`: the pmem entry's data-part frames, at the gfn where the
// guest has them, on the guest's read-write mapping of the backing), their data checksummed and
// every guest's frame ownership recorded. Then, as `LiveUpdateSimulation` does: the state is
// written, the pmem mappings let go (the guest models too, so every backing is unlocked), and the
// incoming instance boots on the liveupdate region alone from host.toml and state.json as they
// are on disk, maps the backings again through libpmem and rebuilds the frame table in one pass.
// Every check compares the incoming instance with the outgoing one; finally the host directory
// must be byte for byte as it was, and opening the host again must give the same ownership.

/// What `vpmem liveupdate run` reports (JSON keys in snake_case).
public struct HostLiveUpdateReport: Encodable, Sendable {
    public struct Phase: Encodable, Sendable {
        public let name: String
        public let milliseconds: Double
    }

    /// One guest as the outgoing instance handed it over.
    public struct GuestEntry: Encodable, Sendable {
        public let name: String
        public let domid: UInt16
        /// "dynamic", "static" or "static, 1:1".
        public let memory: String
        /// Frames the guest owns (its mapped RAM and its p2m root), preserved across the handover.
        public let ownedFrames: UInt64
        public let ownedRanges: Int
        /// Frames of its static memory, and of those the ones in its reserved pool (not mapped).
        public let staticFrames: UInt64
        public let staticPoolFrames: UInt64
        public let pmemFrames: UInt64

        enum CodingKeys: String, CodingKey {
            case name, domid, memory
            case ownedFrames = "owned_frames", ownedRanges = "owned_ranges", staticFrames = "static_frames"
            case staticPoolFrames = "static_pool_frames", pmemFrames = "pmem_frames"
        }
    }

    /// One vNVDIMM's data part, handed over as host pmem.
    public struct PmemEntry: Encodable, Sendable {
        public let guest: String
        public let domid: UInt16
        public let slot: Int
        public let backing: String
        /// Bytes of the data part (the region), and of the whole backing (with its label area).
        public let bytes: UInt64
        public let backingBytes: UInt64
        public let frames: String
        public let gfn: String
        public let checksumBefore: String
        /// nil when the incoming instance did not map the backing again.
        public let checksumAfter: String?
        /// libpmem's verdict on the backing mapped again (false for a file on an ordinary file system).
        public let backingIsRealPmem: Bool?
        public let unchanged: Bool

        enum CodingKeys: String, CodingKey {
            case guest, domid, slot, backing, bytes, frames, gfn, unchanged
            case backingBytes = "backing_bytes", checksumBefore = "checksum_before", checksumAfter = "checksum_after"
            case backingIsRealPmem = "backing_is_real_pmem"
        }
    }

    /// One check: what was compared, and whether it held.
    public struct Check: Encodable, Sendable {
        public let name: String
        public let passed: Bool
        public let detail: String
    }

    public let host: String
    public let liveUpdateRegion: String
    public let frames: UInt64
    public let phases: [Phase]
    public let stateRecords: Int
    public let stateRanges: Int
    public let statePmemRegions: Int
    public let stateDataPages: Int
    public let stateListPages: Int
    public let stateBytes: UInt64
    /// Guest frames preserved (RAM and p2m roots; pmem is counted in `pmem`).
    public let preservedFrames: UInt64
    public let preservedRanges: Int
    /// Frames the incoming instance gave its heaps (nil when it did not boot).
    public let framesHandedToHeap: UInt64?
    public let guests: [GuestEntry]
    public let pmem: [PmemEntry]
    public let checks: [Check]
    /// "check: detail" for every check that failed; empty when the handover is verified.
    public let failed: [String]

    public var verified: Bool { failed.isEmpty }

    /// Throws `HostError.liveUpdateFailed` naming the failed checks, if any.
    public func requireVerified() throws(HostError) {
        if !failed.isEmpty { throw .liveUpdateFailed(problems: failed) }
    }

    enum CodingKeys: String, CodingKey {
        case host, frames, phases, guests, pmem, checks, failed
        case liveUpdateRegion = "liveupdate_region", stateRecords = "state_records", stateRanges = "state_ranges"
        case statePmemRegions = "state_pmem_regions", stateDataPages = "state_data_pages", stateListPages = "state_list_pages"
        case stateBytes = "state_bytes", preservedFrames = "preserved_frames", preservedRanges = "preserved_ranges"
        case framesHandedToHeap = "frames_handed_to_heap"
    }

    /// The names of the checks, as they appear in `checks` and `failed`.
    public enum CheckName {
        public static let incomingBoots = "incoming instance boots on the region"
        public static let bootAllocatorSawOnlyRegion = "boot allocator saw only the region"
        public static let sameGuests = "same guests"
        public static let sameRAMOwnership = "same RAM ownership"
        public static let preservedFramesOwned = "preserved frames owned as before"
        public static let preservedContents = "preserved contents unchanged"
        public static let staticMemory = "static memory still static"
        public static let heap = "heap holds exactly the free frames"
        public static let p2ms = "guest RAM and pmem mapped in the new p2ms"
        public static let pmemOwnership = "pmem owned as before"
        public static let pmemContents = "pmem contents unchanged"
        public static let hostDirectory = "host directory unchanged"
        public static let reopened = "host opened again has the same ownership"
    }
}

extension ModelledHost {
    /// Test hooks into a live update.
    public struct LiveUpdateHooks {
        /// Runs once the outgoing instance has written the state and let go of every pmem
        /// mapping, before the incoming instance boots (and maps the backings again).
        public var afterHandover: (() throws -> Void)?
        public init(afterHandover: (() throws -> Void)? = nil) { self.afterHandover = afterHandover }
    }

    /// What the outgoing instance knew of one guest.
    private struct GuestBefore {
        let name: String
        let id: DomainID
        let domain: HostDomain
        let owned: [MfnRange]
        let pool: [MfnRange]
        let digest: UInt64
    }

    /// One vNVDIMM's data part as the outgoing instance attached it.
    private struct PmemBefore {
        let guest: String
        let id: DomainID
        let slot: Int
        let region: GuestPmem
        let checksum: UInt64
    }

    /// Hands this host over to a new instance exactly as configured (seed 004) and verifies the
    /// result; see the top of this file. Needs host.toml's liveupdate region.
    ///
    /// Throws for what stops the handover before the state is written (no region, a guest whose
    /// config no longer loads, a backing that cannot be mapped read-write); from then on every
    /// problem, including an incoming instance that refuses to boot, is a failed check in the
    /// report (`requireVerified()` turns them into `HostError.liveUpdateFailed`).
    ///
    /// This host's machine becomes the outgoing instance (its guests get their pmem, the state
    /// takes Xen-heap pages) and its guest models are released: drop the host afterwards, and open
    /// it again to go on. Its files are not written.
    public func liveUpdate(hooks: LiveUpdateHooks = LiveUpdateHooks()) throws(HostError) -> HostLiveUpdateReport {
        typealias R = HostLiveUpdateReport
        typealias N = R.CheckName
        let configPath = store?.configPath ?? location + "/host.toml"
        guard let region = config.liveUpdateRegion else { throw .noLiveUpdateRegion(path: configPath) }
        let filesBefore = hostFiles()

        let clock = ContinuousClock()
        var phases: [R.Phase] = []
        var t = clock.now
        func lap(_ name: String) {
            let now = clock.now
            let d = now - t
            phases.append(R.Phase(name: name, milliseconds: Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15))
            t = now
        }

        // The outgoing instance: every guest's vNVDIMMs become host pmem of the machine.
        var pmemBefore: [PmemBefore] = []
        do {
            var attached: [(guest: String, id: DomainID, slot: Int, region: GuestPmem)] = []
            for a in admitted {
                let c: GuestConfig
                switch a.config {
                case .success(let v): c = v
                case .failure(let e): throw e
                }
                guard !c.nvdimms.isEmpty else { continue }
                let g = try guest(a.name, access: .readWrite)
                for d in g.nvdimms {
                    // The guest's own mapping holds the backing's lock; a read-only vNVDIMM's
                    // mapping holds none, so the host opens it read-write beside it.
                    let backing: PmemMapping
                    if d.backing.access == .readWrite {
                        backing = d.backing
                    } else {
                        do { backing = try PmemMapping.open(path: d.path, expectedSize: d.backing.length) } catch {
                            throw .guest(name: a.name, .backing(slot: d.slot, error))
                        }
                    }
                    let gfn = d.guestRange.first.frame
                    if c.directMap && gfn.raw != d.hostFrames.first.raw {
                        throw .guest(name: a.name, .guestMemory(
                            "it is direct-mapped but sees vNVDIMM slot \(d.slot) at \(gfn), not at its host frames \(d.hostFrames): "
                            + "the outgoing instance can give a direct-mapped guest pmem only 1:1; detach the vNVDIMM before a live update"))
                    }
                    let r: GuestPmem
                    do { r = try machine.attachPmem(a.domid, frames: d.hostFrames, at: gfn, backing: backing, offset: 0) } catch {
                        throw .guest(name: a.name, .guestMemory("handing slot \(d.slot) (\(d.path)) to the outgoing instance: \(error)"))
                    }
                    attached.append((a.name, a.domid, d.slot, r))
                }
            }
            for p in attached {
                let sum: UInt64
                do { sum = try machine.pmemChecksum(p.region) } catch { throw .memory(error) }
                pmemBefore.append(PmemBefore(guest: p.guest, id: p.id, slot: p.slot, region: p.region, checksum: sum))
            }
        }
        var before: [GuestBefore] = []
        for a in admitted {
            guard let d = machine.domains[a.domid] else {
                throw .guest(name: a.name, .guestMemory("\(a.domid) has no memory on the outgoing instance"))
            }
            let owned = machine.ownedRanges(of: a.domid)
            before.append(GuestBefore(name: a.name, id: a.domid, domain: d, owned: owned,
                                      pool: Self.staticPool(d, machine.frameTable), digest: machine.memory.digest(of: owned)))
        }
        // Only the machine may hold the backings now (it lets go of them at the handover).
        releaseGuestModels()
        lap("outgoing: pmem attached, checksummed")

        let summary: LiveUpdateStateSummary
        do { summary = try machine.writeLiveUpdateState() } catch {
            throw .liveUpdateFailed(problems: ["the outgoing instance could not write the live-update state: \(error)"])
        }
        machine.releasePmemBackings()
        lap("write state, release pmem")
        if let hook = hooks.afterHandover {
            do { try hook() } catch { throw .liveUpdateFailed(problems: ["after the handover: \(error)"]) }
        }

        var checks: [R.Check] = []
        func check(_ name: String, _ ok: Bool, _ detail: String) { checks.append(R.Check(name: name, passed: ok, detail: detail)) }

        // The incoming instance reads host.toml and state.json as they are on disk.
        var incomingConfig: HostMemoryConfig?
        if let store {
            do {
                let hc = try store.loadConfig(), st = try store.loadState()
                incomingConfig = hc.memoryConfig { name in
                    st.guests.first { $0.name == name }.map { DomainID(uncheckedRaw: $0.domid) } ?? .provisional
                }
            } catch { check(N.incomingBoots, false, "reading the host's files: \(error)") }
        } else {
            incomingConfig = machine.config
        }
        let sink = P2MPhysmapSink()
        var incoming: HostMachine?
        var onlyRegion = false
        if let incomingConfig {
            t = clock.now
            do {
                let boot = try LiveUpdateBoot(config: incomingConfig, memory: machine.memory)
                lap("incoming: boot on the region")
                onlyRegion = boot.bootAllocatorRanges.allSatisfy { region.contains($0) } && boot.bootAllocations.allSatisfy { region.contains($0) }
                let parsed = try boot.parseState()
                lap("read state, map pmem")
                let rebuilt = parsed.rebuildFrameTable()
                lap("one pass")
                incoming = try rebuilt.handBackToHeap(physmapSink: sink)
                lap("heap hand-back")
            } catch {
                check(N.incomingBoots, false, "\(error)")
            }
        }

        var pmemAfter: [GuestPmem: (sum: UInt64, isPmem: Bool)] = [:]
        if let new = incoming {
            check(N.incomingBoots, true, "\(new.domains.count) guests, \(ByteSize(bytes: new.frameTable.bytes)) frame table")
            verify(new, sink: sink, region: region, onlyRegion: onlyRegion, before: before, pmem: pmemBefore, check: check)
            var problems: [String] = []
            for p in pmemBefore {
                guard new.pmemMappings[p.region] != nil else { problems.append("\(Self.name(p)): not mapped again"); continue }
                do {
                    let sum = try new.pmemChecksum(p.region)
                    pmemAfter[p.region] = (sum, new.pmemMappings[p.region]!.isPmem)
                    if sum != p.checksum { problems.append("\(Self.name(p)): checksum \(hex(p.checksum)) before, \(hex(sum)) after") }
                } catch { problems.append("\(Self.name(p)): \(error)") }
            }
            check(N.pmemContents, problems.isEmpty, problems.isEmpty
                  ? "\(pmemBefore.count) region\(pmemBefore.count == 1 ? "" : "s") checksummed again through libpmem" : problems.joined(separator: "; "))
            lap("verify")
        }
        let handedToHeap = incoming.map { $0.domainHeap.freeFrames + ($0.xenHeap?.freeFrames ?? 0) }
        let frames = machine.frameTable.bytes / 8
        incoming = nil  // lets go of the backings again

        // The host directory, byte for byte, and the host opened again.
        let filesAfter = hostFiles()
        let changed = filesBefore.indices.filter { filesBefore[$0].data != filesAfter[$0].data }.map { filesBefore[$0].path }
        check(N.hostDirectory, changed.isEmpty, changed.isEmpty
              ? "\(filesBefore.count) files (host.toml, state.json, guest configs) byte for byte" : "changed: " + changed.joined(separator: ", "))
        if let store {
            t = clock.now
            do {
                let again = try ModelledHost.open(store)
                let problems = Self.compareOwnership(again, before: before, pmem: pmemBefore)
                check(N.reopened, problems.isEmpty, problems.isEmpty
                      ? "\(again.admitted.count) guests, the same frames and backings" : problems.joined(separator: "; "))
            } catch {
                check(N.reopened, false, "opening the host again: \(error)")
            }
            lap("open the host again")
        }

        let guests = before.map { b -> R.GuestEntry in
            let memory: String
            switch b.domain.config.memory {
            case .dynamic: memory = "dynamic"
            case .staticMemory(let direct, _): memory = direct ? "static, 1:1" : "static"
            }
            return R.GuestEntry(name: b.name, domid: b.id.raw, memory: memory, ownedFrames: b.owned.reduce(0) { $0 + $1.count },
                                ownedRanges: b.owned.count, staticFrames: b.domain.staticRegions.reduce(0) { $0 + $1.count },
                                staticPoolFrames: b.pool.reduce(0) { $0 + $1.count },
                                pmemFrames: pmemBefore.filter { $0.id == b.id }.reduce(0) { $0 + $1.region.frames.count })
        }
        let pmem = pmemBefore.map { p -> R.PmemEntry in
            let after = pmemAfter[p.region]
            return R.PmemEntry(guest: p.guest, domid: p.id.raw, slot: p.slot, backing: p.region.backingPath, bytes: p.region.bytes,
                               backingBytes: p.region.backingBytes, frames: "\(p.region.frames)", gfn: "\(p.region.gfn)",
                               checksumBefore: hex(p.checksum), checksumAfter: after.map { hex($0.sum) },
                               backingIsRealPmem: after?.isPmem, unchanged: after?.sum == p.checksum)
        }
        return R(host: location, liveUpdateRegion: "\(region.maddrs) (\(ByteSize(bytes: region.count << 12)))", frames: frames,
                 phases: phases, stateRecords: summary.records, stateRanges: summary.ranges, statePmemRegions: summary.pmemRegions,
                 stateDataPages: summary.dataPages.count, stateListPages: summary.listPages.count, stateBytes: summary.stateBytes,
                 preservedFrames: guests.reduce(0) { $0 + $1.ownedFrames }, preservedRanges: guests.reduce(0) { $0 + $1.ownedRanges },
                 framesHandedToHeap: handedToHeap, guests: guests, pmem: pmem, checks: checks,
                 failed: checks.filter { !$0.passed }.map { "\($0.name): \($0.detail)" })
    }

    /// The incoming instance against the outgoing one (this host's machine).
    private func verify(_ new: HostMachine, sink: P2MPhysmapSink, region: MfnRange, onlyRegion: Bool,
                        before: [GuestBefore], pmem: [PmemBefore], check: (String, Bool, String) -> Void) {
        typealias N = HostLiveUpdateReport.CheckName
        let old = machine
        check(N.bootAllocatorSawOnlyRegion, onlyRegion, onlyRegion ? "\(region)" : "it handed out or held frames outside \(region)")

        let oldIds = old.domains.keys.sorted(), newIds = new.domains.keys.sorted()
        check(N.sameGuests, oldIds == newIds, "domids \(oldIds.map { "\($0.raw)" }.joined(separator: ", "))"
              + (oldIds == newIds ? "" : " before, \(newIds.map { "\($0.raw)" }.joined(separator: ", ")) after"))

        var ram: [String] = [], owners: [String] = [], contents: [String] = [], statics: [String] = []
        for b in before {
            guard let d = new.domains[b.id] else { ram.append("'\(b.name)' (\(b.id)) is gone"); continue }
            if d.config != b.domain.config { ram.append("'\(b.name)': its memory configuration differs") }
            if d.physmap != b.domain.physmap { ram.append("'\(b.name)': its gfn -> mfn map differs") }
            if d.p2mRoot != b.domain.p2mRoot { ram.append("'\(b.name)': p2m root \(d.p2mRoot) after, \(b.domain.p2mRoot) before") }
            let owned = new.ownedRanges(of: b.id)
            if owned != b.owned { ram.append("'\(b.name)': owns \(owned.count) ranges after, \(b.owned.count) before") }
            if let m = Self.firstDifference(old.frameTable, new.frameTable, in: b.owned) {
                owners.append("'\(b.name)': \(m) is \(new.frameTable[m]) after, \(old.frameTable[m]) before")
            }
            if new.memory.digest(of: b.owned) != b.digest { contents.append("'\(b.name)': the digest of its frames changed") }
            if d.staticRegions != b.domain.staticRegions {
                statics.append("'\(b.name)': static memory \(d.staticRegions) after, \(b.domain.staticRegions) before")
            }
            if let m = Self.firstDifference(old.frameTable, new.frameTable, in: b.domain.staticRegions) {
                statics.append("'\(b.name)': static frame \(m) is \(new.frameTable[m]) after, \(old.frameTable[m]) before")
            }
            let pool = Self.staticPool(d, new.frameTable)
            if pool != b.pool { statics.append("'\(b.name)': reserved pool of \(pool.count) ranges after, \(b.pool.count) before") }
        }
        let frames = before.reduce(UInt64(0)) { $0 + $1.owned.reduce(0) { $0 + $1.count } }
        check(N.sameRAMOwnership, ram.isEmpty, ram.isEmpty ? "every guest's gfn -> mfn map, p2m root and owned ranges" : ram.joined(separator: "; "))
        check(N.preservedFramesOwned, owners.isEmpty, owners.isEmpty ? "\(frames) frames, every record as before" : owners.joined(separator: "; "))
        check(N.preservedContents, contents.isEmpty, contents.isEmpty ? "digests of \(frames) frames" : contents.joined(separator: "; "))

        let heap = new.heapFreeRanges()
        let staticRanges = new.config.staticMemory.map(\.range)
        for s in staticRanges {
            if let h = heap.first(where: { $0.overlaps(s) }) { statics.append("heap range \(h) overlaps static memory \(s)") }
            if !new.frameTable.allFrames(in: s, satisfy: { $0.flags.contains(.staticMemory) }) {
                statics.append("a frame of \(s) lost its static flag")
            }
        }
        check(N.staticMemory, statics.isEmpty, statics.isEmpty ? "\(staticRanges.count) static range\(staticRanges.count == 1 ? "" : "s"), reserved pools as before, outside every heap" : statics.joined(separator: "; "))

        let free = new.frameTable.runs { $0 == .free }.map(\.range)
        let heapFrames = heap.reduce(UInt64(0)) { $0 + $1.count }
        check(N.heap, heap == free, heap == free ? "\(heapFrames) frames" : "the heap holds \(heapFrames) frames in \(heap.count) ranges, the frame table marks \(free.reduce(0) { $0 + $1.count }) free in \(free.count)")

        var p2m: [String] = []
        for b in before {
            for e in b.domain.physmap.extents where !Self.translates(sink, b.id, gfn: e.gfn, mfn: e.mfn, count: e.count, type: .ramRW) {
                p2m.append("'\(b.name)': \(e.gfn) -> \(e.mfn) (\(e.count) frames) is not ram_rw")
                break
            }
            for p in pmem where p.id == b.id && !Self.translates(sink, b.id, gfn: p.region.gfn, mfn: p.region.frames.first, count: p.region.frames.count, type: .pmem) {
                p2m.append("\(Self.name(p)): \(p.region.gfn) is not pmem at \(p.region.frames.first)")
            }
            let want = b.domain.physmap.mappedFrames + pmem.filter { $0.id == b.id }.reduce(0) { $0 + $1.region.frames.count }
            let got = sink.tables[b.id]?.stats.mappedFrames ?? 0
            if got != want { p2m.append("'\(b.name)': \(got) frames mapped, \(want) expected") }
        }
        check(N.p2ms, p2m.isEmpty, p2m.isEmpty ? "both ends of every extent" : p2m.joined(separator: "; "))

        var pm: [String] = []
        for b in before where new.domains[b.id]?.pmem != old.domains[b.id]?.pmem {
            pm.append("'\(b.name)': its pmem regions differ")
        }
        for p in pmem {
            let entry = new.hostRanges.lookup(p.region.frames.first)
            if !(entry?.kind == .pmem && entry?.owner == p.id && entry!.frames.contains(p.region.frames)) {
                pm.append("\(Self.name(p)): the host range registry has \(entry.map { "\($0)" } ?? "nothing") at \(p.region.frames.first)")
            }
        }
        check(N.pmemOwnership, pm.isEmpty, pm.isEmpty ? "\(pmem.count) region\(pmem.count == 1 ? "" : "s"), by registry extent" : pm.joined(separator: "; "))
    }

    /// The ownership of `again` (the host opened again) against what the outgoing instance had.
    private static func compareOwnership(_ again: ModelledHost, before: [GuestBefore], pmem: [PmemBefore]) -> [String] {
        var problems: [String] = []
        let names = again.admitted.map { "\($0.name)=\($0.domid.raw)" }, want = before.map { "\($0.name)=\($0.id.raw)" }
        if names != want { problems.append("guests \(names.joined(separator: ", ")), before \(want.joined(separator: ", "))") }
        for b in before {
            guard let d = again.machine.domains[b.id] else { problems.append("'\(b.name)' has no memory"); continue }
            if d.physmap != b.domain.physmap || again.machine.ownedRanges(of: b.id) != b.owned {
                problems.append("'\(b.name)': its RAM is on other frames")
            }
            if d.staticRegions != b.domain.staticRegions || staticPool(d, again.machine.frameTable) != b.pool {
                problems.append("'\(b.name)': its static memory or reserved pool differs")
            }
        }
        for p in pmem {
            guard let id = BackingIdentity.of(path: p.region.backingPath) else { problems.append("\(name(p)): the backing is gone"); continue }
            let owner = again.owners[id]
            if owner?.guest != p.guest || owner?.slot != p.slot {
                problems.append("\(name(p)): the backing belongs to \(again.owners[id].map { "'\($0.guest)' slot \($0.slot)" } ?? "no guest")")
            }
            let entry = again.pmemIdentities.firstIndex(of: id).map { again.config.pmem[$0] }
            if entry.map({ !$0.frames.contains(p.region.frames) || $0.frames.first != p.region.frames.first }) ?? true {
                problems.append("\(name(p)): no host pmem entry starts at \(p.region.frames.first) any more")
            }
        }
        return problems
    }

    /// The frames of `d`'s static memory in its reserved pool (free, withheld from every allocator).
    private static func staticPool(_ d: HostDomain, _ table: FrameTable) -> [MfnRange] {
        var out: [MfnRange] = []
        for r in d.staticRegions {
            var start: UInt64?
            for m in r.first.raw..<r.end {
                let inPool = table[Mfn(uncheckedRaw: m)] == .staticFree
                if inPool, start == nil { start = m }
                if !inPool, let s = start { out.append(MfnRange(uncheckedFirst: s, end: m)); start = nil }
            }
            if let s = start { out.append(MfnRange(uncheckedFirst: s, end: r.end)) }
        }
        return MfnRange.merging(out)
    }

    /// The first frame of `ranges` whose record differs between the two tables.
    private static func firstDifference(_ a: FrameTable, _ b: FrameTable, in ranges: [MfnRange]) -> Mfn? {
        for r in ranges {
            for m in r.first.raw..<r.end where a[Mfn(uncheckedRaw: m)] != b[Mfn(uncheckedRaw: m)] { return Mfn(uncheckedRaw: m) }
        }
        return nil
    }

    /// Whether the first and last of `count` frames from `gfn` translate to `mfn` onwards as `type`.
    private static func translates(_ sink: P2MPhysmapSink, _ id: DomainID, gfn: Gfn, mfn: Mfn, count: UInt64, type: P2MType) -> Bool {
        guard let a = sink.translate(id, gfn: gfn), let b = sink.translate(id, gfn: Gfn(uncheckedRaw: gfn.raw + count - 1)) else { return false }
        return a.mfn == mfn && a.type == type && b.mfn.raw == mfn.raw + count - 1 && b.type == type
    }

    private static func name(_ p: PmemBefore) -> String { "'\(p.guest)' slot \(p.slot) (\(p.region.backingPath))" }

    /// host.toml, state.json and every guest's config, as bytes (nil: unreadable).
    private func hostFiles() -> [(path: String, data: Data?)] {
        var paths: [String] = []
        if let store { paths += [store.configPath, store.statePath] }
        paths += admitted.map(\.record.config)
        return paths.map { ($0, FileManager.default.contents(atPath: $0)) }
    }
}
