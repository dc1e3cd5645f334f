/// How a mapping makes its stores durable. Chosen once, from `pmem_is_pmem`, when it is mapped.
public enum PersistenceMethod: String, Sendable, Codable, CustomStringConvertible {
    /// Real persistent memory: flush CPU caches from user space (`pmem_persist`,
    /// `pmem_memcpy_persist`, `pmem_flush` + `pmem_drain`). No system call.
    case cacheFlush = "cpu-cache-flush"
    /// Anything else (a file on a disk or tmpfs): the kernel writes pages back (`pmem_msync`).
    case msync

    public var description: String { rawValue }
}
