#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import CPmem

/// libpmem's calls, each wrapped once. Only PmemMapping calls these.
enum Libpmem {
    struct Mapped {
        var base: UnsafeMutableRawPointer
        var length: Int
        var isPmem: Bool
        /// Made by pmem_map_file (and so unmapped by pmem_unmap); false for a read-only mapping
        /// of a regular file, which libpmem cannot make (it always opens for writing).
        var byLibpmem = true
    }

    /// Maps the whole of an existing file or device-dax character device.
    static func mapFile(_ path: String) throws(HostPmemError) -> Mapped {
        var length = 0
        var isPmem: Int32 = 0
        guard let base = pmem_map_file(path, 0, 0, 0, &length, &isPmem) else {
            let e = Errno(rawValue: Glibc.errno)
            let message = String(cString: pmem_errormsg())
            if e == .invalidArgument {
                throw .notPmemCapable(path: path, reason: message.isEmpty ? "libpmem cannot map it" : message)
            }
            var mapped = SystemCalls.error(e, path: path, operation: "map (pmem_map_file)")
            if case .system(let p, let op, let n, _) = mapped { mapped = .system(path: p, operation: op, errno: n, message: message) }
            throw mapped
        }
        return Mapped(base: base, length: length, isPmem: isPmem != 0)
    }

    static func unmap(_ m: Mapped) {
        if m.byLibpmem { _ = pmem_unmap(m.base, m.length) } else { _ = munmap(m.base, m.length) }
    }

    /// A read-only shared mapping of `length` bytes of the regular file open as `fd` (opened
    /// read-only): inspection needs no write permission and can write nothing. libpmem has no
    /// read-only map call, so this one mmap is made here; such a mapping is never persisted.
    static func mapReadOnly(_ fd: Int32, length: Int, path: String) throws(HostPmemError) -> Mapped {
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw SystemCalls.error(Errno(rawValue: Glibc.errno), path: path, operation: "map read-only (mmap)")
        }
        return Mapped(base: base, length: length, isPmem: false, byLibpmem: false)
    }

    /// Whether `[base, base+length)` is real persistent memory (flushable from user space).
    static func isPmem(_ base: UnsafeRawPointer, _ length: Int) -> Bool {
        pmem_is_pmem(base, length) != 0
    }

    @inline(__always) static func persist(_ p: UnsafeRawPointer, _ n: Int) { pmem_persist(p, n) }
    @inline(__always) static func flush(_ p: UnsafeRawPointer, _ n: Int) { pmem_flush(p, n) }
    @inline(__always) static func drain() { pmem_drain() }
    @inline(__always) static func memcpyPersist(_ d: UnsafeMutableRawPointer, _ s: UnsafeRawPointer, _ n: Int) {
        _ = pmem_memcpy_persist(d, s, n)
    }
    @inline(__always) static func memcpyNoDrain(_ d: UnsafeMutableRawPointer, _ s: UnsafeRawPointer, _ n: Int) {
        _ = pmem_memcpy(d, s, n, UInt32(PMEM_F_MEM_NODRAIN))
    }

    /// pmem_memcpy with explicit PMEM_F_MEM_* flags (non-temporal or temporal stores, drain
    /// or not), for the write methods `vpmem bench pmem` measures one by one.
    @inline(__always) static func memcpy(_ d: UnsafeMutableRawPointer, _ s: UnsafeRawPointer, _ n: Int, flags: UInt32) {
        _ = pmem_memcpy(d, s, n, flags)
    }
    static let flagNoDrain = UInt32(PMEM_F_MEM_NODRAIN)
    static let flagNonTemporal = UInt32(PMEM_F_MEM_NONTEMPORAL)
    static let flagTemporal = UInt32(PMEM_F_MEM_TEMPORAL)

    /// Whether the platform has a hardware drain instruction (pmem_has_hw_drain).
    static var hasHardwareDrain: Bool { pmem_has_hw_drain() != 0 }
    /// Whether the platform flushes CPU caches on power loss, eADR (pmem_has_auto_flush: 1 yes,
    /// 0 no, -1 could not tell).
    static var autoFlush: Int32 { pmem_has_auto_flush() }

    /// pmem_msync without the error mapping, for loops that check the result themselves.
    @inline(__always) static func msyncStatus(_ p: UnsafeRawPointer, _ n: Int) -> Int32 { pmem_msync(p, n) }

    /// msync for mappings that are not pmem; libpmem rounds to pages.
    static func msync(_ p: UnsafeRawPointer, _ n: Int, path: String) throws(HostPmemError) {
        if pmem_msync(p, n) != 0 {
            throw SystemCalls.error(Errno(rawValue: Glibc.errno), path: path, operation: "msync")
        }
    }
}
