import Testing
import GuestMemory
import VpmemCore

/// The physmap of realistic guests, address by address, checked against the hvmloader/libxl
/// conventions the layout follows.
@Suite struct GuestLayoutTests {
    @Test func twoGiBGuestFitsBelowTheDefaultHole() throws {
        let physmap = try GuestPhysmap(config: GuestConfig(name: "g2", memory: bytes(2 * GiB), vcpus: 2))
        #expect(physmap.holeStart == Gpa(0xF000_0000))
        #expect(regionTuples(physmap) == [
            "ram ram_low [0x0, 0x7fefffff]",
            "acpi_tables acpi [0x7ff00000, 0x7fffefff]",
            "acpi_nvs dsm [0x7ffff000, 0x7fffffff]",
            "grant_table grant_table [0xf0000000, 0xf0ffffff]",
            "pci_mmio32 pci_mmio32 [0xf1000000, 0xfbffffff]",
            "firmware_reserved firmware [0xfc000000, 0xffffffff]",
            "pci_mmio64 pci_mmio64 [0x100000000, 0x8ffffffff]",
        ])
        #expect(physmap.pmemAperture == nil)
        #expect(physmap.safeRange.range == (try sized(36 * GiB, 128 * GiB)))
        let e820 = E820Table(physmap: physmap).entries.map(\.description)
        #expect(e820 == [
            "[0x0, 0x9fbff] ram",
            "[0x9fc00, 0x9ffff] reserved",
            "[0xf0000, 0xfffff] reserved",
            "[0x100000, 0x7fefffff] ram",
            "[0x7ff00000, 0x7fffefff] acpi",
            "[0x7ffff000, 0x7fffffff] nvs",
            "[0xfc000000, 0xffffffff] reserved",
            "[0x900000000, 0x28ffffffff] reserved",
        ])
    }

    @Test func sixteenGiBGuestWithA3GiBHoleSplitsRamAt1GiB() throws {
        let config = GuestConfig(name: "g16", memory: bytes(16 * GiB), vcpus: 4, mmioHole: bytes(3 * GiB))
        let physmap = try GuestPhysmap(config: config)
        #expect(physmap.holeStart == Gpa(GiB))
        #expect(regionTuples(physmap) == [
            "ram ram_low [0x0, 0x3fefffff]",
            "acpi_tables acpi [0x3ff00000, 0x3fffefff]",
            "acpi_nvs dsm [0x3ffff000, 0x3fffffff]",
            "grant_table grant_table [0x40000000, 0x40ffffff]",
            "pci_mmio32 pci_mmio32 [0x41000000, 0xfbffffff]",
            "firmware_reserved firmware [0xfc000000, 0xffffffff]",
            "ram ram_high [0x100000000, 0x4bfffffff]",
            "pci_mmio64 pci_mmio64 [0x4c0000000, 0xcbfffffff]",
        ])
        #expect(physmap.safeRange.range == (try sized(51 * GiB, 128 * GiB)))
        // All 16 GiB is RAM, ACPI or NVS pages, apart from the EBDA and BIOS holes in the first MiB.
        let table = E820Table(physmap: physmap)
        let acpi = table.entries.filter { $0.type == .acpi || $0.type == .nvs }.reduce(0) { $0 + $1.range.size }
        #expect(table.ramBytes + acpi + (E820Table.oneMiB - E820Table.ebdaStart) == 16 * GiB)
    }

    @Test func oneTiBGuestPutsTheApertureAndSafeRangeAboveHighRam() throws {
        let config = GuestConfig(name: "g1t", memory: bytes(TiB), vcpus: 64, pmemAperture: bytes(256 * GiB))
        let physmap = try GuestPhysmap(config: config)
        let highRam = TiB - 0xF000_0000
        #expect(physmap.regions.first { $0.name == "ram_high" }?.range == (try sized(4 * GiB, highRam)))
        // High RAM ends at 0x10010000000: the PCI aperture starts at the next 1 GiB boundary.
        #expect(physmap.regions.first { $0.kind == .pciMmio64 }?.range == (try sized(0x100_4000_0000, 32 * GiB)))
        #expect(physmap.pmemAperture == (try sized(0x108_4000_0000, 256 * GiB)))
        #expect(physmap.safeRange.range == (try sized(0x148_4000_0000, 128 * GiB)))
        #expect(E820Table(physmap: physmap).ramBytes == TiB - (E820Table.oneMiB - E820Table.ebdaStart) - GuestLayout.acpiTablesSize)
    }

    @Test func regionsAreSortedDisjointAndBelowTheSafeRange() throws {
        for memory in [16 * MiB, 2 * GiB, 0xF000_0000, 0xF010_0000, 16 * GiB, TiB] {
            for hole in [256 * MiB, GiB, 3 * GiB, 3840 * MiB] {
                let physmap = try GuestPhysmap(config: GuestConfig(
                    name: "g", memory: bytes(memory), mmioHole: bytes(hole), pmemAperture: bytes(4 * GiB)))
                let ranges = physmap.regions.map(\.range) + [physmap.pmemAperture!]
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.last < b.first) }
                #expect(ranges.allSatisfy { $0.last < physmap.safeRange.range.first })
                #expect(physmap.safeRange.range.first.raw % GiB == 0)
                // The E820 is sorted and disjoint too, and never calls pmem or MMIO RAM.
                let e820 = E820Table(physmap: physmap).entries
                for (a, b) in zip(e820, e820.dropFirst()) { #expect(a.range.last < b.range.first) }
                let ramInE820 = e820.filter { $0.type == .ram }.map(\.range)
                let ramRegions = physmap.regions.filter { $0.kind == .ram }.map(\.range)
                #expect(ramInE820.allSatisfy { r in ramRegions.contains { $0.contains(r) } })
            }
        }
    }

    @Test func badConfigValuesAreErrorsNamingTheKey() throws {
        func error(_ config: GuestConfig) -> String? {
            do { _ = try GuestPhysmap(config: config); return nil } catch { return error.description }
        }
        #expect(error(GuestConfig(name: "", memory: bytes(GiB)))?.hasPrefix("name = ") == true)
        #expect(error(GuestConfig(name: "a b", memory: bytes(GiB)))?.contains("A-Z") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(8 * MiB)))?.contains("memory = 8M is not allowed: use at least 16M") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB + 5)))?.contains("a multiple of 1M") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), vcpus: 0))?.contains("vcpus = 0") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), mmioHole: bytes(4 * GiB)))?.contains("256M to 3840M") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), pciMmio64: bytes(GiB + MiB)))?.contains("pci_mmio64") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), maxGrantFrames: 5000))?.contains("max_grant_frames = 5000") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), maxMaptrackFrames: -1))?.contains("max_maptrack_frames = -1") == true)
        #expect(error(GuestConfig(name: "g", memory: bytes(GiB), pmemAperture: bytes(3 * MiB)))?.contains("pmem_aperture") == true)
    }

    @Test func aLayoutBeyondTheAddressWidthIsRefused() {
        // 4 PiB of RAM plus a 128 GiB safe range ends above 2^52.
        let config = GuestConfig(name: "huge", memory: bytes(4096 * TiB))
        #expect {
            try GuestPhysmap(config: config)
        } throws: { error in
            guard case PhysmapError.beyondPhysicalAddressWidth(what: "safe range", _) = error else { return false }
            return true
        }
        // 256 TiB of RAM fits x86's 52-bit MAXPHYADDR but not the 48 bits the p2m maps: refused
        // by the physmap, naming the width, rather than accepted and then unmappable.
        let beyondP2M = GuestConfig(name: "wide", memory: bytes(256 * TiB))
        #expect {
            try GuestPhysmap(config: beyondP2M)
        } throws: { error in
            guard case PhysmapError.beyondPhysicalAddressWidth = error else { return false }
            return "\(error)".contains("48-bit")
        }
        // Whatever the physmap accepts, the p2m can map: its last address is below the p2m's.
        let largest = try? GuestPhysmap(config: GuestConfig(name: "big", memory: bytes(100 * TiB)))
        #expect(largest.map { $0.safeRange.range.last.frame.raw <= P2M.maxGfn.raw } == true)
        // 16 EiB - 1 MiB of RAM wraps the address space: an error, not a trap.
        let wrapping = GuestConfig(name: "wrap", memory: bytes(UInt64.max - MiB + 1))
        #expect(throws: PhysmapError.self) { try GuestPhysmap(config: wrapping) }
    }
}
