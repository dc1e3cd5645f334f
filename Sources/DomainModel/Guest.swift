#if canImport(Glibc)
import Glibc
#endif
import DeviceModel
import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore

// Guest: one modelled guest, tied together: config -> physmap -> p2m (guest RAM on modelled
// host RAM) -> checked mapping of its vNVDIMM backings -> NFIT/SSDT in its ACPI-tables region ->
// key store -> the _DSM device model behind the DSM IO port on its steering engine.
//
// Invariants (hold between calls; a method that throws restores them and changes nothing):
//  1. `config.nvdimms` lists exactly the attached vNVDIMMs, in slot order, and `nvdimms` holds
//     one AttachedNVDIMM for each, in the same order.
//  2. Each attached vNVDIMM has: a pmem region "nvdimm<slot>" in `physmap`; its host frames
//     (the host's pmem behind its backing, registered by the host) owned by this guest and
//     mapped at that region through the host's checked mapping (type pmem, the largest pages
//     alignment allows); those frames backed by its PmemMapping in `machine`; its label area
//     (if any) attached to the DSM handler.
//  3. With vNVDIMMs attached, `tables` holds the NFIT and SSDT built from them, the same bytes
//     are in guest memory at `tables.address`, the key store's dm-acpi keys give that address
//     and length, and the DSM handler's FIT is the NFIT's structures. With none, `tables` is
//     nil and the keys are absent.
//  4. Guest RAM (inside the ram, acpi_tables and acpi_nvs regions) is mapped ram_rw exactly
//     where the host mapped it; PCI apertures and MMIO regions are mmio_dm (GuestMemoryBuilder).
//  5. A backing that attach created is removed again if the attach fails; an existing backing
//     is never changed by a failed attach or by detach.

/// A modelled guest with its vNVDIMMs. See the invariants at the top of this file.
public final class Guest {
    public let id: DomainID
    public private(set) var config: GuestConfig
    /// Relative backing paths in the config are relative to this directory.
    public let baseDirectory: String
    public private(set) var physmap: GuestPhysmap
    public let p2m: P2M
    public let machine: MachineMemory
    /// Where the guest's memory lies: its RAM extents on host frames (a ballooned-out page is in
    /// no extent), its `ram` regions, its emulated MMIO regions.
    public let ramLayout: GuestRAMLayout
    public let steeringHost: SteeringHost
    public let engine: SteeringEngine
    public let dsmServer: IoreqServerID
    public let device: NVDIMMDeviceModel
    public let tablesArea: AcpiTablesArea
    public private(set) var nvdimms: [AttachedNVDIMM] = []
    public private(set) var keys: KeyStore
    public private(set) var tables: PublishedTables?
    /// How this guest opens its backings.
    public let backingAccess: BackingAccess
    /// The host this guest runs on. Unowned: the host owns its guests. A guest built alone keeps
    /// its private host in `standaloneHost`.
    public unowned let host: any GuestHost
    private let standaloneHost: StandaloneGuestHost?

    /// The host's checked mapping, as this guest's changes go through it.
    public var mapping: CheckedMemoryMapping { host.mapping }

    /// QEMU's DSM IO port.
    public static let dsmPort: UInt16 = SSDTBuilder.defaultIOPort
    public var dsmPage: Gpa { tablesArea.dsmPage }

    /// The RAM-like regions of a physmap (RAM, the ACPI tables and the NVS page), in address
    /// order: what host RAM is laid on, and how many frames the host must give.
    public static func ramRegions(of physmap: GuestPhysmap) -> [PhysmapRegion] {
        physmap.regions.filter { $0.kind == .ram || $0.kind == .acpiTables || $0.kind == .acpiNVS }
    }

