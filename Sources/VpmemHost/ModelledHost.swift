import DeviceModel
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostMemory
import HostPmem
import VpmemCore

/// One modelled host: its RAM (frame table, boot and buddy allocators: `HostMachine`), its pmem
/// and MMIO (the range registry inside `mapping`, the one checked mapping every guest's pmem goes
/// through), its domids, its steering budget, and its guests. A guest's pmem is safe from every
/// other guest because every guest of the host maps through this one registry.
///
/// A host is a directory (`HostStore`) or private (a throw-away host for inspecting a config
/// outside any host). Each command opens the host: host.toml boots the machine, then the guests
/// in `state.json` are admitted again in creation order and their balloon operations replayed, so
/// every command sees the same ownership. A guest's full model (`Guest`: physmap, p2m, steering
/// engine, vNVDIMMs, key store) is built only when a command acts on it.
///
/// Invariants, between calls:
///  1. every guest in `state` has a domid no other has, and (when its config loads) its RAM
///     allocated in `machine`; static memory in host.toml belongs to its named guest;
///  2. a backing (by `BackingIdentity`) belongs to at most one vNVDIMM of one guest: `owners`
///     is computed from the guests' configs, and an attach or admission that would give a second
///     guest a backing is refused, naming the owner;
///  3. the sum of the guests' range-memory allowances is at most the host's steering budget;
///  4. host.toml and state.json change only under the host's exclusive lock, and only after the
///     change has succeeded in the model.
public final class ModelledHost: GuestHost {
    /// A guest of this host as the host knows it without building its model.
    public struct Admitted {
        public let record: HostState.GuestRecord
        /// The config, or why it no longer loads (shown, and refused for any action).
        public let config: Result<GuestConfig, HostError>
        public var domid: DomainID { DomainID(uncheckedRaw: record.domid) }
        public var name: String { record.name }
        public var baseDirectory: String { (record.config as NSString).deletingLastPathComponent }
    }

    public let store: HostStore?
    /// The host directory, or "(private host)".
    public let location: String
    public private(set) var config: HostConfig
    public private(set) var state: HostState
    public private(set) var machine: HostMachine
    public var mapping: CheckedMemoryMapping
    public private(set) var steering: SteeringHost
    public private(set) var admitted: [Admitted] = []
    /// Each host pmem entry's identity (nil while its backing does not exist).
    public private(set) var pmemIdentities: [BackingIdentity?] = []
    /// Which guest and slot each backing belongs to (invariant 2).
    public private(set) var owners: [BackingIdentity: (guest: String, slot: Int)] = [:]
    /// Backings two guests' configs name (a config edited by hand): refused to every guest until
    /// one config lets go, so neither can write the other's labels.
    public private(set) var contested: [BackingIdentity: [String]] = [:]
    /// Backings a guest's config names that do not exist now, by absolute path: no other guest
    /// may create one there.
    public private(set) var missingOwners: [String: (guest: String, slot: Int)] = [:]
    /// Guests whose model was built in this process.
    private var built: [String: Guest] = [:]
    /// pmem entries registered since the host was opened, appended to host.toml on commit.
    private var pendingPmem: [HostConfig.Pmem] = []

    // MARK: Opening

    /// Opens the host in `store`. Whenever it holds the host exclusively (every change, and an
    /// inspection that found nobody else using the host), it first removes the temporary files a
    /// killed command may have left beside host.toml, state.json and every guest's config: no
    /// writer can be running, so any such file is stale. An inspection then shares the lock.
    public static func open(_ store: HostStore) throws(HostError) -> ModelledHost {
        if store.holdsExclusively {
            AtomicFileWriter.removeStaleTemporaries(for: store.configPath)
            AtomicFileWriter.removeStaleTemporaries(for: store.statePath)
        }
        let state = try store.loadState()
        if store.holdsExclusively {
            for g in state.guests { AtomicFileWriter.removeStaleTemporaries(for: g.config) }
        }
        store.share()
        return try ModelledHost(store: store, location: store.directory, config: store.loadConfig(), state: state)
    }

