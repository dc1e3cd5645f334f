import GuestMemory

// Reading the live-update state in the incoming instance. Everything read is untrusted: every
// offset is bounds-checked (PageReader returns nil outside the page), every count is checked
// against the page capacity and the host's size before it sizes a loop or a buffer, every frame
// number is checked against the host layout before it is read, and the MFN-list chain is bounded
// by the number of pages its own header says it needs (a loop in the chain is refused).
// A corrupt state is refused with the page and field named; it never crashes and never writes.

/// One guest as the state describes it.
public struct ParsedDomain: Sendable {
    public let config: HostDomainConfig
    public let physmap: PhysmapExtents
    public let p2mRoot: Mfn
    /// Host pmem the guest had, with the backing paths to map again.
    public let pmem: [GuestPmem]
}

/// The checked state: guests and the rebuild plan (preserved runs sorted by mfn).
public struct ParsedLiveUpdateState: Sendable {
    public let domains: [ParsedDomain]
    public let plan: RebuildPlan
    public let listPages: [Mfn]
    public let dataPages: [Mfn]
    public let records: UInt64
}

enum StateReader {
    typealias F = LiveUpdateFormat

    struct ListHeader {
        let entries: Int
        let dataPages: UInt64
        let records: UInt64
        let next: UInt64
    }

    static func corrupt(_ place: String, _ problem: String) -> LiveUpdateError {
        .corruptState(where: place, problem: problem)
    }

