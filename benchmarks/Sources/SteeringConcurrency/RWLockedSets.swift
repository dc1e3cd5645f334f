import DeviceModel
import GuestMemory

#if canImport(Glibc)
import Glibc
#endif

/// The baselines: the wp_mem decision as Xen makes it under concurrency, each server's set
/// behind its own reader-writer lock (xen/common/rangeset.c takes `read_lock(&r->lock)` in
/// rangeset_contains_range and `write_lock` in add/remove). `Set` is the set kind behind the
/// lock: vpmem's RangeSet, or the Xen-style sorted list.
protocol LockedSet: ~Copyable {
    init(name: String, limit: UInt64) throws(RangeSetError)
    func contains(_ point: UInt64) -> Bool
    func contains(_ range: ClosedRange<UInt64>) -> Bool
    mutating func add(_ range: ClosedRange<UInt64>) throws(RangeSetError)
    mutating func remove(_ range: ClosedRange<UInt64>) throws(RangeSetError)
}

extension RangeSet: LockedSet {}
extension XenStyleRangeSet: LockedSet {}

/// Servers (highest id first) whose wp_mem sets each sit behind a pthread_rwlock_t.
final class RWLockedSteering<Set: LockedSet & ~Copyable>: @unchecked Sendable {
    struct Server: ~Copyable {
        let id: UInt16
        let lock: UnsafeMutablePointer<pthread_rwlock_t>
        let set: UnsafeMutablePointer<Set>
    }

    let p2m: P2M
    let ids: [UInt16]
    let locks: UnsafeMutablePointer<pthread_rwlock_t>
    let sets: UnsafeMutablePointer<Set>
    let count: Int

    /// A copy of `engine`'s servers' wp_mem sets, highest id first.
    init(mirroring engine: SteeringEngine) throws {
        p2m = engine.p2m
        let servers = engine.servers.reversed()
        ids = servers.map(\.id.raw)
        count = ids.count
        locks = .allocate(capacity: count)
        sets = .allocate(capacity: count)
        for (i, info) in servers.enumerated() {
            pthread_rwlock_init(locks + i, nil)
            var s = try Set(name: "wp_mem \(info.id)", limit: RangeSet.maximumLimit)
            for r in try engine.ranges(info.id, .wpMem) { try s.add(r) }
            (sets + i).initialize(to: s)
        }
    }

    deinit {
        for i in 0..<count { pthread_rwlock_destroy(locks + i) }
        sets.deinitialize(count: count)
        sets.deallocate()
        locks.deallocate()
    }

    /// The wp_mem decision for a write: the p2m walk, then each server's set under its read lock.
    @inline(__always)
    func decide(_ access: GuestAccess) -> Int {
        let gfn = access.address &>> 12
        guard let t = p2m.translate(Gfn(uncheckedRaw: gfn)), t.isType(.ioreqServer), access.direction == .write else { return -1 }
        for i in 0..<count {
            pthread_rwlock_rdlock(locks + i)
            let hit = sets[i].contains(gfn)
            pthread_rwlock_unlock(locks + i)
            if hit { return Int(ids[i]) }
        }
        return -1
    }

    /// Toggles `range` in server `id`'s set under its write lock.
    func toggle(_ id: UInt16, _ range: ClosedRange<UInt64>) -> Bool {
        guard let i = ids.firstIndex(of: id) else { return false }
        pthread_rwlock_wrlock(locks + i)
        defer { pthread_rwlock_unlock(locks + i) }
        do {
            if sets[i].contains(range) { try sets[i].remove(range) } else { try sets[i].add(range) }
            return true
        } catch { return false }
    }
}
