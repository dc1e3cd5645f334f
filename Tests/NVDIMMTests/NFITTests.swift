import Foundation
import Testing
import GuestMemory
@testable import NVDIMM

@Suite struct NFITTests {
    static func dimms(_ n: Int) -> [VirtualNVDIMM] {
        (0..<n).map { s in
            VirtualNVDIMM(slot: s, base: Gpa(0x1_0000_0000 + UInt64(s) << 30), size: 1 << 30,
                          proximityDomain: UInt32(s % 2), unarmed: s % 3 == 2)
        }
    }

    @Test(arguments: [1, 2, 32])
    func iaslDisassemblesTheNFITCleanly(count: Int) throws {
        let table = try NFITBuilder(nvdimms: Self.dimms(count), persistenceDomain: .cpu).table()
        #expect(table.count == 40 + count * (56 + 48 + 80) + 16)
        let (run, dsl) = try AcpiTools.disassemble(table, name: "nfit")
        #expect(run.status == 0, "\(run.output)")
        #expect(!run.output.localizedCaseInsensitiveContains("warning"), "\(run.output)")
        #expect(!run.output.localizedCaseInsensitiveContains("error"), "\(run.output)")
        #expect(!dsl.contains("**** "), "iasl flagged something:\n\(dsl)")
        // The disassembly decodes each vNVDIMM's handle, serial number, range and flags.
        #expect(Self.values(of: "Device Handle", in: dsl) == (1...count).map { String(format: "%08X", $0) })
        #expect(Self.values(of: "Serial Number", in: dsl) == (0..<count).map { String(format: "%08X", 0x123456 + $0) })
        #expect(Self.values(of: "Address Range Base", in: dsl) == (0..<count).map { String(format: "%016llX", 0x1_0000_0000 + UInt64($0) << 30) })
        #expect(Self.values(of: "Region Type GUID", in: dsl) == Array(repeating: "66F0D379-B4F3-4074-AC43-0D3318B78CDB", count: count))
        #expect(Self.values(of: "Device not armed", in: dsl) == (0..<count).map { $0 % 3 == 2 ? "1" : "0" })
        #expect(Self.values(of: "Capabilities (decoded below)", in: dsl) == ["00000003"])
        #expect(Self.values(of: "Highest Capability", in: dsl) == ["01"])
    }

    /// Values of `FieldName : Value` lines in an iasl data-table disassembly.
    static func values(of field: String, in dsl: String) -> [String] {
        dsl.split(separator: "\n").compactMap { line -> String? in
            let afterOffset = line.firstIndex(of: "]").map { line[line.index(after: $0)...] } ?? line[...]
            let parts = afterOffset.split(separator: " : ", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == field else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
    }

    @Test func structureFieldsSitAtTheirSpecOffsets() throws {
        let d = VirtualNVDIMM(slot: 5, base: Gpa(0x2_4000_0000), size: 0x8000_0000, proximityDomain: 3, unarmed: true)
        let t = try NFITBuilder(nvdimms: [d], persistenceDomain: .memoryController,
                                oem: AcpiOemFields(oemID: "XENVM", oemTableID: "XENNFIT", oemRevision: 7,
                                                   creatorID: "XEN", creatorRevision: 9)).table()
        #expect(Array(t[0..<4]) == Array("NFIT".utf8))
        #expect(t.readLE(UInt32.self, at: 4) == UInt32(t.count))
        #expect(t[8] == 1)
        #expect(t.reduce(UInt8(0), &+) == 0)
        #expect(Array(t[10..<16]) == Array("XENVM ".utf8))
        #expect(Array(t[16..<24]) == Array("XENNFIT ".utf8))
        #expect(t.readLE(UInt32.self, at: 24) == 7)
        #expect(Array(t[28..<32]) == Array("XEN ".utf8))
        #expect(t.readLE(UInt32.self, at: 32) == 9)
        #expect(t.readLE(UInt32.self, at: 36) == 0)  // reserved

        let spa = 40
        #expect(t.readLE(UInt16.self, at: spa) == 0)
        #expect(t.readLE(UInt16.self, at: spa + 2) == 56)
        #expect(t.readLE(UInt16.self, at: spa + 4) == 12)  // (5 + 1) << 1
        #expect(t.readLE(UInt16.self, at: spa + 6) == 3)
        #expect(t.readLE(UInt32.self, at: spa + 12) == 3)
        #expect(Array(t[spa + 16..<spa + 32]) == [0x79, 0xD3, 0xF0, 0x66, 0xF3, 0xB4, 0x74, 0x40,
                                                   0xAC, 0x43, 0x0D, 0x33, 0x18, 0xB7, 0x8C, 0xDB])
        #expect(t.readLE(UInt64.self, at: spa + 32) == 0x2_4000_0000)
        #expect(t.readLE(UInt64.self, at: spa + 40) == 0x8000_0000)
        #expect(t.readLE(UInt64.self, at: spa + 48) == 0x8008)

        let mem = spa + 56
        #expect(t.readLE(UInt16.self, at: mem) == 1)
        #expect(t.readLE(UInt16.self, at: mem + 2) == 48)
        #expect(t.readLE(UInt32.self, at: mem + 4) == 6)  // handle = slot + 1
        #expect(t.readLE(UInt16.self, at: mem + 12) == 12)
        #expect(t.readLE(UInt16.self, at: mem + 14) == 13)
        #expect(t.readLE(UInt64.self, at: mem + 16) == 0x8000_0000)
        #expect(t.readLE(UInt64.self, at: mem + 24) == 0)
        #expect(t.readLE(UInt64.self, at: mem + 32) == 0)
        #expect(t.readLE(UInt16.self, at: mem + 42) == 1)  // interleave ways
        #expect(t.readLE(UInt16.self, at: mem + 44) == 1 << 3)  // not armed

        let dcr = mem + 48
        #expect(t.readLE(UInt16.self, at: dcr) == 4)
        #expect(t.readLE(UInt16.self, at: dcr + 2) == 80)
        #expect(t.readLE(UInt16.self, at: dcr + 4) == 13)
        #expect(t.readLE(UInt16.self, at: dcr + 6) == 0x8086)
        #expect(t.readLE(UInt16.self, at: dcr + 8) == 1)
        #expect(t.readLE(UInt16.self, at: dcr + 10) == 1)
        #expect(t.readLE(UInt32.self, at: dcr + 24) == 0x123456 + 5)
        #expect(t.readLE(UInt16.self, at: dcr + 28) == 0x0301)
        #expect(t[dcr + 30..<dcr + 80].allSatisfy { $0 == 0 })

        let cap = dcr + 80
        #expect(t.readLE(UInt16.self, at: cap) == 7)
        #expect(t.readLE(UInt16.self, at: cap + 2) == 16)
        #expect(t[cap + 4] == 1)  // highest valid bit for 0x2
        #expect(t.readLE(UInt32.self, at: cap + 8) == 2)
        #expect(cap + 16 == t.count)
    }