    /// Builds a guest alone, on a private `StandaloneGuestHost` (its RAM on one run of host RAM),
    /// and attaches its vNVDIMMs in slot order. Missing backings are created (emulated pmem
    /// files) when `createMissingBackings` is set.
    public convenience init(config: GuestConfig, baseDirectory: String, domid: UInt16 = 1,
                            createMissingBackings: Bool = true) throws(GuestError) {
        let host = StandaloneGuestHost()
        let physmap = try Self.bareLayout(config)
        let frames = Self.ramRegions(of: physmap).reduce(UInt64(0)) { $0 + $1.range.size / PageOrder.frameBytes }
        let run = try host.registerRAM(frames: frames)
        let layout: GuestRAMLayout
        do { layout = try GuestRAMLayout(physmap: physmap, ramRuns: [run]) } catch { throw .guestMemory("\(error)") }
        let steering: SteeringHost
        do { steering = try SteeringHost() } catch { throw .deviceModel("\(error)") }
        let id: DomainID
        do { id = try DomainID(domid) } catch { throw .mapping(error) }
        try self.init(config: config, baseDirectory: baseDirectory, id: id, host: host,
                      ram: layout.extents.map { ($0.gfns, $0.firstMfn) }, steering: steering, steeringSettings: nil,
                      backings: createMissingBackings ? .create : .readWrite, standalone: host)
    }

    /// Builds guest `id` on `host`: its RAM exactly where the host mapped it (`ram`: guest frames
    /// and the first machine frame of each extent, inside the physmap's RAM-like regions; a
    /// ballooned-out page is simply absent), its emulated MMIO regions, its steering engine from
    /// `steering` with `steeringSettings` (nil: the host's defaults for this much RAM), then its
    /// vNVDIMMs (pinned ones first, then the rest in slot order), their backings opened as
    /// `backings` says, their label areas checked as `labelAreas` says (a new guest's are; a
    /// guest rebuilt from its config owns its label areas already).
    public convenience init(config: GuestConfig, baseDirectory: String, id: DomainID, host: any GuestHost,
                            ram: [(gfns: GfnRange, firstMfn: Mfn)], steering: SteeringHost, steeringSettings: GuestSteeringSettings?,
                            backings: BackingAccess, labelAreas: LabelAreaPolicy = .unchecked) throws(GuestError) {
        try self.init(config: config, baseDirectory: baseDirectory, id: id, host: host, ram: ram,
                      steering: steering, steeringSettings: steeringSettings, backings: backings, labelAreas: labelAreas, standalone: nil)
    }

    static func bareLayout(_ config: GuestConfig) throws(GuestError) -> GuestPhysmap {
        var bare = config
        bare.nvdimms = []
        do { try config.validate() } catch { throw .config(error) }
        do { return try GuestPhysmap(config: bare) } catch { throw .physmap(error) }
    }

    private init(config: GuestConfig, baseDirectory: String, id: DomainID, host: any GuestHost,
                 ram: [(gfns: GfnRange, firstMfn: Mfn)], steering: SteeringHost, steeringSettings: GuestSteeringSettings?,
                 backings: BackingAccess, labelAreas: LabelAreaPolicy = .unchecked, standalone: StandaloneGuestHost?) throws(GuestError) {
        self.id = id
        let physmap = try Self.bareLayout(config)
        var bare = config
        bare.nvdimms = []
        self.config = bare
        self.physmap = physmap
        self.baseDirectory = baseDirectory
        self.host = host
        self.standaloneHost = standalone
        self.backingAccess = backings
        tablesArea = try AcpiTablesArea(physmap: physmap)
        p2m = P2M()
        machine = MachineMemory()
        keys = KeyStore(domid: id.raw)
        // Guest RAM where the host put it, and the emulated MMIO regions: the one builder.
        let layout: GuestRAMLayout
        do { layout = try GuestMemoryBuilder.build(physmap, ramExtents: ram, p2m: p2m, machine: machine) } catch {
            throw .guestMemory("\(error)")
        }
        ramLayout = layout
        let ramFrames = layout.ramFrames
        do { try host.mapping.addGuest(id, physmap: physmap, p2m: p2m) } catch { throw .mapping(error) }
        device = NVDIMMDeviceModel(port: Self.dsmPort)
        do {
            steeringHost = steering
            engine = try steering.createGuest(id, p2m: p2m, machine: machine,
                                              settings: steeringSettings ?? GuestSteeringSettings(ramFrames: ramFrames))
            dsmServer = try engine.createServer(name: "nvdimm")
            try engine.register(device, server: dsmServer, kind: .port, first: UInt64(Self.dsmPort), last: UInt64(Self.dsmPort) + 3)
        } catch {
            try? host.mapping.removeGuest(id)
            throw .deviceModel("\(error)")
        }
        // Pinned vNVDIMMs first, so the placed ones go around them.
        for d in GuestPhysmap.placementOrder(config.nvdimms) {
            do { try attach(d, createBacking: backings == .create, labelAreas: labelAreas) } catch {
                // Nothing of this guest may stay on the host: its extents and its allowance go,
                // and the backings this build created.
                for made in nvdimms where made.createdBacking { _ = unlink(made.path) }
                release()
                throw error
            }
        }
    }

