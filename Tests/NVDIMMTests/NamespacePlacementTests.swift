import Testing
import VpmemTestSupport
@testable import NVDIMM

@Suite struct NamespacePlacementTests {
    static let MiB: UInt64 = 1 << 20

    @Test func regionAlignmentIs16MOrAPageForSmallRegions() {
        #expect(NamespacePlacement(regionSize: 1 << 30, allocated: []).regionAlign == 16 * Self.MiB)
        #expect(NamespacePlacement(regionSize: 16 * Self.MiB, allocated: []).regionAlign == 16 * Self.MiB)
        #expect(NamespacePlacement(regionSize: 16 * Self.MiB - 4096, allocated: []).regionAlign == 4096)
        #expect(NamespacePlacement(regionSize: 2 * Self.MiB, allocated: []).regionAlign == 4096)
    }

    @Test func sizesLinuxRefusesAreRefusedNamingTheRule() {
        let p = NamespacePlacement(regionSize: 1 << 30, allocated: [])
        #expect(throws: NamespaceError.sizeZero) { try p.place(size: 0, mode: .raw) }
        #expect(throws: NamespaceError.sizeMisaligned(size: 100 * Self.MiB, alignment: 16 * Self.MiB, rule: "the region's alignment")) {
            try p.place(size: 100 * Self.MiB, mode: .fsdax)
        }
        #expect(throws: NamespaceError.noFreeExtent(size: 2 << 30, largest: 1 << 30, regionSize: 1 << 30)) {
            try p.place(size: 2 << 30, mode: .raw)
        }
        // A small region: page alignment, raw namespaces of any page multiple; fsdax needs 16M,
        // and 2M alignment besides.
        let small = NamespacePlacement(regionSize: 8 * Self.MiB, allocated: [])
        #expect((try? small.place(size: 12288, mode: .raw)) == DPAExtent(start: 0, size: 12288))
        #expect(throws: NamespaceError.sizeMisaligned(size: 12288, alignment: 2 * Self.MiB, rule: "the fsdax alignment")) {
            try small.place(size: 12288, mode: .fsdax)
        }
        #expect(throws: NamespaceError.sizeTooSmall(size: 4 * Self.MiB, minimum: 16 * Self.MiB, mode: .fsdax)) {
            try small.place(size: 4 * Self.MiB, mode: .fsdax)
        }
        #expect(throws: NamespaceError.sizeMisaligned(size: 5000, alignment: 4096, rule: "the region's alignment")) {
            try small.place(size: 5000, mode: .raw)
        }
        // The message names the rule and two sizes that work.
        let e = NamespaceError.sizeMisaligned(size: 100 * Self.MiB, alignment: 16 * Self.MiB, rule: "the region's alignment")
        #expect(e.description.contains("Linux refuses it; use 96M or 112M"))
    }

    @Test func firstFitInDPAOrderAcrossTheGapsOtherNamespacesLeave() throws {
        let m = Self.MiB
        // 0-16M used, 16-48M free, 48-64M used, 64M.. free; a 1G region.
        let p = NamespacePlacement(regionSize: 1 << 30, allocated: [DPAExtent(start: 48 * m, size: 16 * m), DPAExtent(start: 0, size: 16 * m)])
        #expect(p.freeExtents == [DPAExtent(start: 16 * m, size: 32 * m), DPAExtent(start: 64 * m, size: (1 << 30) - 64 * m)])
        #expect(try p.place(size: 32 * m, mode: .fsdax).start == 16 * m)
        #expect(try p.place(size: 48 * m, mode: .fsdax).start == 64 * m, "too big for the first gap: the next one")
        #expect(p.maxAvailableExtent == (1 << 30) - 64 * m)
        // A gap whose ends are not aligned shrinks to its aligned part (a label written by
        // someone else at a 4K boundary).
        let q = NamespacePlacement(regionSize: 64 * m, allocated: [DPAExtent(start: 0, size: 4096), DPAExtent(start: 40 * m, size: 4096)])
        #expect(q.freeExtents == [DPAExtent(start: 16 * m, size: 16 * m), DPAExtent(start: 48 * m, size: 16 * m)])
        // The region's last partial 16M is never used.
        let r = NamespacePlacement(regionSize: 40 * m, allocated: [])
        #expect(r.freeExtents == [DPAExtent(start: 0, size: 32 * m)])
        // Labels beyond the region or wrapping past 2^64 only remove space, never trap.
        let s = NamespacePlacement(regionSize: 64 * m, allocated: [DPAExtent(start: 1 << 40, size: 4096), DPAExtent(start: 32 * m, size: .max)])
        #expect(s.freeExtents == [DPAExtent(start: 0, size: 32 * m)])
    }

    /// Against the obvious rule: the lowest multiple of the region's alignment where the whole
    /// size fits below the region's end without touching any allocated range.
    @Test func placementAgreesWithANaiveScan() async {
        let extent = zip(Gen.uint64(in: 0...300), Gen.uint64(in: 1...40))
        await checkProperty(count: 300, input: Gen.uint64(in: 1...300), extent.array(of: 0...6), Gen.uint64(in: 0...80), Gen.bool()) {
            regionPages, extents, sizePages, fsdax in
            // Regions from 4K to ~1.2G, in 4K pages or 4M steps so both alignments occur.
            let unit: UInt64 = regionPages % 2 == 0 ? 4096 : 4 << 20
            let region = regionPages * unit
            let allocated = extents.map { DPAExtent(start: $0.0 * unit, size: $0.1 * unit) }
            let mode: NamespaceMode = fsdax ? .fsdax : .raw
            let size = sizePages * unit
            let p = NamespacePlacement(regionSize: region, allocated: allocated)
            let align = region < 16 << 20 ? 4096 : UInt64(16 << 20)
            var expected: UInt64? = nil
            if size > 0, size % align == 0, size % mode.sizeAlignment == 0, size >= mode.minimumSize {
                var d: UInt64 = 0
                while d + size <= region {
                    if !allocated.contains(where: { $0.start < d + size && d < $0.start &+ $0.size }) { expected = d; break }
                    d += align
                }
            }
            let got = try? p.place(size: size, mode: mode)
            #expect(got?.start == expected, "region \(region) allocated \(allocated) size \(size) \(mode)")
            if let got { #expect(got.size == size) }
        }
    }
}
