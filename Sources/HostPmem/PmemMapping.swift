#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// A host persistent-memory backing mapped into this process through libpmem: an emulated
/// pmem file, a file on an fsdax mount, or a device-dax character device.
///
/// Invariants:
/// - `base` points at `length` mapped bytes for the whole life of the object, and is unmapped
///   exactly once, in `deinit`.
/// - A `.readWrite` mapping holds the backing lock from before the file is mapped until after it
///   is unmapped; the lock's file descriptor is owned here and closed in `deinit`.
/// - Every access is bounds-checked against `length` before a byte moves.
/// - `persistence` is fixed at map time from `pmem_is_pmem`; every persisting write uses it.
///
/// Threads: disjoint ranges may be written from different threads; overlapping writes need the
/// caller's own ordering, as with any shared memory.
public final class PmemMapping: @unchecked Sendable {
    public let path: String
    /// Bytes mapped: the file's size, or the device's.
    public let length: UInt64
    /// Whether libpmem found the mapping to be real persistent memory.
    public let isPmem: Bool
    public let access: PmemAccess
    /// Whether this call created the backing file.
    public let created: Bool

    private let mapped: Libpmem.Mapped
    private let lockFD: FileDescriptor?

    public var persistence: PersistenceMethod { isPmem ? .cacheFlush : .msync }

    private init(path: String, mapped: Libpmem.Mapped, access: PmemAccess, lockFD: FileDescriptor?, created: Bool) {
        self.path = path
        self.mapped = mapped
        self.length = UInt64(mapped.length)
        self.isPmem = mapped.isPmem
        self.access = access
        self.lockFD = lockFD
        self.created = created
    }

    deinit {
        Libpmem.unmap(mapped)
        if let lockFD { SystemCalls.close(lockFD) }
    }

    // MARK: Opening

    /// Creates an emulated pmem file of `size` bytes (sparse unless `preallocate`), or opens the
    /// file already at `path` if its size is exactly `size`. A different size is refused with
    /// both sizes named; nothing about the existing file changes.
    public static func create(path: String, size: UInt64, preallocate: Bool = false) throws(HostPmemError) -> PmemMapping {
        guard size > 0 else { throw .invalidSize(path: path, size: size, reason: "a pmem backing needs at least one byte") }
        let (fd, created) = try SystemCalls.openReadWrite(path, create: true)
        do throws(HostPmemError) {
            try SystemCalls.lockExclusive(fd, path: path)
            let st = try SystemCalls.stat(fd, path: path)
            if created {
                if preallocate {
                    try SystemCalls.preallocate(fd, size: size, path: path)
                } else {
                    try SystemCalls.resize(fd, to: size, path: path)
                }
            } else {
                try checkKind(st, path: path)
                if st.type == .regular && UInt64(st.size) != size {
                    throw HostPmemError.sizeMismatch(path: path, existing: UInt64(st.size), requested: size)
                }
            }
            let m = try Libpmem.mapFile(path)
            if UInt64(m.length) != size {
                Libpmem.unmap(m)
                throw HostPmemError.sizeMismatch(path: path, existing: UInt64(m.length), requested: size)
            }
            SystemCalls.setPidBeacon(fd)
            return PmemMapping(path: path, mapped: m, access: .readWrite, lockFD: fd, created: created)
        } catch {
            SystemCalls.close(fd)
            // Only a file this call made is removed: an existing backing is never touched.
            if created { SystemCalls.unlink(path) }
            throw error
        }
    }

    /// Opens an existing backing at its own size. With `expectedSize`, a backing of another
    /// size is refused with both sizes named.
    public static func open(path: String, expectedSize: UInt64? = nil, access: PmemAccess = .readWrite) throws(HostPmemError) -> PmemMapping {
        let fd: FileDescriptor
        switch access {
        case .readWrite:
            (fd, _) = try SystemCalls.openReadWrite(path, create: false)
        case .readOnly:
            fd = try SystemCalls.openReadOnly(path)
        }
        do throws(HostPmemError) {
            if access == .readWrite { try SystemCalls.lockExclusive(fd, path: path) }
            let st = try SystemCalls.stat(fd, path: path)
            try checkKind(st, path: path)
            if st.type == .regular && st.size == 0 {
                throw HostPmemError.invalidSize(path: path, size: 0, reason: "the file is empty: create it with a size (vpmem pmem create \(path) --size SIZE)")
            }
            if let expectedSize, st.type == .regular, UInt64(st.size) != expectedSize {
                throw HostPmemError.sizeMismatch(path: path, existing: UInt64(st.size), requested: expectedSize)
            }
            // Read-only: a regular file is mapped from the read-only descriptor, never opened for
            // writing; a device-dax device still goes through libpmem, which knows its size.
            let m = access == .readOnly && st.type == .regular
                ? try Libpmem.mapReadOnly(fd.rawValue, length: Int(st.size), path: path)
                : try Libpmem.mapFile(path)
            if let expectedSize, UInt64(m.length) != expectedSize {
                Libpmem.unmap(m)
                throw HostPmemError.sizeMismatch(path: path, existing: UInt64(m.length), requested: expectedSize)
            }
            if access == .readOnly {
                SystemCalls.close(fd)
                return PmemMapping(path: path, mapped: m, access: access, lockFD: nil, created: false)
            }
            SystemCalls.setPidBeacon(fd)
            return PmemMapping(path: path, mapped: m, access: access, lockFD: fd, created: false)
        } catch {
            SystemCalls.close(fd)
            throw error
        }
    }

