import DeviceModel
import GuestMemory
import Testing

@Suite struct TypeClaimTests {
    @Test func oneClaimantAtATime() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let a = try e.createServer(name: "xengt")
        let b = try e.createServer(name: "other")
        try e.claimIoreqServerType(a, flags: .write)
        do {
            try e.claimIoreqServerType(b, flags: .write)
            Issue.record("a second claim succeeded")
        } catch {
            guard case let .claimBusy(_, holder, requester) = error else { Issue.record("\(error)"); return }
            #expect(holder == a && requester == b)
        }
        #expect(throws: SteeringError.self) { try e.claimIoreqServerType(a, flags: [.read, .write]) }
        #expect(e.claimant?.server == a && e.claimant?.flags == .write)
        #expect(throws: SteeringError.self) { try e.releaseIoreqServerType(b) }
        #expect(throws: SteeringError.self) { try e.claimIoreqServerType(b, flags: []) }
        try e.releaseIoreqServerType(a)
        try e.claimIoreqServerType(b, flags: .read)
        #expect(e.claimant?.server == b)
        // Destroying the claimant releases the claim.
        try e.destroyServer(b)
        #expect(e.claimant == nil)
        try e.claimIoreqServerType(a, flags: .write)
    }

    @Test func onlyRamRWAndIoreqServerTransitionsAreAllowedAllOrNothing() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 0x25), count: 1, to: Mfn(uncheckedRaw: testMfnBase + 0x25), type: .ramRO)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 0x2000), count: 1, to: nil, type: .mmioDM)
        let before = try e.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: 0x3000)
        // A ram_ro frame inside the range: refused, nothing changed (not even the frames before it).
        do {
            try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x20), count: 16, to: .ioreqServer)
            Issue.record("ram_ro -> ioreq_server accepted")
        } catch {
            guard case let .typeTransitionRefused(_, gfn, from, to) = error else { Issue.record("\(error)"); return }
            #expect(gfn.raw == 0x25 && from == .ramRO && to == .ioreqServer)
        }
        #expect(try e.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: 0x3000) == before)
        #expect(throws: SteeringError.self) { try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x2000), count: 1, to: .ioreqServer) }
        #expect(throws: SteeringError.self) { try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0xFFF), count: 2, to: .ioreqServer) }  // runs off RAM
        #expect(throws: SteeringError.self) { try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x10), count: 1, to: .ramRO) }
        #expect(try e.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: 0x3000) == before)
        // ram_rw -> ioreq_server -> ram_rw.
        #expect(try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x10), count: 4, to: .ioreqServer) == 4)
        #expect(e.p2m.translate(Gfn(uncheckedRaw: 0x12))?.type == .ioreqServer)
        #expect(try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x10), count: 8, to: .ioreqServer) == 4)  // 4 already were
        #expect(try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0x10), count: 8, to: .ramRW) == 8)
        #expect(try e.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: 0x3000) == before)
    }

    @Test func anUnclaimedPageBehavesAsRAMAndUnclaimingRevertsBehaviourNotTypes() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let gpu = try e.createServer(name: "xengt")
        let device = RecordingDevice(name: "gtt shadow")
        try e.registerCatchAll(device, server: gpu)
        let page = Gfn(uncheckedRaw: 0x40)
        try e.setMemoryType(gfn: page, count: 1, to: .ioreqServer)
        // Unclaimed: the write lands in RAM.
        #expect(try e.handle(.write(gpa(0x40, 0x10), size: 8, data: 0xAAAA)) == .completed(data: 0))
        #expect(try e.handle(.read(gpa(0x40, 0x10), size: 8)) == .completed(data: 0xAAAA))
        #expect(device.seen.isEmpty)
        // Claimed for writes: the device sees the write, RAM keeps the old value.
        try e.claimIoreqServerType(gpu, flags: .write)
        #expect(try e.handle(.write(gpa(0x40, 0x10), size: 8, data: 0xBBBB)) == .completed(data: 0))
        #expect(device.seen.count == 1)
        #expect(device.seen.first?.route == .typeClaim && device.seen.first?.address == 0x40010 && device.seen.first?.data == 0xBBBB)
        #expect(try e.handle(.read(gpa(0x40, 0x10), size: 8)) == .completed(data: 0xAAAA))
        // Released: the page is still ioreq_server, and behaves as RAM again.
        try e.releaseIoreqServerType(gpu)
        #expect(e.p2m.translate(page)?.type == .ioreqServer)
        #expect(try e.handle(.write(gpa(0x40, 0x10), size: 8, data: 0xCCCC)) == .completed(data: 0))
        #expect(try e.handle(.read(gpa(0x40, 0x10), size: 8)) == .completed(data: 0xCCCC))
        #expect(device.seen.count == 1)
    }
}
