import GuestMemory
import Logging

/// What a guest's ioreq server looks like from outside.
public struct IoreqServerInfo: Sendable, Equatable, CustomStringConvertible {
    public let id: IoreqServerID
    public let name: String
    public let isDefault: Bool
    /// Ranges per kind.
    public let rangeCounts: [IoRangeKind: Int]
    /// Heap bytes of its four rangesets (charged to the guest's allowance).
    public let rangeBytes: Int

    public var description: String {
        let counts = IoRangeKind.allCases.map { "\($0.name) \(rangeCounts[$0] ?? 0)" }.joined(separator: ", ")
        return "\(id) '\(name)'\(isDefault ? " (default)" : ""): \(counts); \(rangeBytes) B"
    }
}

extension SteeringEngine {
    // MARK: Servers

    /// Creates a server in the lowest free slot and returns its id. With `isDefault`, it
    /// receives every port, MMIO and PCI-config access no server claims (one per guest).
    public func createServer(name: String, isDefault: Bool = false) throws(SteeringError) -> IoreqServerID {
        defer { publish() }
        if isDefault, hot.pointee.defaultServer >= 0 {
            throw .defaultServerExists(domain, existing: IoreqServerID(UInt16(hot.pointee.defaultServer)))
        }
        guard let slot = records.firstIndex(where: { $0 == nil }) else {
            logger.warning("ioreq server limit reached", metadata: ["domain": "\(domain)", "maximum": "\(Self.maxServers)"])
            throw .serverSlotsFull(domain, maximum: Self.maxServers)
        }
        records[slot] = ServerRecord(name: name, isDefault: isDefault, devices: [], catchAll: nil)
        unpublished = true
        // Keep `active` ascending.
        var n = hot.pointee.activeCount
        var i = n
        while i > 0 && Int(active[i - 1]) > slot {
            active[i] = active[i - 1]
            i -= 1
        }
        active[i] = UInt16(slot)
        n += 1
        hot.pointee.activeCount = n
        refreshNewest()
        if isDefault { hot.pointee.defaultServer = slot }
        return IoreqServerID(UInt16(slot))
    }

    /// Destroys a server: its ranges are freed (and credited to the allowance), its claim of
    /// the ioreq_server type released, its devices unregistered. Its emulated accesses stay in
    /// the decision counters; each vCPU folds its own at its next quiescent point, so vCPUs may
    /// go on steering meanwhile (a vCPU's accesses to a server made in the slot before that
    /// point count as decisions, not as the new server's).
    public func destroyServer(_ id: IoreqServerID) throws(SteeringError) {
        // Counted after the view without the server is published (defers run last first), so a
        // vCPU that folds has seen that view or a later one.
        var destroyed: Int?
        defer { if let destroyed { retirements.retire(destroyed) } }
        defer { publish() }
        let slot = try existing(id)
        destroyed = slot
        var freed = 0
        for k in 0..<Self.kinds {
            let i = slot * Self.kinds + k
            freed += rangeSets[i].bytesAllocated
            replaceSet(i, with: Self.emptySet(domain: domain, slot: i, wpMemLimit: wpMemLimit))
        }
        account.charged -= UInt64(freed)
        records[slot] = nil
        unpublished = true
        let n = hot.pointee.activeCount
        var j = 0
        for i in 0..<n where Int(active[i]) != slot {
            active[j] = active[i]
            j += 1
        }
        hot.pointee.activeCount = j
        refreshNewest()
        if hot.pointee.claimant == slot {
            hot.pointee.claimant = -1
            hot.pointee.claimFlags = 0
        }
        if hot.pointee.defaultServer == slot { hot.pointee.defaultServer = -1 }
        // The server's counters start again at zero for the slot's next server; the emulate
        // decisions they tally stay counted. The vCPUs fold their own (ServerRetirements).
        ServerTally.retire(slot: slot, serverCounts, into: decisionCounts)
    }