    /// Takes this guest off its host: every mapping it made goes from the host's checked
    /// mapping (the host frames back to unowned), its steering allowance back to the host
    /// budget, its backings closed once the guest is dropped. The guest is unusable afterwards.
    public func release() {
        for d in nvdimms { host.pmemFramesReleased(d.hostFrames) }
        try? host.mapping.removeGuest(id)
        try? steeringHost.removeGuest(id)
        nvdimms = []
    }

    /// The backing path of `d` as opened: absolute as given, relative to `baseDirectory`.
    public func resolve(_ backing: String) -> String {
        backing.hasPrefix("/") ? backing : (baseDirectory.hasSuffix("/") ? baseDirectory : baseDirectory + "/") + backing
    }

    /// The attached vNVDIMM in `slot`.
    public func nvdimm(slot: Int) -> AttachedNVDIMM? { nvdimms.first { $0.slot == slot } }

    // MARK: Attach

    /// Attaches a vNVDIMM: opens (or, with `createBacking`, creates) its backing, places its data
    /// part in the pmem aperture, maps it through the checked mapping, hands its label area to
    /// the _DSM device model, and republishes the firmware tables. All or nothing.
    ///
    /// `labelAreas` says whether the backing's label area is checked against `d.labelSize`
    /// (after every other check of the backing, before anything is committed): a label area
    /// holding data the guest's label writes would overwrite is refused under
    /// `.refuseOverwrite` unless the vNVDIMM is read-only; what was found is on the result.
    @discardableResult
    public func attach(_ d: NVDIMMConfig, createBacking: Bool, labelAreas: LabelAreaPolicy = .unchecked) throws(GuestError) -> AttachedNVDIMM {
        // 1. Rules of the vNVDIMM and against the others.
        var next = config
        next.nvdimms.append(d)
        next.nvdimms.sort { $0.slot < $1.slot }
        if config.nvdimm(slot: d.slot) != nil { throw .slotInUse(slot: d.slot) }
        do { try d.validate() } catch { throw .config(error) }
        let path = resolve(d.backing)
        if let other = nvdimms.first(where: { $0.path == path || Self.sameFile($0.path, path) }) {
            throw .backingInUse(slot: d.slot, path: path, otherSlot: other.slot)
        }
        do { try next.validate() } catch { throw .config(error) }
        guard let backingSize = d.backingSize else { throw .config(.invalid(key: "nvdimm slot \(d.slot) size", value: d.size.description, rule: "fits in 64 bits")) }
        // 2. Guest side, on copies: a region in the pmem aperture.
        var nextPhysmap = physmap
        let range: GpaRange
        do { range = try nextPhysmap.place(d) } catch { throw .physmap(error) }
        let frames = d.size.bytes / PageOrder.frameBytes
        // 3. The backing: opened (or created) last among the checks, removed again on failure
        // only if this call created it. Then the host's frames behind its data part.
        let (backing, created) = try Self.openBacking(d, path: path, size: backingSize, access: backingAccess,
                                                      create: createBacking)
        var committed = false
        defer {
            if !committed && created { _ = unlink(path) }
        }
        let hostFrames = try host.pmemFrames(forBacking: path, backing: backing, dataFrames: frames,
                                             guest: config.name, slot: d.slot)
        defer {
            if !committed { host.pmemFramesReleased(hostFrames) }
        }
        // The backing's label area against the configuration (QEMU's and ndctl's recurring
        // data-loss reports; see LabelAreaCheck).
        var labelCheck: LabelAreaCheck?
        if labelAreas != .unchecked {
            do { labelCheck = try BackingLabelProbe.check(backing, configuredLabelSize: d.labelSize.bytes) } catch {
                throw .backing(slot: d.slot, error)
            }
            if let c = labelCheck, c.overwritesData, labelAreas == .refuseOverwrite, !d.readOnly {
                throw .labelAreaHoldsData(slot: d.slot, path: path, c)
            }
        }
        // 4. Tables for the new set, built before anything is committed.
        let attachedNext = AttachedNVDIMMStub(config: d, range: range)
        let (nfit, ssdt, fit) = try buildTables(nvdimms.map { $0.virtualNVDIMM } + [attachedNext.virtualNVDIMM], config: next)
        guard nfit.count + ssdt.count <= tablesArea.room else {
            throw .tablesTooLarge(length: nfit.count + ssdt.count, room: tablesArea.room)
        }
        let labelArea: PmemLabelStorage?
        if d.hasLabelArea {
            labelArea = try PmemLabelStorage(mapping: backing, offset: d.labelOffset, size: UInt32(d.labelSize.bytes))
        } else {
            labelArea = nil
        }
        // 5. Commit: checked mapping against the host's registry (physmap, map: refused when
        // another guest owns the frames), machine memory, tables, DSM.
        var nextMapping = host.mapping
        let extent: MappedExtent
        do {
            try nextMapping.updatePhysmap(id, nextPhysmap)
            extent = try nextMapping.map(id, gfn: range.first.frame, mfn: hostFrames.first, count: frames, type: .pmem)
        } catch { throw .mapping(error) }
        // The p2m now holds the mapping (map is all or nothing); undo it if a later step fails.
        do {
            try machine.addPmem(backing, firstMfn: hostFrames.first, frames: frames, offset: 0)
        } catch {
            _ = try? nextMapping.unmap(id, gfn: range.first.frame, count: frames)
            throw .machineMemory("\(error)")
        }
        let attached = AttachedNVDIMM(config: d, path: path, backing: backing, createdBacking: created,
                                      guestRange: range, hostFrames: hostFrames, extent: extent, labelAreaCheck: labelCheck)
        do {
            try publish(nfit: nfit, ssdt: ssdt)
        } catch {
            machine.removePmem(firstMfn: hostFrames.first)
            _ = try? nextMapping.unmap(id, gfn: range.first.frame, count: frames)
            throw error
        }
        // The device is what the guest sees (read-only only when configured so, as its SSDT says);
        // an inspection's read-only mapping refuses a write itself (status "hardware error").
        do { try device.handler.attach(slot: d.slot, .init(labelArea: labelArea, readOnly: d.readOnly)) } catch {
            throw .tables(.config(error))  // slot range was validated above: unreachable in practice
        }
        device.handler.setFIT(fit)
        host.mapping = nextMapping
        physmap = nextPhysmap
        config = next
        nvdimms.append(attached)
        nvdimms.sort { $0.slot < $1.slot }
        committed = true
        return attached
    }

