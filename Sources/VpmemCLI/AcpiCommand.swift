import ArgumentParser
import DomainModel
import Foundation
import NVDIMM
import VpmemCore
import VpmemHost

struct AcpiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acpi", abstract: "The firmware tables a modelled guest's vNVDIMMs get.", subcommands: [Dump.self])

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the guest's NFIT and SSDT as binary tables.",
            discussion: "DIR/nfit.aml and DIR/ssdt.aml: disassemble with `iasl -d DIR/nfit.aml`, or give them to QEMU with -acpitable file=DIR/nfit.aml. The bytes are the ones placed in guest memory at the address the key store publishes. Existing files are kept unless --force replaces them (atomically); a symbolic link at either path is refused.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name, or a config file.") var config: String
        @Option(help: "Directory to write the tables into (created if missing).") var out: String
        @Flag(help: "Replace existing nfit.aml and ssdt.aml.") var force = false
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let nfit: String
            let ssdt: String
            let nfit_length: Int
            let ssdt_length: Int
            let address: UInt64
            let length: Int
            let keys: [String: String]
        }

        func run() async throws {
            let target = try GuestTarget.resolve(config, host: hostOption, change: false)
            let domain = try target.guest(.inspect)
            guard let tables = domain.tables else {
                throw RequestFailure(problem: "guest '\(domain.config.name)' has no vNVDIMMs, so no NFIT or SSDT", fix: "attach one first (vpmem nvdimm attach)")
            }
            let nfitPath = (out as NSString).appendingPathComponent("nfit.aml")
            let ssdtPath = (out as NSString).appendingPathComponent("ssdt.aml")
            try OutputFiles.checkDirectory(out)
            for p in [nfitPath, ssdtPath] { try OutputFiles.checkWritable(p, force: force) }
            try OutputFiles.makeDirectory(out)
            try OutputFiles.write([(nfitPath, tables.nfit), (ssdtPath, tables.ssdt)], force: force)
            var keys: [String: String] = [:]
            for k in [AcpiTablesArea.addressKey, AcpiTablesArea.lengthKey] {
                keys[try domain.keys.absolute(k)] = try domain.keys.read(k)
            }
            if output.json {
                print(try JSONOutput.encode(Report(nfit: nfitPath, ssdt: ssdtPath, nfit_length: tables.nfit.count, ssdt_length: tables.ssdt.count,
                                                   address: tables.address.raw, length: tables.length, keys: keys)))
                return
            }
            print("\(nfitPath): NFIT, \(tables.nfit.count) bytes, at gpa \(addr(tables.nfitAddress.raw))")
            print("\(ssdtPath): SSDT, \(tables.ssdt.count) bytes, at gpa \(addr(tables.ssdtAddress.raw))")
            for (k, v) in keys.sorted(by: { $0.key < $1.key }) { print("\(k) = \(v)") }
            print("disassemble: iasl -d \(nfitPath) \(ssdtPath)")
        }
    }
}

