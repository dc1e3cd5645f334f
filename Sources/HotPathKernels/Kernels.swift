import GuestMemory
import HostMemory
import NVDIMM

/// Every kernel the gate can measure. Each hot path has its baseline beside it.
public let allKernels: [Kernel] = addressKernels + p2mKernels + nvdimmKernels + rangeSetKernels + steeringKernels + liveUpdateKernels
    + lookupKernels + p2mBaselineKernels + steeringBaselineKernels + steeringEndToEndKernels

/// Random 32-bit frame deltas, fixed by the seed: kernels read them from memory so the
/// optimizer cannot fold a loop into a closed form.
public func deltas(_ count: Int, seed: UInt64) -> [UInt64] {
    var x = seed | 1
    return (0..<count).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x & 0xffff }
}

let addressKernels: [Kernel] = [
    Kernel(name: "address.gfn-advance-checked", summary: "Gfn.advanced(by:) with overflow and range checks") {
        let d = deltas(4096, seed: 1)
        return { n in
            d.withUnsafeBufferPointer { d in
                var g = Gfn(uncheckedRaw: 1)
                for i in 0..<Int(n) { g = (try? g.advanced(by: d[i & 4095])) ?? Gfn(uncheckedRaw: 0) }
                consume(g.raw)
            }
        }
    },
    Kernel(name: "baseline.raw-add", summary: "UInt64 &+ of the same deltas: the floor for frame arithmetic") {
        let d = deltas(4096, seed: 1)
        return { n in
            d.withUnsafeBufferPointer { d in
                var g: UInt64 = 1
                for i in 0..<Int(n) { g = g &+ d[i & 4095] }
                consume(g)
            }
        }
    },
]

/// The _DSM Get Namespace Label Data path: a whole 128 KiB label area read in max-transfer
/// calls, against copying the same pieces into the page with memcpy.
let labelAreaBytes = 128 * 1024

