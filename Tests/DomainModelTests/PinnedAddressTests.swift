import Foundation
import Testing
import DomainModel
import GuestMemory
import VpmemCore

/// The `address` key: a vNVDIMM goes exactly where it is pinned, the others go around it, and
/// an overlap is refused naming both.
@Suite struct PinnedAddressTests {
    func pinned(_ slot: Int, at address: UInt64, size: UInt64 = 2 * MiB) -> NVDIMMConfig {
        var d = nvdimm(slot, size: size)
        d.address = Gpa(address)
        return d
    }

    @Test func aPinnedVNVDIMMIsPlacedThereAndTheOthersGoAroundIt() throws {
        let scratch = Scratch()
        // Slot 1 pinned to the aperture's first GiB: slot 0, placed, must take the next one.
        let probe = try Guest(config: guestConfig(), baseDirectory: scratch.path)
        let aperture = try #require(probe.physmap.pmemAperture)
        probe.release()
        let config = guestConfig(nvdimms: [nvdimm(0), pinned(1, at: aperture.first.raw), pinned(2, at: aperture.first.raw + 5 * GiB)])
        let guest = try Guest(config: config, baseDirectory: scratch.path)
        defer { guest.release() }
        #expect(guest.nvdimm(slot: 1)?.guestRange.first == aperture.first)
        #expect(guest.nvdimm(slot: 0)?.guestRange.first == Gpa(aperture.first.raw + GiB))
        #expect(guest.nvdimm(slot: 2)?.guestRange.first == Gpa(aperture.first.raw + 5 * GiB))
        // The NFIT carries the pinned address.
        let nfitBases = guest.nvdimms.map(\.virtualNVDIMM.base)
        #expect(nfitBases.contains(Gpa(aperture.first.raw + 5 * GiB)))
        // The plan `guest show` prints agrees with the built guest.
        let plan = try Guest.plannedPhysmap(config)
        let planned: [UInt64] = plan.pmemRegions.map { $0.range.first.raw }.sorted()
        let built: [UInt64] = guest.nvdimms.map { $0.guestRange.first.raw }.sorted()
        #expect(planned == built)
    }

    @Test func overlappingPinsAreRefusedNamingBoth() throws {
        let config = guestConfig(nvdimms: [pinned(0, at: 64 * GiB, size: 2 * GiB), pinned(3, at: 65 * GiB)])
        let error = try #require(throws: GuestConfigError.self) { try config.validate() }
        let text = error.description
        #expect(text.contains("nvdimm slot 3 address") && text.contains("nvdimm slot 0"), "\(text)")
    }

    @Test func misalignedOrOutsideAddressesAreRefusedWithTheRule() throws {
        let scratch = Scratch()
        let misaligned = guestConfig(nvdimms: [pinned(0, at: 64 * GiB + 2 * MiB)])
        let e = try #require(throws: GuestConfigError.self) { try misaligned.validate() }
        #expect(e.description.contains("a multiple of 1G"), "\(e)")
        let outside = guestConfig(nvdimms: [pinned(0, at: 1024 * GiB)])
        #expect(throws: GuestError.self) { try Guest(config: outside, baseDirectory: scratch.path) }
        #expect(scratch.files.isEmpty, "a refused build leaves no backing behind")
    }

    @Test func attachingOntoAPlacedVNVDIMMNamesIt() throws {
        let scratch = Scratch()
        let guest = try Guest(config: guestConfig(nvdimms: [nvdimm(0)]), baseDirectory: scratch.path)
        defer { guest.release() }
        let taken = try #require(guest.nvdimm(slot: 0)).guestRange.first.raw
        let before = DomainSnapshot(guest)
        let error = try #require(throws: GuestError.self) { try guest.attach(pinned(1, at: taken), createBacking: true) }
        #expect("\(error)".contains("nvdimm0"), "\(error)")
        #expect(DomainSnapshot(guest) == before)
    }
}
