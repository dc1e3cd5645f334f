import Foundation
import Testing
import GuestMemory
@testable import NVDIMM

@Suite struct SSDTTests {
    static let page = Gpa(0xFEFF_0000)
    static let intelUUID = "(30 ac 09 43 11 0d e4 11 91 91 08 00 20 0c 9a 66)"
    static let rootUUID = "(a4 e7 10 2f 91 9e e4 11 89 d3 12 3b 93 f7 5c ba)"

    static func ssdt(slots: [Int], page: Gpa = page, port: UInt16 = 0x0A18) throws -> [UInt8] {
        let ds = slots.map { VirtualNVDIMM(slot: $0, base: Gpa(0x1_0000_0000 + UInt64($0) << 30), size: 1 << 30) }
        return try SSDTBuilder(nvdimms: ds, dsmPage: page, ioPort: port).table()
    }

    /// The integer an `evaluate` printed.
    static func integerResult(_ out: String, _ path: String) -> UInt64? {
        guard let r = out.range(of: "Evaluation of \(path) returned") else { return nil }
        guard let line = out[r.upperBound...].split(separator: "\n").first(where: { $0.contains("[Integer] = ") }) else { return nil }
        return UInt64(line.components(separatedBy: "[Integer] = ")[1].trimmingCharacters(in: .whitespaces), radix: 16)
    }

