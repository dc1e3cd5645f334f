import GuestMemory

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// SparseFrameStore: modelled host RAM for a run of machine frames, as one flat anonymous
// mapping of `frames` pages reserved without commitment (MAP_NORESERVE): the kernel backs a
// page with memory the first time it is written and reads an untouched page as zeros. So a
// 16 GiB guest costs only the pages its workload writes, each exactly its 4 KiB, and a frame's
// bytes are at `base + (mfn - firstMfn) * 4096`: one add, no directory, no allocation on the
// access path (the copy-free path `bytes(of:)` is what the steering delivery uses).
//
// Invariants:
//  1. `base` maps `frames * 4096` bytes, readable and writable, for the store's lifetime.
//  2. Every public access is checked against [firstMfn, firstMfn + frames) and the 4 KiB page
//     before a byte moves.
//  3. Pages are given back only in `deinit` (munmap).

/// Machine frames of modelled host RAM, backed by the host kernel where written.
public final class SparseFrameStore {
    public let firstMfn: Mfn
    public let frames: UInt64
    /// The first frame's bytes; frame `firstMfn + i` is at `base + i * 4096`.
    public let base: UnsafeMutableRawPointer

    /// Frames `[firstMfn, firstMfn + frames)`. Reserves address space only: no memory is
    /// committed until a page is written.
    public init(firstMfn: Mfn, frames: UInt64) throws(MachineMemoryError) {
        guard frames > 0 else { throw .emptyBacking(first: firstMfn) }
        do { _ = try firstMfn.advanced(by: frames - 1) } catch { throw .beyondFrameSpace(first: firstMfn, frames: frames) }
        guard frames <= 1 << 40 else { throw .beyondFrameSpace(first: firstMfn, frames: frames) }
        let bytes = Int(frames) * Int(PageOrder.frameBytes)
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw .hostMappingRefused(first: firstMfn, frames: frames, errno: errno)
        }
        self.firstMfn = firstMfn
        self.frames = frames
        base = p
    }

    deinit {
        munmap(base, Int(frames) * Int(PageOrder.frameBytes))
    }

    /// Pages the host has backed with memory (written, or read after the kernel chose to back
    /// them): what the store costs. Asks the kernel (mincore), so it is for reports and tests.
    public var pagesAllocated: Int {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = Int(frames) * Int(PageOrder.frameBytes)
        let pages = (length + pageSize - 1) / pageSize
        var resident = 0
        // In slices, so the vector stays small for a large store.
        let slice = 1 << 20
        var vector = [UInt8](repeating: 0, count: min(pages, slice))
        var at = 0
        while at < pages {
            let n = min(slice, pages - at)
            let r = vector.withUnsafeMutableBufferPointer { v in
                mincore(base + at * pageSize, n * pageSize, v.baseAddress)
            }
            if r == 0 { for i in 0..<n where vector[i] & 1 != 0 { resident += 1 } }
            at += n
        }
        return resident * pageSize / Int(PageOrder.frameBytes)
    }

    /// Backs frames `[mfn, mfn + frames)` with memory now (their contents unchanged), so the
    /// first access to each is not a page fault: what a guest's RAM is once the guest has run.
    /// Asks the kernel to populate the range (madvise MADV_POPULATE_WRITE, Linux 5.14); on an
    /// older kernel writes one byte of each page back to itself.
    public func populate(_ mfn: Mfn, frames count: UInt64) throws(MachineMemoryError) {
        guard count > 0 else { return }
        guard contains(mfn), count <= frames - (mfn.raw - firstMfn.raw) else { throw .noBacking(mfn: mfn) }
        let start = bytes(of: mfn)
        let length = Int(count) * Int(PageOrder.frameBytes)
        // MADV_POPULATE_WRITE is 23 in Linux's uapi; Glibc's headers may predate it.
        if madvise(start, length, 23) == 0 { return }
        let e = errno
        guard e == EINVAL else { throw .populateRefused(first: mfn, frames: count, errno: e) }
        var at = 0
        while at < length {
            let p = (start + at).assumingMemoryBound(to: UInt8.self)
            withExtendedLifetime(p) { $0.pointee = $0.pointee }
            at += Int(PageOrder.frameBytes)
        }
    }

    /// Bytes of host memory the store holds: its backed pages.
    public var bytesAllocated: Int { pagesAllocated * Int(PageOrder.frameBytes) }

    @inlinable public func contains(_ mfn: Mfn) -> Bool { mfn.raw &- firstMfn.raw < frames }

    /// The bytes of frame `mfn`, which must be in the store.
    @inlinable @inline(__always)
    public func bytes(of mfn: Mfn) -> UnsafeMutableRawPointer {
        base + Int(truncatingIfNeeded: (mfn.raw &- firstMfn.raw) &<< PageOrder.frameShift)
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
        dst.copyMemory(from: bytes(of: mfn) + offset, byteCount: buffer.count)
    }

    /// Copies `bytes` to `offset` in frame `mfn`.
    public func write(_ mfn: Mfn, offset: Int, from source: UnsafeRawBufferPointer) throws(MachineMemoryError) {
        try check(mfn, offset, source.count)
        guard let src = source.baseAddress, source.count > 0 else { return }
        (bytes(of: mfn) + offset).copyMemory(from: src, byteCount: source.count)
    }
}
