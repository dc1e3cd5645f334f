import GuestMemory

/// Builds the SSDT that puts vNVDIMMs in the guest's ACPI namespace, equivalent to what QEMU
/// builds (hw/acpi/nvdimm.c), with the DSM page address and IO port as inputs instead of
/// linker-patched values.
///
/// ```
/// Scope (\_SB) { Device (NVDR) {
///   Name (_HID, "ACPI0012")
///   OperationRegion (NPIO, SystemIO, port, 4)          Field { NTFI, 32 }
///   OperationRegion (NRAM, SystemMemory, page, 0x1000)  Field { HDLE, 32, REVS, 32, FUNC, 32, FARG, 32672 }
///                                                       Field { RLEN, 32, ODAT, 32736 }
///   Method (NCAL, 5, Serialized)   // Arg0-3 as _DSM, Arg4 = NFIT handle
///   Method (_DSM, 4) { Return (NCAL (Arg0, Arg1, Arg2, Arg3, 0)) }
///   Name (RSTA, 0)  Method (RFIT, 1, Serialized)  Method (_FIT, 0, Serialized)
///   Device (NV00) { Name (_ADR, 1)  Method (_LSI, 0) Method (_LSR, 2) Method (_LSW, 3)
///                   Method (_DSM, 4) { Return (NCAL (..., 1)) } } ...
/// } }
/// ```
///
/// `_LSI`, `_LSR` and `_LSW` (ACPI 6.2 label methods, which Linux prefers to _DSM functions 4, 5
/// and 6, as QEMU provides them) call NCAL with those functions, so they go over the same DSM
/// page and port, and repackage the result: `_LSI` a Package {status, size, max transfer},
/// `_LSR` a Package {status, Buffer}, `_LSW` the status. A device without a label area has none
/// of them and a read-only one no `_LSW`, as function 0 reports no function 6 for it. Unlike
/// QEMU's, a short answer (the device model did not answer) is status 1 rather than a fault.
///
/// NCAL checks the UUID against the one for its handle (root, QEMU-reserved root 0x10000, or
/// NVDIMM), stores handle, revision, function and the Arg3 buffer into the page, writes the
/// page's gpa to the port (the trap to the device model), and returns the output page's data
/// (`Mid (ODAT, 0, RLEN - 4)`; QEMU builds the same buffer with CreateField over the field unit,
/// which iasl's disassembler warns about). One addition to QEMU's method: an RLEN outside
/// 4...4096 (the device model did not answer) returns status 1 "not supported" instead of
/// faulting.
public struct SSDTBuilder: Sendable {
    public static let signature = "SSDT"
    /// QEMU's port.
    public static let defaultIOPort: UInt16 = 0x0A18
    /// Definition block revision 1, as QEMU: 32-bit integers.
    public static let revision: UInt8 = 1

    public static let nvdimmDeviceUUID = "4309AC30-0D11-11E4-9191-0800200C9A66"
    public static let rootDeviceUUID = "2F10E7A4-9E91-11E4-89D3-123B93F75CBA"
    public static let reservedRootUUID = "648B9CF2-CDA1-4312-8AD9-49C4AF32BD62"
    public static let reservedRootHandle: UInt32 = 0x10000

    public var nvdimms: [VirtualNVDIMM]
    public var dsmPage: Gpa
    public var ioPort: UInt16
    public var oem: AcpiOemFields

    public init(nvdimms: [VirtualNVDIMM], dsmPage: Gpa, ioPort: UInt16 = defaultIOPort,
                oem: AcpiOemFields = .init(oemTableID: "NVDIMM")) {
        self.nvdimms = nvdimms
        self.dsmPage = dsmPage
        self.ioPort = ioPort
        self.oem = oem
    }

    /// The SSDT's AML (the table body).
    public func aml() throws(NVDIMMBuildError) -> [UInt8] {
        let sorted: [VirtualNVDIMM]
        do { sorted = try validate() } catch { throw .config(error) }
        do { return try definitions(sorted).encode(AmlEncoding(definitionBlockRevision: Self.revision)) }
        catch { throw .aml(error) }
    }