    /// A private host for inspecting guests outside any host: RAM for all of them and 1 GiB
    /// more, no pmem until a guest's backing asks for it, the default steering budget.
    public static func privateHost(for configs: [(path: String, config: GuestConfig)]) throws(HostError) -> ModelledHost {
        var frames: UInt64 = 1 << 18
        var state = HostState()
        for (i, c) in configs.enumerated() {
            let physmap: GuestPhysmap
            do { physmap = try GuestPhysmap(config: Self.bare(c.config)) } catch {
                throw .guest(name: c.config.name, .physmap(error))
            }
            frames += Guest.ramRegions(of: physmap).reduce(0) { $0 + $1.range.size / PageOrder.frameBytes } + 1
            state.guests.append(.init(name: c.config.name, domid: UInt16(i + 1), config: c.path))
        }
        frames = (frames + (1 << 18) - 1) & ~((1 << 18) - 1)
        var hc = HostConfig(ramBanks: [MfnRange(uncheckedFirst: 0, end: frames)])
        hc.steering.hostBudgetBytes = max(hc.steering.hostBudgetBytes, hc.steering.guestAllowanceBytes * UInt64(max(1, configs.count)))
        return try ModelledHost(store: nil, location: "(private host)", config: hc, state: state)
    }

    private init(store: HostStore?, location: String, config: HostConfig, state: HostState) throws(HostError) {
        self.store = store
        self.location = location
        self.config = config
        self.state = state
        // Placeholders until boot() builds the real ones.
        machine = try Self.coldBoot(config, state: state)
        mapping = CheckedMemoryMapping(registry: machine.hostRanges)
        do { steering = try SteeringHost(config: config.steering) } catch {
            throw .config(path: location + "/host.toml", key: "steering", problem: "\(error)", fix: "correct steering_budget and guest_allowance")
        }
        try boot()
    }

    static func bare(_ c: GuestConfig) -> GuestConfig {
        var b = c
        b.nvdimms = []
        return b
    }

    static func coldBoot(_ config: HostConfig, state: HostState) throws(HostError) -> HostMachine {
        let memory = config.memoryConfig { name in
            state.guests.first { $0.name == name }.map { DomainID(uncheckedRaw: $0.domid) } ?? .provisional
        }
        do { return try HostMachine.coldBoot(memory) } catch { throw .memory(error) }
    }

    /// Boots the machine from host.toml and admits every guest of `state` again (invariant 1).
    private func boot() throws(HostError) {
        for g in built.values { g.release() }
        built = [:]
        machine = try Self.coldBoot(config, state: state)
        mapping = CheckedMemoryMapping(registry: machine.hostRanges)
        do { steering = try SteeringHost(config: config.steering) } catch {
            throw .config(path: location + "/host.toml", key: "steering", problem: "\(error)", fix: "correct steering_budget and guest_allowance")
        }
        pmemIdentities = config.pmem.map { identity(of: $0) }
        admitted = []
        for r in state.guests {
            let loaded: Result<GuestConfig, HostError>
            do { loaded = .success(try GuestConfigFile.load(from: r.config)) } catch {
                loaded = .failure(.guestConfigInvalid(name: r.name, config: r.config, reason: error.description))
            }
            if case .success(let c) = loaded, c.name != r.name {
                admitted.append(Admitted(record: r, config: .failure(.guestConfigInvalid(
                    name: r.name, config: r.config, reason: "its name is now '\(c.name)'"))))
                continue
            }
            var a = Admitted(record: r, config: loaded)
            if case .success(let c) = loaded {
                // A guest whose RAM cannot be allocated (its config or host.toml edited since) is
                // shown with the reason and refused for any action but destroy; the rest of the
                // host still opens.
                do { try allocateRAM(for: a, config: c) } catch {
                    a = Admitted(record: r, config: .failure(.guestConfigInvalid(name: r.name, config: r.config, reason: error.description)))
                }
            }
            admitted.append(a)
        }
        for b in state.balloons {
            guard let a = admitted.first(where: { $0.name == b.guest }), case .success = a.config else { continue }
            do {
                switch b.direction {
                case .out: try machine.balloonOut(a.domid, gfn: Gfn(uncheckedRaw: b.gfn))
                case .in: try machine.balloonIn(a.domid, gfn: Gfn(uncheckedRaw: b.gfn))
                }
            } catch {
                if let i = admitted.firstIndex(where: { $0.name == b.guest }) {
                    admitted[i] = Admitted(record: a.record, config: .failure(.guestConfigInvalid(
                        name: b.guest, config: a.record.config,
                        reason: "replaying balloon \(b.direction.rawValue) of gfn \(hex(b.gfn)) failed: \(error)")))
                }
            }
        }
        computeOwners()
    }

