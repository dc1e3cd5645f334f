#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Large zero-initialised buffers that cost nothing until written: the frame table, the content
// ids and the buddy bitmaps of a modelled host (a 1 TiB host's frame table alone is 2 GiB).
//
// Invariants:
//  - `base` points at `bytes` bytes of private anonymous memory (mmap, MAP_NORESERVE), owned by
//    this object and unmapped in deinit. Bytes never written read as zero, and a page costs RAM
//    only once written (reading an untouched page maps the kernel's shared zero page).
//  - `bytes` > 0 and a multiple of the page size.
//  - Nothing else keeps the pointer past a call that lends it.
//
// Types built on it choose their encodings so that their usual state is all zeros (a free RAM
// frame, power-on contents, an empty bitmap), so building a host writes only what differs.

/// Zero-filled memory from the kernel, paid for page by page as it is written.
final class ZeroedMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let bytes: Int

    /// `count` zero bytes (rounded up to whole pages). Traps when the kernel refuses: the sizes
    /// are bounded by HostMemoryConfig.maxFrames, checked before any buffer is asked for.
    init(bytes count: Int) {
        precondition(count >= 0, "negative size")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        bytes = max(page, (count + page - 1) / page * page)
        #if canImport(Glibc)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("mmap of \(bytes) bytes failed: errno \(errno)") }
        base = p
    }

    deinit { munmap(base, bytes) }

    /// A copy: the same bytes in fresh memory, written only where a page holds a non-zero byte.
    func copy() -> ZeroedMemory {
        let c = ZeroedMemory(bytes: bytes)
        let page = 4096
        var p = 0
        while p < bytes {
            let n = min(page, bytes - p)
            var i = 0
            while i < n && base.load(fromByteOffset: p + i, as: UInt64.self) == 0 { i += 8 }
            if i < n { (c.base + p).copyMemory(from: base + p, byteCount: n) }
            p += n
        }
        return c
    }
}
