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
            discussion: "DIR/nfit.aml and DIR/ssdt.aml: disassemble with `iasl -d DIR/nfit.aml`, or give them to QEMU with -acpitable file=DIR/nfit.aml. The bytes are the ones placed in guest memory at the address the key store publishes.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name, or a config file.") var config: String
        @Option(help: "Directory to write the tables into (created if missing).") var out: String
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
                throw ValidationError("guest '\(domain.config.name)' has no vNVDIMMs, so no NFIT or SSDT: attach one first (vpmem nvdimm attach)")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let nfitPath = (out as NSString).appendingPathComponent("nfit.aml")
            let ssdtPath = (out as NSString).appendingPathComponent("ssdt.aml")
            try Data(tables.nfit).write(to: URL(fileURLWithPath: nfitPath))
            try Data(tables.ssdt).write(to: URL(fileURLWithPath: ssdtPath))
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
            --root calls the root device (handle 0); read-fit uses QEMU's reserved root (handle 0x10000).
            """)
    @OptionGroup var hostOption: HostOption
    @Argument(help: "The guest's name, or a config file.") var config: String
    @Argument(help: "The function (number or name).") var function: String
    @Option(help: "The vNVDIMM's slot.") var nvdimm: Int?
    @Flag(help: "Call the root device instead of a vNVDIMM.") var root = false
    @Option(help: "Offset argument (functions 5, 6, read-fit).") var offset: UInt32 = 0
    @Option(help: "Length argument (function 5).") var length: UInt32 = 0
    @Option(help: "Data to write, in hex (function 6).") var data: String = ""
    @Option(help: "Revision (Arg1).") var revision: UInt32 = 1
    @Option(help: "UUID (Arg0); default: the one the device expects.") var uuid: String?
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
            guard let nvdimm else { throw ValidationError("give --nvdimm SLOT (or --root)") }
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
            let bytes = try hexBytes(data)
            guard let n = UInt32(exactly: bytes.count) else { throw ValidationError("--data is too long") }
            arg3 = LabelDataRange(offset: offset, length: n).encode() + bytes
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
        if output.json { print(try JSONOutput.encode(report)); return }
        print("_DSM handle 0x\(String(handle, radix: 16)) function \(fn) revision \(revision): returned \(out.count) bytes")
        if let s = status { print("status \(GuestError.statusName(s))") }
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { print("\(k) = \(v) (0x\(String(v, radix: 16)))") }
        if out.count > 4 && fn != NVDIMMFunction.query.rawValue { print("data: \(Array(out.dropFirst(4).prefix(256)).hexString)\(out.count > 260 ? " ..." : "")") }
    }

    func parseFunction() throws -> (UInt32, Bool) {
        switch function {
        case "query": return (NVDIMMFunction.query.rawValue, false)
        case "label-size": return (NVDIMMFunction.getNamespaceLabelSize.rawValue, false)
        case "get-label": return (NVDIMMFunction.getNamespaceLabelData.rawValue, false)
        case "set-label": return (NVDIMMFunction.setNamespaceLabelData.rawValue, false)
        case "read-fit": return (ReservedRootFunction.readFIT.rawValue, true)
        default:
            guard let n = UInt32(function) else {
                throw ValidationError("unknown function '\(function)': use a number or query, label-size, get-label, set-label, read-fit")
            }
            return (n, false)
        }
    }

    func hexBytes(_ s: String) throws -> [UInt8] {
        let clean = s.filter { !$0.isWhitespace && $0 != ":" }
        guard clean.count % 2 == 0 else { throw ValidationError("--data '\(s)': an even number of hex digits, e.g. 0a1b2c") }
        var out: [UInt8] = []
        var i = clean.startIndex
        while i < clean.endIndex {
            let j = clean.index(i, offsetBy: 2)
            guard let b = UInt8(clean[i..<j], radix: 16) else { throw ValidationError("--data '\(s)': '\(clean[i..<j])' is not hex") }
            out.append(b)
            i = j
        }
        return out
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}
