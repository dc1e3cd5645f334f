import GuestMemory
import HostPmem

// Giving host pmem to guests (issue 6 §3: pmem-backed guest memory keeps its contents).
//
// A pmem region is frames of a configured pmem range, mapped into the guest at a gfn with p2m
// type `pmem`. Its contents are the backing's bytes (frame first + i is backing bytes
// [i * 4096, (i + 1) * 4096)), reached through libpmem, never through FrameContents: RAM is
// modelled, pmem is real. The host holds the backing's PmemMapping (and so its exclusive lock)
// while the region is attached; a live update lets go of it and the incoming instance maps the
// same backing again from the path the state names.
//
// attachPmem checks everything before changing anything: the domain exists, the backing is
// writable and exactly the region's size, the gfns are free in the guest, the host range
// registry lets the guest own the frames (registered pmem, not another guest's), and every frame
// is unattached pmem in the frame table. Only then the p2m is told; if it refuses, nothing is
// left behind.

extension HostDomain {
    /// True when any of `count` guest frames from `gfn` lies in one of the guest's pmem regions.
    func pmemOverlaps(_ gfn: Gfn, count: UInt64) -> Bool {
        pmem.contains { $0.gfn.raw < gfn.raw &+ count && gfn.raw < $0.gfns.end }
    }
}

extension HostMachine {
    /// Gives `frames` of host pmem to guest `id` at guest frames from `gfn`, with `backing` (a
    /// read-write mapping of exactly `frames.count` pages) holding the contents. The host keeps
    /// the mapping until the guest is destroyed or the instance hands over. All or nothing.
    @discardableResult
    public func attachPmem(_ id: DomainID, frames: MfnRange, at gfn: Gfn, backing: PmemMapping) throws(HostMemoryError) -> GuestPmem {
        guard var d = domains[id] else { throw .noSuchDomain(id) }
        let region = GuestPmem(frames: frames, gfn: gfn, backingPath: backing.path)
        guard backing.access == .readWrite else { throw .pmemBackingReadOnly(path: backing.path) }
        guard backing.length == region.bytes else {
            throw .pmemBackingSize(path: backing.path, bytes: backing.length, frames: frames)
        }
        do { _ = try GfnRange(first: gfn, count: frames.count) } catch { throw .mapping(error) }
        if d.config.isDirectMapped && gfn.raw != frames.first.raw { throw .directMapPageUnavailable(id, gfn) }
        guard !d.physmap.anyMapped(gfn, count: frames.count), !d.pmemOverlaps(gfn, count: frames.count) else {
            throw .gfnAlreadyMapped(id, gfn)
        }
        var ranges = hostRanges
        do { _ = try ranges.claim(frames, allowed: [.pmem], for: id) } catch { throw .mapping(error) }
        for m in frames.first.raw..<frames.end where frameTable[Mfn(uncheckedRaw: m)] != .pmemFree {
            throw .pmemNotFree(Mfn(uncheckedRaw: m), frameTable[Mfn(uncheckedRaw: m)])
        }
        if let sink = physmapSink {
            do { try sink.map(id, gfn: gfn, to: frames.first, frames: frames.count, type: .pmem) } catch {
                throw .physmap(domain: id, "\(error)")
            }
        }
        hostRanges = ranges
        frameTable.fill(frames, with: .owned(by: id, extra: [.reserved, .pmem]))
        d.pmem.append(region)
        domains[id] = d
        pmemMappings[region] = backing
        return region
    }

    /// Gives a destroyed guest's pmem frames back to the registry and the frame table, and lets
    /// go of the backing. The p2m is dropped whole by the caller.
    func detachPmemFrames(_ region: GuestPmem, from id: DomainID) {
        // Cannot fail: the guest owns exactly these frames (attachPmem claimed them).
        try? hostRanges.release([region.frames], from: id)
        frameTable.fill(region.frames, with: .pmemFree)
        pmemMappings[region] = nil
    }

    /// Lets go of every pmem backing, as the outgoing instance's exit would: each mapping is
    /// unmapped and its lock released, so the incoming instance can map the backings again.
    /// The guests keep their pmem regions (frame table, p2m, the live-update state); only
    /// this instance's access to the contents ends.
    public func releasePmemBackings() {
        pmemMappings = [:]
    }

    /// A checksum of every byte of `region`'s backing, read through this instance's mapping.
    public func pmemChecksum(_ region: GuestPmem) throws(HostMemoryError) -> UInt64 {
        guard let mapping = pmemMappings[region] else { throw .pmemNotMapped(region) }
        return try PmemChecksum.of(mapping)
    }
}

/// A checksum of a whole pmem backing: the live-update state's checksum over every byte.
public enum PmemChecksum {
    public static func of(_ mapping: PmemMapping) throws(HostMemoryError) -> UInt64 {
        guard mapping.length <= UInt64(Int.max) else { throw .pmemBackingSize(path: mapping.path, bytes: mapping.length, frames: nil) }
        do {
            return try mapping.withUnsafeBytes(offset: 0, count: Int(mapping.length)) { StateChecksum.hash($0) }.get()
        } catch { throw .pmem(error) }
    }
}