    /// The guest's RAM from the frame table: its static memory where host.toml names some (1:1
    /// when its config asks for the direct map), else the domain heap.
    private func allocateRAM(for a: Admitted, config c: GuestConfig) throws(HostError) {
        let physmap: GuestPhysmap
        do { physmap = try GuestPhysmap(config: Self.bare(c)) } catch { throw .guest(name: a.name, .physmap(error)) }
        let regions = Guest.ramRegions(of: physmap).map {
            GfnRange(uncheckedFirst: $0.range.first.frame.raw, end: $0.range.first.frame.raw + $0.range.size / PageOrder.frameBytes)
        }
        let frames = regions.reduce(UInt64(0)) { $0 + $1.count }
        let hasStatic = config.staticMemory.contains { $0.guest == a.name }
        if c.directMap && !hasStatic {
            throw .staticMemory(guest: a.name, problem: "direct_map = true needs static memory: add a [[static_memory]] table for guest \"\(a.name)\" to host.toml")
        }
        let memory: HostDomainConfig.Memory = hasStatic
            ? .staticMemory(directMap: c.directMap, allowDynamic: c.balloonFromHeap)
            : .dynamic(frames: frames)
        do { try machine.createDomain(HostDomainConfig(id: a.domid, memory: memory, ramRegions: regions)) } catch {
            throw .guest(name: a.name, .guestMemory("\(error)"))
        }
    }

    private func identity(of p: HostConfig.Pmem) -> BackingIdentity? {
        if let ns = p.namespace { return .namespace(uuid: ns.lowercased()) }
        return p.path.flatMap { BackingIdentity.of(path: resolveHostPath($0)) }
    }

    /// A host.toml path: absolute as given, else relative to the host directory.
    public func resolveHostPath(_ path: String) -> String {
        path.hasPrefix("/") ? path : (store?.directory ?? FileManager.default.currentDirectoryPath) + "/" + path
    }

    private func computeOwners() {
        owners = [:]
        contested = [:]
        missingOwners = [:]
        for a in admitted {
            guard case .success(let c) = a.config else { continue }
            for d in c.nvdimms {
                let path = Self.standardized(d.backing.hasPrefix("/") ? d.backing : a.baseDirectory + "/" + d.backing)
                guard let id = BackingIdentity.of(path: path) else {
                    if missingOwners[path] == nil { missingOwners[path] = (a.name, d.slot) }
                    continue
                }
                if let first = owners[id], first.guest != a.name {
                    contested[id, default: [first.guest]].append(a.name)
                } else if owners[id] == nil {
                    owners[id] = (a.name, d.slot)
                }
            }
        }
    }