    /// The complete SSDT.
    public func table() throws(NVDIMMBuildError) -> [UInt8] {
        let body = try aml()
        do { return try AcpiTable(signature: Self.signature, revision: Self.revision, oem: oem, body: body).bytes() }
        catch { throw .table(error) }
    }

    func validate() throws(NVDIMMConfigError) -> [VirtualNVDIMM] {
        guard dsmPage.raw & 0xFFF == 0 else { throw .dsmPageMisaligned(gpa: dsmPage.raw) }
        guard dsmPage.raw <= 0xFFFF_F000 else { throw .dsmPageAbove4G(gpa: dsmPage.raw) }
        guard ioPort <= 0xFFFC else { throw .ioPortRange(port: ioPort) }
        return try NVDIMMConfigError.validate(nvdimms)
    }

    func definitions(_ sorted: [VirtualNVDIMM]) -> AmlTerm {
        Aml.scope("\\_SB") {
            Aml.device("NVDR") {
                Aml.name("_HID", Aml.string("ACPI0012"))
                transport()
                commonDSM()
                deviceDSM(handle: 0)
                fitMethods()
                for d in sorted {
                    Aml.device(AmlName(stringLiteral: d.deviceName)) {
                        Aml.name("_ADR", Aml.integer(d.handle))
                        labelMethods(d)
                        deviceDSM(handle: d.handle)
                    }
                }
            }
        }
    }

    /// The DSM page and the notify port.
    func transport() -> AmlTerm {
        Aml.sequence {
            Aml.operationRegion("NPIO", .systemIO, offset: Aml.integer(ioPort), length: Aml.integer(4))
            Aml.field("NPIO", access: .dword) { AmlFieldUnit.named("NTFI", bits: 32) }
            Aml.operationRegion("NRAM", .systemMemory, offset: Aml.integer(dsmPage.raw), length: Aml.integer(DSMPage.size))
            Aml.field("NRAM", access: .dword) {
                AmlFieldUnit.named("HDLE", bits: 32)
                AmlFieldUnit.named("REVS", bits: 32)
                AmlFieldUnit.named("FUNC", bits: 32)
                AmlFieldUnit.named("FARG", bits: DSMPage.arg3Length * 8)
            }
            Aml.field("NRAM", access: .dword) {
                AmlFieldUnit.named("RLEN", bits: 32)
                AmlFieldUnit.named("ODAT", bits: (DSMPage.size - 4) * 8)
            }
        }
    }

    /// NCAL (uuid, revision, function, arg3, handle).
    func commonDSM() -> AmlTerm {
        let uuid = Aml.arg(0), revision = Aml.arg(1), function = Aml.arg(2), arg3 = Aml.arg(3), handle = Aml.arg(4)
        let expected = Aml.local(0), outLength = Aml.local(1), element = Aml.local(2), input = Aml.local(3)
        let result = Aml.local(7)
        return Aml.method("NCAL", arguments: 5, serialized: true) {
            Aml.ifThen(Aml.lEqual(handle, Aml.zero)) {
                Aml.store(Aml.uuid(Self.rootDeviceUUID), expected)
            } otherwise: {
                Aml.ifThen(Aml.lEqual(handle, Aml.integer(Self.reservedRootHandle))) {
                    Aml.store(Aml.uuid(Self.reservedRootUUID), expected)
                } otherwise: {
                    Aml.store(Aml.uuid(Self.nvdimmDeviceUUID), expected)
                }
            }
            Aml.ifThen(Aml.lNot(Aml.lEqual(uuid, expected))) {
                Aml.ifThen(Aml.lEqual(function, Aml.zero)) {
                    Aml.return(Aml.buffer([0x00]))  // function 0: nothing supported
                }
                Aml.return(Aml.buffer([UInt8(DSMStatus.notSupported.rawValue)]))
            }
            Aml.store(handle, Aml.path("HDLE"))
            Aml.store(revision, Aml.path("REVS"))
            Aml.store(function, Aml.path("FUNC"))
            // Arg3 is a package holding one buffer: its bytes are the function's input.
            Aml.ifThen(Aml.lAnd(Aml.lEqual(Aml.objectType(arg3), Aml.integer(4)),
                                Aml.lEqual(Aml.sizeOf(arg3), Aml.one))) {
                Aml.store(Aml.index(arg3, Aml.zero), element)
                Aml.store(Aml.derefOf(element), input)
                Aml.store(input, Aml.path("FARG"))
            }
            Aml.store(Aml.integer(dsmPage.raw), Aml.path("NTFI"))  // trap to the device model
            Aml.store(Aml.path("RLEN"), outLength)
            Aml.ifThen(Aml.lOr(Aml.lLess(outLength, Aml.integer(4)), Aml.lGreater(outLength, Aml.integer(DSMPage.size)))) {
                Aml.return(Aml.buffer([UInt8(DSMStatus.notSupported.rawValue), 0, 0, 0]))
            }
            Aml.subtract(outLength, Aml.integer(4), outLength)  // RLEN counts itself
            Aml.mid(Aml.path("ODAT"), Aml.zero, outLength, result)
            Aml.return(result)
        }
    }

