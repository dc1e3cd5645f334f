import Foundation
import Testing
import GuestMemory
@testable import NVDIMM

/// `_LSI`, `_LSR`, `_LSW`: byte for byte what iasl compiles from the ASL below, and evaluated by
/// acpiexec over the DSM page (which acpiexec simulates as plain memory: with no device model
/// behind the port, the page reads back what the method stored, so the results are predictable).
@Suite struct LabelMethodTests {
    static let uuid = "ToUUID (\"4309AC30-0D11-11E4-9191-0800200C9A66\")"

    static func lsi(_ handle: String) -> String {
        """
        Method (_LSI, 0, Serialized)
        {
            Store (NCAL (\(uuid), One, 0x04, Zero, \(handle)), Local0)
            Store (Package () { One, Zero, Zero }, Local1)
            If (LGreaterEqual (SizeOf (Local0), 0x04))
            {
                CreateDWordField (Local0, Zero, STTS)
                Store (STTS, Index (Local1, Zero))
            }
            If (LGreaterEqual (SizeOf (Local0), 0x0C))
            {
                CreateDWordField (Local0, 0x04, SLSA)
                CreateDWordField (Local0, 0x08, MAXT)
                Store (SLSA, Index (Local1, One))
                Store (MAXT, Index (Local1, 0x02))
            }
            Return (Local1)
        }
        """
    }

    static let range = """
            Store (Buffer (0x08) {}, Local3)
            CreateDWordField (Local3, Zero, OFST)
            CreateDWordField (Local3, 0x04, TLEN)
            Store (Arg0, OFST)
            Store (Arg1, TLEN)
        """
    static let pack = """
            Store (Package () { Zero }, Local2)
            Store (Local3, Index (Local2, Zero))
        """

    static func lsr(_ handle: String) -> String {
        """
        Method (_LSR, 2, Serialized)
        {
        \(range)
        \(pack)
            Store (NCAL (\(uuid), One, 0x05, Local2, \(handle)), Local0)
            Store (Package () { One, Buffer (Zero) {} }, Local1)
            If (LGreaterEqual (SizeOf (Local0), 0x04))
            {
                CreateDWordField (Local0, Zero, STTS)
                Store (STTS, Index (Local1, Zero))
                Mid (Local0, 0x04, SizeOf (Local0), Local4)
                Store (Local4, Index (Local1, One))
            }
            Return (Local1)
        }
        """
    }

    static func lsw(_ handle: String) -> String {
        """
        Method (_LSW, 3, Serialized)
        {
        \(range)
            Concatenate (Local3, Arg2, Local3)
        \(pack)
            Store (NCAL (\(uuid), One, 0x06, Local2, \(handle)), Local0)
            If (LGreaterEqual (SizeOf (Local0), 0x04))
            {
                CreateDWordField (Local0, Zero, STTS)
                Return (STTS)
            }
            Return (One)
        }
        """
    }

    /// NVDR with a stand-in NCAL and one NVDIMM device holding `methods`.
    static func asl(_ methods: String) -> String {
        """
        Scope (\\_SB) { Device (NVDR) {
            Method (NCAL, 5, Serialized) { Return (Buffer () { 0x00 }) }
            Device (NV0F) {
                Name (_ADR, 0x10)
                \(methods)
            }
        } }
        """
    }

    static func ours(_ access: LabelAreaAccess) throws -> [UInt8] {
        let d = VirtualNVDIMM(slot: 15, base: Gpa(1 << 32), size: 1 << 30, labelAccess: access)
        let builder = SSDTBuilder(nvdimms: [d], dsmPage: Gpa(0xFEFF_0000))
        return try Aml.scope("\\_SB") {
            Aml.device("NVDR") {
                Aml.method("NCAL", arguments: 5, serialized: true) { Aml.return(Aml.buffer([0])) }
                Aml.device("NV0F") {
                    Aml.name("_ADR", Aml.integer(0x10))
                    builder.labelMethods(d)
                }
            }
        }.encode(AmlEncoding(definitionBlockRevision: 1))
    }

