import GuestMemory
import HostPmem

/// A seeded SplitMix64 generator, so simulations repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix64(state &- 0x9E37_79B9_7F4A_7C15)
    }
}

/// A whole live update on a modelled host: build guests, hand over, verify.
///
/// Host: x86-like, RAM below 3 GiB and from 4 GiB up (a hole in between), a liveupdate region at
/// 4 GiB sized for two frame tables, d1 a direct-mapped static guest, the other guests dynamic.
/// `fragmentation` f: each dynamic guest gets (1 - f) of its memory as 1 GiB / 2 MiB / 4 KiB
/// blocks at creation and the remaining f in runs of 1 to 64 pages populated round-robin between
/// guests, as ballooning and late growth leave a host. Guests' contents are the FrameContents
/// model (a fresh content id per allocation); the state pages are real bytes.
///
/// With `pmemBytes` > 0 the host also has a pmem range (above RAM, 1 GiB aligned) and d1 gets all
/// of it, 1:1 like its RAM, backed by an emulated pmem file at `pmemBackingPath`. Before the
/// handover known data is written into the backing through libpmem and the whole backing is
/// checksummed; the outgoing instance then lets go of its mapping, the incoming one maps the
/// backing again from the path in the state, and the check compares checksums, the region's
/// owner in the host range registry (pmem is tracked by extents), and its p2m type (`pmem`).
public enum LiveUpdateSimulation {
    public struct Parameters: Sendable {
        public var hostBytes: UInt64
        public var guests: Int
        public var fragmentation: Double
        public var seed: UInt64
        /// Bytes of host pmem given to d1 (0: none), a multiple of 4 KiB.
        public var pmemBytes: UInt64
        /// Where the emulated pmem backing file goes (created at `pmemBytes`, or reused if it
        /// already has that size). Required when `pmemBytes` > 0.
        public var pmemBackingPath: String?
        public init(hostBytes: UInt64, guests: Int, fragmentation: Double, seed: UInt64 = 1,
                    pmemBytes: UInt64 = 0, pmemBackingPath: String? = nil) {
            self.hostBytes = hostBytes
            self.guests = guests
            self.fragmentation = fragmentation
            self.seed = seed
            self.pmemBytes = pmemBytes
            self.pmemBackingPath = pmemBackingPath
        }
    }

    public enum ParameterError: Error, Equatable, CustomStringConvertible {
        case hostTooSmall(UInt64)
        case hostTooLarge(UInt64)
        case guests(Int)
        case fragmentation(Double)
        case pmemSize(UInt64)
        case pmemBackingPathMissing
        public var description: String {
            switch self {
            case .hostTooSmall(let b): return "--host-mem \(b) bytes is too small: give at least 4G"
            case .hostTooLarge(let b): return "--host-mem \(b) bytes is more than vpmem models: give at most 1T"
            case .guests(let n): return "--guests \(n): give 1 to 1000 guests"
            case .fragmentation(let f): return "--fragmentation \(f): give a fraction from 0 to 1"
            case .pmemSize(let b): return "--pmem \(b) bytes: give a multiple of 4K, at most 1T (0 for none)"
            case .pmemBackingPathMissing: return "pmem needs a backing path: give --pmem-dir or let vpmem make a temporary one"
            }
        }
    }

    public struct Phase: Codable, Sendable {
        public let name: String
        public let milliseconds: Double
    }

    public struct Report: Codable, Sendable {
        public var hostBytes: UInt64
        public var frames: UInt64
        public var guests: Int
        public var fragmentation: Double
        public var liveUpdateRegion: String
        public var phases: [Phase]
        public var stateRecords: Int
        public var stateRanges: Int
        public var stateDataPages: Int
        public var stateListPages: Int
        public var stateBytes: UInt64
        public var xenBootAllocatorRangeLimit: Int
        public var preservedFrames: UInt64
        public var preservedRanges: Int
        public var frameTableBytes: UInt64
        public var contentModelBytes: UInt64
        public var bootAllocatorSawOnlyRegion: Bool
        public var preservedContentsUnchanged: Bool
        public var ownershipUnchanged: Bool
        public var physmapsUnchanged: Bool
        public var p2msRebuilt: Bool
        public var heapHoldsExactlyTheFreeFrames: Bool
        public var staticPagesOutsideHeap: Bool
        public var framesHandedToHeap: UInt64
        /// The pmem check, when the host has pmem.
        public var pmem: PmemCheck?
        public var verified: Bool {
            bootAllocatorSawOnlyRegion && preservedContentsUnchanged && ownershipUnchanged && physmapsUnchanged && p2msRebuilt
                && heapHoldsExactlyTheFreeFrames && staticPagesOutsideHeap && (pmem?.verified ?? true)
        }
    }

