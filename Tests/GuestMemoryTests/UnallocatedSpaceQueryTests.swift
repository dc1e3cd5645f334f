import Testing
import GuestMemory
import VpmemCore

/// The rejected alternative (XENMEM_get_unallocated_space): its answer is a snapshot that
/// nothing protects, so a region that appears afterwards lands on it. The safe range is
/// enforced, so the same sequence fails there.
@Suite struct UnallocatedSpaceQueryTests {
    @Test func theQueryIsRacyAndTheSafeRangeIsNot() throws {
        var physmap = try GuestPhysmap(config: GuestConfig(name: "racy", memory: bytes(2 * GiB)))
        // 1. The guest asks for unused space to put grant mappings in, and is told [2G, 2G+64M):
        //    the unpopulated stretch between low RAM and the MMIO hole.
        let handedOut = try #require(physmap.queryUnallocatedSpace(size: 64 * MiB))
        #expect(handedOut == (try sized(2 * GiB, 64 * MiB)))
        // 2. Then an MMIO region (an identity-mapped device, say) appears there. Nothing stops
        //    it: the query reserved nothing.
        try physmap.addMmio(name: "late-device", at: handedOut)
        // 3. The guest's "safe" grant mappings now alias a device.
        #expect(physmap.region(containing: handedOut.first)?.name == "late-device")
        #expect(throws: PhysmapError.outsideSafeRange(kind: .grant, range: handedOut, safeRange: physmap.safeRange.range)) {
            try physmap.safeRange.admitMapping(.grant, at: handedOut)
        }

        // The same story with the safe range: the toolstack chose it at build, so the device
        // cannot appear there and the mappings stay valid.
        let grantSpace = try sized(physmap.safeRange.range.first.raw, 64 * MiB)
        try physmap.safeRange.admitMapping(.grant, at: grantSpace)
        #expect(throws: PhysmapError.overlapsSafeRange(action: .addMmio, name: "late-device-2", range: grantSpace, safeRange: physmap.safeRange.range)) {
            try physmap.addMmio(name: "late-device-2", at: grantSpace)
        }
    }

    @Test func theQueryReportsGapsNotUsedSpace() throws {
        let physmap = try GuestPhysmap(config: GuestConfig(name: "q", memory: bytes(2 * GiB), pmemAperture: bytes(4 * GiB)))
        // The gap below the hole is 1.75 GiB; 2 GiB does not fit there and goes above the safe range.
        let big = try #require(physmap.queryUnallocatedSpace(size: 2 * GiB))
        #expect(big.first == physmap.safeRange.range.end)
        for size in [4 * KiB, 2 * MiB, GiB, 2 * GiB] {
            let r = try #require(physmap.queryUnallocatedSpace(size: size))
            #expect(!physmap.regions.contains { $0.range.overlaps(r) })
            #expect(!r.overlaps(physmap.safeRange.range) && !r.overlaps(physmap.pmemAperture!))
        }
        #expect(physmap.queryUnallocatedSpace(size: 1000) == nil)
    }
}
