import GuestMemory
import VpmemTestSupport
import Testing
@testable import HostMemory

@Suite struct BootAllocatorTests {
    @Test func mergesAndAllocatesFromTheTopAligned() throws {
        var b = BootAllocator(ranges: [frames(100, 200), frames(0, 50), frames(50, 60)])
        #expect(b.ranges == [frames(0, 60), frames(100, 200)])
        let a = try b.allocate(frames: 16, alignment: 16, for: "test")
        #expect(a == frames(176, 192))
        #expect(b.ranges == [frames(0, 60), frames(100, 176), frames(192, 200)])
        b.remove(frames(40, 150))
        #expect(b.ranges == [frames(0, 40), frames(150, 176), frames(192, 200)])
        #expect(throws: HostMemoryError.outOfMemory(what: "big", frames: 41, available: 74, pool: "boot allocator")) {
            try b.allocate(frames: 41, for: "big")
        }
        #expect(b.freeFrames == 74)
        #expect(b.finish() == [frames(0, 40), frames(150, 176), frames(192, 200)])
    }

    /// One-frame ranges and a range ending at the last frame of the 52-bit space: merging,
    /// removal and allocation keep exact bounds and never wrap past 2^52.
    @Test func oneFrameRangesAndTheTopOfTheFrameSpace() throws {
        let top = maxFrameNumber
        var b = BootAllocator(ranges: [frames(top - 3, top - 2), frames(top - 1, top + 1), frames(top - 2, top - 1)])
        #expect(b.ranges == [frames(top - 3, top + 1)])
        #expect(b.ranges[0].last.raw == top && b.ranges[0].end == 1 << 52)
        b.remove(frames(top - 1, top))
        #expect(b.ranges == [frames(top - 3, top - 1), frames(top, top + 1)])
        let a = try b.allocate(frames: 1, for: "top frame")
        #expect(a == frames(top, top + 1) && a.count == 1)
        #expect(b.ranges == [frames(top - 3, top - 1)])
        let c = try b.allocate(frames: 2, alignment: 2, for: "pair")
        #expect(c == frames(top - 3, top - 1))
        #expect(b.ranges.isEmpty && b.freeFrames == 0)
    }

    /// Xen's boot allocator stops at 512 ranges; this one tracks as many as the memory has.
    @Test func keepsFarMoreThanXensFiveHundredTwelveRanges() throws {
        let n: UInt64 = 20_000
        var b = BootAllocator(ranges: (0..<n).map { frames($0 * 4, $0 * 4 + 2) })
        #expect(b.ranges.count == Int(n))
        #expect(b.ranges.count > BootAllocator.xenRangeLimit)
        #expect(b.freeFrames == 2 * n)
        _ = try b.allocate(frames: 2, for: "t")
        #expect(b.freeFrames == 2 * n - 2)
    }
}

@Suite struct BuddyHeapTests {
    /// Random frees and allocations against a naive set of free frames.
    @Test func matchesANaiveFreeSet() async {
        await checkProperty(count: 60, input: Gen.int(in: 0...1_000_000).array(of: 1...80)) { ops in
            let n: UInt64 = 4096 + 77
            var heap = BuddyHeap(frames: n)
            var model = Set<UInt64>()
            var allocated: [(UInt64, Int)] = []
            for op in ops {
                switch op % 4 {
                case 0:  // free a random range of frames not currently free and not allocated
                    let s = UInt64(op / 4) % n
                    let len = UInt64(op % 300) + 1
                    var e = s
                    while e < min(n, s + len) && !model.contains(e) && !allocated.contains(where: { e >= $0.0 && e < $0.0 + (1 << UInt64($0.1)) }) { e += 1 }
                    if e > s {
                        heap.free(frames(s, e))
                        for m in s..<e { model.insert(m) }
                    }
                case 1, 2:  // allocate
                    let order = (op / 4) % 10
                    if let m = heap.allocate(order: order) {
                        let size = UInt64(1) << UInt64(order)
                        #expect(m.raw % size == 0)
                        for f in m.raw..<(m.raw + size) {
                            let removed = model.remove(f)
                            #expect(removed != nil, "handed out frame \(f) that was not free")
                        }
                        allocated.append((m.raw, order))
                    } else {
                        // Nothing of that order free: no aligned run of 2^order free frames exists.
                        let size = UInt64(1) << UInt64(order)
                        var found = false
                        var s: UInt64 = 0
                        while s + size <= n && !found {
                            found = (s..<(s + size)).allSatisfy { model.contains($0) }
                            s += size
                        }
                        #expect(!found, "allocate(order: \(order)) failed with an aligned free block present")
                    }
                default:  // give back an allocation, or offline a free frame
                    if !allocated.isEmpty {
                        let (m, o) = allocated.removeLast()
                        heap.free(mfn(m), order: o)
                        for f in m..<(m + (1 << UInt64(o))) { model.insert(f) }
                    } else if let f = model.min() {
                        let took = heap.take(mfn(f))
                        #expect(took)
                        model.remove(f)
                    }
                }
                #expect(heap.freeFrames == UInt64(model.count))
            }
            let modelRanges = MfnRange.merging(model.map { frames($0, $0 + 1) })
            #expect(heap.freeRanges() == modelRanges)
        }
    }

    /// The bitmaps are shared until written: a copy changed afterwards leaves the original as it
    /// was, and the other way round.
    @Test func copiesAreIndependent() {
        var a = BuddyHeap(frames: 1 << 20)
        a.free(frames(0x100, 0xC0000))
        var b = a
        let got = b.allocate(order: 9)
        #expect(got == mfn(0x200))
        #expect(a.freeRanges() == [frames(0x100, 0xC0000)] && a.freeFrames == 0xC0000 - 0x100)
        #expect(b.freeRanges() == [frames(0x100, 0x200), frames(0x400, 0xC0000)])
        a.free(frames(0xC0000, 0xC0010))
        #expect(b.freeRanges() == [frames(0x100, 0x200), frames(0x400, 0xC0000)])
        #expect(a.allocate(order: 9) == mfn(0x200) && a.contains(mfn(0xC000f)))
    }

    @Test func takeSplitsTheBlockAroundTheFrame() {
        var heap = BuddyHeap(frames: 1024)
        heap.free(frames(0, 1024))
        let first = heap.take(mfn(300))
        #expect(first)
        #expect(!heap.contains(mfn(300)))
        #expect(heap.freeRanges() == [frames(0, 300), frames(301, 1024)])
        let again = heap.take(mfn(300))
        #expect(!again)
    }
}