    /// What happened to the pmem-backed guest memory across the handover.
    public struct PmemCheck: Codable, Sendable {
        public var backingPath: String
        public var bytes: UInt64
        public var frames: String
        public var gfn: String
        public var owner: String
        /// 4 KiB pages of known data written into the backing before the handover.
        public var pagesWritten: Int
        public var checksumBefore: String
        public var checksumAfter: String
        /// libpmem's verdict on the re-mapped backing (false for a file on an ordinary file system).
        public var backingIsRealPmem: Bool
        public var contentsUnchanged: Bool
        public var ownershipUnchanged: Bool
        public var p2mTypeIsPmem: Bool
        public var verified: Bool { contentsUnchanged && ownershipUnchanged && p2mTypeIsPmem }
    }

    static let gib: UInt64 = 1 << 18  // frames in 1 GiB

    /// The host configuration the simulation uses for `hostBytes` of RAM.
    public static func hostConfig(hostBytes: UInt64, pmemBytes: UInt64 = 0) throws -> HostMemoryConfig {
        let ramFrames = hostBytes >> PageOrder.frameShift
        let low = MfnRange(uncheckedFirst: 0x100, end: 3 * gib)
        let highFrames = ramFrames - (3 * gib - 0x100)
        let high = try MfnRange(first: Mfn(uncheckedRaw: 4 * gib), count: highFrames)
        let pmem = pmemBytes == 0 ? [] : [try MfnRange(first: Mfn(uncheckedRaw: (high.end + gib - 1) & ~(gib - 1)), count: pmemBytes >> PageOrder.frameShift)]
        let ft = HostMachine.frameTableFrames(for: high.end)
        let regionFrames = (2 * ft + 2 + 511) & ~511
        let region = try MfnRange(first: high.first, count: regionFrames)
        let staticFrames = min(gib, ramFrames / 16)
        // 1 GiB aligned (one 1 GiB p2m leaf) when RAM above the region has room, else 2 MiB.
        var staticStart = (region.end + gib - 1) & ~(gib - 1)
        if staticStart + staticFrames > high.end { staticStart = (region.end + 511) & ~511 }
        let stat = try MfnRange(first: Mfn(uncheckedRaw: staticStart), count: staticFrames)
        return HostMemoryConfig(banks: [low, high], pmem: pmem, staticMemory: [StaticMemoryRegion(domain: DomainID(uncheckedRaw: 1), range: stat)],
                                liveUpdateRegion: region, badPages: [Mfn(uncheckedRaw: 0x1234), Mfn(uncheckedRaw: high.end - 7)])
    }

    /// The limits `run` enforces, for callers that check before they prepare anything.
    public static func checkParameters(_ p: Parameters) throws(ParameterError) {
        guard p.hostBytes >= 4 << 30 else { throw ParameterError.hostTooSmall(p.hostBytes) }
        guard p.hostBytes <= 1 << 40 else { throw ParameterError.hostTooLarge(p.hostBytes) }
        guard p.guests >= 1 && p.guests <= 1000 else { throw ParameterError.guests(p.guests) }
        guard p.fragmentation >= 0 && p.fragmentation <= 1 else { throw ParameterError.fragmentation(p.fragmentation) }
        guard p.pmemBytes % PageOrder.frameBytes == 0, p.pmemBytes <= 1 << 40 else { throw ParameterError.pmemSize(p.pmemBytes) }
        guard p.pmemBytes == 0 || p.pmemBackingPath != nil else { throw ParameterError.pmemBackingPathMissing }
    }