    /// `_LSI`, `_LSR`, `_LSW` of an NVDIMM device, as its label access allows.
    func labelMethods(_ d: VirtualNVDIMM) -> AmlTerm {
        let result = Aml.local(0), package = Aml.local(1), arg3 = Aml.local(2), input = Aml.local(3), data = Aml.local(4)
        func call(_ function: NVDIMMFunction, _ arg3: AmlTerm) -> AmlTerm {
            Aml.call("NCAL", Aml.uuid(Self.nvdimmDeviceUUID), Aml.one, Aml.integer(function.rawValue), arg3, Aml.integer(d.handle))
        }
        func atLeast(_ bytes: Int) -> AmlTerm { Aml.lGreaterEqual(Aml.sizeOf(result), Aml.integer(bytes)) }
        let status = DSMStatus.notSupported.rawValue
        // Arg3 for NCAL: a package holding the buffer u32 offset (Arg0), u32 length (Arg1).
        let rangeArgument = Aml.sequence {
            Aml.store(Aml.buffer(size: Aml.integer(LabelDataRange.size), []), input)
            Aml.createDWordField(input, byteIndex: Aml.zero, "OFST")
            Aml.createDWordField(input, byteIndex: Aml.integer(4), "TLEN")
            Aml.store(Aml.arg(0), Aml.path("OFST"))
            Aml.store(Aml.arg(1), Aml.path("TLEN"))
        }
        let packInput = Aml.sequence {
            Aml.store(Aml.package([Aml.zero]), arg3)
            Aml.store(input, Aml.index(arg3, Aml.zero))
        }
        return Aml.sequence {
            if d.labelAccess != .none {
                Aml.method("_LSI", arguments: 0, serialized: true) {
                    Aml.store(call(.getNamespaceLabelSize, Aml.zero), result)
                    Aml.store(Aml.package([Aml.integer(status), Aml.zero, Aml.zero]), package)
                    Aml.ifThen(atLeast(4)) {
                        Aml.createDWordField(result, byteIndex: Aml.zero, "STTS")
                        Aml.store(Aml.path("STTS"), Aml.index(package, Aml.zero))
                    }
                    Aml.ifThen(atLeast(LabelSizeInfo.resultSize)) {
                        Aml.createDWordField(result, byteIndex: Aml.integer(4), "SLSA")
                        Aml.createDWordField(result, byteIndex: Aml.integer(8), "MAXT")
                        Aml.store(Aml.path("SLSA"), Aml.index(package, Aml.one))
                        Aml.store(Aml.path("MAXT"), Aml.index(package, Aml.integer(2)))
                    }
                    Aml.return(package)
                }
                Aml.method("_LSR", arguments: 2, serialized: true) {
                    rangeArgument
                    packInput
                    Aml.store(call(.getNamespaceLabelData, arg3), result)
                    Aml.store(Aml.package([Aml.integer(status), Aml.buffer(size: Aml.zero, [])]), package)
                    Aml.ifThen(atLeast(4)) {
                        Aml.createDWordField(result, byteIndex: Aml.zero, "STTS")
                        Aml.store(Aml.path("STTS"), Aml.index(package, Aml.zero))
                        Aml.mid(result, Aml.integer(4), Aml.sizeOf(result), data)
                        Aml.store(data, Aml.index(package, Aml.one))
                    }
                    Aml.return(package)
                }
            }
            if d.labelAccess == .readWrite {
                Aml.method("_LSW", arguments: 3, serialized: true) {
                    rangeArgument
                    Aml.concatenate(input, Aml.arg(2), input)
                    packInput
                    Aml.store(call(.setNamespaceLabelData, arg3), result)
                    Aml.ifThen(atLeast(4)) {
                        Aml.createDWordField(result, byteIndex: Aml.zero, "STTS")
                        Aml.return(Aml.path("STTS"))
                    }
                    Aml.return(Aml.integer(status))
                }
            }
        }
    }