    /// Sets `hot.newestID` to the newest server (invariant 2a; each view points its own
    /// `newestSets` at that server's sets).
    func refreshNewest() {
        let n = hot.pointee.activeCount
        hot.pointee.newestSets = nil
        hot.pointee.newestID = n == 0 ? 0 : active[n - 1]
    }

    /// Puts `set` in slot `i`: the old set is freed now if no view names it (a duplicate made
    /// since the last publication), else with the views that do.
    func replaceSet(_ i: Int, with set: consuming RangeSet) {
        let bit: UInt32 = 1 << UInt32(i)
        if duplicated & bit != 0 {
            (rangeSets + i).deinitialize(count: 1)
        } else {
            let old = UnsafeMutablePointer<RangeSet>.allocate(capacity: 1)
            old.moveInitialize(from: rangeSets + i, count: 1)
            replaced.append(old)
            duplicated |= bit
        }
        (rangeSets + i).initialize(to: set)
        unpublished = true
    }

    /// The existing servers, ascending by id.
    public var servers: [IoreqServerInfo] {
        (0..<hot.pointee.activeCount).map { i in
            let slot = Int(active[i])
            let rec = records[slot].unsafelyUnwrapped
            var counts: [IoRangeKind: Int] = [:]
            var bytes = 0
            for k in IoRangeKind.allCases {
                counts[k] = rangeSets[slot * Self.kinds + Int(k.rawValue)].count
                bytes += rangeSets[slot * Self.kinds + Int(k.rawValue)].bytesAllocated
            }
            return IoreqServerInfo(id: IoreqServerID(UInt16(slot)), name: rec.name, isDefault: rec.isDefault,
                                   rangeCounts: counts, rangeBytes: bytes)
        }
    }

    public var defaultServer: IoreqServerID? {
        hot.pointee.defaultServer >= 0 ? IoreqServerID(UInt16(hot.pointee.defaultServer)) : nil
    }

    /// The ranges of one of a server's sets, ascending.
    public func ranges(_ id: IoreqServerID, _ kind: IoRangeKind) throws(SteeringError) -> [ClosedRange<UInt64>] {
        let slot = try existing(id)
        return rangeSets[slot * Self.kinds + Int(kind.rawValue)].ranges
    }

    /// True when a server's set of `kind` holds all of `[first, last]` (the writer's state: the
    /// last completed change).
    public func holds(_ id: IoreqServerID, _ kind: IoRangeKind, first: UInt64, last: UInt64) throws(SteeringError) -> Bool {
        let slot = try existing(id)
        try checkRange(kind, first, last)
        return rangeSets[slot * Self.kinds + Int(kind.rawValue)].contains(first...last)
    }

    /// The limit of one of a server's sets: 256, or the admin's wp_mem limit.
    public func rangeLimit(_ kind: IoRangeKind) -> UInt64 {
        kind == .wpMem ? wpMemLimit : HostSteeringConfig.defaultRangeLimit
    }

    /// Range memory: the guest's allowance and what its sets hold now.
    public var rangeMemory: (allowance: UInt64, charged: UInt64) { (account.allowance, account.charged) }

    // MARK: Ranges