    @Test func theLabelMethodsAreWhatIaslCompiles() throws {
        let cases: [(LabelAreaAccess, String)] = [
            (.readWrite, Self.lsi("0x10") + Self.lsr("0x10") + Self.lsw("0x10")),
            (.readOnly, Self.lsi("0x10") + Self.lsr("0x10")),
            (.none, ""),
        ]
        for (access, methods) in cases {
            let expected = try AcpiTools.compileBody(Self.asl(methods), revision: 1)
            let got = try Self.ours(access)
            #expect(got == expected, "\(access)\nours: \(got.hex)\niasl: \(expected.hex)")
        }
    }

    /// The 4096 bytes of the DSM page as the trace of acpiexec's SystemMemory writes leaves
    /// them (`-vr`), and whether the port was written after the last of them.
    static func pageWritten(_ output: String, page: UInt64) -> (bytes: [UInt8], portAfterStores: Bool) {
        var bytes = [UInt8](repeating: 0, count: DSMPage.size)
        var lastStore = -1, port = -1
        for (n, line) in output.split(separator: "\n").enumerated() {
            if line.contains("SpaceId 01") || line.contains("SystemIO") { port = n }
            guard line.contains("SystemMemory Write"),
                  let a = line.range(of: "Addr "), let v = line.range(of: "Val ") else { continue }
            let addr = UInt64(line[a.upperBound...].prefix { $0.isHexDigit }, radix: 16) ?? 0
            let val = UInt64(line[v.upperBound...].prefix { $0.isHexDigit }, radix: 16) ?? 0
            guard addr >= page, addr + 4 <= page + UInt64(DSMPage.size) else { continue }
            for i in 0..<4 { bytes[Int(addr - page) + i] = UInt8(truncatingIfNeeded: val >> (8 * UInt64(i))) }
            lastStore = n
        }
        return (bytes, lastStore >= 0 && port > lastStore)
    }

    /// The integers of a package acpiexec printed.
    static func packageIntegers(_ out: String, _ path: String) -> [UInt64] {
        guard let r = out.range(of: "Evaluation of \(path) returned") else { return [] }
        return out[r.upperBound...].split(separator: "\n").prefix(8).compactMap { line in
            line.components(separatedBy: "[Integer] = ").dropFirst().first.flatMap { UInt64($0.trimmingCharacters(in: .whitespaces), radix: 16) }
        }
    }

    static let page = Gpa(0xFEFF_0000)

