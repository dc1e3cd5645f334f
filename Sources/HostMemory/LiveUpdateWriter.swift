import GuestMemory

/// What the outgoing instance wrote for the next one.
public struct LiveUpdateStateSummary: Sendable, Equatable {
    /// Machine address stored in the first 64 bits of the liveupdate region.
    public let listAddress: Maddr
    public let listPages: [Mfn]
    public let dataPages: [Mfn]
    public let records: Int
    /// Owned-range records (frames each guest owns, any number of them).
    public let ranges: Int
    /// Pmem regions named (each with its backing path).
    public let pmemRegions: Int
    public let domains: Int
    public var stateBytes: UInt64 { UInt64(listPages.count + dataPages.count) * PageOrder.frameBytes }
}

extension HostMachine {
    /// The records describing every guest, in state order (domains with their RAM regions,
    /// roots, ranges by mfn, pmem regions by mfn with their backings and paths).
    func liveUpdateRecords() -> [LiveUpdateFormat.Record] {
        typealias F = LiveUpdateFormat
        let ids = domains.keys.sorted()
        var out: [F.Record] = []
        for id in ids {
            let d = domains[id]!
            var flags: F.DomainFlags = []
            var dynamicFrames: UInt64 = 0
            switch d.config.memory {
            case .dynamic(let n): dynamicFrames = n
            case .staticMemory(let direct, let allow):
                flags.insert(.staticMemory)
                if direct { flags.insert(.directMap) }
                if allow { flags.insert(.allowDynamic) }
            }
            if d.config.allowsDynamicPages { flags.insert(.allowDynamic) }
            out.append(contentsOf: F.domainRecords(d.config, flags: flags, dynamicFrames: dynamicFrames))
        }
        for id in ids {
            out.append(F.Record(kind: F.Kind.p2mRoot.rawValue, domid: id.raw, flags: 0, a: domains[id]!.p2mRoot.raw, b: 1, c: 0))
        }
        var ranges: [F.Record] = []
        for id in ids {
            let d = domains[id]!
            ranges.append(F.Record(kind: F.Kind.ownedRange.rawValue, domid: id.raw, flags: F.RangeFlags.p2mTable.rawValue, a: d.p2mRoot.raw, b: 1, c: F.none))
            for e in d.physmap.extents {
                // Split where static memory starts or ends, so each record is all static or none.
                var start = e.mfn.raw
                let end = e.mfn.raw + e.count
                while start < end {
                    let isStatic = frameTable[Mfn(uncheckedRaw: start)].flags.contains(.staticMemory)
                    var stop = start + 1
                    if let r = d.staticRegions.first(where: { $0.contains(Mfn(uncheckedRaw: start)) }) {
                        stop = min(end, r.end)
                    } else {
                        let next = d.staticRegions.filter { $0.first.raw > start }.map(\.first.raw).min() ?? end
                        stop = min(end, next)
                    }
                    ranges.append(F.Record(kind: F.Kind.ownedRange.rawValue, domid: id.raw,
                                           flags: isStatic ? F.RangeFlags.staticMemory.rawValue : 0,
                                           a: start, b: stop - start, c: e.gfn.raw + (start - e.mfn.raw)))
                    start = stop
                }
            }
        }
        ranges.sort { $0.a < $1.a }
        out.append(contentsOf: ranges)
        for (id, region) in attachedPmem { out.append(contentsOf: F.pmemRecords(region, domid: id.raw)) }
        return out
    }

    /// Writes the live-update state (seed 004): records on data pages allocated anywhere outside
    /// the liveupdate region (Xen-heap pages), an MFN list naming them, and the list's address in
    /// the first 64 bits of the region. No guest frame is written.
    public func writeLiveUpdateState() throws(LiveUpdateError) -> LiveUpdateStateSummary {
        typealias F = LiveUpdateFormat
        guard let region = config.liveUpdateRegion else { throw .noRegion }
        for (id, d) in domains {
            for p in d.pmem where p.backingPath.utf8.count > F.maxPathBytes || p.backingPath.utf8.contains(0) {
                throw .pmemPathUnstorable(domain: id, path: p.backingPath)
            }
        }
        let records = liveUpdateRecords()
        let dataCount = (records.count + F.recordsPerPage - 1) / F.recordsPerPage
        let listCount = max(1, (dataCount + F.listCapacity - 1) / F.listCapacity)

        var pages: [Mfn] = []
        do {
            for _ in 0..<(dataCount + listCount) { pages.append(try allocateXenHeapPage()) }
        } catch {
            for p in pages { try? freeXenHeapPage(p) }
            throw .host(error)
        }
        let dataPages = Array(pages[0..<dataCount])
        let listPages = Array(pages[dataCount...])

        for (seq, mfn) in dataPages.enumerated() {
            var w = PageWriter()
            let first = seq * F.recordsPerPage
            let n = min(F.recordsPerPage, records.count - first)
            w.put(F.dataMagic, at: 0)
            w.put(F.version, at: 8)
            w.put(UInt32(n), at: 12)
            w.put(UInt64(seq), at: 16)
            for i in 0..<n {
                let r = records[first + i]
                let o = F.dataHeaderBytes + i * F.recordBytes
                w.put(r.kind, at: o)
                w.put(r.domid, at: o + 2)
                w.put(r.flags, at: o + 4)
                w.put(r.a, at: o + 8)
                w.put(r.b, at: o + 16)
                w.put(r.c, at: o + 24)
                w.put(r.check(index: UInt64(first + i)), at: o + 32)
            }
            w.seal(checksumAt: F.dataChecksumOffset)
            memory.writePage(w.bytes, to: mfn)
        }
        for (li, mfn) in listPages.enumerated() {
            var w = PageWriter()
            let first = li * F.listCapacity
            let n = max(0, min(F.listCapacity, dataCount - first))
            w.put(F.listMagic, at: 0)
            w.put(F.version, at: 8)
            w.put(UInt32(n), at: 12)
            w.put(UInt64(dataCount), at: 16)
            w.put(UInt64(records.count), at: 24)
            w.put(li + 1 < listPages.count ? listPages[li + 1].raw : F.none, at: 32)
            for i in 0..<n { w.put(dataPages[first + i].raw, at: F.listHeaderBytes + i * 8) }
            w.seal(checksumAt: F.listChecksumOffset)
            memory.writePage(w.bytes, to: mfn)
        }
        // The handover word (kexec's IND_WRITE64 in seed 004), in the region's reserved first page.
        var word = PageWriter()
        word.put(listPages[0].address.raw, at: 0)
        memory.write(Array(word.bytes[0..<8]), at: 0, to: region.first)

        let rangeCount = records.filter { $0.kind == F.Kind.ownedRange.rawValue }.count
        return LiveUpdateStateSummary(listAddress: listPages[0].address, listPages: listPages, dataPages: dataPages,
                                      records: records.count, ranges: rangeCount,
                                      pmemRegions: records.filter { $0.kind == F.Kind.pmemRegion.rawValue }.count, domains: domains.count)
    }
}