    /// The VirtualNVDIMM of a vNVDIMM being attached, before its AttachedNVDIMM exists.
    private struct AttachedNVDIMMStub {
        let config: NVDIMMConfig
        let range: GpaRange
        var virtualNVDIMM: VirtualNVDIMM {
            VirtualNVDIMM(slot: config.slot, base: range.first, size: config.size.bytes, proximityDomain: config.node, unarmed: config.unarmed,
                          labelAccess: LabelAreaAccess(hasLabelArea: config.hasLabelArea, readOnly: config.readOnly))
        }
    }

    static func openBacking(_ d: NVDIMMConfig, path: String, size: UInt64, access mode: BackingAccess,
                            create: Bool) throws(GuestError) -> (PmemMapping, created: Bool) {
        let exists = access(path, F_OK) == 0
        if !exists && !(create && mode != .inspect) { throw .backingMissing(slot: d.slot, path: path) }
        if mode == .inspect {
            // Inspection opens read-only: no lock taken, nothing created, nothing written.
            do {
                let m = try PmemMapping.open(path: path, access: .readOnly)
                guard m.length == size else {
                    throw GuestError.backingSize(slot: d.slot, path: path, actual: m.length, size: d.size.bytes, labelSize: d.labelSize.bytes)
                }
                return (m, false)
            } catch let e as GuestError { throw e } catch let e as HostPmemError { throw .backing(slot: d.slot, e) } catch {
                throw .backing(slot: d.slot, .system(path: path, operation: "open", errno: 0, message: "\(error)"))
            }
        }
        if d.readOnly {
            if !exists {
                // A new read-only vNVDIMM: an all-zero emulated file, then opened read-only.
                do { _ = try PmemMapping.create(path: path, size: size) } catch { throw .backing(slot: d.slot, error) }
                do { return (try PmemMapping.open(path: path, expectedSize: size, access: .readOnly), true) } catch {
                    _ = unlink(path)
                    throw .backing(slot: d.slot, error)
                }
            }
            if let info = try? PmemInfo.inspect(path: path), info.locked {
                throw .backingLockedByWriter(slot: d.slot, path: path, holderPid: info.lockHolderPid)
            }
        }
        do {
            let m: PmemMapping
            if exists {
                m = try PmemMapping.open(path: path, access: d.readOnly ? .readOnly : .readWrite)
            } else {
                m = try PmemMapping.create(path: path, size: size)
            }
            guard m.length == size else {
                throw GuestError.backingSize(slot: d.slot, path: path, actual: m.length, size: d.size.bytes, labelSize: d.labelSize.bytes)
            }
            return (m, m.created)
        } catch let e as GuestError {
            throw e
        } catch let e as HostPmemError {
            throw .backing(slot: d.slot, e)
        } catch {
            throw .backing(slot: d.slot, .system(path: path, operation: "open", errno: 0, message: "\(error)"))
        }
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    // MARK: Detach

    /// Detaches the vNVDIMM in `slot`, reversing exactly what attach did; its backing is closed
    /// (and unlocked) once the returned value is dropped. The backing's bytes are not touched.
    @discardableResult
    public func detach(slot: Int) throws(GuestError) -> AttachedNVDIMM {
        guard let index = nvdimms.firstIndex(where: { $0.slot == slot }) else {
            throw .noSuchSlot(slot: slot, attached: nvdimms.map(\.slot))
        }
        let d = nvdimms[index]
        var next = config
        next.nvdimms.removeAll { $0.slot == slot }
        let rest = nvdimms.filter { $0.slot != slot }
        var built: (nfit: [UInt8], ssdt: [UInt8], fit: [UInt8])?
        if !rest.isEmpty { built = try buildTables(rest.map(\.virtualNVDIMM), config: next) }
        var nextPhysmap = physmap
        do { try nextPhysmap.removePmem(name: d.config.regionName) } catch { throw .physmap(error) }
        var nextMapping = host.mapping
        let gfn = d.guestRange.first.frame, count = d.hostFrames.count
        // unmap is all or nothing; once it has succeeded the p2m no longer maps the vNVDIMM, so
        // any later failure maps it back before throwing (the host's mapping is still the old one).
        do { _ = try nextMapping.unmap(id, gfn: gfn, count: count) } catch { throw .mapping(error) }
        do {
            try nextMapping.updatePhysmap(id, nextPhysmap)
            if let built { try publish(nfit: built.nfit, ssdt: built.ssdt) } else { unpublish() }
        } catch {
            try? p2m.set(gfn: gfn, count: count, to: d.hostFrames.first, type: .pmem)
            if let e = error as? MappingError { throw .mapping(e) }
            throw (error as? GuestError) ?? .guestMemory("\(error)")
        }
        try? device.handler.detach(slot: slot)
        device.handler.setFIT(built?.fit ?? [])
        machine.removePmem(firstMfn: d.hostFrames.first)
        host.mapping = nextMapping
        host.pmemFramesReleased(d.hostFrames)
        physmap = nextPhysmap
        config = next
        nvdimms.remove(at: index)
        return d
    }

    // MARK: Tables

    func buildTables(_ list: [VirtualNVDIMM], config: GuestConfig) throws(GuestError) -> ([UInt8], [UInt8], [UInt8]) {
        let o = config.acpiOem
        var oem = AcpiOemFields()
        if let v = o.oemID { oem.oemID = v }
        if let v = o.oemRevision { oem.oemRevision = v }
        if let v = o.creatorID { oem.creatorID = v }
        if let v = o.creatorRevision { oem.creatorRevision = v }
        var nfitOEM = oem, ssdtOEM = oem
        nfitOEM.oemTableID = o.oemTableID
        ssdtOEM.oemTableID = o.oemTableID ?? "NVDIMM"
        let persistence: PersistenceDomain? = config.nvdimmPersistence.map { $0 == .cpu ? .cpu : .memoryController }
        let nfitBuilder = NFITBuilder(nvdimms: list, persistenceDomain: persistence, oem: nfitOEM)
        do {
            let fit = try nfitBuilder.structures()
            let nfit = try nfitBuilder.table()
            let ssdt = try SSDTBuilder(nvdimms: list, dsmPage: tablesArea.dsmPage, ioPort: Self.dsmPort, oem: ssdtOEM).table()
            return (nfit, ssdt, fit)
        } catch let e as NVDIMMBuildError {
            throw .tables(e)
        } catch let e as NVDIMMConfigError {
            throw .tables(.config(e))
        } catch {
            throw .tables(.table(.truncated(expected: 0, actual: 0)))
        }
    }

    /// Writes the tables into the guest's ACPI-tables region and publishes address and length.
    func publish(nfit: [UInt8], ssdt: [UInt8]) throws(GuestError) {
        do { try engine.memory.write(tablesArea.tablesBase, nfit + ssdt) } catch { throw .guestMemory("\(error)") }
        var k = keys
        do {
            try k.write(AcpiTablesArea.addressKey, String(tablesArea.tablesBase.raw))
            try k.write(AcpiTablesArea.lengthKey, String(nfit.count + ssdt.count))
        } catch { throw .keyStore(error) }
        keys = k
        tables = PublishedTables(nfit: nfit, ssdt: ssdt, address: tablesArea.tablesBase)
    }

    func unpublish() {
        try? keys.remove("hvmloader/dm-acpi")
        tables = nil
    }

    /// Writes a key in the guest's key store (the toolstack's xenstore-write).
    public func writeKey(_ path: String, _ value: String) throws(GuestError) {
        do { try keys.write(path, value) } catch { throw .keyStore(error) }
    }
}

extension Guest {
    /// The physmap `config` gives once its vNVDIMMs are attached, without opening
    /// any backing (what `guest show` prints).
    public static func plannedPhysmap(_ config: GuestConfig) throws(GuestError) -> GuestPhysmap {
        var bare = config
        bare.nvdimms = []
        do { try config.validate() } catch { throw .config(error) }
        var physmap: GuestPhysmap
        do {
            physmap = try GuestPhysmap(config: bare)
            for d in GuestPhysmap.placementOrder(config.nvdimms) { try physmap.place(d) }
        } catch { throw .physmap(error) }
        return physmap
    }
}
