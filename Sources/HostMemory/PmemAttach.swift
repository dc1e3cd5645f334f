import GuestMemory
import HostPmem

// Giving host pmem to guests (issue 6 §3: pmem-backed guest memory keeps its contents).
//
// A pmem region is frames of a configured pmem range, mapped into the guest at a gfn with p2m
// type `pmem`. Its contents are the backing's bytes from the region's offset (frame first + i is
// backing bytes offset + [i * 4096, (i + 1) * 4096)), reached through libpmem, never through
// FrameContents: RAM is modelled, pmem is real. The host holds the backing's PmemMapping (and so
// its exclusive lock) while the region is attached; a live update lets go of it and the incoming
// instance maps the same backing again from the path the state names.
//
// Pmem is tracked by extents, never per frame: the host range registry (`hostRanges`) records
// which pmem frames each guest owns, and each guest's `pmem` lists its regions. A host with
// terabytes of pmem costs a few entries, not a frame-table record a page.
//
// attachPmem checks everything before changing anything: the domain exists, the backing is
// writable and holds the region from its offset, the gfns are free in the guest, the host range
// registry lets the guest own the frames (registered pmem, not another guest's), and no frame is
// in a region the guest already has. Only then the p2m is told; if it refuses, nothing is left
// behind.

extension HostDomain {
    /// True when any of `count` guest frames from `gfn` lies in one of the guest's pmem regions.
    func pmemOverlaps(_ gfn: Gfn, count: UInt64) -> Bool {
        pmem.contains { $0.gfn.raw < gfn.raw &+ count && gfn.raw < $0.gfns.end }
    }
}

extension HostMachine {
    /// Gives `frames` of host pmem to guest `id` at guest frames from `gfn`, its contents the
    /// `frames.count * 4096` bytes of `backing` (a read-write mapping) from `offset` (a multiple
    /// of 4096; the backing may go on past the region, e.g. with a label area). The host keeps
    /// the mapping until the guest is destroyed or the instance hands over. All or nothing.
    @discardableResult
    public func attachPmem(_ id: DomainID, frames: MfnRange, at gfn: Gfn, backing: PmemMapping, offset: UInt64 = 0) throws(HostMemoryError) -> GuestPmem {
        guard var d = domains[id] else { throw .noSuchDomain(id) }
        guard backing.access == .readWrite else { throw .pmemBackingReadOnly(path: backing.path) }
        guard offset % PageOrder.frameBytes == 0 else { throw .pmemBackingOffsetUnaligned(path: backing.path, offset: offset) }
        let need = frames.count.multipliedReportingOverflow(by: PageOrder.frameBytes)
        guard !need.overflow, offset <= backing.length, need.partialValue <= backing.length - offset else {
            throw .pmemBackingSize(path: backing.path, bytes: backing.length, offset: offset, frames: frames)
        }
        let region = GuestPmem(frames: frames, gfn: gfn, backingPath: backing.path, backingOffset: offset, backingBytes: backing.length)
        do { _ = try GfnRange(first: gfn, count: frames.count) } catch { throw .mapping(error) }
        if d.config.isDirectMapped && gfn.raw != frames.first.raw { throw .directMapPageUnavailable(id, gfn) }
        guard !d.physmap.anyMapped(gfn, count: frames.count), !d.pmemOverlaps(gfn, count: frames.count) else {
            throw .gfnAlreadyMapped(id, gfn)
        }
        var ranges = hostRanges
        do { _ = try ranges.claim(frames, allowed: [.pmem], for: id) } catch { throw .mapping(error) }
        // The registry lets a guest claim what it owns already; its own regions must not overlap.
        if let other = d.pmem.first(where: { $0.frames.overlaps(frames) }) {
            throw .pmemAlreadyAttached(requested: frames, region: other, owner: id)
        }
        if let sink = physmapSink {
            do { try sink.map(id, gfn: gfn, to: frames.first, frames: frames.count, type: .pmem) } catch {
                throw .physmap(domain: id, "\(error)")
            }
        }
        hostRanges = ranges
        d.pmem.append(region)
        domains[id] = d
        pmemMappings[region] = backing
        return region
    }

    /// Gives a destroyed guest's pmem frames back to the registry and lets go of the backing.
    /// The p2m is dropped whole by the caller.
    func detachPmemFrames(_ region: GuestPmem, from id: DomainID) {
        // Cannot fail: the guest owns exactly these frames (attachPmem claimed them).
        try? hostRanges.release([region.frames], from: id)
        pmemMappings[region] = nil
    }

    /// Every attached pmem region with its guest, sorted by machine frame: the host's pmem
    /// ownership as extents.
    public var attachedPmem: [(owner: DomainID, region: GuestPmem)] {
        domains.flatMap { id, d in d.pmem.map { (id, $0) } }.sorted { $0.region.frames < $1.region.frames }
    }

    /// Lets go of every pmem backing, as the outgoing instance's exit would: each mapping is
    /// unmapped and its lock released, so the incoming instance can map the backings again.
    /// The guests keep their pmem regions (registry, p2m, the live-update state); only this
    /// instance's access to the contents ends.
    public func releasePmemBackings() {
        pmemMappings = [:]
    }

    /// A checksum of every byte of `region` in its backing, read through this instance's mapping.
    public func pmemChecksum(_ region: GuestPmem) throws(HostMemoryError) -> UInt64 {
        guard let mapping = pmemMappings[region] else { throw .pmemNotMapped(region) }
        return try PmemChecksum.of(mapping, offset: region.backingOffset, bytes: region.bytes)
    }
}

/// A checksum of pmem bytes: the live-update state's checksum over every byte.
public enum PmemChecksum {
    /// Over the whole backing.
    public static func of(_ mapping: PmemMapping) throws(HostMemoryError) -> UInt64 {
        try of(mapping, offset: 0, bytes: mapping.length)
    }

    /// Over `bytes` bytes of the backing from `offset`.
    public static func of(_ mapping: PmemMapping, offset: UInt64, bytes: UInt64) throws(HostMemoryError) -> UInt64 {
        guard bytes <= UInt64(Int.max) else { throw .pmemBackingSize(path: mapping.path, bytes: mapping.length, offset: offset, frames: nil) }
        do {
            return try mapping.withUnsafeBytes(offset: offset, count: Int(bytes)) { StateChecksum.hash($0) }.get()
        } catch { throw .pmem(error) }
    }
}
