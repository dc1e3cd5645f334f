import Foundation
import Testing
import GuestMemory
import VpmemCore

/// Seed 000's safe range: chosen at build, 1 GiB-aligned above everything, sized for the worst
/// case, constant, enforced on every later action, advertised in the firmware maps.
@Suite struct SafeRangeTests {
    let config = GuestConfig(name: "g", memory: bytes(2 * GiB), vcpus: 2, pciMmio64: bytes(4 * GiB), pmemAperture: bytes(8 * GiB))

    @Test func placedOnThe1GiBBoundaryAboveTheHighestUsedAddress() throws {
        let physmap = try GuestPhysmap(config: config)
        // pci_mmio64 [4G, 8G), aperture [8G, 16G): the safe range starts at 16G.
        #expect(physmap.pmemAperture == (try sized(8 * GiB, 8 * GiB)))
        #expect(physmap.safeRange.range == (try sized(16 * GiB, SafeRange.defaultSize)))
        // A layout that ends off a 1 GiB boundary (no PCI aperture, 2 GiB + 1 MiB of high RAM).
        let odd = try GuestPhysmap(config: GuestConfig(name: "odd", memory: bytes(0xF000_0000 + 2 * GiB + MiB), pciMmio64: bytes(0)))
        #expect(odd.regions.last?.range.last == Gpa(6 * GiB + MiB - 1))
        #expect(odd.safeRange.range.first == Gpa(7 * GiB))
    }

    @Test func sizedForTheMaptrackAndFixedFrames() throws {
        // Xen's defaults: 1024 maptrack frames x 512 mappings, + shared info + 2 vCPU info.
        #expect(SafeRange.requiredBytes(maxMaptrackFrames: 1024, vcpus: 2) == (1024 * 512 + 3) * 4096)
        let physmap = try GuestPhysmap(config: config)
        #expect(physmap.safeRange.requiredBytes == 2 * GiB + 3 * 4096)
        #expect(physmap.safeRange.fixedFrames == 3)
        // 2^19 maptrack frames need 1 TiB + 3 frames: the default grows to 1025 GiB.
        var big = config
        big.maxMaptrackFrames = 1 << 19
        #expect(try GuestPhysmap(config: big).safeRange.range.size == 1025 * GiB)
        // A configured size is used as is when it is large enough...
        var configured = config
        configured.safeRangeSize = bytes(3 * GiB)
        #expect(try GuestPhysmap(config: configured).safeRange.range.size == 3 * GiB)
    }