    /// `_DSM` for the root (handle 0) or an NVDIMM device.
    func deviceDSM(handle: UInt32) -> AmlTerm {
        Aml.method("_DSM", arguments: 4) {
            Aml.return(Aml.call("NCAL", Aml.arg(0), Aml.arg(1), Aml.arg(2), Aml.arg(3), Aml.integer(handle)))
        }
    }

    /// RFIT (offset) reads one piece of the FIT through the reserved root _DSM; _FIT loops over
    /// pieces and restarts from offset 0 when the status says the FIT changed.
    func fitMethods() -> AmlTerm {
        let buf = Aml.local(0), size = Aml.local(1), fit = Aml.local(2), offset = Aml.local(3)
        return Aml.sequence {
            Aml.name("RSTA", Aml.zero)
            Aml.method("RFIT", arguments: 1, serialized: true) {
                Aml.name("OFST", Aml.zero)
                Aml.store(Aml.arg(0), Aml.path("OFST"))
                Aml.store(Aml.call("NCAL", Aml.uuid(Self.reservedRootUUID), Aml.one, Aml.one,
                                   Aml.package([Aml.path("OFST")]), Aml.integer(Self.reservedRootHandle)), buf)
                Aml.createDWordField(buf, byteIndex: Aml.zero, "STAU")
                Aml.store(Aml.path("STAU"), Aml.path("RSTA"))
                Aml.ifThen(Aml.lNot(Aml.lEqual(Aml.zero, Aml.path("STAU")))) {
                    Aml.return(Aml.buffer(size: Aml.zero, []))
                }
                Aml.store(Aml.sizeOf(buf), size)
                Aml.subtract(size, Aml.integer(4), size)
                Aml.ifThen(Aml.lEqual(size, Aml.zero)) {
                    Aml.return(Aml.buffer(size: Aml.zero, []))
                }
                Aml.createField(buf, bitIndex: Aml.integer(32), numBits: Aml.shiftLeft(size, Aml.integer(3)), "BUFF")
                Aml.return(Aml.path("BUFF"))
            }
            Aml.method("_FIT", arguments: 0, serialized: true) {
                Aml.store(Aml.buffer(size: Aml.zero, []), fit)
                Aml.store(Aml.zero, offset)
                Aml.whileLoop(Aml.one) {
                    Aml.store(Aml.call("RFIT", offset), buf)
                    Aml.store(Aml.sizeOf(buf), size)
                    Aml.ifThen(Aml.lEqual(Aml.path("RSTA"), Aml.integer(DSMStatus.fitChanged.rawValue))) {
                        Aml.store(Aml.buffer(size: Aml.zero, []), fit)
                        Aml.store(Aml.zero, offset)
                    } otherwise: {
                        Aml.ifThen(Aml.lEqual(size, Aml.zero)) { Aml.return(fit) }
                        Aml.add(offset, size, offset)
                        Aml.concatenate(fit, buf, fit)
                    }
                }
            }
        }
    }
}
