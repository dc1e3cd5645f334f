import DeviceModel
import GuestMemory
import Testing

/// One gfn of each p2m type, and a server setup, so every type and kind has a decision to check.
@Suite struct SteeringDecisionTests {
    // gfn -> type, in a 16 MiB guest whose other frames are ram_rw.
    static let layout: [(UInt64, P2MType)] = [
        (0x11, .ramLogDirty), (0x12, .ramRO), (0x14, .mmioDirect), (0x15, .grantMapRW),
        (0x16, .grantMapRO), (0x17, .foreign), (0x18, .ioreqServer), (0x19, .pmem),
    ]
    static let mmioGfn: UInt64 = 0x2000  // mmio_dm, beyond RAM
    static let unmappedGfn: UInt64 = 0x3000
    static let readOnlyAccessGfn: UInt64 = 0x1B  // ram_rw with access r--

    func guest() throws -> (SteeringEngine, IoreqServerID, IoreqServerID) {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        for (gfn, type) in Self.layout {
            try e.p2m.set(gfn: Gfn(uncheckedRaw: gfn), count: 1, to: Mfn(uncheckedRaw: 0x9_0000 + gfn), type: type)
        }
        try e.p2m.set(gfn: Gfn(uncheckedRaw: Self.readOnlyAccessGfn), count: 1,
                      to: Mfn(uncheckedRaw: testMfnBase + Self.readOnlyAccessGfn), type: .ramRW, access: .read)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: Self.mmioGfn), count: 16, to: nil, type: .mmioDM)
        let qemu = try e.createServer(name: "qemu", isDefault: true)
        let gpu = try e.createServer(name: "gpu")
        return (e, qemu, gpu)
    }

    @Test func everyP2MTypeInBothDirections() throws {
        let (e, qemu, gpu) = try guest()
        func mfn(_ gfn: UInt64) -> Mfn { Mfn(uncheckedRaw: 0x9_0000 + gfn) }
        func r(_ gfn: UInt64) throws -> SteeringDecision { e.decide(try .read(gpa(gfn, 8), size: 4)) }
        func w(_ gfn: UInt64) throws -> SteeringDecision { e.decide(try .write(gpa(gfn, 8), size: 4, data: 7)) }

        // ram_rw
        #expect(try r(0x10) == .direct(mfn: Mfn(uncheckedRaw: testMfnBase + 0x10), type: .ramRW))
        #expect(try w(0x10) == .direct(mfn: Mfn(uncheckedRaw: testMfnBase + 0x10), type: .ramRW))
        // ram_logdirty: writes proceed (Xen logs the page dirty and lets the write through)
        #expect(try w(0x11) == .direct(mfn: mfn(0x11), type: .ramLogDirty))
        // ram_ro: reads direct, writes dropped
        #expect(try r(0x12) == .direct(mfn: mfn(0x12), type: .ramRO))
        #expect(try w(0x12) == .fault(.writeDiscarded(gfn: Gfn(uncheckedRaw: 0x12), type: .ramRO)))
        // mmio_direct, grants, foreign, pmem: direct both ways (grant ro drops writes)
        #expect(try w(0x14) == .direct(mfn: mfn(0x14), type: .mmioDirect))
        #expect(try w(0x15) == .direct(mfn: mfn(0x15), type: .grantMapRW))
        #expect(try r(0x16) == .direct(mfn: mfn(0x16), type: .grantMapRO))
        #expect(try w(0x16) == .fault(.writeDiscarded(gfn: Gfn(uncheckedRaw: 0x16), type: .grantMapRO)))
        #expect(try w(0x17) == .direct(mfn: mfn(0x17), type: .foreign))
        #expect(try r(0x19) == .direct(mfn: mfn(0x19), type: .pmem))
        #expect(try w(0x19) == .direct(mfn: mfn(0x19), type: .pmem))
        // ioreq_server, unclaimed and in no wp_mem set: RAM
        #expect(try r(0x18) == .direct(mfn: mfn(0x18), type: .ioreqServer))
        #expect(try w(0x18) == .direct(mfn: mfn(0x18), type: .ioreqServer))
        // ioreq_server, write claimed: writes emulated by the claimant, reads still RAM
        try e.claimIoreqServerType(gpu, flags: .write)
        #expect(try w(0x18) == .emulate(server: gpu, route: .typeClaim))
        #expect(try r(0x18) == .direct(mfn: mfn(0x18), type: .ioreqServer))
        try e.releaseIoreqServerType(gpu)
        try e.claimIoreqServerType(gpu, flags: [.read, .write])
        #expect(try r(0x18) == .emulate(server: gpu, route: .typeClaim))
        try e.releaseIoreqServerType(gpu)
        // ioreq_server, in a wp_mem set: writes to that server, reads RAM
        try e.mapRange(gpu, .wpMem, first: 0x18, last: 0x18)
        #expect(try w(0x18) == .emulate(server: gpu, route: .rangeset(.wpMem)))
        #expect(try r(0x18) == .direct(mfn: mfn(0x18), type: .ioreqServer))
        // wp_mem has no effect on a ram_rw page: its writes never trap
        try e.mapRange(gpu, .wpMem, first: 0x10, last: 0x10)
        #expect(try w(0x10) == .direct(mfn: Mfn(uncheckedRaw: testMfnBase + 0x10), type: .ramRW))
        // mmio_dm: the default server unless a server's mmio set holds the access
        #expect(try r(Self.mmioGfn) == .emulate(server: qemu, route: .defaultServer))
        try e.mapRange(gpu, .mmio, first: Self.mmioGfn << 12, last: Self.mmioGfn << 12 | 0xfff)
        #expect(try w(Self.mmioGfn) == .emulate(server: gpu, route: .rangeset(.mmio)))
        // invalid (nothing mapped)
        #expect(try r(Self.unmappedGfn) == .fault(.unmapped(gfn: Gfn(uncheckedRaw: Self.unmappedGfn))))
        #expect(try w(Self.unmappedGfn) == .fault(.unmapped(gfn: Gfn(uncheckedRaw: Self.unmappedGfn))))
        // the entry's access rights forbid writing
        #expect(try r(Self.readOnlyAccessGfn) == .direct(mfn: Mfn(uncheckedRaw: testMfnBase + Self.readOnlyAccessGfn), type: .ramRW))
        #expect(try w(Self.readOnlyAccessGfn) == .fault(.accessDenied(
            gfn: Gfn(uncheckedRaw: Self.readOnlyAccessGfn), type: .ramRW, access: .read, direction: .write)))
    }

    @Test func mmioAccessMustLieWhollyInOneRange() throws {
        let (e, qemu, gpu) = try guest()
        let base = Self.mmioGfn << 12
        try e.mapRange(gpu, .mmio, first: base, last: base + 0xFF)
        #expect(e.decide(try .write(Gpa(base + 0xFC), size: 4, data: 1)) == .emulate(server: gpu, route: .rangeset(.mmio)))
        // 0xFE..0x101 straddles the end of the BAR: not wholly the GPU's, so the default server.
        #expect(e.decide(try .write(Gpa(base + 0xFE), size: 4, data: 1)) == .emulate(server: qemu, route: .defaultServer))
        try e.destroyServer(qemu)
        #expect(e.decide(try .write(Gpa(base + 0x100), size: 4, data: 1)) == .fault(.noServer(space: .memory)))
    }

    /// The walk's first step is the newest server (read from the hot state, not the server
    /// list): it must follow servers being created and destroyed in any order.
    @Test func theNewestServerIsAskedFirstAsServersComeAndGo() throws {
        let (e, qemu, gpu) = try guest()
        let port: UInt64 = 0x0A18
        let access = try GuestAccess.port(UInt16(port), size: 1, direction: .read)
        try e.mapRange(gpu, .port, first: port, last: port)
        let third = try e.createServer(name: "third")
        #expect(e.decide(access) == .emulate(server: gpu, route: .rangeset(.port)))
        try e.mapRange(third, .port, first: port, last: port)
        #expect(e.decide(access) == .emulate(server: third, route: .rangeset(.port)))
        try e.destroyServer(third)
        #expect(e.decide(access) == .emulate(server: gpu, route: .rangeset(.port)))
        try e.destroyServer(gpu)  // only the default server is left, and it holds no port range
        #expect(e.decide(access) == .emulate(server: qemu, route: .defaultServer))
        let again = try e.createServer(name: "again")  // takes the lowest free slot
        #expect(again == gpu)
        #expect(e.decide(access) == .emulate(server: qemu, route: .defaultServer))
        try e.mapRange(again, .port, first: port, last: port)
        #expect(e.decide(access) == .emulate(server: again, route: .rangeset(.port)))
        try e.destroyServer(qemu)
        try e.destroyServer(again)
        #expect(e.decide(access) == .fault(.noServer(space: .port)))
    }

    @Test func portAccessesAreSteeredByRangesets() throws {
        let (e, qemu, gpu) = try guest()
        try e.mapRange(gpu, .port, first: 0x0A18, last: 0x0A1B)
        #expect(e.decide(try .port(0x0A18, size: 4, direction: .write, data: 0x1000)) == .emulate(server: gpu, route: .rangeset(.port)))
        #expect(e.decide(try .port(0x0A1A, size: 2, direction: .read)) == .emulate(server: gpu, route: .rangeset(.port)))
        #expect(e.decide(try .port(0x0A1A, size: 4, direction: .read)) == .emulate(server: qemu, route: .defaultServer))
        #expect(e.decide(try .port(0x0CF8, size: 4, direction: .read)) == .emulate(server: qemu, route: .defaultServer))
        try e.destroyServer(qemu)
        #expect(e.decide(try .port(0x0CF8, size: 4, direction: .read)) == .fault(.noServer(space: .port)))
    }

    @Test func pciConfigAccessesAreSteeredByFunction() throws {
        let (e, qemu, gpu) = try guest()
        let vga = try PciSbdf(bus: 0, device: 2, function: 0)
        let nic = try PciSbdf(bus: 0, device: 3, function: 0)
        try e.mapRange(gpu, .pciConfig, first: UInt64(vga.raw), last: UInt64(vga.raw))
        let toVGA = try GuestAccess.pciConfig(PciConfigAddress(sbdf: vga, register: 0x10), size: 4, direction: .read)
        let toNIC = try GuestAccess.pciConfig(PciConfigAddress(sbdf: nic, register: 0x10), size: 4, direction: .read)
        #expect(e.decide(toVGA) == .emulate(server: gpu, route: .rangeset(.pciConfig)))
        #expect(e.decide(toNIC) == .emulate(server: qemu, route: .defaultServer))
        #expect(vga.description == "0000:00:02.0")
    }

    @Test func overlappingRangesGoToTheHighestServerID() throws {
        let (e, _, gpu) = try guest()
        let third = try e.createServer(name: "third")
        #expect(third.raw > gpu.raw)
        try e.mapRange(gpu, .port, first: 0x60, last: 0x64)
        try e.mapRange(third, .port, first: 0x60, last: 0x60)
        #expect(e.decide(try .port(0x60, size: 1, direction: .read)) == .emulate(server: third, route: .rangeset(.port)))
        #expect(e.decide(try .port(0x64, size: 1, direction: .read)) == .emulate(server: gpu, route: .rangeset(.port)))
    }

    @Test func countersFollowDecisionsAndServers() throws {
        let (e, qemu, gpu) = try guest()
        try e.mapRange(gpu, .port, first: 0x60, last: 0x60)
        _ = e.steer(try .port(0x60, size: 1, direction: .write, data: 1))
        _ = e.steer(try .port(0x61, size: 1, direction: .read))
        _ = e.steer(try .read(gpa(0x10), size: 8))
        _ = e.steer(try .read(gpa(Self.unmappedGfn), size: 8))
        _ = e.decide(try .read(gpa(0x10), size: 8))  // decide alone counts nothing
        let c = e.counters
        #expect(c.decisions[.emulatePort] == 1)
        #expect(c.decisions[.emulateDefault] == 1)
        #expect(c.decisions[.directRAM] == 1)
        #expect(c.decisions[.faultUnmapped] == 1)
        #expect(c.total == 4 && c.direct == 1 && c.emulated == 2 && c.faults == 1)
        #expect(c.servers[gpu]?[.port] == 1 && c.servers[gpu]?[.writes] == 1)
        #expect(c.servers[qemu]?[.defaultServer] == 1 && c.servers[qemu]?[.reads] == 1)
        e.resetCounters()
        #expect(e.counters.total == 0)
    }

    /// A destroyed server's accesses stay in the decision counts (its own counters go with it),
    /// on the engine and on a vCPU still steering; a server created in its slot starts from zero,
    /// and counts the vCPU's accesses once the vCPU has been quiescent.
    @Test func countersKeepADestroyedServersDecisions() throws {
        let (e, _, gpu) = try guest()
        let vcpu = e.makeVCPU()
        try e.mapRange(gpu, .port, first: 0x60, last: 0x60)
        _ = e.steer(try .port(0x60, size: 1, direction: .write, data: 1))
        _ = e.steer(try .port(0x60, size: 1, direction: .read))
        _ = vcpu.steer(try .port(0x60, size: 1, direction: .read))
        #expect(e.counters.servers[gpu]?[.port] == 3 && e.counters.servers[gpu]?[.reads] == 2)
        try e.destroyServer(gpu)  // the vCPU has not been quiescent since its access
        var c = e.counters
        #expect(c.decisions[.emulatePort] == 3 && c.emulated == 3 && c.total == 3)
        #expect(c.servers[gpu] == nil)
        let again = try e.createServer(name: "again")
        #expect(again == gpu)
        #expect(e.counters.servers[again]?[.port] == 0 && e.counters.servers[again]?[.reads] == 0)
        vcpu.quiescent()
        #expect(e.counters.decisions[.emulatePort] == 3 && e.counters.servers[again]?[.port] == 0)
        try e.mapRange(again, .port, first: 0x60, last: 0x60)
        _ = vcpu.steer(try .port(0x60, size: 1, direction: .write, data: 2))
        c = e.counters
        #expect(c.decisions[.emulatePort] == 4 && c.servers[again]?[.port] == 1 && c.servers[again]?[.writes] == 1)
        // A vCPU made after a destruction has nothing of it to fold.
        let late = e.makeVCPU()
        _ = late.steer(try .port(0x60, size: 1, direction: .read))
        late.quiescent()
        #expect(e.counters.servers[again]?[.port] == 2 && e.counters.decisions[.emulatePort] == 5)
    }

    @Test func malformedAccessesAreRefusedWithTheRule() throws {
        #expect(throws: GuestAccessError.size(3)) { try GuestAccess.read(Gpa(0), size: 3) }
        #expect(throws: GuestAccessError.crossesPage(address: 0xFFE, size: 4)) { try GuestAccess.read(Gpa(0xFFE), size: 4) }
        #expect(throws: GuestAccessError.dataWiderThanSize(data: 0x1_0000, size: 2)) {
            try GuestAccess.write(Gpa(0), size: 2, data: 0x1_0000)
        }
        #expect(throws: GuestAccessError.beyondPortSpace(port: 0xFFFE, size: 4)) {
            try GuestAccess.port(0xFFFE, size: 4, direction: .read)
        }
        #expect(throws: GuestAccessError.self) { try GuestAccess.read(Gpa(1 << 48), size: 1) }
        #expect(throws: GuestAccessError.pciField(field: "device", value: 32, maximum: 31)) {
            try PciSbdf(bus: 0, device: 32, function: 0)
        }
        #expect(GuestAccessError.crossesPage(address: 0xFFE, size: 4).description.contains("split it"))
    }
}
