import DeviceModel
import GuestMemory
import HostPmem
import VpmemCore
import Testing

@Suite struct ModelledGuestTests {
    @Test func ramIsBackedOnlyWhereWritten() throws {
        let store = try SparseFrameStore(firstMfn: Mfn(uncheckedRaw: 0x1000), frames: 1 << 22)  // 16 GiB
        #expect(store.pagesAllocated == 0)
        #expect(store.bytesAllocated < 100_000)
        var out = [UInt8](repeating: 0xFF, count: 16)
        try out.withUnsafeMutableBytes { try store.read(Mfn(uncheckedRaw: 0x2000), offset: 8, into: $0) }
        #expect(out == [UInt8](repeating: 0, count: 16))
        #expect(store.pagesAllocated == 0)
        try [UInt8](repeating: 7, count: 16).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x2000), offset: 8, from: $0) }
        try out.withUnsafeMutableBytes { try store.read(Mfn(uncheckedRaw: 0x2000), offset: 8, into: $0) }
        #expect(out == [UInt8](repeating: 7, count: 16) && store.pagesAllocated == 1)
        #expect(throws: MachineMemoryError.self) {
            try [UInt8](repeating: 7, count: 16).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x2000), offset: 4090, from: $0) }
        }
        #expect(throws: MachineMemoryError.self) {
            try [UInt8](repeating: 7, count: 1).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0xFFF), offset: 0, from: $0) }
        }
        let machine = MachineMemory()
        try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0), frames: 100)
        #expect(throws: MachineMemoryError.self) { try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 99), frames: 2) }
    }

    @Test func aGuestFromItsPhysmapSteersRAMMMIOHolesAndAttachedPmem() throws {
        var physmap = try GuestPhysmap(config: GuestConfig(name: "small", memory: ByteSize(bytes: 2 << 30),
                                                           pmemAperture: ByteSize(bytes: 16 << 30)))
        let pmemRange = try physmap.placePmem(name: "nvdimm0", size: 2 << 20)
        let guest = try ModelledGuestMemory(domain: DomainID(1), physmap: physmap)
        #expect(guest.ramFrames == (2 << 30) >> 12)
        let host = try SteeringHost()
        let e = try host.createGuest(guest.domain, p2m: guest.p2m, machine: guest.machine,
                                     settings: GuestSteeringSettings(ramFrames: guest.ramFrames))
        _ = try e.createServer(name: "qemu", isDefault: true)
        // RAM: superpages, direct.
        #expect(guest.p2m.translate(Gfn(uncheckedRaw: 0x1234))?.order == .size1G || guest.p2m.translate(Gfn(uncheckedRaw: 0x1234))?.order == .size2M)
        guard case .direct(_, .ramRW) = e.decide(try .write(Gpa(0x1234_0000), size: 8, data: 1)) else {
            Issue.record("RAM not direct")
            return
        }
        // The 32-bit PCI aperture is emulated: the default server.
        let aperture = try #require(guest.mmioRegions.first { $0.kind == .pciMmio32 })
        #expect(e.decide(try .read(aperture.range.first, size: 4)) == .emulate(server: IoreqServerID(0), route: .defaultServer))
        // The firmware-reserved area is not mapped.
        #expect(e.decide(try .read(Gpa(0xFEE0_0000), size: 4)) == .fault(.unmapped(gfn: Gfn(uncheckedRaw: 0xFEE00))))
        // pmem: not mapped until attached, then direct and durable.
        let dir = TempDirectory()
        defer { dir.remove(["pmem"]) }
        #expect(e.decide(try .read(pmemRange.first, size: 8)) == .fault(.unmapped(gfn: pmemRange.first.frame)))
        let pmem = try PmemMapping.create(path: dir.path + "/pmem", size: 2 << 20)
        try guest.attachPmem(region: "nvdimm0", pmem)
        #expect(throws: ModelledGuestError.self) { try guest.attachPmem(region: "nvdimm9", pmem) }
        #expect(try guest.mapping.extents(of: guest.domain).map(\.type) == [.pmem])
        #expect(try e.handle(.write(Gpa(pmemRange.first.raw + 0x10), size: 4, data: 0xCAFE)) == .completed(data: 0))
        #expect(try pmem.read(at: 0x10, count: 4) == [0xFE, 0xCA, 0, 0])
    }
}