    /// Each method fills the DSM page with the request the device model decodes (handle,
    /// revision 1, its function, its arguments), then writes the port; its result is built from
    /// the page as read back. Slot 0x1F: handle 0x20, which the page echoes as a 32-byte RLEN.
    @Test func acpiexecEvaluatesThemOverTheDSMPage() throws {
        let d = VirtualNVDIMM(slot: 0x1F, base: Gpa(1 << 32), size: 1 << 30)
        let table = try SSDTBuilder(nvdimms: [d], dsmPage: Self.page).table()
        let dev = "\\_SB.NVDR.NV1F"

        let lsi = try AcpiTools.acpiexec(table, commands: "evaluate \(dev)._LSI", options: ["-vr"])
        let lsiPage = Self.pageWritten(lsi.output, page: Self.page.raw)
        #expect(lsiPage.portAfterStores, "\(lsi.output)")
        #expect(lsiPage.bytes.withUnsafeBytes { DSMRequestHeader(copying: $0) } == DSMRequestHeader(handle: 0x20, function: 4))
        // The page echoes [handle][revision][function][arg3...]: the result is page[4..<32], so
        // status = revision (1), size = function (4), max transfer = arg3 (0).
        #expect(Self.packageIntegers(lsi.output, "\(dev)._LSI") == [1, 4, 0], "\(lsi.output)")

        let lsr = try AcpiTools.acpiexec(table, commands: "evaluate \(dev)._LSR 0x100 0x20", options: ["-vr"])
        let lsrPage = Self.pageWritten(lsr.output, page: Self.page.raw)
        #expect(lsrPage.portAfterStores)
        #expect(lsrPage.bytes.withUnsafeBytes { DSMRequestHeader(copying: $0) } == DSMRequestHeader(handle: 0x20, function: 5))
        #expect(try LabelDataRange(decoding: Array(lsrPage.bytes[12...])) == LabelDataRange(offset: 0x100, length: 0x20))
        #expect(Self.packageIntegers(lsr.output, "\(dev)._LSR") == [1], "\(lsr.output)")
        // The buffer: page[8..<32] (function, offset, length, zeros).
        let buffer = SSDTTests.bufferResult(lsr.output, "\(dev)._LSR")
        #expect(buffer == [5, 0, 0, 0, 0, 1, 0, 0, 0x20, 0, 0, 0] + [UInt8](repeating: 0, count: 12), "\(lsr.output)")

        let lsw = try AcpiTools.acpiexec(table, commands: "evaluate \(dev)._LSW 0x40 4 (de ad be ef)", options: ["-vr"])
        let lswPage = Self.pageWritten(lsw.output, page: Self.page.raw)
        #expect(lswPage.portAfterStores)
        #expect(lswPage.bytes.withUnsafeBytes { DSMRequestHeader(copying: $0) } == DSMRequestHeader(handle: 0x20, function: 6))
        #expect(try SetLabelDataArguments(decoding: Array(lswPage.bytes[12...])) == SetLabelDataArguments(offset: 0x40, data: [0xDE, 0xAD, 0xBE, 0xEF]))
        #expect(SSDTTests.integerResult(lsw.output, "\(dev)._LSW") == 1, "\(lsw.output)")

        for run in [lsi, lsr, lsw] {
            #expect(!run.output.contains("AE_") && !run.output.localizedCaseInsensitiveContains("warning"), "\(run.output)")
        }
    }

    /// The device model's handler, fed the pages the methods wrote, answers them; and devices
    /// without a label area or with a read-only one have no method acpiexec could call.
    @Test func thePagesTheMethodsWriteAreAnsweredByTheHandler() throws {
        let d = VirtualNVDIMM(slot: 0x1F, base: Gpa(1 << 32), size: 1 << 30)
        let table = try SSDTBuilder(nvdimms: [d], dsmPage: Self.page).table()
        var h = DSMHandler<InMemoryLabelStorage>()
        try h.attach(slot: 0x1F, .init(labelArea: InMemoryLabelStorage(size: 128 * 1024)))
        let write = try AcpiTools.acpiexec(table, commands: "evaluate \\_SB.NVDR.NV1F._LSW 0x40 4 (de ad be ef)", options: ["-vr"])
        let out = h.handle(page: Self.pageWritten(write.output, page: Self.page.raw).bytes)
        #expect(out == [8, 0, 0, 0, 0, 0, 0, 0])
        let read = try AcpiTools.acpiexec(table, commands: "evaluate \\_SB.NVDR.NV1F._LSR 0x3e 8", options: ["-vr"])
        let got = h.handle(page: Self.pageWritten(read.output, page: Self.page.raw).bytes)
        #expect(got == [16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0])

        let mixed = try SSDTBuilder(nvdimms: [
            VirtualNVDIMM(slot: 0, base: Gpa(1 << 32), size: 1 << 30, labelAccess: .readOnly),
            VirtualNVDIMM(slot: 1, base: Gpa(2 << 32), size: 1 << 30, labelAccess: .none),
        ], dsmPage: Self.page).table()
        let run = try AcpiTools.acpiexec(mixed, commands: "evaluate \\_SB.NVDR.NV00._LSW 0 1 (00); evaluate \\_SB.NVDR.NV01._LSI; evaluate \\_SB.NVDR.NV00._LSI")
        #expect(run.output.components(separatedBy: "AE_NOT_FOUND").count - 1 >= 2, "\(run.output)")
        #expect(Self.packageIntegers(run.output, "\\_SB.NVDR.NV00._LSI") == [1, 0, 0], "handle 1 echoes a 1-byte RLEN: no answer, status 1")
    }
}