    /// The layout run containing frame `m` (m < frameCount).
    static func layoutRecord(_ m: UInt64, _ layout: HostLayout) -> FrameRecord {
        let segs = layout.segments
        var lo = 0, hi = segs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segs[mid].end <= m { lo = mid + 1 } else { hi = mid }
        }
        return FrameRecord(raw: segs[lo].record)
    }

    /// A state page must be ordinary free RAM in the layout (not a hole, bad, static or region).
    static func checkStatePage(_ mfn: Mfn, layout: HostLayout, what: String) throws(LiveUpdateError) {
        guard mfn.raw < layout.frameCount else { throw corrupt(what, "\(mfn) is past the host's last frame") }
        let rec = layoutRecord(mfn.raw, layout)
        guard rec == .free else { throw corrupt(what, "\(mfn) is not ordinary RAM (\(rec.flags))") }
    }

    static func listHeader(_ page: [UInt8], at mfn: Mfn, index: Int, frames: UInt64) throws(LiveUpdateError) -> ListHeader {
        let r = PageReader(bytes: page)
        let place = "MFN-list page \(index) at \(mfn)"
        guard r.u64(0) == F.listMagic else { throw corrupt(place, "bad magic") }
        guard r.checksumValid(at: F.listChecksumOffset) else { throw corrupt(place, "checksum mismatch") }
        guard r.u32(8) == F.version else { throw corrupt(place, "format version \(r.u32(8)!) (this instance reads \(F.version))") }
        let entries = Int(r.u32(12)!)
        guard entries <= F.listCapacity else { throw corrupt(place, "\(entries) entries, a page holds \(F.listCapacity)") }
        let dataPages = r.u64(16)!, records = r.u64(24)!
        guard dataPages <= frames else { throw corrupt(place, "\(dataPages) data pages on a host of \(frames) frames") }
        let perPage = UInt64(F.recordsPerPage)
        guard records <= dataPages * perPage, records + perPage > dataPages * perPage || dataPages == 0, (dataPages == 0) == (records == 0) else {
            throw corrupt(place, "\(records) records do not fill \(dataPages) data pages densely")
        }
        return ListHeader(entries: entries, dataPages: dataPages, records: records, next: r.u64(32)!)
    }

    static func read(listMfn: Mfn, dataPages: UInt64, records: UInt64, config: HostMemoryConfig,
                     layout: HostLayout, memory: FrameContents) throws(LiveUpdateError) -> ParsedLiveUpdateState {
        let frames = layout.frameCount
        // 1. The MFN-list chain.
        let maxListPages = max(1, (Int(dataPages) + F.listCapacity - 1) / F.listCapacity)
        var listPages: [Mfn] = []
        var dataMfns: [Mfn] = []
        var cur = listMfn
        while true {
            let idx = listPages.count
            if idx > 0 { try checkStatePage(cur, layout: layout, what: "MFN-list page \(idx)") }
            let page = memory.readPage(cur)
            let h = try listHeader(page, at: cur, index: idx, frames: frames)
            guard h.dataPages == dataPages, h.records == records else {
                throw corrupt("MFN-list page \(idx) at \(cur)", "totals disagree with the first list page")
            }
            guard dataMfns.count + h.entries <= Int(dataPages) else {
                throw corrupt("MFN-list page \(idx) at \(cur)", "lists more data pages than the state has")
            }
            let r = PageReader(bytes: page)
            for i in 0..<h.entries {
                let m = Mfn(uncheckedRaw: r.u64(F.listHeaderBytes + i * 8)!)
                try checkStatePage(m, layout: layout, what: "data page \(dataMfns.count)")
                dataMfns.append(m)
            }
            listPages.append(cur)
            if h.next == F.none { break }
            guard listPages.count < maxListPages else {
                throw corrupt("MFN-list page \(idx) at \(cur)", "the chain goes on past the \(maxListPages) page(s) its data needs (a loop?)")
            }
            cur = Mfn(uncheckedRaw: h.next)
        }
        guard dataMfns.count == Int(dataPages) else {
            throw corrupt("MFN list", "names \(dataMfns.count) data pages, the header says \(dataPages)")
        }

        // 2. Data pages and records.
        var rawDomains: [(DomainID, F.DomainFlags, F.Record)] = []
        var roots: [DomainID: Mfn] = [:]
        var runs = [FrameRun]()
        runs.reserveCapacity(Int(records))
        var mapped: [DomainID: [PhysmapExtent]] = [:]
        var lastSection = 0
        var prevEnd: UInt64 = 0
        var li = 0
        let segs = layout.segments
        let region = config.liveUpdateRegion!
        var staticOf: [DomainID: [MfnRange]] = [:]
        for s in config.staticMemory { staticOf[s.domain, default: []].append(s.range) }
        var declared: [DomainID: F.DomainFlags] = [:]
        var ramRegionsOf: [DomainID: [GfnRange]] = [:]
        // Pmem regions are extents only: no runs for the rebuild (pmem has no frame records).
        var pmemOf: [DomainID: [GuestPmem]] = [:]
        var prevPmemEnd: UInt64 = 0
        /// What the next record must be: a domain's remaining RAM regions, or a pmem region's
        /// backing record and then the rest of its path.
        enum Expect {
            case any
            case ramRegions(DomainID, left: UInt64, dynamicFrames: UInt64?)
            case pmemBacking(DomainID, record: F.Record)
            case path(DomainID, record: F.Record, offset: UInt64, backingBytes: UInt64, path: [UInt8])
        }
        var expect = Expect.any

        var index: UInt64 = 0
        for (seq, mfn) in dataMfns.enumerated() {
            let place = "data page \(seq) at \(mfn)"
            let r = PageReader(bytes: memory.readPage(mfn))
            guard r.u64(0) == F.dataMagic else { throw corrupt(place, "bad magic") }
            guard r.checksumValid(at: F.dataChecksumOffset) else { throw corrupt(place, "checksum mismatch") }
            guard r.u32(8) == F.version else { throw corrupt(place, "format version \(r.u32(8)!) (this instance reads \(F.version))") }
            guard r.u64(16) == UInt64(seq) else { throw corrupt(place, "sequence \(r.u64(16)!), expected \(seq)") }
            let expected = min(UInt64(F.recordsPerPage), records - UInt64(seq) * UInt64(F.recordsPerPage))
            guard UInt64(r.u32(12)!) == expected else { throw corrupt(place, "\(r.u32(12)!) records, expected \(expected)") }
            for i in 0..<Int(expected) {
                let o = F.dataHeaderBytes + i * F.recordBytes
                let rec = F.Record(kind: r.u16(o)!, domid: r.u16(o + 2)!, flags: r.u32(o + 4)!, a: r.u64(o + 8)!, b: r.u64(o + 16)!, c: r.u64(o + 24)!)
                let rplace = "record \(index) (\(place))"
                guard r.u64(o + 32) == rec.check(index: index) else { throw corrupt(rplace, "record check mismatch") }
                index += 1
                guard let kind = F.Kind(rawValue: rec.kind) else { throw corrupt(rplace, "unknown kind \(rec.kind)") }
                guard kind.section >= lastSection else {
                    throw corrupt(rplace, "records out of order (domains with their RAM regions, roots, ranges, then pmem regions)")
                }
                lastSection = kind.section
                switch (expect, kind) {
                case (.ramRegions, .ramRegion), (.pmemBacking, .pmemBacking), (.path, .pathBytes), (.any, .domain),
                     (.any, .p2mRoot), (.any, .ownedRange), (.any, .pmemRegion):
                    break
                case (.ramRegions, _): throw corrupt(rplace, "the previous domain's RAM regions are cut short")
                case (.pmemBacking, _): throw corrupt(rplace, "the previous pmem region has no backing record")
                case (.path, _): throw corrupt(rplace, "the previous pmem region's path is cut short")
                case (.any, .ramRegion): throw corrupt(rplace, "a RAM region without its domain record before it")
                case (.any, .pmemBacking): throw corrupt(rplace, "a backing record without a pmem region before it")
                case (.any, .pathBytes): throw corrupt(rplace, "path bytes without a pmem region before them")
                }
                guard rec.domid < DomainID.firstReserved else { throw corrupt(rplace, "domain id \(rec.domid) is reserved") }
                let d = DomainID(uncheckedRaw: rec.domid)
                switch kind {
                case .domain:
                    let flags = F.DomainFlags(rawValue: rec.flags)
                    guard F.DomainFlags.all.isSuperset(of: flags) else { throw corrupt(rplace, "unknown domain flags 0x\(String(rec.flags, radix: 16))") }
                    guard declared[d] == nil else { throw corrupt(rplace, "\(d) described twice") }
                    guard rec.a <= maxFrameNumber else { throw corrupt(rplace, "bad ram base") }
                    guard rec.c <= records - index else { throw corrupt(rplace, "\(rec.c) RAM regions, more than the records left") }
                    if flags.contains(.staticMemory) {
                        guard staticOf[d] != nil else { throw corrupt(rplace, "\(d) is static but the host config has no static memory for it") }
                    } else {
                        guard !flags.contains(.directMap), rec.b > 0, rec.b <= frames else { throw corrupt(rplace, "bad dynamic guest description") }
                    }
                    declared[d] = flags
                    rawDomains.append((d, flags, rec))
                    if rec.c > 0 {
                        expect = .ramRegions(d, left: rec.c, dynamicFrames: flags.contains(.staticMemory) ? nil : rec.b)
                        ramRegionsOf[d] = []
                    }
                case .ramRegion:
                    guard case let .ramRegions(owner, left, dynamicFrames) = expect else { throw corrupt(rplace, "out of sequence") }
                    let regions = ramRegionsOf[owner] ?? []
                    guard d == owner, rec.flags == UInt32(truncatingIfNeeded: regions.count), rec.c == 0 else {
                        throw corrupt(rplace, "RAM region \(rec.flags) of \(d), expected region \(regions.count) of \(owner)")
                    }
                    guard rec.b > 0, rec.a <= maxFrameNumber, rec.b <= maxFrameNumber + 1 - rec.a else {
                        throw corrupt(rplace, "RAM region [0x\(String(rec.a, radix: 16)) + 0x\(String(rec.b, radix: 16))) is empty or leaves the 52-bit frame space")
                    }
                    let r = GfnRange(uncheckedFirst: rec.a, end: rec.a + rec.b)
                    if let last = regions.last, r.first.raw < last.end {
                        throw corrupt(rplace, "RAM region \(r) of \(d) is not after \(last) (unsorted or overlapping)")
                    }
                    ramRegionsOf[owner]!.append(r)
                    if left > 1 {
                        expect = .ramRegions(owner, left: left - 1, dynamicFrames: dynamicFrames)
                    } else {
                        let total = ramRegionsOf[owner]!.reduce(0) { $0 + $1.count }
                        if let dynamicFrames, total != dynamicFrames {
                            throw corrupt(rplace, "the RAM regions of \(d) hold \(total) frames, its dynamic memory \(dynamicFrames)")
                        }
                        expect = .any
                    }
                case .p2mRoot:
                    guard declared[d] != nil else { throw corrupt(rplace, "root for undeclared \(d)") }
                    guard roots[d] == nil else { throw corrupt(rplace, "second p2m root for \(d)") }
                    guard rec.a < frames, rec.b == 1, rec.c == 0 else { throw corrupt(rplace, "bad p2m root") }
                    roots[d] = Mfn(uncheckedRaw: rec.a)
                case .ownedRange:
                    guard let dflags = declared[d] else { throw corrupt(rplace, "range for undeclared \(d)") }
                    let flags = F.RangeFlags(rawValue: rec.flags)
                    guard F.RangeFlags.all.isSuperset(of: flags), flags != F.RangeFlags.all else {
                        throw corrupt(rplace, "bad range flags 0x\(String(rec.flags, radix: 16))")
                    }
                    guard rec.b > 0, rec.a < frames, rec.b <= frames - rec.a else {
                        throw corrupt(rplace, "range [0x\(String(rec.a, radix: 16)) + 0x\(String(rec.b, radix: 16))) is empty or past the host's \(frames) frames")
                    }
                    let range = MfnRange(uncheckedFirst: rec.a, end: rec.a + rec.b)
                    if range.overlaps(region) { throw .inUseRangeOverlapsRegion(domain: d, range: range, region: region) }
                    guard rec.a >= prevEnd else { throw corrupt(rplace, "\(range) is not after the previous range (unsorted or overlapping)") }
                    prevEnd = range.end
                    if let h = config.reservedXenHeap, range.overlaps(h) { throw corrupt(rplace, "\(range) overlaps the reserved Xen heap") }
                    let isStatic = flags.contains(.staticMemory)
                    if isStatic {
                        guard staticOf[d]?.contains(where: { $0.contains(range) }) == true else {
                            throw corrupt(rplace, "\(range) is marked static but is not static memory of \(d)")
                        }
                    }
                    // Every frame must be RAM of the right kind: walk the layout alongside.
                    while segs[li].end <= range.first.raw { li += 1 }
                    var j = li
                    while j < segs.count && segs[j].start < range.end {
                        let want: FrameRecord = isStatic ? .staticFree : .free
                        if segs[j].record != want.raw {
                            throw corrupt(rplace, "\(range) covers frames that are \(FrameRecord(raw: segs[j].record).flags), expected \(want.flags)")
                        }
                        j += 1
                    }
                    var extra: FrameFlags = []
                    if flags.contains(.p2mTable) {
                        guard rec.c == F.none else { throw corrupt(rplace, "a p2m-table range has a gfn") }
                        extra = .p2mTable
                    } else {
                        guard rec.c <= maxFrameNumber, rec.b <= maxFrameNumber + 1 - rec.c else { throw corrupt(rplace, "gfn range leaves the 52-bit frame space") }
                        if dflags.contains(.directMap) {
                            guard rec.c == rec.a else { throw corrupt(rplace, "direct-mapped \(d) maps gfn 0x\(String(rec.c, radix: 16)) to \(range.first)") }
                        }
                        mapped[d, default: []].append(PhysmapExtent(gfn: Gfn(uncheckedRaw: rec.c), mfn: range.first, count: rec.b))
                    }
                    if isStatic { extra.formUnion([.reserved, .staticMemory]) }
                    runs.append(FrameRun(frames: range, record: FrameRecord.owned(by: d, extra: extra).raw))
                case .pmemRegion:
                    guard let dflags = declared[d] else { throw corrupt(rplace, "pmem for undeclared \(d)") }
                    guard rec.b > 0, rec.a <= maxFrameNumber, rec.b <= maxFrameNumber + 1 - rec.a else {
                        throw corrupt(rplace, "pmem [0x\(String(rec.a, radix: 16)) + 0x\(String(rec.b, radix: 16))) is empty or leaves the 52-bit frame space")
                    }
                    let range = MfnRange(uncheckedFirst: rec.a, end: rec.a + rec.b)
                    guard rec.a >= prevPmemEnd else { throw corrupt(rplace, "\(range) is not after the previous pmem region (unsorted or overlapping)") }
                    prevPmemEnd = range.end
                    guard rec.flags >= 1, rec.flags <= UInt32(F.maxPathBytes) else { throw corrupt(rplace, "backing path of \(rec.flags) bytes") }
                    guard rec.c <= maxFrameNumber, rec.b <= maxFrameNumber + 1 - rec.c else { throw corrupt(rplace, "gfn range leaves the 52-bit frame space") }
                    if dflags.contains(.directMap), rec.c != rec.a {
                        throw corrupt(rplace, "direct-mapped \(d) maps pmem gfn 0x\(String(rec.c, radix: 16)) to \(range.first)")
                    }
                    // The region must be host pmem in the configuration (by extent: pmem has no records).
                    guard config.pmem.contains(where: { $0.contains(range) }) else {
                        throw corrupt(rplace, "pmem \(range) is not inside one configured host pmem range")
                    }
                    expect = .pmemBacking(d, record: rec)
                case .pmemBacking:
                    guard case let .pmemBacking(owner, p) = expect else { throw corrupt(rplace, "out of sequence") }
                    guard d == owner, rec.flags == 0, rec.c == 0 else { throw corrupt(rplace, "backing record of \(d) after pmem of \(owner), or reserved fields set") }
                    let need = p.b.multipliedReportingOverflow(by: PageOrder.frameBytes)
                    guard rec.a % PageOrder.frameBytes == 0, !need.overflow, rec.a <= rec.b, need.partialValue <= rec.b - rec.a else {
                        throw corrupt(rplace, "the region's \(p.b) frames from byte \(rec.a) do not fit a backing of \(rec.b) bytes on a page boundary")
                    }
                    expect = .path(d, record: p, offset: rec.a, backingBytes: rec.b, path: [])
                case .pathBytes:
                    guard case let .path(owner, p, offset, backingBytes, soFar) = expect else { throw corrupt(rplace, "out of sequence") }
                    let length = Int(p.flags)
                    let chunk = soFar.count / F.pathBytesPerRecord
                    guard d == owner, rec.flags == UInt32(chunk) else { throw corrupt(rplace, "path chunk \(rec.flags) of \(d), expected chunk \(chunk) of \(owner)") }
                    var path = soFar
                    for (w, word) in [rec.a, rec.b, rec.c].enumerated() {
                        for i in 0..<8 {
                            let byte = UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))
                            if path.count < length {
                                guard byte != 0 else { throw corrupt(rplace, "NUL inside a backing path") }
                                path.append(byte)
                            } else if byte != 0 {
                                throw corrupt(rplace, "padding byte \(w * 8 + i) after the path is not zero")
                            }
                        }
                    }
                    if path.count < length {
                        expect = .path(owner, record: p, offset: offset, backingBytes: backingBytes, path: path)
                    } else {
                        guard let text = String(validating: path, as: UTF8.self) else { throw corrupt(rplace, "the backing path is not UTF-8") }
                        let region = GuestPmem(frames: MfnRange(uncheckedFirst: p.a, end: p.a + p.b), gfn: Gfn(uncheckedRaw: p.c),
                                               backingPath: text, backingOffset: offset, backingBytes: backingBytes)
                        pmemOf[owner, default: []].append(region)
                        expect = .any
                    }
                }
            }
        }

        switch expect {
        case .any: break
        case .ramRegions: throw corrupt("state", "the last domain's RAM regions are cut short")
        case .pmemBacking: throw corrupt("state", "the last pmem region has no backing record")
        case .path: throw corrupt("state", "the last pmem region's path is cut short")
        }

        // 3. Cross-checks: roots, state pages vs preserved runs, gfn overlaps.
        for (d, _, _) in rawDomains {
            guard let root = roots[d] else { throw corrupt("state", "\(d) has no p2m root") }
            let k = lowerRun(runs, root.raw)
            guard k < runs.count, runs[k].start <= root.raw,
                  FrameRecord(raw: runs[k].record) == .owned(by: d, extra: .p2mTable) else {
                throw corrupt("state", "p2m root \(root) of \(d) is not a p2m-table page it owns")
            }
        }
        for m in (listPages + dataMfns) {
            let k = lowerRun(runs, m.raw)
            if k < runs.count, runs[k].start <= m.raw {
                throw corrupt("state page \(m)", "it lies inside a preserved range: the state would overwrite guest memory")
            }
        }
        var domains: [ParsedDomain] = []
        for (d, flags, rec) in rawDomains {
            var extents = mapped[d] ?? []
            extents.sort { $0.gfn.raw < $1.gfn.raw }
            let pmem = pmemOf[d] ?? []
            let gfnUse = (extents.map { GfnRange(uncheckedFirst: $0.gfn.raw, end: $0.gfn.raw + $0.count) } + pmem.map(\.gfns)).sorted()
            for (a, b) in zip(gfnUse, gfnUse.dropFirst()) where a.overlaps(b) {
                throw corrupt("state", "\(d) maps \(b.first) twice")
            }
            let memory: HostDomainConfig.Memory = flags.contains(.staticMemory)
                ? .staticMemory(directMap: flags.contains(.directMap), allowDynamic: flags.contains(.allowDynamic))
                : .dynamic(frames: rec.b)
            domains.append(ParsedDomain(config: HostDomainConfig(id: d, memory: memory, ramBase: Gfn(uncheckedRaw: rec.a), ramRegions: ramRegionsOf[d]),
                                        physmap: PhysmapExtents(sortedByGfn: extents), p2mRoot: roots[d]!, pmem: pmem))
        }
        let plan = try runs.withUnsafeBufferPointer { buf throws(LiveUpdateError) in
            try RebuildPlan(frames: frames, layout: layout.segments, preserved: buf)
        }
        return ParsedLiveUpdateState(domains: domains, plan: plan, listPages: listPages, dataPages: dataMfns, records: records)
    }

    /// Index of the first run ending above `m`.
    static func lowerRun(_ runs: [FrameRun], _ m: UInt64) -> Int {
        var lo = 0, hi = runs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if runs[mid].end <= m { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