    static func standardized(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    // MARK: Guests

    public func admittedGuest(_ name: String) throws(HostError) -> Admitted {
        guard let a = admitted.first(where: { $0.name == name }) else {
            throw .noSuchGuest(name: name, host: location, known: admitted.map(\.name))
        }
        return a
    }

    /// The admitted guest whose config file is `path` (compared after resolving symlinks).
    public func admittedGuest(configPath path: String) -> Admitted? {
        let real = Self.realPath(path)
        return admitted.first { Self.realPath($0.record.config) == real }
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    /// The guest's full model, built on this host (once per process). `access` says how its
    /// backings are opened: `.inspect` creates nothing and takes no lock. `labelAreas` applies
    /// when the model is built here (a new guest's vNVDIMMs; see `createGuest`).
    public func guest(_ name: String, access: BackingAccess, labelAreas: LabelAreaPolicy = .unchecked) throws(HostError) -> Guest {
        if let g = built[name] {
            // A model built for inspection (read-only, unlocked backings) is rebuilt for a change.
            if g.backingAccess == .inspect && access != .inspect { g.release(); built[name] = nil } else { return g }
        }
        let a = try admittedGuest(name)
        let c: GuestConfig
        switch a.config {
        case .success(let v): c = v
        case .failure(let e): throw e
        }
        guard let hd = machine.domains[a.domid] else { throw .noSuchGuest(name: name, host: location, known: admitted.map(\.name)) }
        let ram = hd.physmap.extents.map { (gfns: GfnRange(uncheckedFirst: $0.gfn.raw, end: $0.gfn.raw + $0.count), firstMfn: $0.mfn) }
        let settings = GuestSteeringSettings(ramFrames: hd.physmap.mappedFrames, allowanceBytes: allowance(of: name))
        do {
            let g = try Guest(config: c, baseDirectory: a.baseDirectory, id: a.domid, host: self, ram: ram,
                              steering: steering, steeringSettings: settings, backings: access, labelAreas: labelAreas)
            built[name] = g
            return g
        } catch { throw .guest(name: name, error) }
    }

    /// Takes every guest model built in this process off the host and forgets it; its backings
    /// close (and unlock) once nobody else holds the models. `guest(_:access:)` builds anew.
    public func releaseGuestModels() {
        for g in built.values { g.release() }
        built = [:]
    }

    /// The range-memory allowance of guest `name`.
    public func allowance(of name: String) -> UInt64 {
        config.allowances[name] ?? config.steering.guestAllowanceBytes
    }

    /// Admits the guest whose config is at `path`: a new domid, its RAM from the frame table
    /// (its static memory where host.toml names some, 1:1 when it asks for the direct map), its
    /// range-memory allowance from the host budget, then its vNVDIMMs, each backing checked
    /// against every other guest's. Missing emulated backings are created with `createBackings`.
    /// Each backing's label area is checked against its vNVDIMM's label size as `labelAreas`
    /// says (`Guest.attach`); what was found is on the guest's `nvdimms`.
    @discardableResult
    public func createGuest(configPath path: String, createBackings: Bool,
                            labelAreas: LabelAreaPolicy = .refuseOverwrite) throws(HostError) -> Guest {
        let real = Self.realPath(path)
        let c: GuestConfig
        do { c = try GuestConfigFile.load(from: real) } catch { throw .guestConfig(error) }
        if let other = admitted.first(where: { $0.name == c.name }) { throw .guestExists(name: c.name, config: other.record.config) }
        if let other = admittedGuest(configPath: real) { throw .configAlreadyAdmitted(config: real, guest: other.name) }
        let reserved = admitted.reduce(UInt64(0)) { $0 + allowance(of: $1.name) }
        let want = allowance(of: c.name)
        guard want <= config.steering.hostBudgetBytes - min(reserved, config.steering.hostBudgetBytes) else {
            throw .budgetExhausted(guest: c.name, requested: want, budget: config.steering.hostBudgetBytes, reserved: reserved)
        }
        guard let domid = state.freeDomid() else { throw .noDomid(host: location) }
        let before = state
        state.guests.append(.init(name: c.name, domid: domid, config: real))
        do {
            try boot()
            let g = try guest(c.name, access: createBackings ? .create : .readWrite, labelAreas: labelAreas)
            try commit()
            return g
        } catch {
            state = before
            pendingPmem = []
            try? reloadConfig()
            try? boot()
            throw error
        }
    }

    /// Destroys guest `name`: its RAM back to the heap (static memory to its reserved pool), its
    /// pmem back to unowned, its allowance back to the budget. Its config and backings stay.
    public func destroyGuest(_ name: String) throws(HostError) {
        _ = try admittedGuest(name)
        let before = state
        state.guests.removeAll { $0.name == name }
        state.balloons.removeAll { $0.guest == name }
        do {
            try boot()
            try commit()
        } catch {
            state = before
            try? boot()
            throw error
        }
    }

    // MARK: vNVDIMMs

    /// Attaches `d` to guest `name` and records it in the guest's config (comments, key order
    /// and mode kept). All or nothing: a failure leaves the guest, the config, host.toml and
    /// the backing as they were (a backing this call created is removed). The backing's label
    /// area is checked against `d.labelSize` as `labelAreas` says (`Guest.attach`).
    @discardableResult
    public func attach(_ d: NVDIMMConfig, to name: String, createBacking: Bool,
                       labelAreas: LabelAreaPolicy = .refuseOverwrite) throws(HostError) -> AttachedNVDIMM {
        let g = try guest(name, access: .readWrite)
        let a = try admittedGuest(name)
        let old = g.config
        // What pmemFrames may register before the attach commits, restored if it does not.
        let saved = (config.pmem, pmemIdentities, pendingPmem, owners)
        func undoRegistrations() {
            let registered = Array(config.pmem.dropFirst(saved.0.count))
            (config.pmem, pmemIdentities, pendingPmem, owners) = saved
            for entry in registered { try? mapping.unregister(.pmem, entry.frames) }
        }
        let attached: AttachedNVDIMM
        do { attached = try g.attach(d, createBacking: createBacking, labelAreas: labelAreas) } catch {
            undoRegistrations()
            throw .guest(name: name, error)
        }
        // The config first: it is the source of truth. A backing it names that host.toml does
        // not list yet is registered again on the next open, so a failure (or a kill) between
        // the two writes never leaves host.toml naming a file that is gone.
        do { try ConfigRewrite.rewrite(path: a.record.config, from: old, to: Self.pinningPlacement(of: g)) } catch {
            _ = try? g.detach(slot: d.slot)
            if attached.createdBacking { _ = unlink(attached.path) }
            undoRegistrations()
            throw error
        }
        try? commitPmem()
        pendingPmem = []
        try reloadAdmitted()
        return attached
    }

    /// Detaches the vNVDIMM in `slot` of guest `name` and removes it from the config. The
    /// backing stays host pmem, unowned, its bytes untouched.
    @discardableResult
    public func detach(slot: Int, from name: String) throws(HostError) -> AttachedNVDIMM {
        let g = try guest(name, access: .readWrite)
        let a = try admittedGuest(name)
        let old = g.config
        var detached: AttachedNVDIMM?
        do { detached = try g.detach(slot: slot) } catch { throw .guest(name: name, error) }
        do { try ConfigRewrite.rewrite(path: a.record.config, from: old, to: Self.pinningPlacement(of: g)) } catch {
            // Undo: the config still has the vNVDIMM, so the guest must too. The detached
            // mapping, and the backing lock it holds, go first: the re-attach takes them again.
            let config = detached.unsafelyUnwrapped.config
            detached = nil
            do { _ = try g.attach(config, createBacking: false, labelAreas: .unchecked) } catch {
                // The guest no longer matches its config: drop it, so the next use rebuilds it.
                built[name]?.release()
                built[name] = nil
            }
            throw error
        }
        try reloadAdmitted()
        return detached.unsafelyUnwrapped
    }

    /// `g`'s config with an `address` on each vNVDIMM that a replay of the config would place
    /// elsewhere. Every command rebuilds a guest from its config, placing vNVDIMMs in slot order,
    /// while an attach fills the first free stretch and a detach leaves a hole: without the pin,
    /// a guest's NVDIMM would move between two commands (and its NFIT, `vpmem qemu` and the
    /// fsdax info blocks computed from its address with it). Each round pins at least one more,
    /// so this ends within as many rounds as there are vNVDIMMs.
    static func pinningPlacement(of g: Guest) -> GuestConfig {
        var config = g.config
        for _ in 0...config.nvdimms.count {
            guard let plan = try? Guest.plannedPhysmap(config) else { break }
            var pinned = false
            for n in g.nvdimms where plan.regions.first(where: { $0.name == n.config.regionName })?.range != n.guestRange {
                guard let i = config.nvdimms.firstIndex(where: { $0.slot == n.slot }), config.nvdimms[i].address == nil else { continue }
                config.nvdimms[i].address = n.guestRange.first
                pinned = true
            }
            if !pinned { break }
        }
        return config
    }

    // MARK: Ballooning

    /// Guest `name` gives back (`.out`) or asks for (`.in`) the page at `gfn`, with seed 003's
    /// rules (static pages to and from the guest's reserved pool; a direct-mapped guest only
    /// gets gfn == mfn; heap pages only where allowed). Recorded in state.json.
    @discardableResult
    public func balloon(_ name: String, _ direction: HostState.Balloon.Direction, gfn: Gfn) throws(HostError) -> Mfn? {
        let a = try admittedGuest(name)
        if case .failure(let e) = a.config { throw e }
        var mfn: Mfn?
        do {
            switch direction {
            case .out:
                mfn = machine.domains[a.domid]?.physmap.translate(gfn)
                try machine.balloonOut(a.domid, gfn: gfn)
            case .in: mfn = try machine.balloonIn(a.domid, gfn: gfn)
            }
        } catch { throw .memory(error) }
        state.balloons.append(.init(guest: name, direction: direction, gfn: gfn.raw))
        built[name]?.release()
        built[name] = nil
        do { try commit() } catch {
            state.balloons.removeLast()
            try? boot()
            throw error
        }
        return mfn
    }

    // MARK: Commit

    /// Writes what changed: new pmem entries to host.toml, then state.json. A private host
    /// writes nothing.
    private func commit() throws(HostError) {
        try commitPmem()
        if let store { try store.save(state) }
    }

    private func commitPmem() throws(HostError) {
        guard let store else { pendingPmem = []; return }
        for p in pendingPmem { try store.appendPmem(p) }
        pendingPmem = []
    }

    private func reloadConfig() throws(HostError) {
        if let store { config = try store.loadConfig() }
    }

    /// Re-reads the guests' configs after a change (their vNVDIMMs decide `owners`).
    private func reloadAdmitted() throws(HostError) {
        admitted = admitted.map { a in
            var loaded = a.config
            if let c = try? GuestConfigFile.load(from: a.record.config) { loaded = .success(c) }
            return Admitted(record: a.record, config: loaded)
        }
        computeOwners()
    }

    // MARK: GuestHost

    public func pmemFrames(forBacking path: String, backing: PmemMapping, dataFrames: UInt64,
                           guest: String, slot: Int) throws(GuestError) -> MfnRange {
        guard let id = BackingIdentity.of(path: path) else {
            throw .hostRefused("backing \(path) disappeared while it was being attached: try again")
        }
        if let o = missingOwners[Self.standardized(path)], o.guest != guest {
            throw .hostRefused("backing \(path) is named by guest '\(o.guest)' (vNVDIMM slot \(o.slot)), whose file is missing; '\(guest)' may not make a new one there: restore the file, or detach it from '\(o.guest)' first")
        }
        if let guests = contested[id], owners[id]?.guest == guest {
            throw .hostRefused("backing \(path) is named by the configs of guests \(guests.map { "'\($0)'" }.joined(separator: " and ")); none may have it until all but one let go: remove it from the other configs (vpmem nvdimm detach)")
        }
        if let owner = owners[id], owner.guest != guest || owner.slot != slot {
            throw .hostRefused(HostError.backingOwned(path: path, owner: owner.guest, slot: owner.slot, requester: guest).description)
        }
        let index: Int
        if let i = pmemIdentities.firstIndex(where: { $0 == id }) {
            index = i
        } else {
            guard case .file = id else {
                throw .hostRefused(HostError.backingNotHostPmem(path: path, host: location).description)
            }
            guard let spa = config.nextPmemSPA(size: backing.length) else {
                throw .hostRefused(HostError.pmemFull(bytes: backing.length).description)
            }
            let entry = HostConfig.Pmem(path: Self.realPath(path), size: (backing.length + 4095) & ~4095, spa: spa)
            do { try mapping.register(.pmem, entry.frames) } catch { throw .mapping(error) }
            config.pmem.append(entry)
            pmemIdentities.append(id)
            pendingPmem.append(entry)
            index = config.pmem.count - 1
        }
        let entry = config.pmem[index]
        guard entry.size >= backing.length else {
            throw .hostRefused(HostError.backingTooSmall(path: path, entryBytes: entry.size, needed: backing.length).description)
        }
        owners[id] = (guest, slot)
        return MfnRange(uncheckedFirst: entry.spa >> 12, end: (entry.spa >> 12) + dataFrames)
    }

    public func pmemFramesReleased(_ frames: MfnRange) {
        // Host pmem stays registered: the frames are unowned again (the checked mapping gave them
        // back); `owners` follows the configs on the next reload.
    }
}