    /// Adds `[first, last]` to a server's set of `kind` (xendevicemodel_map_io_range_to_ioreq_server;
    /// for wp_mem, HVMOP_IO_RANGE_WP_MEM with gfns). Fails, changing nothing and logging, when the
    /// set's limit or the guest's allowance would be exceeded.
    public func mapRange(_ id: IoreqServerID, _ kind: IoRangeKind, first: UInt64, last: UInt64) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        try checkRange(kind, first, last)
        try change(slot: slot, kind: kind, first: first, last: last, adding: true)
    }

    /// Removes `[first, last]`, which must be wholly mapped, from a server's set of `kind`.
    public func unmapRange(_ id: IoreqServerID, _ kind: IoRangeKind, first: UInt64, last: UInt64) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        try checkRange(kind, first, last)
        guard rangeSets[slot * Self.kinds + Int(kind.rawValue)].contains(first...last) else {
            throw .rangeNotMapped(domain, id, kind, first: first, last: last)
        }
        try change(slot: slot, kind: kind, first: first, last: last, adding: false)
    }

    // MARK: Internals

    func existing(_ id: IoreqServerID) throws(SteeringError) -> Int {
        let slot = Int(id.raw)
        guard slot < Self.maxServers, records[slot] != nil else { throw .unknownServer(domain, id) }
        return slot
    }

    func checkRange(_ kind: IoRangeKind, _ first: UInt64, _ last: UInt64) throws(SteeringError) {
        guard first <= last, last <= kind.maxValue else {
            throw .invalidRange(kind, first: first, last: last, maximum: kind.maxValue)
        }
    }

    /// Adds or removes a range with the allowance checked before the set may grow.
    ///
    /// A change grows the set by one range when an add touches no existing range or a remove
    /// splits one. If the set has no free slot then, it needs a larger buffer: its price is
    /// quoted on a scratch set of the same limit and capacity (exact, whatever RangeSet's
    /// layout), checked against the allowance, and only then reserved on the real set. A change
    /// may also need the side buffer of wide blocks, which the set forecasts before the change
    /// is made. Removes may free memory, which is credited.
    func change(slot: Int, kind: IoRangeKind, first: UInt64, last: UInt64, adding: Bool) throws(SteeringError) {
        let set = writableSet(slot * Self.kinds + Int(kind.rawValue))
        let id = IoreqServerID(UInt16(slot))
        let before = set.pointee.bytesAllocated
        let grows: Bool
        if adding {
            let lo = first == 0 ? 0 : first - 1
            let hi = last == .max ? last : last + 1
            grows = !set.pointee.overlaps(lo...hi)
        } else if let r = set.pointee.range(containing: first) {
            grows = r.lowerBound < first && r.upperBound > last
        } else {
            grows = false
        }
        let memory = set.pointee.memory
        let limit = set.pointee.limit
        if grows && memory.ranges + 1 > memory.capacity && UInt64(memory.ranges) + 1 <= limit {
            let capacity = Int(min(UInt64(max(memory.capacity * 2, 16)), limit))
            let needed = UInt64(max(0, quote(capacity: capacity, limit: limit) - before))
            guard account.charged + needed <= account.allowance else {
                logger.warning("ioreq server range refused: guest range-memory allowance exhausted", metadata: [
                    "domain": "\(domain)", "server": "\(id.raw)", "kind": "\(kind.name)",
                    "allowance": "\(account.allowance)", "charged": "\(account.charged)", "needed": "\(needed)",
                ])
                throw .guestAllowanceExhausted(domain, allowance: account.allowance, charged: account.charged, needed: needed)
            }
            do { try set.pointee.reserveCapacity(capacity) } catch {
                throw .rangeLimitReached(domain, id, kind, error)  // unreachable: capacity <= limit
            }
            let grown = UInt64(set.pointee.bytesAllocated - before)
            if account.charged + grown > account.allowance {
                set.pointee.shrinkToFit()  // back to the buffers it had: count == old capacity
                throw .guestAllowanceExhausted(domain, allowance: account.allowance, charged: account.charged, needed: grown)
            }
        }
        // A change with a free slot can still allocate: once a block's ranges span more than
        // 2^32 - 2 values, the high halves of its offsets go to a side buffer (an add that brings
        // a far range into a block, or a remove that pulls one in). The set forecasts its bytes
        // after the change without writing anything, so that case is charged before it happens.
        let forecast = adding ? set.pointee.heapBytes(afterAdding: first...last) : set.pointee.heapBytes(afterRemoving: first...last)
        if let forecast, forecast > set.pointee.bytesAllocated {
            let needed = UInt64(forecast - before)
            if account.charged + needed > account.allowance {
                if set.pointee.memory.capacity > memory.capacity { set.pointee.shrinkToFit() }  // undo the reserve above
                logger.warning("ioreq server range refused: guest range-memory allowance exhausted", metadata: [
                    "domain": "\(domain)", "server": "\(id.raw)", "kind": "\(kind.name)",
                    "allowance": "\(account.allowance)", "charged": "\(account.charged)", "needed": "\(needed)",
                ])
                throw .guestAllowanceExhausted(domain, allowance: account.allowance, charged: account.charged, needed: needed)
            }
        }
        do {
            if adding { try set.pointee.add(first...last) } else { try set.pointee.remove(first...last) }
        } catch {
            logger.warning("ioreq server range refused: rangeset limit reached", metadata: [
                "domain": "\(domain)", "server": "\(id.raw)", "kind": "\(kind.name)",
                "limit": "\(limit)", "first": "0x\(String(first, radix: 16))", "last": "0x\(String(last, radix: 16))",
            ])
            throw .rangeLimitReached(domain, id, kind, error)
        }
        let after = set.pointee.bytesAllocated
        assert(forecast == nil || after == forecast, "RangeSet's forecast of its bytes was wrong")
        if after >= before {
            account.charged += UInt64(after - before)
        } else {
            account.charged -= UInt64(before - after)
        }
    }

    /// Gives set (slot, kind) back `capacity` slots if a remove shrank it below that, charging
    /// the bytes: for undoing a change, so the set ends with exactly the memory it had.
    func restoreCapacity(slot: Int, kind: IoRangeKind, _ capacity: Int) {
        guard rangeSets[slot * Self.kinds + Int(kind.rawValue)].memory.capacity < capacity else { return }
        let set = writableSet(slot * Self.kinds + Int(kind.rawValue))
        let before = set.pointee.bytesAllocated
        set.pointee.restoreSlots(capacity)
        account.charged += UInt64(set.pointee.bytesAllocated - before)
    }

    /// Heap bytes of an empty set of `limit` after reserving `capacity` slots.
    func quote(capacity: Int, limit: UInt64) -> Int {
        if let q = quotes[capacity] { return q }
        guard var probe = try? RangeSet(name: "quote", limit: limit), (try? probe.reserveCapacity(capacity)) != nil else {
            return Int.max / 2
        }
        let q = probe.bytesAllocated
        quotes[capacity] = q
        return q
    }

    /// Sets every wp_mem set's limit (the admin's path, through `SteeringHost`). All or nothing.
    func setWpMemLimit(_ value: UInt64) throws(SteeringError) {
        defer { publish() }
        let maximum = HostSteeringConfig.maximumWpMemRanges(ramFrames: ramFrames)
        guard value <= maximum else {
            logger.warning("wp_mem limit refused: above maximum", metadata: [
                "domain": "\(domain)", "requested": "\(value)", "maximum": "\(maximum)",
            ])
            throw .valueAboveMaximum(setting: "wp_mem range limit of \(domain)", value: value, maximum: maximum,
                                     why: "min(RAM frames / 2, 2^32 - 1) for \(ramFrames) frames of RAM")
        }
        guard value >= 1 else {
            throw .valueBelowMinimum(setting: "wp_mem range limit of \(domain)", value: value, minimum: 1,
                                     why: "a limit of 0 would refuse every range")
        }
        for i in 0..<hot.pointee.activeCount {
            let slot = Int(active[i])
            let held = rangeSets[slot * Self.kinds + Int(IoRangeKind.wpMem.rawValue)].count
            if UInt64(held) > value { throw .limitBelowRanges(domain, IoreqServerID(UInt16(slot)), held: held, requested: value) }
        }
        for slot in 0..<Self.maxServers {
            // Cannot throw: value <= RangeSet.maximumLimit and >= every count.
            try? rangeSets[slot * Self.kinds + Int(IoRangeKind.wpMem.rawValue)].setLimit(value)
        }
        wpMemLimit = value
        unpublished = true
    }
}
