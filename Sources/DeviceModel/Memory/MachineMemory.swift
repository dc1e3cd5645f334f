import GuestMemory
import HostPmem

/// The memory behind machine frames, as the model has it: modelled host RAM
/// (`SparseFrameStore`, one flat mapping per run, backed where written) and host pmem (`PmemMapping`, a file or device
/// mapped through libpmem). Direct guest accesses and device models' guest-memory accesses
/// end here once the p2m has turned a gfn into an mfn.
///
/// Invariants: `backings` is sorted by first mfn and the backings' frame runs are disjoint; a
/// pmem backing's frames lie inside its mapping (`offset + frames * 4096 <= length`).
/// `ram.runs[0..<ram.count]` are the RAM backings' (first mfn, frames, bytes), in the same
/// order: the delivery path finds a RAM frame's bytes there with no reference counting
/// (`ramBytes(of:)`), a compare per run. Backings change only while no access is performed
/// (not thread-safe against accesses, like the p2m).
///
/// Writes to pmem go through `PmemMapping.write`, which makes them durable before returning
/// (a cache flush on real pmem, msync otherwise), so they survive the process.
public final class MachineMemory {
    public enum Backing {
        case ram(SparseFrameStore)
        /// `frames` machine frames from `firstMfn` are the mapping's bytes from `offset`.
        case pmem(PmemMapping, firstMfn: Mfn, frames: UInt64, offset: UInt64)

        public var firstMfn: Mfn {
            switch self {
            case let .ram(s): return s.firstMfn
            case let .pmem(_, first, _, _): return first
            }
        }

        public var frames: UInt64 {
            switch self {
            case let .ram(s): return s.frames
            case let .pmem(_, _, frames, _): return frames
            }
        }
    }

    public private(set) var backings: [Backing] = []

    /// One RAM backing as the access path reads it.
    @usableFromInline struct RAMRun {
        @usableFromInline let first: UInt64
        @usableFromInline let frames: UInt64
        @usableFromInline let base: UnsafeMutableRawPointer
    }

    /// The RAM runs and their count, behind a `let` pointer: the access path reads them with
    /// plain loads (a `var` of the class would be read under a dynamic exclusivity check).
    /// `runs` always holds at least one run: with no RAM, one of no frames (`empty`), so the
    /// lookup reads the first run without testing the count.
    @usableFromInline struct RAMTable {
        @usableFromInline var runs: UnsafeMutablePointer<RAMRun>
        @usableFromInline var count: Int

        /// The bytes of RAM frame `mfn`, or nil: the first run (a guest's one RAM backing, in
        /// the usual case) with one compare, the others in order.
        @inlinable @inline(__always)
        func bytes(of mfn: Mfn) -> UnsafeMutableRawPointer? {
            let r = runs.pointee
            let k = mfn.raw &- r.first
            if k < r.frames { return r.base + Int(truncatingIfNeeded: k &<< PageOrder.frameShift) }
            return count > 1 ? bytesBeyondFirst(of: mfn) : nil
        }

        @usableFromInline @inline(never)
        func bytesBeyondFirst(of mfn: Mfn) -> UnsafeMutableRawPointer? {
            for i in 1..<count {
                let r = runs[i]
                let k = mfn.raw &- r.first
                if k < r.frames { return r.base + Int(truncatingIfNeeded: k &<< PageOrder.frameShift) }
            }
            return nil
        }
    }

    @usableFromInline let ram: UnsafeMutablePointer<RAMTable>

    /// The RAM runs as they are now, for a caller that looks up many frames while the backings
    /// stay as they are (they change only while no access is performed): `ramTable.bytes(of:)`
    /// is `ramBytes(of:)` without reading the table's place each time. Stale after any change
    /// of the backings (its runs are then freed).
    var ramTable: RAMTable { ram.pointee }

    public init() {
        ram = .allocate(capacity: 1)
        ram.initialize(to: RAMTable(runs: Self.emptyRuns(), count: 0))
    }

    /// One run of no frames (it holds no mfn), for a table with no RAM.
    private static func emptyRuns() -> UnsafeMutablePointer<RAMRun> {
        let runs = UnsafeMutablePointer<RAMRun>.allocate(capacity: 1)
        runs.initialize(to: RAMRun(first: 0, frames: 0, base: UnsafeMutableRawPointer(runs)))
        return runs
    }

    deinit {
        ram.pointee.runs.deallocate()
        ram.deallocate()
    }