    /// Regular files and character devices (device dax) only; libpmem judges the device.
    static func checkKind(_ st: Stat, path: String) throws(HostPmemError) {
        switch st.type {
        case .regular, .characterSpecial: return
        case .directory: throw .notPmemCapable(path: path, reason: "it is a directory")
        case .blockSpecial:
            throw .notPmemCapable(path: path, reason: "a block device: put a filesystem on it mounted with -o dax and use a file there, or reconfigure the namespace as devdax")
        default: throw .notPmemCapable(path: path, reason: "not a regular file or a character device")
        }
    }

    // MARK: Access

    @inline(__always)
    private func checkRange(_ offset: UInt64, _ count: Int) throws(HostPmemError) -> UnsafeMutableRawPointer {
        let n = UInt64(count)
        let (end, overflow) = offset.addingReportingOverflow(n)
        guard count >= 0, !overflow, end <= length else {
            throw .outOfBounds(path: path, offset: offset, length: n, size: length)
        }
        return mapped.base + Int(offset)
    }

    /// Copies `bytes` to `offset` and makes them durable before returning.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(HostPmemError) {
        guard access == .readWrite else { throw .readOnly(path: path) }
        let dst = try checkRange(offset, bytes.count)
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        if isPmem {
            Libpmem.memcpyPersist(dst, src, bytes.count)
        } else {
            dst.copyMemory(from: src, byteCount: bytes.count)
            try Libpmem.msync(dst, bytes.count, path: path)
        }
    }

    public func write(_ bytes: [UInt8], at offset: UInt64) throws(HostPmemError) {
        // Array's withUnsafeBytes is untyped-rethrows; carry the typed error out as a Result.
        let result = bytes.withUnsafeBytes { raw in Result { () throws(HostPmemError) in try write(raw, at: offset) } }
        try result.get()
    }

    /// Copies `bytes` to `offset` without making them durable yet; follow with
    /// `persist(offset:count:)` over the written span (batching many small writes into one).
    public func writeUnpersisted(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(HostPmemError) {
        guard access == .readWrite else { throw .readOnly(path: path) }
        let dst = try checkRange(offset, bytes.count)
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        if isPmem {
            Libpmem.memcpyNoDrain(dst, src, bytes.count)
        } else {
            dst.copyMemory(from: src, byteCount: bytes.count)
        }
    }

    /// Makes `[offset, offset+count)` durable with this mapping's persistence method.
    public func persist(offset: UInt64, count: Int) throws(HostPmemError) {
        let p = try checkRange(offset, count)
        guard count > 0 else { return }
        if isPmem { Libpmem.persist(p, count) } else { try Libpmem.msync(p, count, path: path) }
    }

    /// Copies `buffer.count` bytes from `offset` into `buffer`.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(HostPmemError) {
        let src = try checkRange(offset, buffer.count)
        guard let dst = buffer.baseAddress, buffer.count > 0 else { return }
        dst.copyMemory(from: src, byteCount: buffer.count)
    }

    public func read(at offset: UInt64, count: Int) throws(HostPmemError) -> [UInt8] {
        _ = try checkRange(offset, count)
        return try [UInt8](unsafeUninitializedCapacity: count) { (buf, n) throws(HostPmemError) in
            try read(at: offset, into: UnsafeMutableRawBufferPointer(buf))
            n = count
        }
    }

    /// Direct access to `[offset, offset+count)` for code that copies into or out of the
    /// mapping itself (a device model serving a guest access). Stores made through the buffer
    /// are not durable until `persist(offset:count:)`. The buffer must not escape `body`.
    public func withUnsafeMutableBytes<R, E: Error>(
        offset: UInt64, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(HostPmemError) -> Result<R, E> {
        guard access == .readWrite else { throw .readOnly(path: path) }
        let p = try checkRange(offset, count)
        do { return .success(try body(UnsafeMutableRawBufferPointer(start: p, count: count))) } catch { return .failure(error) }
    }

    /// Read-only direct access to `[offset, offset+count)`; the buffer must not escape `body`.
    public func withUnsafeBytes<R, E: Error>(
        offset: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(HostPmemError) -> Result<R, E> {
        let p = try checkRange(offset, count)
        do { return .success(try body(UnsafeRawBufferPointer(start: p, count: count))) } catch { return .failure(error) }
    }
}
