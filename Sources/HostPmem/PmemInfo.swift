/// What `vpmem pmem info` reports about a backing, read without taking its lock.
public struct PmemInfo: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case file, devdax = "device-dax" }

    public var path: String
    public var kind: Kind
    public var size: UInt64
    /// Bytes the filesystem has really allocated (a sparse emulated file has few); nil for devices.
    public var allocated: UInt64?
    public var isPmem: Bool
    public var persistence: PersistenceMethod
    /// Whether some process has the backing mapped for writing.
    public var locked: Bool
    /// That process's pid, when the lock tells it.
    public var lockHolderPid: Int32?
    /// Whether a write is durable when it returns, by what, and set-ups that lose data.
    public var durability: BackingDurability
    /// The device, filesystem, namespace and NUMA node under the backing.
    public var facts: BackingFacts

    enum CodingKeys: String, CodingKey {
        case path, kind, size, allocated, persistence, locked, durability, facts
        case isPmem = "is_pmem", lockHolderPid = "lock_holder_pid"
    }

    /// Inspects `path`: maps it briefly to ask libpmem whether it is pmem, and queries the lock.
    public static func inspect(path: String) throws(HostPmemError) -> PmemInfo {
        let st = try SystemCalls.stat(path: path)
        try PmemMapping.checkKind(st, path: path)
        let fd = try SystemCalls.openReadOnly(path)
        defer { SystemCalls.close(fd) }
        let locked = try SystemCalls.isLocked(fd, path: path)
        let holder = locked ? SystemCalls.lockHolder(fd) : nil
        let m = try Libpmem.mapFile(path)
        defer { Libpmem.unmap(m) }
        let isFile = st.type == .regular
        let facts = BackingFacts.gather(path: path, isPmem: m.isPmem)
        return PmemInfo(
            path: path, kind: isFile ? .file : .devdax, size: UInt64(m.length),
            allocated: isFile ? UInt64(max(0, st.sizeAllocated)) : nil,
            isPmem: m.isPmem, persistence: m.isPmem ? .cacheFlush : .msync,
            locked: locked, lockHolderPid: holder, durability: facts.durability, facts: facts)
    }
}