    /// The bytes of RAM frame `mfn`, or nil when no RAM backing holds it (pmem, or nothing).
    @inlinable @inline(__always)
    public func ramBytes(of mfn: Mfn) -> UnsafeMutableRawPointer? {
        ram.pointee.bytes(of: mfn)
    }

    /// Backs the RAM frames among `[mfn, mfn + frames)` with host memory now (pmem and frames
    /// with no backing are left alone): see `SparseFrameStore.populate`.
    public func populateRAM(_ mfn: Mfn, frames: UInt64) throws(MachineMemoryError) {
        let end = mfn.raw &+ frames
        for case let .ram(store) in backings {
            let lo = max(mfn.raw, store.firstMfn.raw), hi = min(end, store.firstMfn.raw + store.frames)
            guard lo < hi else { continue }
            try store.populate(Mfn(uncheckedRaw: lo), frames: hi - lo)
        }
    }

    /// Rebuilds `ramRuns` from `backings` (after every change of the backings).
    private func refreshRAMRuns() {
        let stores = backings.compactMap { b -> SparseFrameStore? in
            if case let .ram(s) = b { return s }
            return nil
        }
        ram.pointee.runs.deallocate()
        guard !stores.isEmpty else {
            ram.pointee = RAMTable(runs: Self.emptyRuns(), count: 0)
            return
        }
        let runs = UnsafeMutablePointer<RAMRun>.allocate(capacity: stores.count)
        for (i, s) in stores.enumerated() {
            (runs + i).initialize(to: RAMRun(first: s.firstMfn.raw, frames: s.frames, base: s.base))
        }
        ram.pointee = RAMTable(runs: runs, count: stores.count)
    }

    /// Adds modelled RAM for `frames` machine frames from `firstMfn` and returns it.
    @discardableResult
    public func addRAM(firstMfn: Mfn, frames: UInt64) throws(MachineMemoryError) -> SparseFrameStore {
        let store = try SparseFrameStore(firstMfn: firstMfn, frames: frames)
        try insert(.ram(store))
        return store
    }

    /// Makes `frames` machine frames from `firstMfn` the bytes of `mapping` from `offset`
    /// (a multiple of 4 KiB).
    public func addPmem(_ mapping: PmemMapping, firstMfn: Mfn, frames: UInt64, offset: UInt64 = 0) throws(MachineMemoryError) {
        guard frames > 0 else { throw .emptyBacking(first: firstMfn) }
        do { _ = try firstMfn.advanced(by: frames - 1) } catch { throw .beyondFrameSpace(first: firstMfn, frames: frames) }
        guard offset % PageOrder.frameBytes == 0 else { throw .pmemOffsetMisaligned(offset: offset) }
        let (bytes, o1) = frames.multipliedReportingOverflow(by: PageOrder.frameBytes)
        let (end, o2) = offset.addingReportingOverflow(bytes)
        guard !o1, !o2, end <= mapping.length else {
            throw .pmemTooSmall(path: mapping.path, length: mapping.length, offset: offset, frames: frames)
        }
        try insert(.pmem(mapping, firstMfn: firstMfn, frames: frames, offset: offset))
    }

    /// Removes the pmem backing that starts at `firstMfn` (a vNVDIMM detached), dropping this
    /// object's reference to its mapping. Returns whether there was one.
    @discardableResult
    public func removePmem(firstMfn: Mfn) -> Bool {
        guard let i = backings.firstIndex(where: {
            if case let .pmem(_, first, _, _) = $0 { return first == firstMfn }
            return false
        }) else { return false }
        backings.remove(at: i)
        refreshRAMRuns()
        return true
    }

    /// Removes the RAM backing that starts at `firstMfn` (a guest's RAM given back, or a build
    /// undone), with its pages. Returns whether there was one.
    @discardableResult
    public func removeRAM(firstMfn: Mfn) -> Bool {
        guard let i = backings.firstIndex(where: {
            if case let .ram(store) = $0 { return store.firstMfn == firstMfn }
            return false
        }) else { return false }
        backings.remove(at: i)
        refreshRAMRuns()
        return true
    }

    private func insert(_ b: Backing) throws(MachineMemoryError) {
        let first = b.firstMfn.raw, last = first + b.frames - 1
        for other in backings {
            let of = other.firstMfn.raw, ol = of + other.frames - 1
            if first <= ol && of <= last {
                throw .overlappingBacking(first: b.firstMfn, frames: b.frames, existing: other.firstMfn, existingFrames: other.frames)
            }
        }
        let i = backings.firstIndex { $0.firstMfn.raw > first } ?? backings.endIndex
        backings.insert(b, at: i)
        refreshRAMRuns()
    }