let nvdimmKernels: [Kernel] = [
    Kernel(name: "nvdimm.dsm-get-label-128k", summary: "_DSM function 5 over a whole 128 KiB label area, 4076-byte calls") {
        let pattern = (0..<labelAreaBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var handler = DSMHandler<InMemoryLabelStorage>()
        try! handler.attach(slot: 0, .init(labelArea: InMemoryLabelStorage(bytes: pattern)))
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        return { n in
            var sum = 0
            for _ in 0..<n {
                var offset = 0
                while offset < labelAreaBytes {
                    let length = min(DSMPage.maxTransfer, labelAreaBytes - offset)
                    fillDSMLabelCall(page, function: 5, offset: offset, length: length)
                    sum &+= handler.handle(input: UnsafeRawBufferPointer(page), output: page)
                    offset += length
                }
            }
            consume(UInt64(sum) &+ UInt64(page[100]))
        }
    },
    Kernel(name: "baseline.memcpy-label-128k", summary: "memcpy of the same 128 KiB in 4076-byte pieces into one page") {
        let pattern = (0..<labelAreaBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let area = UnsafeMutableRawBufferPointer.allocate(byteCount: labelAreaBytes, alignment: 64)
        area.copyBytes(from: pattern)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        // The gate process ends after one kernel: these buffers live until then.
        return { n in
            var sum = 0
            for _ in 0..<n {
                var offset = 0
                while offset < labelAreaBytes {
                    let length = min(DSMPage.maxTransfer, labelAreaBytes - offset)
                    (page.baseAddress! + 8).copyMemory(from: area.baseAddress! + offset, byteCount: length)
                    sum &+= length
                    offset += length
                }
            }
            consume(UInt64(sum) &+ UInt64(page[100]))
        }
    },
]

/// RangeSet.contains at 8,192 ranges against a plain branchy binary search (predecessor of the
/// key among the starts, then compare with that range's end) over the same ranges and keys.
/// Ranges: i*64 + (i*7 & 15), 1 + (i & 31) long; keys spread over the whole span.
let rangeSetSize = 8192

func rangeSetFixture() -> (starts: [UInt64], ends: [UInt64], keys: [UInt64]) {
    let starts = (0..<rangeSetSize).map { UInt64($0) * 64 + (UInt64($0) &* 7 & 15) }
    let ends = starts.enumerated().map { $1 + UInt64($0 & 31) }
    let span = UInt64(rangeSetSize) * 64
    var x: UInt64 = 0x9e3779b97f4a7c15
    let keys = (0..<4096).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % span }
    return (starts, ends, keys)
}

final class RangeSetHolder: @unchecked Sendable {
    let set: GuestMemory.RangeSet
    init(_ set: consuming GuestMemory.RangeSet) { self.set = set }
}

final class MutableRangeSetHolder: @unchecked Sendable {
    var set: GuestMemory.RangeSet
    init(_ set: consuming GuestMemory.RangeSet) { self.set = set }
}

/// Gaps between the fixture's ranges, neither overlapping nor touching one (range i ends at
/// most 46 above i * 64 and range i + 1 starts at (i + 1) * 64 or later), in scattered order.
func rangeSetGaps() -> [UInt64] {
    (0..<4096).map { i in UInt64((i &* 2_654_435_761) % rangeSetSize) * 64 + 56 }
}

let rangeSetKernels: [Kernel] = [
    Kernel(name: "rangeset.add-remove-8192", summary: "RangeSet: add a one-value range in a gap, then remove it, 8,192 ranges") {
        let f = rangeSetFixture()
        var set = try! GuestMemory.RangeSet(name: "gate", limit: UInt64(rangeSetSize) + 1)
        for i in 0..<rangeSetSize { try! set.add(first: f.starts[i], last: f.ends[i]) }
        let holder = MutableRangeSetHolder(set)
        let gaps = rangeSetGaps()
        return { n in
            for i in 0..<Int(n) {
                let g = gaps[i & 4095]
                try! holder.set.add(first: g, last: g)
                try! holder.set.remove(first: g, last: g)
            }
            consume(UInt64(holder.set.count))
        }
    },
    Kernel(name: "baseline.swift-rangeset-add-remove-8192", summary: "Swift.RangeSet: the same insert and remove (a sorted array: two memmoves)") {
        let f = rangeSetFixture()
        var set = Swift.RangeSet<UInt64>()
        for i in 0..<rangeSetSize { set.insert(contentsOf: f.starts[i]..<(f.ends[i] + 1)) }
        let gaps = rangeSetGaps()
        return { n in
            for i in 0..<Int(n) {
                let g = gaps[i & 4095]
                set.insert(contentsOf: g..<(g + 1))
                set.remove(contentsOf: g..<(g + 1))
            }
            consume(UInt64(set.ranges.count))
        }
    },
    Kernel(name: "rangeset.contains-8192-random", summary: "RangeSet.contains at 8,192 ranges, random keys") {
        let f = rangeSetFixture()
        var set = try! GuestMemory.RangeSet(name: "gate", limit: UInt64(rangeSetSize))
        for i in 0..<rangeSetSize { try! set.add(first: f.starts[i], last: f.ends[i]) }
        let holder = RangeSetHolder(set)
        let keys = f.keys
        return { n in
            keys.withUnsafeBufferPointer { k in
                var hits: UInt64 = 0
                for i in 0..<Int(n) where holder.set.contains(k[i & 4095]) { hits &+= 1 }
                consume(hits)
            }
        }
    },
    Kernel(name: "baseline.binary-search-8192-random", summary: "binary search over the same sorted starts, same keys") {
        let f = rangeSetFixture()
        return { n in
            f.starts.withUnsafeBufferPointer { s in
                f.ends.withUnsafeBufferPointer { e in
                    f.keys.withUnsafeBufferPointer { k in
                        var hits: UInt64 = 0
                        for i in 0..<Int(n) {
                            let key = k[i & 4095]
                            var lo = 0, hi = s.count  // first start > key
                            while lo < hi {
                                let mid = (lo + hi) >> 1
                                if s[mid] <= key { lo = mid + 1 } else { hi = mid }
                            }
                            if lo > 0 && key <= e[lo - 1] { hits &+= 1 }
                        }
                        consume(hits)
                    }
                }
            }
        }
    },
]

/// The live-update frame-table rebuild (seed 004) on a 1 Mi-frame (4 GiB) host: the one pass
/// with 1000 and with 1,000,000 preserved ranges, against the bare scan (one value to every
/// record). One operation is a whole table.
let liveUpdateFrames: UInt64 = 1 << 20

func onePassKernel(ranges: UInt64, label: String) -> Kernel {
    Kernel(name: "liveupdate.one-pass-1m-frames-\(label)-ranges", summary: "FrameTableRebuild.onePass, 1 Mi frames, \(label) preserved ranges") {
        let table = try! FrameTable(frames: liveUpdateFrames)
        let plan = try! RebuildWorkload.plan(frames: liveUpdateFrames, ranges: ranges)
        // The gate process ends after one kernel: the table and plan live until then.
        return { n in
            for _ in 0..<n { FrameTableRebuild.onePass(table, plan: plan) }
            consume(table[Mfn(uncheckedRaw: liveUpdateFrames / 2)].raw)
        }
    }
}

let liveUpdateKernels: [Kernel] = [
    onePassKernel(ranges: 1000, label: "1k"),
    onePassKernel(ranges: 1_000_000, label: "1m"),
    Kernel(name: "baseline.copy-scan-1m-frames", summary: "FrameTableRebuild.copyScan: 1 Mi records copied from an image (memcpy)") {
        let table = try! FrameTable(frames: liveUpdateFrames)
        let image = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: Int(liveUpdateFrames))
        image.initialize(repeating: FrameRecord.free.raw)
        return { n in
            for _ in 0..<n { FrameTableRebuild.copyScan(table, from: UnsafeBufferPointer(image)) }
            consume(table[Mfn(uncheckedRaw: liveUpdateFrames / 2)].raw)
        }
    },
    Kernel(name: "baseline.bare-scan-1m-frames", summary: "FrameTableRebuild.bareScan: one value to each of 1 Mi records") {
        let table = try! FrameTable(frames: liveUpdateFrames)
        return { n in
            for _ in 0..<n { FrameTableRebuild.bareScan(table, record: .free) }
            consume(table[Mfn(uncheckedRaw: liveUpdateFrames / 2)].raw)
        }
    },
]