    /// The bytes of the buffer an `evaluate` printed (hex dump lines `NNNN: xx xx ... // ...`).
    static func bufferResult(_ out: String, _ path: String) -> [UInt8]? {
        guard let r = out.range(of: "Evaluation of \(path) returned") else { return nil }
        let lines = out[r.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.contains("[Buffer] Length ") }) else { return nil }
        let lengthText = lines[start].components(separatedBy: "[Buffer] Length ")[1].prefix { $0 != " " }
        guard let length = Int(lengthText, radix: 16) else { return nil }
        var bytes: [UInt8] = []
        var i = start
        while bytes.count < length, i < lines.count {
            var text = String(lines[i])
            if let eq = text.range(of: "= ") { text = String(text[eq.upperBound...]) }
            if let colon = text.range(of: ": ") { text = String(text[colon.upperBound...]) }
            if let comment = text.range(of: "//") { text = String(text[..<comment.lowerBound]) }
            bytes += text.split(separator: " ").compactMap { UInt8($0, radix: 16) }
            i += 1
        }
        return bytes
    }

    @Test(arguments: [1, 2, 32])
    func iaslDisassemblesTheSSDTCleanly(count: Int) throws {
        let table = try Self.ssdt(slots: Array(0..<count))
        let (run, dsl) = try AcpiTools.disassemble(table, name: "ssdt")
        #expect(run.status == 0, "\(run.output)")
        #expect(!run.output.localizedCaseInsensitiveContains("warning"), "\(run.output)")
        #expect(!run.output.localizedCaseInsensitiveContains("error"), "\(run.output)")
        #expect(dsl.contains("Name (_HID, \"ACPI0012\""))
        #expect(dsl.contains("OperationRegion (NPIO, SystemIO, 0x0A18, 0x04)"))
        #expect(dsl.contains("OperationRegion (NRAM, SystemMemory, 0xFEFF0000, 0x1000)"))
        #expect(dsl.contains("NTFI = 0xFEFF0000"))
        for s in 0..<count {
            #expect(dsl.contains(String(format: "Device (NV%02X)", s)))
        }
        #expect(!dsl.contains(String(format: "Device (NV%02X)", count)))
        #expect(dsl.components(separatedBy: "Method (_DSM, 4, NotSerialized)").count - 1 == count + 1)
        #expect(dsl.contains("Method (_FIT, 0, Serialized)"))
    }

    @Test func acpiexecLoadsTheTableAndEachADRIsTheNFITHandle() throws {
        let slots = [0, 1, 5, 31, 255]
        let table = try Self.ssdt(slots: slots)
        let paths = slots.map { String(format: "\\_SB.NVDR.NV%02X._ADR", $0) }
        let run = try AcpiTools.acpiexec(table, commands: paths.map { "evaluate \($0)" }.joined(separator: "; ") + "; evaluate \\_SB.NVDR._HID")
        for (slot, path) in zip(slots, paths) {
            #expect(Self.integerResult(run.output, path) == UInt64(slot + 1), "\(run.output)")
        }
        #expect(run.output.contains("[String] Length 08 = \"ACPI0012\""), "\(run.output)")
        #expect(run.output.contains("\(slots.count + 1) Devices"), "\(run.output)")
        #expect(!run.output.contains("AE_"), "\(run.output)")
    }

    /// The device's _DSM stores handle, revision, function and Arg3 into the DSM page, writes the
    /// page's gpa to the IO port, then reads RLEN back. acpiexec simulates both regions: the page
    /// still holds the input, so RLEN reads as the handle we wrote.
    @Test func deviceDSMFillsThePageThenTrapsThroughThePort() throws {
        let table = try Self.ssdt(slots: [0, 15])
        let cmd = "evaluate \\_SB.NVDR.NV0F._DSM \(Self.intelUUID) 1 5 [(11 22 33 44 55 66 77 88)]"
        let run = try AcpiTools.acpiexec(table, commands: cmd, options: ["-vr"])
        let trace = run.output.split(separator: "\n").map(String.init)
        func write(_ offset: UInt64) -> String? {
            let addr = String(format: "Addr %08llX", Self.page.raw + offset)
            return trace.first { $0.contains("SystemMemory Write") && $0.contains(addr) }
        }
        #expect(write(0)?.contains("Val 00000010") == true, "handle 16 at +0\n\(run.output)")
        #expect(write(4)?.contains("Val 00000001") == true, "revision at +4")
        #expect(write(8)?.contains("Val 00000005") == true, "function at +8")
        #expect(write(12)?.contains("Val 44332211") == true, "arg3 at +12")
        #expect(write(16)?.contains("Val 88776655") == true)
        // Then the port write, then RLEN is read from the page.
        let lastWrite = trace.lastIndex { $0.contains("SystemMemory Write") } ?? -1
        let port = trace.firstIndex { $0.contains("Region access on SpaceId 01") } ?? -1
        let rlen = trace.firstIndex { $0.contains("SystemMemory Read") && $0.contains(String(format: "Addr %08llX", Self.page.raw)) } ?? -1
        #expect(lastWrite >= 0 && lastWrite < port && port < rlen, "\(run.output)")
        // RLEN = 16 (the handle still in the page): the result is the 12 bytes after it.
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR.NV0F._DSM") == [1, 0, 0, 0, 5, 0, 0, 0, 0x11, 0x22, 0x33, 0x44])
    }

    @Test func noAnswerFromTheDeviceModelIsStatusNotSupported() throws {
        let table = try Self.ssdt(slots: [0])
        // NV00: handle 1 is left in RLEN, which is shorter than a length field.
        let run = try AcpiTools.acpiexec(table, commands: "evaluate \\_SB.NVDR.NV00._DSM \(Self.intelUUID) 1 4 [(00)]; evaluate \\_SB.NVDR._FIT; evaluate \\_SB.NVDR._DSM \(Self.rootUUID) 1 0 [(00)]")
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR.NV00._DSM") == [1, 0, 0, 0], "\(run.output)")
        // _FIT's loop ends with an empty FIT when Read FIT fails.
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR._FIT") == [], "\(run.output)")
        // Root: handle 0 in RLEN.
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR._DSM") == [1, 0, 0, 0], "\(run.output)")
    }

    @Test func wrongUUIDNeverTouchesThePage() throws {
        let table = try Self.ssdt(slots: [0])
        let cmd = "evaluate \\_SB.NVDR.NV00._DSM \(Self.rootUUID) 1 0 [(00)]; evaluate \\_SB.NVDR._DSM \(Self.intelUUID) 1 4 [(00)]"
        let run = try AcpiTools.acpiexec(table, commands: cmd, options: ["-vr"])
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR.NV00._DSM") == [0], "function 0: nothing supported\n\(run.output)")
        #expect(Self.bufferResult(run.output, "\\_SB.NVDR._DSM") == [1], "other functions: not supported")
        #expect(!run.output.contains("SystemMemory Write"))
        #expect(!run.output.contains("SpaceId 01"))
    }

    @Test func transportInputsAreValidated() throws {
        func err(_ page: UInt64, _ port: UInt16 = 0x0A18) -> NVDIMMBuildError? {
            do { _ = try Self.ssdt(slots: [0], page: Gpa(page), port: port); return nil } catch let e as NVDIMMBuildError { return e } catch { return nil }
        }
        #expect(err(0xFEFF_0010) == .config(.dsmPageMisaligned(gpa: 0xFEFF_0010)))
        #expect(err(0x1_0000_0000) == .config(.dsmPageAbove4G(gpa: 0x1_0000_0000)))
        #expect(err(0xFFFF_F000) == nil)
        #expect(err(0x1000, 0xFFFD) == .config(.ioPortRange(port: 0xFFFD)))
        #expect(err(0x1000, 0xFFFC) == nil)
        let e = err(0x1_0000_0000)?.description ?? ""
        #expect(e.contains("below 4 GiB"))
    }
}
