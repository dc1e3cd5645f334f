import GuestMemory

// SparseFrameStore: modelled host RAM for a run of machine frames, allocated on first write, so
// a 16 GiB guest costs only the frames its workload writes.
//
// Invariants:
//  1. `directory` has `chunks = ceil(frames / 512)` slots; slot c is nil or a chunk of 512 page
//     pointers, each nil or one 4 KiB page (zero-filled when allocated).
//  2. A frame whose page pointer is nil reads as zeros; writing it allocates the page.
//  3. `pagesAllocated` counts the non-nil page pointers; pages are freed only in `deinit`.
//  4. Every public access is checked against [firstMfn, firstMfn + frames) and the 4 KiB page
//     before a byte moves.

/// Machine frames of modelled host RAM, backed lazily.
public final class SparseFrameStore {
    public let firstMfn: Mfn
    public let frames: UInt64
    public private(set) var pagesAllocated: Int = 0

    private static let framesPerChunk: UInt64 = 512
    private let directory: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutableRawPointer?>?>
    private let chunks: Int

    /// Frames `[firstMfn, firstMfn + frames)`. Costs 8 bytes per 512 frames up front.
    public init(firstMfn: Mfn, frames: UInt64) throws(MachineMemoryError) {
        guard frames > 0 else { throw .emptyBacking(first: firstMfn) }
        do { _ = try firstMfn.advanced(by: frames - 1) } catch { throw .beyondFrameSpace(first: firstMfn, frames: frames) }
        guard frames <= 1 << 40 else { throw .beyondFrameSpace(first: firstMfn, frames: frames) }
        self.firstMfn = firstMfn
        self.frames = frames
        chunks = Int((frames + Self.framesPerChunk - 1) / Self.framesPerChunk)
        directory = .allocate(capacity: chunks)
        directory.initialize(repeating: nil, count: chunks)
    }

    deinit {
        for c in 0..<chunks {
            guard let chunk = directory[c] else { continue }
            for i in 0..<Int(Self.framesPerChunk) { chunk[i]?.deallocate() }
            chunk.deallocate()
        }
        directory.deallocate()
    }

    /// Bytes of host memory the store holds: pages plus directory and chunks.
    public var bytesAllocated: Int {
        var n = chunks * 8 + pagesAllocated * Int(PageOrder.frameBytes)
        for c in 0..<chunks where directory[c] != nil { n += Int(Self.framesPerChunk) * 8 }
        return n
    }

    public func contains(_ mfn: Mfn) -> Bool { mfn.raw >= firstMfn.raw && mfn.raw - firstMfn.raw < frames }

    /// The page of `mfn`, or nil when it was never written (and `allocate` is false).
    private func page(_ mfn: Mfn, allocate: Bool) -> UnsafeMutableRawPointer? {
        let i = mfn.raw - firstMfn.raw
        let c = Int(i / Self.framesPerChunk)
        let slot = Int(i % Self.framesPerChunk)
        var chunk = directory[c]
        if chunk == nil {
            guard allocate else { return nil }
            let new = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: Int(Self.framesPerChunk))
            new.initialize(repeating: nil, count: Int(Self.framesPerChunk))
            directory[c] = new
            chunk = new
        }
        let chunkPtr = chunk.unsafelyUnwrapped
        if let p = chunkPtr[slot] { return p }
        guard allocate else { return nil }
        let p = UnsafeMutableRawPointer.allocate(byteCount: Int(PageOrder.frameBytes), alignment: Int(PageOrder.frameBytes))
        p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(PageOrder.frameBytes))
        chunkPtr[slot] = p
        pagesAllocated += 1
        return p
    }

    private func check(_ mfn: Mfn, _ offset: Int, _ count: Int) throws(MachineMemoryError) {
        guard contains(mfn) else { throw .noBacking(mfn: mfn) }
        guard offset >= 0, count >= 0, offset + count <= Int(PageOrder.frameBytes) else {
            throw .crossesFrame(mfn: mfn, offset: offset, count: count)
        }
    }

    /// Copies `buffer.count` bytes from `offset` in frame `mfn` (zeros if never written).
    public func read(_ mfn: Mfn, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(MachineMemoryError) {
        try check(mfn, offset, buffer.count)
        guard let dst = buffer.baseAddress, buffer.count > 0 else { return }
        if let p = page(mfn, allocate: false) {
            dst.copyMemory(from: p + offset, byteCount: buffer.count)
        } else {
            dst.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count)
        }
    }

    /// Copies `bytes` to `offset` in frame `mfn`, allocating the page on first write.
    public func write(_ mfn: Mfn, offset: Int, from bytes: UnsafeRawBufferPointer) throws(MachineMemoryError) {
        try check(mfn, offset, bytes.count)
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        page(mfn, allocate: true).unsafelyUnwrapped.advanced(by: offset).copyMemory(from: src, byteCount: bytes.count)
    }
}