    /// The backing holding `mfn`, or nil.
    public func backing(for mfn: Mfn) -> Backing? {
        var lo = 0, hi = backings.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if backings[mid].firstMfn.raw <= mfn.raw { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let b = backings[lo - 1]
        return mfn.raw - b.firstMfn.raw < b.frames ? b : nil
    }

    /// Reads `buffer.count` bytes at `offset` in frame `mfn` (within the frame).
    public func read(_ mfn: Mfn, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(MachineMemoryError) {
        guard let b = backing(for: mfn) else { throw .noBacking(mfn: mfn) }
        switch b {
        case let .ram(store):
            try store.read(mfn, offset: offset, into: buffer)
        case let .pmem(mapping, first, _, base):
            guard offset >= 0, offset + buffer.count <= Int(PageOrder.frameBytes) else {
                throw .crossesFrame(mfn: mfn, offset: offset, count: buffer.count)
            }
            let at = base + (mfn.raw - first.raw) * PageOrder.frameBytes + UInt64(offset)
            do { try mapping.read(at: at, into: buffer) } catch { throw .pmem(error) }
        }
    }

    /// Writes `bytes` at `offset` in frame `mfn` (within the frame); pmem writes are durable
    /// when this returns.
    public func write(_ mfn: Mfn, offset: Int, from bytes: UnsafeRawBufferPointer) throws(MachineMemoryError) {
        guard let b = backing(for: mfn) else { throw .noBacking(mfn: mfn) }
        switch b {
        case let .ram(store):
            try store.write(mfn, offset: offset, from: bytes)
        case let .pmem(mapping, first, _, base):
            guard offset >= 0, offset + bytes.count <= Int(PageOrder.frameBytes) else {
                throw .crossesFrame(mfn: mfn, offset: offset, count: bytes.count)
            }
            let at = base + (mfn.raw - first.raw) * PageOrder.frameBytes + UInt64(offset)
            do { try mapping.write(bytes, at: at) } catch { throw .pmem(error) }
        }
    }
}

/// Why machine memory could not be read or written, or a backing not added.
public enum MachineMemoryError: Error, CustomStringConvertible, Sendable {
    case noBacking(mfn: Mfn)
    case crossesFrame(mfn: Mfn, offset: Int, count: Int)
    case emptyBacking(first: Mfn)
    case beyondFrameSpace(first: Mfn, frames: UInt64)
    case overlappingBacking(first: Mfn, frames: UInt64, existing: Mfn, existingFrames: UInt64)
    case pmemOffsetMisaligned(offset: UInt64)
    case pmemTooSmall(path: String, length: UInt64, offset: UInt64, frames: UInt64)
    case pmem(HostPmemError)
    /// The host refused the address space for a RAM run (mmap failed with `errno`).
    case hostMappingRefused(first: Mfn, frames: UInt64, errno: Int32)
    /// The host could not back RAM frames with memory now (madvise failed with `errno`).
    case populateRefused(first: Mfn, frames: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case let .noBacking(mfn):
            return "machine memory: \(mfn) has no backing in the model: add RAM or pmem covering it"
        case let .crossesFrame(mfn, offset, count):
            return "machine memory: \(count) bytes at offset \(offset) of \(mfn) leave the 4 KiB frame: split the access"
        case let .emptyBacking(first):
            return "machine memory: a backing at \(first) needs at least one frame"
        case let .beyondFrameSpace(first, frames):
            return "machine memory: \(frames) frames from \(first) run past the last machine frame"
        case let .overlappingBacking(first, frames, existing, existingFrames):
            return "machine memory: \(frames) frames from \(first) overlap the backing of \(existingFrames) frames from \(existing): choose free machine frames"
        case let .pmemOffsetMisaligned(offset):
            return "machine memory: pmem offset \(offset) is not a multiple of 4096"
        case let .pmemTooSmall(path, length, offset, frames):
            return "machine memory: \(frames) frames from offset \(offset) do not fit in \(path) (\(length) bytes): use a larger backing or fewer frames"
        case let .pmem(e):
            return "machine memory: \(e)"
        case let .hostMappingRefused(first, frames, e):
            return "machine memory: the host refused \(frames) frames of address space for RAM from \(first) (mmap errno \(e)): "
                + "give the guest less RAM, or allow overcommit (vm.overcommit_memory 0 or 1)"
        case let .populateRefused(first, frames, e):
            return "machine memory: the host could not back \(frames) frames of RAM from \(first) with memory (madvise errno \(e)): "
                + "free memory on the host, or run a smaller workload (fewer --pages)"
        }
    }
}