    @Test func aConfiguredSizeBelowTheNeedIsAnErrorWithTheMinimum() {
        var small = config
        small.safeRangeSize = bytes(2 * GiB)  // needs 2 GiB + 12 KiB
        #expect(throws: PhysmapError.config(.safeRangeTooSmall(
            configured: bytes(2 * GiB), required: bytes(2 * GiB + 3 * 4096), maptrackFrames: 1024, vcpus: 2))) {
            try GuestPhysmap(config: small)
        }
        let message = GuestConfigError.safeRangeTooSmall(
            configured: bytes(2 * GiB), required: bytes(2 * GiB + 3 * 4096), maptrackFrames: 1024, vcpus: 2).description
        #expect(message.contains("at least 3G"))
        #expect(message.contains("524288 grant mappings"))
        var unaligned = config
        unaligned.safeRangeSize = bytes(130 * GiB + 2 * MiB)
        #expect(throws: PhysmapError.config(.invalid(key: "safe_range_size", value: "133122M", rule: "a multiple of 1G"))) {
            try GuestPhysmap(config: unaligned)
        }
    }

    @Test func laterActionsOverlappingItAreRejectedNamingBothRanges() throws {
        var physmap = try GuestPhysmap(config: config)
        let before = physmap
        let safe = physmap.safeRange.range
        let straddling = try sized(safe.first.raw - 2 * MiB, 4 * MiB)
        let inside = try sized(safe.first.raw + 64 * GiB, GiB)
        let atTheEnd = try sized(safe.last.raw + 1 - 2 * MiB, 4 * MiB)
        for r in [straddling, inside, atTheEnd] {
            #expect(throws: PhysmapError.overlapsSafeRange(action: .addMmio, name: "dev", range: r, safeRange: safe)) {
                try physmap.addMmio(name: "dev", at: r)
            }
            #expect(throws: PhysmapError.overlapsSafeRange(action: .addRam, name: "hotplug", range: r, safeRange: safe)) {
                try physmap.addRam(name: "hotplug", at: r)
            }
            #expect(throws: PhysmapError.overlapsSafeRange(action: .addPmem, name: "pmem0", range: r, safeRange: safe)) {
                try physmap.addPmem(name: "pmem0", at: r)
            }
        }
        #expect(physmap == before)
        let message = PhysmapError.overlapsSafeRange(action: .addMmio, name: "dev", range: straddling, safeRange: safe).description
        #expect(message.contains("[0x3ffe00000, 0x4001fffff]") && message.contains("[0x400000000, 0x23ffffffff]"))
        // Right next to it is fine: the rule is overlap, not proximity.
        try physmap.addPmem(name: "below", at: sized(safe.first.raw - GiB, GiB))  // end of the aperture
        try physmap.addMmio(name: "above", at: sized(safe.last.raw + 1, 4 * MiB))
        #expect(physmap.safeRange == before.safeRange)
    }

    @Test func grantAndForeignMappingsGoOnlyInsideIt() throws {
        let safe = try GuestPhysmap(config: config).safeRange
        try safe.admitMapping(.grant, at: sized(safe.range.first.raw, 4096))
        try safe.admitMapping(.foreign, at: sized(safe.range.last.raw - 4095, 4096))
        try safe.admitMapping(.grant, at: safe.range)
        let outside = [
            try sized(safe.range.first.raw - 4096, 4096),  // just below
            try sized(safe.range.first.raw - 4096, 8192),  // straddles the start
            try sized(safe.range.last.raw - 4095, 8192),  // straddles the end
            try sized(2 * GiB, 4096),  // ordinary low memory
        ]
        for r in outside {
            #expect(throws: PhysmapError.outsideSafeRange(kind: .grant, range: r, safeRange: safe.range)) {
                try safe.admitMapping(.grant, at: r)
            }
            #expect(throws: PhysmapError.outsideSafeRange(kind: .foreign, range: r, safeRange: safe.range)) {
                try safe.admitMapping(.foreign, at: r)
            }
        }
    }

    @Test func advertisedAsReservedInTheE820AndTheDeviceTree() throws {
        var physmap = try GuestPhysmap(config: config)
        try physmap.placePmem(name: "pmem0", size: 2 * GiB)
        let safe = physmap.safeRange.range
        let e820 = E820Table(physmap: physmap).entries
        #expect(e820.contains(E820Entry(range: safe, type: .reserved)))
        #expect(!e820.contains { $0.range.overlaps(try! sized(8 * GiB, 2 * GiB)) }, "pmem is never in the E820")
        let dt = DeviceTreeFragment(physmap: physmap)
        #expect(dt.memoryBanks.contains(safe))
        let text = dt.description
        #expect(text.contains("xen-safe-range@400000000 {\n\t\t\tcompatible = \"xen,safe-range\";\n\t\t\treg = <0x4 0x0 0x20 0x0>;"))
        #expect(text.contains("pmem@200000000 {\n\t\tcompatible = \"pmem-region\";\n\t\treg = <0x2 0x0 0x0 0x80000000>;"))
        #expect(!text.contains("no-map"), "the safe range keeps its struct pages")
    }

    /// dtc, the device-tree compiler, is the oracle: the fragment must compile and decompile
    /// back to the same nodes. Needs the Debian package device-tree-compiler.
    @Test
    func theDeviceTreeFragmentCompilesWithDtc() throws {
        var physmap = try GuestPhysmap(config: GuestConfig(name: "g", memory: bytes(16 * GiB), mmioHole: bytes(3 * GiB), pmemAperture: bytes(8 * GiB)))
        try physmap.placePmem(name: "pmem0", size: GiB)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vpmem-dtc-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dts = dir.appendingPathComponent("guest.dts")
        try DeviceTreeFragment(physmap: physmap).description.write(to: dts, atomically: true, encoding: .utf8)
        func dtc(_ args: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dtc")
            process.arguments = args
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self))
        }
        let dtb = dir.appendingPathComponent("guest.dtb").path
        let (status, log) = try dtc(["-I", "dts", "-O", "dtb", "-o", dtb, dts.path])
        #expect(status == 0, "dtc: \(log)")
        #expect(!log.contains("Warning"), "dtc warnings: \(log)")
        let (back, text) = try dtc(["-I", "dtb", "-O", "dts", dtb])
        #expect(back == 0)
        #expect(text.contains("xen-safe-range@") && text.contains("compatible = \"xen,safe-range\""))
        #expect(text.contains("compatible = \"pmem-region\""))
    }
}
