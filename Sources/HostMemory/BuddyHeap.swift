import GuestMemory

// A buddy allocator over machine frames 0 ..< frames, blocks of order 0 (4 KiB) to 18 (1 GiB).
//
// Invariants:
//  - For each order o, bit i of bitmap o is set iff the block of 2^o frames starting at frame
//    i << o is free, in this heap, as one block of exactly that order.
//  - Free blocks never overlap, and two free buddies of the same order are always merged, so a
//    frame is free in this heap iff exactly one order's bitmap has its block's bit set.
//  - `blocks[o]` counts the set bits of order o; `hint[o]` is a word index at or below the lowest
//    set bit of order o; `freeFrames` is the sum of the free blocks' sizes.
//  - Allocation returns the lowest-addressed free block of the smallest sufficient order, so runs
//    are deterministic (no hashing).
//  - The bitmaps live in `storage` (ZeroedMemory: all clear when fresh), shared copy-on-write:
//    a mutating call first makes `storage` unique, so BuddyHeap keeps value semantics.
//
// Memory: one bit per block per order, about 2 bits a frame reserved (64 MiB for a 1 TiB host),
// paid for only where bits are set or cleared. An empty heap costs no writes, and `free(_:)` of a
// range sets one bit per maximal aligned block, so building a heap over 1 TiB of free RAM is
// O(blocks) (about a thousand 1 GiB blocks), not O(frames).
// The heap knows nothing about owners or flags: HostMachine keeps the frame table in step.

/// The runtime (buddy) allocator for one pool of frames.
public struct BuddyHeap: Sendable {
    /// The largest block: 2^18 frames, 1 GiB.
    public static let maxOrder = 18

    public let frames: UInt64
    private var storage: ZeroedMemory
    private var wordOffset: [Int]
    private var wordCount: [Int]
    private var hint: [Int]
    private var blocks: [Int]
    public private(set) var freeFrames: UInt64 = 0

    /// An empty heap able to hold frames 0 ..< frames.
    public init(frames: UInt64) {
        self.frames = frames
        var offsets: [Int] = []
        var counts: [Int] = []
        var total = 0
        for o in 0...Self.maxOrder {
            let n = Int((frames >> UInt64(o)) / 64 + 1)
            offsets.append(total)
            counts.append(n)
            total += n
        }
        storage = ZeroedMemory(bytes: total * MemoryLayout<UInt64>.stride)
        wordOffset = offsets
        wordCount = counts
        hint = Array(repeating: 0, count: Self.maxOrder + 1)
        blocks = Array(repeating: 0, count: Self.maxOrder + 1)
    }

    /// The bitmap words (all orders, back to back); writes only after `makeUnique()`.
    private var bitmaps: UnsafeMutablePointer<UInt64> { storage.base.assumingMemoryBound(to: UInt64.self) }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    private func bit(_ head: UInt64, _ o: Int) -> Bool {
        let i = head >> UInt64(o)
        return bitmaps[wordOffset[o] + Int(i / 64)] & (1 << (i % 64)) != 0
    }

    private mutating func setBit(_ head: UInt64, _ o: Int) {
        let i = head >> UInt64(o)
        let w = Int(i / 64)
        bitmaps[wordOffset[o] + w] |= 1 << (i % 64)
        blocks[o] += 1
        if w < hint[o] { hint[o] = w }
    }

    private mutating func clearBit(_ head: UInt64, _ o: Int) {
        let i = head >> UInt64(o)
        bitmaps[wordOffset[o] + Int(i / 64)] &= ~(1 << (i % 64))
        blocks[o] -= 1
    }

    /// Frees the block of `2^order` frames at `head` (aligned, not already free), merging buddies.
    public mutating func free(_ head: Mfn, order: Int) {
        precondition(order >= 0 && order <= Self.maxOrder, "order \(order) out of range")
        precondition(head.raw & ((1 << UInt64(order)) - 1) == 0, "\(head) is not aligned to order \(order)")
        precondition(head.raw + (1 << UInt64(order)) <= frames, "\(head) order \(order) is past the heap")
        precondition(!contains(head), "\(head) is already free")
        makeUnique()
        freeFrames += 1 << UInt64(order)
        var h = head.raw
        var o = order
        while o < Self.maxOrder {
            let buddy = h ^ (1 << UInt64(o))
            guard buddy + (1 << UInt64(o)) <= frames, bit(buddy, o) else { break }
            clearBit(buddy, o)
            h = min(h, buddy)
            o += 1
        }
        setBit(h, o)
    }

    /// Frees every frame of `range`, as the largest aligned blocks that fit.
    public mutating func free(_ range: MfnRange) {
        var cur = range.first.raw
        let end = range.end
        while cur < end {
            var o = min(cur == 0 ? Self.maxOrder : cur.trailingZeroBitCount, Self.maxOrder)
            while (1 << UInt64(o)) > end - cur { o -= 1 }
            free(Mfn(uncheckedRaw: cur), order: o)
            cur += 1 << UInt64(o)
        }
    }

    /// The lowest free block of order `order`, taken out of the heap; nil when none is big enough.
    public mutating func allocate(order: Int) -> Mfn? {
        precondition(order >= 0 && order <= Self.maxOrder, "order \(order) out of range")
        makeUnique()
        for o in order...Self.maxOrder where blocks[o] > 0 {
            var w = hint[o]
            while bitmaps[wordOffset[o] + w] == 0 { w += 1 }
            hint[o] = w
            let i = UInt64(w) * 64 + UInt64(bitmaps[wordOffset[o] + w].trailingZeroBitCount)
            let head = i << UInt64(o)
            clearBit(head, o)
            var split = o
            while split > order {
                split -= 1
                setBit(head + (1 << UInt64(split)), split)
            }
            freeFrames -= 1 << UInt64(order)
            return Mfn(uncheckedRaw: head)
        }
        return nil
    }

    /// True when `mfn` is free in this heap.
    public func contains(_ mfn: Mfn) -> Bool { freeBlock(containing: mfn) != nil }

    private func freeBlock(containing mfn: Mfn) -> (head: UInt64, order: Int)? {
        guard mfn.raw < frames else { return nil }
        for o in 0...Self.maxOrder {
            let head = mfn.raw & ~((1 << UInt64(o)) - 1)
            if bit(head, o) { return (head, o) }
        }
        return nil
    }

    /// Takes one free frame out of the heap (to offline it); false when it is not free here.
    public mutating func take(_ mfn: Mfn) -> Bool {
        guard let (head, o) = freeBlock(containing: mfn) else { return false }
        makeUnique()
        clearBit(head, o)
        freeFrames -= 1 << UInt64(o)
        let end = head + (1 << UInt64(o))
        if mfn.raw > head { free(MfnRange(uncheckedFirst: head, end: mfn.raw)) }
        if mfn.raw + 1 < end { free(MfnRange(uncheckedFirst: mfn.raw + 1, end: end)) }
        return true
    }

    /// Every free frame, as sorted maximal ranges (for reports and tests; walks all bitmaps).
    public func freeRanges() -> [MfnRange] {
        var blocksFound: [MfnRange] = []
        for o in 0...Self.maxOrder where blocks[o] > 0 {
            for w in 0..<wordCount[o] {
                var word = bitmaps[wordOffset[o] + w]
                while word != 0 {
                    let b = UInt64(word.trailingZeroBitCount)
                    word &= word - 1
                    let head = (UInt64(w) * 64 + b) << UInt64(o)
                    blocksFound.append(MfnRange(uncheckedFirst: head, end: head + (1 << UInt64(o))))
                }
            }
        }
        return MfnRange.merging(blocksFound)
    }
}