    public static func run(_ p: Parameters) throws -> Report {
        try checkParameters(p)
        let config = try hostConfig(hostBytes: p.hostBytes, pmemBytes: p.pmemBytes)
        let old = try HostMachine.coldBoot(config, physmapSink: P2MPhysmapSink())
        var rng = SplitMix64(seed: p.seed)

        // Guests: d1 static and direct-mapped, d2... dynamic, sharing 3/4 of the heap.
        try old.createDomain(HostDomainConfig(id: d1, memory: .staticMemory(directMap: true, allowDynamic: false)))
        let dynamicGuests = (0..<max(0, p.guests - 1)).map { DomainID(uncheckedRaw: UInt16(2 + $0)) }
        if !dynamicGuests.isEmpty {
            let per = old.domainHeap.freeFrames * 3 / 4 / UInt64(dynamicGuests.count)
            let fragmented = UInt64(Double(per) * p.fragmentation)
            for id in dynamicGuests {
                try old.createDomain(HostDomainConfig(id: id, memory: .dynamic(frames: max(1, per - fragmented))))
            }
            var left = fragmented == 0 ? [:] : Dictionary(uniqueKeysWithValues: dynamicGuests.map { ($0, fragmented) })
            var nextGfn = Dictionary(uniqueKeysWithValues: dynamicGuests.map { id in
                (id, HostDomainConfig.defaultRamBase.raw + max(1, per - fragmented))
            })
            while !left.isEmpty {
                for id in dynamicGuests {
                    guard let l = left[id] else { continue }
                    let k = min(l, UInt64.random(in: 1...64, using: &rng))
                    try old.populate(id, at: Gfn(uncheckedRaw: nextGfn[id]!), frames: k)
                    nextGfn[id]! += k
                    left[id] = l - k == 0 ? nil : l - k
                }
            }
        }

        // Pmem for d1, 1:1, with known data written through libpmem and the backing checksummed.
        // Only the host holds the mapping, so releasing it at the handover really unmaps it.
        var pmemRegion: GuestPmem?
        var pmemPagesWritten = 0
        var pmemBefore: UInt64 = 0
        if let bank = config.pmem.first, let path = p.pmemBackingPath {
            let region = try old.attachPmem(d1, frames: bank, at: Gfn(uncheckedRaw: bank.first.raw),
                                            backing: PmemMapping.create(path: path, size: p.pmemBytes))
            pmemPagesWritten = try writeKnownData(old.pmemMappings[region]!, seed: p.seed)
            pmemBefore = try old.pmemChecksum(region)
            pmemRegion = region
        }

        let ids = old.domains.keys.sorted()
        let owned = Dictionary(uniqueKeysWithValues: ids.map { ($0, old.ownedRanges(of: $0)) })
        let before = Dictionary(uniqueKeysWithValues: ids.map { ($0, old.memory.digest(of: owned[$0]!)) })
        let oldPhysmaps = Dictionary(uniqueKeysWithValues: ids.map { ($0, old.domains[$0]!.physmap) })

        let clock = ContinuousClock()
        var phases: [Phase] = []
        func ms(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        }

        var t = clock.now
        func lap(_ name: String) {
            let now = clock.now
            phases.append(Phase(name: name, milliseconds: ms(now - t)))
            t = now
        }
        let summary = try old.writeLiveUpdateState()
        old.releasePmemBackings()
        lap("write state")
        let memory = old.memory
        let boot = try LiveUpdateBoot(config: config, memory: memory)
        lap("boot on the region")
        let region = config.liveUpdateRegion!
        let onlyRegion = boot.bootAllocatorRanges.allSatisfy { region.contains($0) }
            && boot.bootAllocations.allSatisfy { region.contains($0) }
        t = clock.now
        let parsed = try boot.parseState()
        lap("read state, map pmem")
        let rebuilt = parsed.rebuildFrameTable()
        lap("one pass")
        let incomingP2M = P2MPhysmapSink()
        let newHost = try rebuilt.handBackToHeap(physmapSink: incomingP2M)
        lap("heap hand-back")

        // Verification.
        var contentsOK = true, ownersOK = true, p2mOK = true, physmapOK = newHost.domains.count == ids.count
        for id in ids {
            contentsOK = contentsOK && newHost.memory.digest(of: owned[id]!) == before[id]!
            for r in owned[id]! {
                ownersOK = ownersOK && newHost.frameTable.allFrames(in: r) { $0.owner == id && $0.flags.contains(.inUse) && $0.refcount == 1 }
            }
            physmapOK = physmapOK && newHost.domains[id]?.physmap == oldPhysmaps[id]!
            // Guest RAM is mapped through the guest memory core's p2m again: both ends of every extent.
            for e in oldPhysmaps[id]!.extents {
                p2mOK = p2mOK && translatesBothEnds(incomingP2M, id, gfn: e.gfn, mfn: e.mfn, count: e.count, type: .ramRW)
            }
            let pmemFrames = newHost.domains[id]?.pmem.reduce(0) { $0 + $1.frames.count } ?? 0
            p2mOK = p2mOK && incomingP2M.tables[id]?.stats.mappedFrames == oldPhysmaps[id]!.mappedFrames + pmemFrames
        }
        var pmemCheck: PmemCheck?
        if let region = pmemRegion {
            let after = try newHost.pmemChecksum(region)
            // Pmem ownership is by extent: the registry's entry over the region, and d1's regions.
            let entry = newHost.hostRanges.lookup(region.frames.first)
            let owner = entry?.kind == .pmem && entry?.owner == d1 && entry!.frames.contains(region.frames)
            pmemCheck = PmemCheck(
                backingPath: region.backingPath, bytes: region.bytes, frames: "\(region.frames)", gfn: "\(region.gfn)",
                owner: "\(d1)", pagesWritten: pmemPagesWritten,
                checksumBefore: "0x" + String(pmemBefore, radix: 16), checksumAfter: "0x" + String(after, radix: 16),
                backingIsRealPmem: newHost.pmemMappings[region]!.isPmem, contentsUnchanged: after == pmemBefore,
                ownershipUnchanged: owner && newHost.domains[d1]?.pmem == [region],
                p2mTypeIsPmem: translatesBothEnds(incomingP2M, d1, gfn: region.gfn, mfn: region.frames.first, count: region.frames.count, type: .pmem))
        }
        let heap = newHost.heapFreeRanges()
        let freeInTable = newHost.frameTable.runs { $0 == .free }.map(\.range)
        let staticOutside = config.staticMemory.allSatisfy { s in !heap.contains { $0.overlaps(s.range) } }
        let preservedRanges = owned.values.reduce(0) { $0 + $1.count }
        let preservedFrames = owned.values.flatMap { $0 }.reduce(UInt64(0)) { $0 + $1.count }

        return Report(
            hostBytes: p.hostBytes, frames: newHost.frameTable.bytes / 8, guests: ids.count, fragmentation: p.fragmentation,
            liveUpdateRegion: "\(region.maddrs) (\(ByteCount(region.count)))", phases: phases,
            stateRecords: summary.records, stateRanges: summary.ranges, stateDataPages: summary.dataPages.count,
            stateListPages: summary.listPages.count, stateBytes: summary.stateBytes,
            xenBootAllocatorRangeLimit: BootAllocator.xenRangeLimit,
            preservedFrames: preservedFrames, preservedRanges: preservedRanges,
            frameTableBytes: newHost.frameTable.bytes, contentModelBytes: memory.modelBytes,
            bootAllocatorSawOnlyRegion: onlyRegion, preservedContentsUnchanged: contentsOK, ownershipUnchanged: ownersOK,
            physmapsUnchanged: physmapOK, p2msRebuilt: p2mOK, heapHoldsExactlyTheFreeFrames: heap == freeInTable,
            staticPagesOutsideHeap: staticOutside, framesHandedToHeap: newHost.domainHeap.freeFrames + (newHost.xenHeap?.freeFrames ?? 0),
            pmem: pmemCheck)
    }

