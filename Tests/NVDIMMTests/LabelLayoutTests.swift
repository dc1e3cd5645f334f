import Foundation
import Testing
import VpmemTestSupport
@testable import NVDIMM

/// The label area layout against Linux's rule and the index blocks against ndctl's init-labels,
/// both restated here naively from drivers/nvdimm/label.c (nvdimm_num_label_slots,
/// sizeof_namespace_index) and ndctl/lib/dimm.c (write_label_index, ndctl_dimm_init_labels).
@Suite struct LabelLayoutTests {
    static let kib = 1024

    /// Linux's layout for a config (label area) size, or nil where Linux refuses the area
    /// ("label area too small to host labels").
    static func linuxLayout(configSize: Int, labelSize: Int) -> (nslot: Int, indexSize: Int)? {
        func sizeofIndex(_ nslot: Int) -> Int {
            let bytes = 72 + (nslot + 7) / 8
            return (bytes + 255) / 256 * 256
        }
        let tmpNslot = configSize / labelSize
        let n = sizeofIndex(tmpNslot) / 256
        let nslot = (configSize - 256 * n * 2) / labelSize
        let space = configSize - nslot * labelSize
        let size = sizeofIndex(nslot) * 2
        guard size <= space, nslot >= 2 else { return nil }
        return (nslot, size / 2)
    }

    /// What ndctl init-labels leaves in the first 2 * index-size bytes of `area`: it reads the
    /// index region into a buffer, writes each block's fields and a 0xFF bitmap of whole 64-bit
    /// words into it, checksums the block and writes it back.
    static func ndctlInitialised(_ area: [UInt8], areaSize: Int? = nil, labelSize: Int) -> [UInt8] {
        let (nslot, index) = linuxLayout(configSize: areaSize ?? area.count, labelSize: labelSize)!
        var buf = Array(area[0..<2 * index])
        func put(_ v: UInt64, _ width: Int, at: Int) { for i in 0..<width { buf[at + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) } }
        for i in 0..<2 {
            let b = i * index
            for (k, c) in Array("NAMESPACE_INDEX\u{0}".utf8).enumerated() { buf[b + k] = c }
            buf[b + 16] = 0; buf[b + 17] = 0; buf[b + 18] = 0
            buf[b + 19] = UInt8(labelSize >> 8)
            put(UInt64(3 - i), 4, at: b + 20)
            put(UInt64(b), 8, at: b + 24)
            put(UInt64(index), 8, at: b + 32)
            put(UInt64((1 - i) * index), 8, at: b + 40)
            put(UInt64(2 * index), 8, at: b + 48)
            put(UInt64(nslot), 4, at: b + 56)
            put(1, 2, at: b + 60)
            put(labelSize < 256 ? 1 : 2, 2, at: b + 62)
            put(0, 8, at: b + 64)
            for k in 0..<(nslot + 63) / 64 * 8 { buf[b + 72 + k] = 0xFF }
            put(LabelAreaTests.referenceFletcher(Array(buf[b..<b + index])), 8, at: b + 64)
        }
        return buf
    }

    static let sizes = Array(stride(from: 128 * kib, through: 4096 * kib, by: 4 * kib))

    @Test(arguments: [128, 256])
    func layoutFollowsLinuxForEveryAreaFrom128KiBTo4MiB(labelSize: Int) throws {
        for size in Self.sizes {
            let linux = try #require(Self.linuxLayout(configSize: size, labelSize: labelSize))
            let layout = try LabelAreaLayout(areaSize: size, labelSize: labelSize)
            #expect(layout.nslot == linux.nslot && layout.indexSize == linux.indexSize, "\(size) bytes, \(labelSize)-byte labels")
            #expect(layout.labelsOffset + layout.nslot * labelSize <= size)
        }
    }

