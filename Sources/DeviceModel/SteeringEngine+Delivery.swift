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
    /// least as long): a vCPU's run of exits. Throws at the first failure; the accesses before
    /// it are done. Every access is decided against the view published when the call began.
    ///
    /// Guest RAM and the p2m leaves of scattered pages are megabytes touched at random, so each
    /// access is a cache miss twice over. While it carries out access i the batch walks the p2m's
    /// upper levels for access i + 16 and asks the cache for the entry that walk ends on
    /// (`P2M.leafEntry`, kept in a ring of its own), and finishes access i + 8's walk from there
    /// (that entry now cached; no branch on the leaf's level) to ask for the guest RAM byte it
    /// will touch: the misses overlap instead of stalling one after another. That walk is carried to the access in a ring of 16
    /// (`CarriedWalk`; access i + 8 takes a slot other than access i's, so nothing of access i
    /// waits in a register across the walk): its decision, direct access and the vGPU's commit
    /// use it instead of walking again, while the p2m's generation is the batch's (a device
    /// model may change the p2m in mid-batch: from then on each access walks for itself).
    public func handle(_ accesses: UnsafeBufferPointer<GuestAccess>,
                       into results: UnsafeMutableBufferPointer<AccessResult>? = nil) throws(SteeringError) {
        // The ring is the engine's; a batch started from inside a device model's delivery
        // goes one access at a time.
        guard !batchRunning else {
            for i in accesses.indices {
                let r = try handle(accesses[i])
                if let results { results[i] = r }
            }
            return
        }
        batchRunning = true
        defer { batchRunning = false }
        let v = view
        let n = accesses.count
        let far = Self.far, near = Self.near
        let ring = carried, leaves = carriedLeaves
        let generation = p2m.generation
        // The backings stay as they are for the batch (they change only while no access is
        // performed), so the RAM runs are read once.
        let ram = memory.machine.ramTable
        for i in 0..<min(far, n) { leaves[i] = prefetchWalk(accesses[i]) }
        for i in 0..<min(near, n) { ring[i] = walk(accesses[i], from: leaves[i], ram) }
        for i in 0..<n {
            // Access i's slot in `leaves` was read by its walk 8 accesses ago.
            if i &+ far < n { leaves[i & (far &- 1)] = prefetchWalk(accesses[i &+ far]) }
            // Access i + 8's walk goes in a slot of its own before access i's is read, so no
            // value of access i waits in a register while the walk runs.
            if i &+ near < n {
                let k = (i &+ near) & (far &- 1)
                ring[k] = walk(accesses[i &+ near], from: leaves[k], ram)
            }
            let c = ring[i & (far &- 1)]
            let access = accesses[i]
            let decision: SteeringDecision
            var bytes: UnsafeMutableRawPointer?
            if access.space == .memory && p2m.generation == generation {
                decision = Self.decideMemory(access, Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift), c.translation, v)
                bytes = c.bytes
            } else {
                decision = Self.decideInline(access, v, p2m)
            }
            count(decision, access)
            let r = try Self.perform(access, decision, v, memory, bytes: bytes)
            if let results { results[i] = r }
        }
    }

    /// How far ahead the batch asks for an access's p2m entry, and walks it (a power of two:
    /// the ring's size).
    static let far = 16, near = 8

    /// The first half of a memory access's p2m walk (`P2M.leafEntry`), its last entry asked
    /// of the cache; 0 for other accesses.
    @inline(__always)
    func prefetchWalk(_ access: GuestAccess) -> UInt {
        guard access.space == .memory else { return 0 }
        let at = p2m.leafEntry(Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift))
        // A hint: for 0 (no entry) it asks for nothing that exists, and never faults.
        vpmem_prefetch_read(UnsafeRawPointer(bitPattern: at & ~3))
        return at
    }

    /// Finishes a memory access's p2m walk from its first half (`prefetchWalk`; after a change
    /// in mid-batch the answer is stale and the access does not use it) and asks the cache for the guest RAM byte it will
    /// touch (nothing for other accesses).
    @inline(__always)
    func walk(_ access: GuestAccess, from leaf: UInt, _ ram: MachineMemory.RAMTable) -> CarriedWalk {
        // 0 for an access that is not to memory, as for a gfn beyond the p2m.
        guard leaf != 0 else { return CarriedWalk(translation: nil, bytes: nil) }
        let t = p2m.translate(Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift), from: leaf)
        guard let mfn = t?.mfn, let page = ram.bytes(of: mfn) else { return CarriedWalk(translation: t, bytes: nil) }
        let p = page + Int(truncatingIfNeeded: access.address & (PageOrder.frameBytes &- 1))
        vpmem_prefetch_write(p)
        return CarriedWalk(translation: t, bytes: p)
    }

    /// Carries out `access` as `decision` says, through view `v`. `bytes`, when given, is where
    /// the access's first byte lies in guest RAM, by a walk of the p2m as it still is
    /// (`CarriedWalk`); the decision says whether the access may reach it.
    @inline(always)
    static func perform(_ access: GuestAccess, _ decision: SteeringDecision, _ v: UnsafeMutablePointer<SteeringView>,
                        _ memory: GuestMemoryAccess, bytes: UnsafeMutableRawPointer? = nil) throws(SteeringError) -> AccessResult {
        switch decision {
        case let .direct(mfn, _):
            let size = Int(truncatingIfNeeded: access.size)
            if let p = bytes ?? memory.machine.ramBytes(of: mfn).map({ $0 + Int(truncatingIfNeeded: access.address & (PageOrder.frameBytes &- 1)) }) {
                if access.direction == .write {
                    GuestMemoryAccess.store(p, size: size, access.data)
                    return .completed(data: 0)
                }
                return .completed(data: GuestMemoryAccess.load(p, size: size))
            }
            return try directOnBacking(access, mfn, memory)
        case let .emulate(server, route):
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
                return .unhandled(server: server, data: access.direction == .read ? Self.sizeMask(access.size) : 0)
            }
            // Made in each case: the protocol's call takes it in memory, the built-in models
            // in registers.
            let data: UInt64
            switch handler {
            case let .gttShadow(d):
                let ioreq = Ioreq(access, server: server, route: route)
                // The entry's guest RAM, from the carried walk: a type-claimed or wp_mem access
                // reaches here only on ioreq_server RAM, which the model may write.
                let committed: UnsafeMutableRawPointer?
                switch route {
                case .typeClaim, .rangeset(.wpMem): committed = bytes
                default: committed = nil
                }
                do { data = try GTTShadowDevice.deliver(d, ioreq, memory, committed: committed) } catch {
                    throw .deviceFailed(device: d.takeUnretainedValue().name, ioreq: ioreq, reason: "\(error)")
                }
            case let .registerFile(d):
                data = d._withUnsafeGuaranteedRef { $0.deliver(Ioreq(access, server: server, route: route)) }
            case let .device(i):
                data = try deliver(Ioreq(access, server: server, route: route), to: v.pointee.devices[i], memory)
            }
            return .completed(data: access.direction == .read ? data & Self.sizeMask(access.size) : 0)
        case let .fault(f):
            if case .writeDiscarded = f { return .discarded }
            return .fault(f)
        }
    }

    /// The bits an access of `size` bytes (1, 2, 4 or 8) carries.
    @inline(__always)
    static func sizeMask(_ size: UInt8) -> UInt64 {
        size == 8 ? .max : (1 &<< (UInt64(size) &* 8)) &- 1
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