    static let d1 = DomainID(uncheckedRaw: 1)

    /// True when the first and last of `count` frames from `gfn` translate to `mfn` onwards, as `type`.
    static func translatesBothEnds(_ sink: P2MPhysmapSink, _ id: DomainID, gfn: Gfn, mfn: Mfn, count: UInt64, type: P2MType) -> Bool {
        guard let a = sink.translate(id, gfn: gfn), let b = sink.translate(id, gfn: Gfn(uncheckedRaw: gfn.raw + count - 1)) else { return false }
        return a.mfn == mfn && a.type == type && b.mfn.raw == mfn.raw + count - 1 && b.type == type
    }

    /// Writes a seeded pattern into every 61st page of the backing and its last page, made
    /// durable with one persist; returns the pages written.
    static func writeKnownData(_ mapping: PmemMapping, seed: UInt64) throws(HostMemoryError) -> Int {
        let pages = Int(mapping.length / PageOrder.frameBytes)
        var rng = SplitMix64(seed: seed ^ 0x706D_656D)
        var page = [UInt64](repeating: 0, count: Int(PageOrder.frameBytes) / 8)
        var written = 0
        do {
            for i in Array(stride(from: 0, to: pages, by: 61)) + [pages - 1] {
                for w in page.indices { page[w] = rng.next() }
                let offset = UInt64(i) * PageOrder.frameBytes
                try page.withUnsafeBytes { raw in Result { () throws(HostPmemError) in try mapping.writeUnpersisted(raw, at: offset) } }.get()
                written += 1
            }
            try mapping.persist(offset: 0, count: Int(mapping.length))
        } catch { throw .pmem(error) }
        return written
    }
}