    @Test func structuresComeInSlotOrderAndWithoutCapabilitiesByDefault() throws {
        let ds = Self.dimms(3).reversed()
        let fit = try NFITBuilder(nvdimms: Array(ds)).structures()
        #expect(fit.count == 3 * 184)
        for s in 0..<3 {
            #expect(fit.readLE(UInt32.self, at: s * 184 + 56 + 4) == UInt32(s + 1))
            #expect(fit.readLE(UInt16.self, at: s * 184 + 56 + 44) == (s == 2 ? 8 : 0))
        }
    }

    @Test func badConfigurationsAreNamedErrors() throws {
        func err(_ ds: [VirtualNVDIMM]) -> NVDIMMConfigError? {
            do { _ = try NFITBuilder(nvdimms: ds).structures(); return nil } catch { return error }
        }
        #expect(err([VirtualNVDIMM(slot: 256, base: Gpa(0), size: 4096)]) == .slotOutOfRange(slot: 256))
        #expect(err([VirtualNVDIMM(slot: -1, base: Gpa(0), size: 4096)]) == .slotOutOfRange(slot: -1))
        #expect(err([VirtualNVDIMM(slot: 1, base: Gpa(0), size: 4096), VirtualNVDIMM(slot: 1, base: Gpa(0x10000), size: 4096)])
                == .duplicateSlot(slot: 1))
        #expect(err([VirtualNVDIMM(slot: 0, base: Gpa(0), size: 0)]) == .emptyRange(slot: 0))
        #expect(err([VirtualNVDIMM(slot: 0, base: Gpa(0x800), size: 4096)]) == .misaligned(slot: 0, base: 0x800, size: 4096))
        #expect(err([VirtualNVDIMM(slot: 0, base: Gpa(0xFFFF_FFFF_FFFF_F000), size: 0x2000)])
                == .rangeWraps(slot: 0, base: 0xFFFF_FFFF_FFFF_F000, size: 0x2000))
        #expect(err([VirtualNVDIMM(slot: 0, base: Gpa(0x10000), size: 0x2000), VirtualNVDIMM(slot: 1, base: Gpa(0x11000), size: 0x1000)])
                == .overlap(slot: 1, otherSlot: 0))
        #expect(err([VirtualNVDIMM(slot: 0, base: Gpa(0x10000), size: 0x1000), VirtualNVDIMM(slot: 1, base: Gpa(0x11000), size: 0x1000)]) == nil)
        #expect(throws: NVDIMMBuildError.table(.fieldTooLong(field: "OEM ID", value: "TOOLONGID", maxLength: 6))) {
            try NFITBuilder(nvdimms: Self.dimms(1), oem: AcpiOemFields(oemID: "TOOLONGID")).table()
        }
    }

    @Test func tableHeaderRoundTripsAndChecksumIsVerified() throws {
        let t = try NFITBuilder(nvdimms: Self.dimms(2)).table()
        let parsed = try AcpiTable(parsing: t)
        #expect(parsed.signature == "NFIT")
        #expect(parsed.oem.oemID == "VPMEM" && parsed.oem.oemTableID == "VPMMNFIT" && parsed.oem.creatorID == "VPMM")
        #expect(try parsed.bytes() == t)
        var bad = t
        bad[50] &+= 1
        #expect(throws: AcpiTableError.badChecksum(signature: "NFIT", sum: 1)) { try AcpiTable(parsing: bad) }
        #expect(throws: AcpiTableError.truncated(expected: t.count, actual: t.count - 1)) { try AcpiTable(parsing: Array(t.dropLast())) }
    }
}
