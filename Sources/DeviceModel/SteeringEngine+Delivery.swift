import CPrefetch
import GuestMemory

extension SteeringEngine {
    // MARK: Device models

    /// Registers `device` with a server as the handler of `[first, last]` of `kind`, and maps
    /// that range into the server's set (checked against the limit and the allowance like
    /// `mapRange`). Registered ranges of one kind on one server must be disjoint.
    /// The vNVDIMM _DSM transport, for example: `register(dsm, server: s, kind: .port, first: 0x0a18, last: 0x0a1b)`.
    public func register(_ device: any EmulatedDevice, server id: IoreqServerID, kind: IoRangeKind,
                         first: UInt64, last: UInt64) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        try checkRange(kind, first, last)
        if let other = records[slot].unsafelyUnwrapped.devices.first(where: { $0.kind == kind && $0.first <= last && first <= $0.last }) {
            throw .deviceRangeOverlaps(domain, id, kind, first: first, last: last, device: other.device.name)
        }
        try change(slot: slot, kind: kind, first: first, last: last, adding: true)
        records[slot]!.devices.append(DeviceRegistration(device: device, kind: kind, first: first, last: last))
        unpublished = true
    }

    /// Registers `device` as the handler of every ioreq the server receives that no registered
    /// range matches: type-claimed and wp_mem accesses, default-server traffic, ranges mapped
    /// with `mapRange`. One per server.
    public func registerCatchAll(_ device: any EmulatedDevice, server id: IoreqServerID) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        if let other = records[slot].unsafelyUnwrapped.catchAll {
            throw .catchAllExists(domain, id, device: other.name)
        }
        records[slot]!.catchAll = device
        unpublished = true
    }

    /// Removes every registration of `device` with the server and unmaps its ranges. All or
    /// nothing: a registered range that `mapRange` has since merged with ranges on both sides
    /// splits the merged range when it goes, and if that is refused (the set's limit, the
    /// allowance) the ranges already unmapped are mapped again, the device stays registered,
    /// and the refusal is thrown.
    public func unregister(_ device: any EmulatedDevice, server id: IoreqServerID) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        var rec = records[slot].unsafelyUnwrapped
        let mine = rec.devices.filter { $0.device === device }
        guard !mine.isEmpty || rec.catchAll === device else {
            throw .deviceNotRegistered(domain, id, device: device.name)
        }
        // Each set's capacity before, so an undo can give back the slots a remove released.
        let capacities = IoRangeKind.allCases.map { rangeSets[slot * Self.kinds + Int($0.rawValue)].memory.capacity }
        for (done, r) in mine.enumerated() {
            do {
                try change(slot: slot, kind: r.kind, first: r.first, last: r.last, adding: false)
            } catch {
                // Mapping back what this call unmapped restores the ranges exactly (each merges
                // back into the one it was cut from), then each set gets its old capacity back:
                // the same ranges in the same slots, so the same bytes, all within what the
                // allowance held before the call.
                for u in mine[..<done].reversed() {
                    do { try change(slot: slot, kind: u.kind, first: u.first, last: u.last, adding: true) } catch {
                        assertionFailure("mapping back an unregistered range failed: \(error)")
                    }
                }
                for kind in IoRangeKind.allCases {
                    restoreCapacity(slot: slot, kind: kind, capacities[Int(kind.rawValue)])
                }
                throw error
            }
        }
        rec.devices.removeAll { $0.device === device }
        if rec.catchAll === device { rec.catchAll = nil }
        records[slot] = rec
        unpublished = true
    }

    // MARK: Performing an access

    /// Steers `access` (counting it) and carries it out: a direct access is performed on the
    /// backing memory (pmem writes are durable on return), an emulated one is delivered to its
    /// server's device model, a fault is returned as the result. Throws only when the backing
    /// memory or a device model fails.
    ///
    /// The path is the decision, then for RAM one add into the flat mapping of guest RAM, and
    /// for an emulated access the published view's route (a binary search over the kind's
    /// registrations, else the server's catch-all) and a direct call into the built-in device
    /// models (the vGPU's shadow, the register file); no reference counting, no allocation.
    public func handle(_ access: GuestAccess) throws(SteeringError) -> AccessResult {
        let v = view
        let decision = Self.decide(access, v, p2m)
        count(decision, access)
        return try Self.perform(access, decision, v, memory)
    }

    /// `handle` for each of `accesses` in order, each result into `results` (when given, at
    /// least as long): a vCPU's run of exits. While it carries out access i it asks the cache
    /// for the p2m entry access i + 16 will need and the guest RAM access i + 8 will touch, so
    /// the batch's cache misses overlap instead of following one another (guest RAM and its p2m
    /// leaves are megabytes touched at random: each access is a miss).
    /// Throws at the first failure; the accesses before it are done.
    public func handle(_ accesses: UnsafeBufferPointer<GuestAccess>,
                       into results: UnsafeMutableBufferPointer<AccessResult>? = nil) throws(SteeringError) {
        let v = view
        let n = accesses.count
        // Two stages: the p2m entry an access's walk ends on is asked for `far` accesses ahead,
        // then `near` ahead the walk (now cached) finds the guest RAM byte, which is asked for.
        // Each stage's miss overlaps the others instead of stalling the walk behind it.
        let far = 16, near = 8
        for i in 0..<min(far, n) { prefetchWalk(accesses[i]) }
        for i in 0..<min(near, n) { prefetch(accesses[i]) }
        for i in 0..<n {
            if i &+ far < n { prefetchWalk(accesses[i &+ far]) }
            if i &+ near < n { prefetch(accesses[i &+ near]) }
            let access = accesses[i]
            let decision = Self.decide(access, v, p2m)
            count(decision, access)
            let r = try Self.perform(access, decision, v, memory)
            if let results { results[i] = r }
        }
    }

    /// Asks the cache for the p2m entry a memory access's walk ends on (nothing for others).
    @inline(__always)
    func prefetchWalk(_ access: GuestAccess) {
        guard access.space == .memory, let e = p2m.lastEntryAddress(Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift)) else { return }
        vpmem_prefetch_read(e)
    }

    /// Asks the cache for the guest RAM byte a memory access will touch (nothing for others).
    @inline(__always)
    func prefetch(_ access: GuestAccess) {
        guard access.space == .memory, let t = p2m.translate(Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift)),
              let mfn = t.mfn, let page = memory.machine.ramBytes(of: mfn) else { return }
        vpmem_prefetch_write(page + Int(truncatingIfNeeded: access.address & (PageOrder.frameBytes &- 1)))
    }

    /// Carries out `access` as `decision` says, through view `v`.
    @inline(__always)
    static func perform(_ access: GuestAccess, _ decision: SteeringDecision, _ v: UnsafeMutablePointer<SteeringView>,
                        _ memory: GuestMemoryAccess) throws(SteeringError) -> AccessResult {
        switch decision {
        case let .direct(mfn, _):
            let size = Int(truncatingIfNeeded: access.size)
            if let page = memory.machine.ramBytes(of: mfn) {
                let p = page + Int(truncatingIfNeeded: access.address & (PageOrder.frameBytes &- 1))
                if access.direction == .write {
                    GuestMemoryAccess.store(p, size: size, access.data)
                    return .completed(data: 0)
                }
                return .completed(data: GuestMemoryAccess.load(p, size: size))
            }
            return try directOnBacking(access, mfn, memory)
        case let .emulate(server, route):
            let ioreq = Ioreq(access, server: server, route: route)
            let mask: UInt64 = access.size == 8 ? .max : (1 &<< (UInt64(access.size) &* 8)) &- 1
            let kind: Int?
            let value: UInt64
            switch route {
            case let .rangeset(k):
                kind = Int(truncatingIfNeeded: k.rawValue)
                value = k == .wpMem ? access.address &>> PageOrder.frameShift : (k == .pciConfig ? access.address &>> 32 : access.address)
            case .typeClaim, .defaultServer:
                kind = nil
                value = 0
            }
            guard let handler = v.pointee.handler(server: Int(truncatingIfNeeded: server.raw), kind: kind, value: value) else {
                return .unhandled(server: server, data: access.direction == .read ? mask : 0)
            }
            let data: UInt64
            switch handler {
            case let .gttShadow(d):
                do { data = try GTTShadowDevice.deliver(d, ioreq, memory) } catch {
                    throw .deviceFailed(device: d.takeUnretainedValue().name, ioreq: ioreq, reason: "\(error)")
                }
            case let .registerFile(d):
                data = d._withUnsafeGuaranteedRef { $0.deliver(ioreq) }
            case let .device(i):
                data = try deliver(ioreq, to: v.pointee.devices[i], memory)
            }
            return .completed(data: access.direction == .read ? data & mask : 0)
        case let .fault(f):
            if case .writeDiscarded = f { return .discarded }
            return .fault(f)
        }
    }

    /// A device model outside DeviceModel, through the protocol.
    @inline(never)
    static func deliver(_ ioreq: Ioreq, to device: any EmulatedDevice, _ memory: GuestMemoryAccess) throws(SteeringError) -> UInt64 {
        do { return try device.handle(ioreq, guestMemory: memory) } catch {
            throw .deviceFailed(device: device.name, ioreq: ioreq, reason: "\(error)")
        }
    }

    /// A direct access to memory that is not RAM (pmem): through the backing, with its checks
    /// and its durability.
    @inline(never)
    static func directOnBacking(_ access: GuestAccess, _ mfn: Mfn, _ memory: GuestMemoryAccess) throws(SteeringError) -> AccessResult {
        let offset = Int(access.address & (PageOrder.frameBytes - 1))
        let n = Int(access.size)
        if access.direction == .write {
            var v = access.data.littleEndian
            do {
                try withUnsafeBytes(of: &v) { (raw) throws(MachineMemoryError) in
                    try memory.machine.write(mfn, offset: offset, from: UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                }
            } catch { throw .machineMemory(error) }
            return .completed(data: 0)
        }
        var v: UInt64 = 0
        do {
            try withUnsafeMutableBytes(of: &v) { (raw) throws(MachineMemoryError) in
                try memory.machine.read(mfn, offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<n]))
            }
        } catch { throw .machineMemory(error) }
        return .completed(data: UInt64(littleEndian: v))
    }
}