struct DSMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsm",
        abstract: "Run one _DSM call through the full path: guest stores to the DSM page, the port write, the device model, the result read back.",
        discussion: """
            FUNCTION: 0 or query, 4 or label-size, 5 or get-label (--offset, --length), 6 or set-label \
            (--offset, --data HEX), or read-fit (--offset) on the root. Other numbers are sent as they are. \
            --root calls the root device (handle 0); read-fit uses QEMU's reserved root (handle 0x10000). \
            The exit status is 0 whatever the _DSM returns; with --fail-on-status it is 1 when the \
            status is not 0 (success), when no status came back, or when query reports no functions.
            """)
    @OptionGroup var hostOption: HostOption
    @Argument(help: "The guest's name, or a config file.") var config: String
    @Argument(help: "The function (number or name).") var function: String
    @Option(help: "The vNVDIMM's slot.", transform: parseSlot) var nvdimm: Int?
    @Flag(help: "Call the root device instead of a vNVDIMM.") var root = false
    @Option(help: "Offset argument (functions 5, 6, read-fit).", transform: parseUInt32) var offset: UInt32 = 0
    @Option(help: "Length argument (function 5).", transform: parseUInt32) var length: UInt32 = 0
    @Option(help: "Data to write, in hex (function 6): two digits a byte, optionally separated by ':' or spaces.") var data: String = ""
    @Option(help: "Revision (Arg1).", transform: parseUInt32) var revision: UInt32 = 1
    @Option(help: "UUID (Arg0), 8-4-4-4-12 hex digits; default: the one the device expects.", transform: parseUUID) var uuid: String?
    @Flag(name: .customLong("fail-on-status"), help: "Exit with status 1 when the _DSM status is not success.") var failOnStatus = false
    @OptionGroup var output: JSONFlag

    struct Report: Encodable {
        let handle: UInt32
        let uuid: String
        let revision: UInt32
        let function: UInt32
        let arg3: String
        let returned: String
        let status: UInt32?
        let status_name: String?
        let fields: [String: UInt64]
    }

    func run() async throws {
        let (fn, readFIT) = try parseFunction()
        let handle: UInt32
        if readFIT {
            handle = SSDTBuilder.reservedRootHandle
        } else if root {
            handle = 0
        } else {
            guard let nvdimm else { throw UsageError(problem: "no device to call", fix: "give --nvdimm SLOT or --root") }
            guard (0...VirtualNVDIMM.maxSlot).contains(nvdimm) else { throw ValidationError("--nvdimm \(nvdimm): slots are 0 to \(VirtualNVDIMM.maxSlot)") }
            handle = UInt32(nvdimm) + 1
        }
        let expectedUUID = handle == 0 ? SSDTBuilder.rootDeviceUUID : handle == SSDTBuilder.reservedRootHandle ? SSDTBuilder.reservedRootUUID : SSDTBuilder.nvdimmDeviceUUID
        let function = readFIT ? nil : NVDIMMFunction(rawValue: fn)
        var arg3: [UInt8]? = nil
        if readFIT {
            arg3 = ReadFITArguments(offset: offset).encode()
        } else if function == .getNamespaceLabelData {
            arg3 = LabelDataRange(offset: offset, length: length).encode()
        } else if function == .setNamespaceLabelData {
            // Sent as given, even over the max transfer: the device's answer to that is the point.
            let bytes: [UInt8]
            do { bytes = try Parsers.hexBytes(data, limit: DSMPage.arg3Length - 8) } catch {
                throw UsageError(problem: "--data \(Echo.quoted(data))", fix: "\(error)")
            }
            arg3 = LabelDataRange(offset: offset, length: UInt32(bytes.count)).encode() + bytes
        }
        // Set Namespace Label Data writes the label area: a guest of the host, backings locked.
        let writes = function == .setNamespaceLabelData
        let target = try GuestTarget.resolve(config, host: hostOption, change: writes)
        let domain = try target.guest(writes ? .readWrite : .inspect)
        let out = try domain.evaluateDSM(handle: handle, uuid: uuid ?? expectedUUID, revision: revision, function: fn, arg3: arg3)
        var fields: [String: UInt64] = [:]
        var status = DSMStatus.word(of: out)
        if fn == NVDIMMFunction.query.rawValue {
            if let set = try? DSMFunctionSet(decoding: out) { fields["supported_functions"] = UInt64(set.rawValue) }
            status = nil
        } else if function == .getNamespaceLabelSize, let info = try? LabelSizeInfo(decoding: out) {
            fields["label_area_size"] = UInt64(info.size)
            fields["max_transfer"] = UInt64(info.maxTransfer)
        } else if function == .getNamespaceLabelData || readFIT, status == DSMStatus.success.rawValue {
            fields["data_bytes"] = UInt64(out.count - 4)
        }
        let report = Report(handle: handle, uuid: uuid ?? expectedUUID, revision: revision, function: fn, arg3: (arg3 ?? []).hexString,
                            returned: out.hexString, status: status, status_name: status.map(GuestError.statusName), fields: fields)
        if output.json {
            print(try JSONOutput.encode(report))
        } else {
            print("_DSM handle 0x\(String(handle, radix: 16)) function \(fn) revision \(revision): returned \(out.count) bytes")
            if let s = status { print("status \(GuestError.statusName(s))") }
            for (k, v) in fields.sorted(by: { $0.key < $1.key }) { print("\(k) = \(v) (0x\(String(v, radix: 16)))") }
            if out.count > 4 && fn != NVDIMMFunction.query.rawValue { print("data: \(Array(out.dropFirst(4).prefix(256)).hexString)\(out.count > 260 ? " ..." : "")") }
        }
        if failOnStatus, let problem = Self.statusProblem(fn, status: status, out: out) {
            throw RequestFailure(problem: problem, fix: "see the report on stdout (the call was made as asked)")
        }
    }

    /// What --fail-on-status fails on: a status other than success, no status at all, or a
    /// query that reports no functions.
    static func statusProblem(_ fn: UInt32, status: UInt32?, out: [UInt8]) -> String? {
        if fn == 0 {
            return (out.first ?? 0) & 1 == 0 ? "_DSM query reports no supported functions (a UUID or revision the device does not know)" : nil
        }
        guard let s = status else { return "_DSM function \(fn) returned no status (\(out.count) bytes)" }
        return s == 0 ? nil : "_DSM function \(fn) returned status \(GuestError.statusName(s))"
    }

    func parseFunction() throws -> (UInt32, Bool) {
        switch function {
        case "query": return (NVDIMMFunction.query.rawValue, false)
        case "label-size": return (NVDIMMFunction.getNamespaceLabelSize.rawValue, false)
        case "get-label": return (NVDIMMFunction.getNamespaceLabelData.rawValue, false)
        case "set-label": return (NVDIMMFunction.setNamespaceLabelData.rawValue, false)
        case "read-fit": return (ReservedRootFunction.readFIT.rawValue, true)
        default:
            guard let n = try? Parsers.integer(function, as: UInt32.self) else {
                throw UsageError(problem: "unknown function \(Echo.quoted(function))", fix: "use a number (0 to 4294967295) or query, label-size, get-label, set-label, read-fit")
            }
            return (n, false)
        }
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}
