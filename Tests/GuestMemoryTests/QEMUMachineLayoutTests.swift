import Testing
import GuestMemory
import VpmemCore
import VpmemTestSupport

/// The pmem aperture against QEMU's pc machine: wherever vpmem puts a vNVDIMM, QEMU's
/// device-memory window for the same RAM starts at or below it, so `vpmem qemu` can pin it.
@Suite struct QEMUMachineLayoutTests {
    /// QEMU's rule, written out from its description (hw/i386/pc_piix.c and pc.c, 7.2).
    static func naiveDeviceMemoryBase(memory: UInt64, maxRamBelow4G: UInt64) -> UInt64 {
        var lowmem = maxRamBelow4G
        if memory >= maxRamBelow4G && lowmem > 3 * GiB { lowmem = 3 * GiB }
        let above = memory >= lowmem ? memory - lowmem : 0
        let end = 4 * GiB + above
        return (end + GiB - 1) / GiB * GiB
    }

    @Test func smallGuestsStartDeviceMemoryAt4GiB() {
        let q = QEMUMachineLayout(memory: 2 * GiB, holeStart: 0xF000_0000)
        #expect(q.ramBelow4G == 2 * GiB && q.ramAbove4G == 0 && q.deviceMemoryBase == 4 * GiB)
        #expect(q.maxmem(memory: 2 * GiB, windowEnd: 37 * GiB) == 35 * GiB)
        #expect(q.maxmem(memory: 2 * GiB, windowEnd: 4 * GiB) == 3 * GiB, "at least 1G of window")
    }

    /// 4.5 GiB with the default 256 MiB hole: vpmem's high RAM is 0.75 GiB, QEMU's 1.5 GiB (it
    /// keeps at most 3 GiB low), so the aperture moves from 5 GiB to 6 GiB.
    @Test func theApertureClearsQEMUsLargerHighRam() throws {
        let config = GuestConfig(name: "g", memory: bytes(4 * GiB + 512 * MiB), vcpus: 1, pciMmio64: bytes(0),
                                 pmemAperture: bytes(8 * GiB))
        let physmap = try GuestPhysmap(config: config)
        #expect(physmap.pmemAperture?.first == Gpa(6 * GiB))
        #expect(QEMUMachineLayout(memory: config.memory.bytes, holeStart: physmap.holeStart.raw).deviceMemoryBase == 6 * GiB)
    }

    @Test func theApertureNeverStartsBelowQEMUsDeviceMemory() async {
        await checkProperty(count: 400, input: Gen.uint64(in: 16...(1 << 20)), Gen.uint64(in: 256...3840)) { memoryMiB, holeMiB in
            let config = GuestConfig(name: "g", memory: bytes(memoryMiB * MiB), vcpus: 1, mmioHole: bytes(holeMiB * MiB),
                                     pciMmio64: bytes(0), pmemAperture: bytes(GiB))
            guard let physmap = try? GuestPhysmap(config: config), let aperture = physmap.pmemAperture else {
                Issue.record("a valid config lays out: \(memoryMiB)M, hole \(holeMiB)M")
                return
            }
            let holeStart = 4 * GiB - holeMiB * MiB
            let q = QEMUMachineLayout(memory: memoryMiB * MiB, holeStart: holeStart)
            let naive = Self.naiveDeviceMemoryBase(memory: memoryMiB * MiB, maxRamBelow4G: holeStart)
            #expect(q.deviceMemoryBase == naive)
            #expect(q.ramBelow4G + q.ramAbove4G == memoryMiB * MiB)
            #expect(aperture.first.raw >= naive, "\(memoryMiB)M, hole \(holeMiB)M")
            // No further up than it must be: past vpmem's own RAM, or QEMU's window, whichever is higher.
            let ownTop = 4 * GiB + (memoryMiB * MiB > holeStart ? memoryMiB * MiB - holeStart : 0)
            #expect(aperture.first.raw == max((ownTop + GiB - 1) / GiB * GiB, naive))
        }
    }
}