/// P2M.translate on a hot set (256 gfns of one 2 MiB region mapped with 4K leaves, mfn = gfn + 1
/// so it cannot coalesce) against the 4-load chase with the same index arithmetic.
let p2mHotBase: UInt64 = 0x2468 << 9

func p2mHotSet() -> [UInt64] {
    var x: UInt64 = 0x9e3779b97f4a7c15
    return (0..<256).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return p2mHotBase + x % 512 }
}

let p2mKernels: [Kernel] = [
    Kernel(name: "p2m.translate-hot-4k", summary: "P2M.translate, 256 hot gfns under 4K leaves") {
        let p2m = P2M()
        try! p2m.set(gfn: Gfn(uncheckedRaw: p2mHotBase), count: 512, to: Mfn(uncheckedRaw: p2mHotBase + 1), type: .ramRW)
        let hot = p2mHotSet()
        return { n in
            hot.withUnsafeBufferPointer { h in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= p2m.translate(Gfn(uncheckedRaw: h[i & 255]))?.mfn?.raw ?? 0 }
                consume(sum)
            }
        }
    },
    Kernel(name: "baseline.four-load-chase", summary: "4 dependent loads through 4 cache-resident nodes, same gfns") {
        let chase = FourLoadChase()
        let hot = p2mHotSet()
        return { n in
            hot.withUnsafeBufferPointer { h in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= chase.load(h[i & 255]) >> 12 }
                consume(sum)
            }
        }
    },
]