    /// Below the range QEMU allows: the areas Linux refuses are exactly the ones refused here.
    @Test(arguments: [128, 256])
    func smallAreasAreRefusedWhereLinuxRefusesThem(labelSize: Int) {
        for size in 512...(8 * Self.kib) {
            let linux = Self.linuxLayout(configSize: size, labelSize: labelSize)
            let ours = try? LabelAreaLayout(areaSize: size, labelSize: labelSize)
            #expect(ours?.nslot == linux?.nslot && ours?.indexSize == linux?.indexSize, "\(size) bytes")
        }
        for size in [0, 1, 255, 511] { #expect(throws: LabelAreaError.self) { try LabelAreaLayout(areaSize: size, labelSize: labelSize) } }
    }

    /// The figures issue 15 quotes: what vpmem wrote before (size / (label size + 1) slots) and
    /// what Linux and ndctl use.
    @Test func theSizesTheIssueNames() throws {
        let cases: [(Int, Int, nslot: Int, index: Int)] = [
            (128 * Self.kib, 128, 1020, 256),   // was 1016 slots
            (128 * Self.kib, 256, 510, 256),    // unchanged
            (1396 * Self.kib, 256, 5576, 1024), // was 5562 slots with 768-byte blocks, which Linux rejects
            (4096 * Self.kib, 256, 16366, 2304),  // was 16320 slots
        ]
        for c in cases {
            let l = try LabelAreaLayout(areaSize: c.0, labelSize: c.1)
            #expect(l.nslot == c.nslot && l.indexSize == c.index, "\(c.0) bytes, \(c.1)-byte labels: \(l.nslot) slots, \(l.indexSize)-byte blocks")
        }
    }

    /// init-labels writes ndctl's bytes over a zeroed area, and the result decodes clean. (Only
    /// the index region is built for every size; whole areas are decoded at every 64 KiB and at
    /// the sizes the issue names, as 4 MiB areas cost time.)
    @Test(arguments: [128, 256])
    func initialisedBlocksAreNdctlsAndDecodeClean(labelSize: Int) throws {
        for size in Self.sizes {
            let layout = try LabelAreaLayout(areaSize: size, labelSize: labelSize)
            let region = 2 * (try LabelAreaLayout(areaSize: size, labelSize: 128)).indexSize
            let ndctl = Self.ndctlInitialised([UInt8](repeating: 0, count: region) , areaSize: size, labelSize: labelSize)
            let ours = LabelArea.initialisedIndexBlocks(layout: layout, previous: [UInt8](repeating: 0, count: region))
            #expect(ours == ndctl, "\(size) bytes, \(labelSize)-byte labels")
            guard size % (64 * Self.kib) == 0 || [1396 * Self.kib].contains(size) else { continue }
            var area = [UInt8](repeating: 0, count: size)
            area.replaceSubrange(0..<ndctl.count, with: ndctl)
            #expect(try LabelArea.empty(size: size, labelSize: labelSize) == area)
            let d = LabelArea.decode(area)
            #expect(d.isClean && d.current == 0 && d.layout == layout, "\(size): \(d.issues)")
            #expect(d.blocks.compactMap { $0?.free.allSatisfy { $0 } } == [true, true])
            // A block re-encoded from what was read is the same bytes (padding and bits past nslot kept).
            #expect(d.blocks[1]!.encode(size: layout.indexSize) == Array(ndctl[layout.indexSize...]))
        }
    }

    /// ndctl keeps what the area held after the bitmap; so does init-labels. An area whose bits
    /// past nslot are clear (the kernel's own init) decodes clean too.
    @Test func initOverOldBytesKeepsTheirPaddingAsNdctlDoes() async throws {
        await checkProperty(count: 25, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let size = Self.sizes[Int(rng.next() % UInt64(Self.sizes.count))]
            let labelSize = rng.next() % 2 == 0 ? 128 : 256
            let layout = try LabelAreaLayout(areaSize: size, labelSize: labelSize)
            // ndctl reads the index region at its 128-byte-label size: the larger of the two.
            #expect(try LabelAreaLayout(areaSize: size, labelSize: 128).indexSize >= layout.indexSize)
            var area = [UInt8](repeating: 0, count: size)
            area.withUnsafeMutableBytes { p in
                for i in stride(from: 0, to: size, by: 8) { p.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
            }
            let ndctl = Self.ndctlInitialised(area, labelSize: labelSize)
            #expect(LabelArea.initialisedIndexBlocks(layout: layout, previous: area) == ndctl)
            area.replaceSubrange(0..<ndctl.count, with: ndctl)
            let d = LabelArea.decode(area)
            #expect(d.isClean && d.current == 0 && d.layout?.labelSize == labelSize, "\(d.issues)")
            // The kernel's init: the bits past nslot cleared (then the checksum fixed).
            var kernel = d.blocks[0]!
            let last = (layout.nslot + 63) / 64 * 8
            for bit in layout.nslot..<last * 8 { kernel.bitmapBytes[bit / 8] &= ~(1 << (bit % 8)) }
            area.replaceSubrange(0..<layout.indexSize, with: kernel.encode(size: layout.indexSize))
            #expect(LabelArea.decode(area).isClean)
        }
    }

    /// Linux takes an area whose index size differs from the one its rule gives as corrupt
    /// (myoff/otheroff/checksum size all differ): so does the decoder. vpmem's former layout at
    /// 1396 KiB (768-byte blocks) is such an area.
    @Test func anAreaLaidOutWithTheOldRuleIsRejectedAsLinuxRejectsIt() throws {
        let size = 1396 * Self.kib
        var area = [UInt8](repeating: 0, count: size)
        let old = 768  // the former index size: 72 + 5562 bits, rounded up to 256
        for i in 0..<2 {
            var b = LabelIndexBlock(layout: try LabelAreaLayout(areaSize: size), block: i, seq: UInt32(3 - i))
            b.myoff = UInt64(i * old); b.otheroff = UInt64((1 - i) * old); b.mysize = UInt64(old); b.labeloff = UInt64(2 * old)
            b.nslot = 5562; b.free = Array(repeating: true, count: 5562)
            area.replaceSubrange(i * old..<(i + 1) * old, with: b.encode(size: old))
        }
        let d = LabelArea.decode(area)
        #expect(d.current == nil && d.issues.contains(.noValidIndex))
    }
}
