import ArgumentParser
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore
import VpmemHost

struct NVDIMMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nvdimm",
        abstract: "Virtual NVDIMMs of modelled guests: attach, detach, list, and their namespace labels.",
        discussion: "GUEST is a guest of the host by name, or its config file (see examples/nvdimm-*.toml); attach, detach, init-labels, create-namespace and destroy-namespace need a guest of the host (vpmem guest create CONFIG).",
        subcommands: [Attach.self, Detach.self, List.self, InitLabels.self, Labels.self, CreateNamespace.self, DestroyNamespace.self])

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attach host pmem to a modelled guest as a vNVDIMM and record it in the config.",
            discussion: """
                Checked against the whole host (the backing belongs to no other guest, by device and inode \
                or namespace uuid, never by path) and the whole guest (pmem aperture, safe range, the other \
                vNVDIMMs, the backing's lock and size) before anything changes. A backing that is not host \
                pmem yet becomes host pmem (a [[pmem]] table appended to host.toml). The config is rewritten \
                atomically, keeping its comments, key order and mode. The backing holds SIZE bytes of data \
                then the label area. An existing backing's label area is checked: a namespace label area \
                found elsewhere than the vNVDIMM puts it (a backing reused with no label area, or with \
                another label size) is warned about, and a label area that holds data rather than labels \
                (a backing that held a guest's data with no label area) is refused without --force, since \
                the guest's label writes would overwrite it. Without --size and --label-size, a label area \
                found in the backing gives both.
                """)
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var config: String
        @Option(help: "An emulated pmem file, a file on an fsdax mount, or /dev/daxN.M.") var backing: String
        @Option(help: "Bytes the guest sees (a multiple of 2M). Default: the existing backing's size minus the label area.", transform: parseSize)
        var size: ByteSize?
        @Option(name: .customLong("label-size"),
                help: "Label area at the end of the backing (0 for none, else at least 128K). Default: 128K, or without --size the one found in the backing.",
                transform: parseSize)
        var labelSize: ByteSize?
        @Option(help: "NUMA node (NFIT proximity domain).", transform: parseUInt32) var node: UInt32 = 0
        @Option(help: "Slot (0-255). Default: the lowest free one.", transform: parseSlot) var slot: Int?
        @Flag(help: "Label writes are refused; the backing is opened read-only.") var readonly = false
        @Flag(help: "Set the NFIT 'not armed' flag.") var unarmed = false
        @Flag(help: "Create the backing as an emulated pmem file if it does not exist.") var create = false
        @Flag(help: "Attach even if the label area holds data the guest's label writes would overwrite.") var force = false
        @Option(help: "Pin the guest address (a 1G boundary in the pmem aperture; 0x... or a size). Default: the first free 1G-aligned stretch.", transform: parseAddress)
        var address: Gpa?
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let guest: String
            let slot: Int
            let device: String
            let handle: UInt32
            let gpa_start: UInt64
            let gpa_last: UInt64
            let size: UInt64
            let label_size: UInt64
            let node: UInt32
            let readonly: Bool
            let unarmed: Bool
            let backing: String
            let backing_created: Bool
            let backing_bytes: UInt64
            let persistence: String
            let config: String
            let label_area: LabelAreaCheckReport?
        }

        func run() async throws {
            let target = try GuestTarget.resolve(config, host: hostOption, change: true)
            let domain = try target.guest(.readWrite)
            let path = GuestTarget.absolute(backing)
            guard let chosenSlot = slot ?? (0...NVDIMMConfig.maxSlot).first(where: { s in domain.nvdimm(slot: s) == nil }) else {
                throw RequestFailure(problem: "guest '\(domain.config.name)' has a vNVDIMM in every slot (0 to \(NVDIMMConfig.maxSlot))", fix: "detach one first (vpmem nvdimm detach)")
            }
            var dataSize = size
            var labelSize = self.labelSize ?? NVDIMMConfig.defaultLabelSize
            var labelSizeFound = false
            if dataSize == nil {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RequestFailure(problem: "\(path) does not exist", fix: "give --size (and --create to make an emulated pmem file)")
                }
                let info = try PmemInfo.inspect(path: path)
                // The label area the backing already holds, rather than a default that would
                // hide it (or cover the guest's data) if its size differs.
                if self.labelSize == nil {
                    let valid = try BackingLabelProbe.check(path: path, configuredLabelSize: nil).found.filter(\.isValid)
                    if valid.count == 1 {
                        labelSize = ByteSize(bytes: valid[0].size)
                        labelSizeFound = true
                    }
                }
                guard info.size > labelSize.bytes else {
                    throw RequestFailure(problem: "\(path) is \(info.size) bytes, not more than the \(labelSize) label area", fix: "give --size or a smaller --label-size")
                }
                dataSize = ByteSize(bytes: info.size - labelSize.bytes)
            }
            let d = NVDIMMConfig(slot: chosenSlot, backing: path, size: dataSize!, labelSize: labelSize, node: node,
                                 readOnly: readonly, unarmed: unarmed, address: address)
            let attached = try target.host.attach(d, to: target.name, createBacking: create, labelAreas: force ? .warn : .refuseOverwrite)
            let labelReport = attached.labelAreaCheck.map { LabelAreaCheckReport($0, slot: d.slot, path: path, readOnly: d.readOnly, forced: force) }
            let configPath = try target.host.admittedGuest(target.name).record.config
            let v = attached.virtualNVDIMM
            if output.json {
                print(try JSONOutput.encode(Report(
                    guest: domain.config.name, slot: d.slot, device: "\(v.deviceName)", handle: v.handle,
                    gpa_start: attached.guestRange.first.raw, gpa_last: attached.guestRange.last.raw, size: d.size.bytes,
                    label_size: d.labelSize.bytes, node: d.node, readonly: d.readOnly, unarmed: d.unarmed, backing: path,
                    backing_created: attached.createdBacking, backing_bytes: attached.backing.length,
                    persistence: "\(attached.backing.persistence)", config: configPath, label_area: labelReport)))
                return
            }
            print("attached slot \(d.slot) (\(v.deviceName), NFIT handle \(v.handle)) to '\(domain.config.name)': "
                + "\(d.size) at gpa \(attached.guestRange), node \(d.node)"
                + (d.hasLabelArea ? ", \(d.labelSize) label area" : ", no label area")
                + (d.readOnly ? ", read-only" : "") + (d.unarmed ? ", unarmed" : ""))
            print("backing \(path)\(attached.createdBacking ? " (created)" : ""): \(attached.backing.length) bytes, "
                + "host \(attached.hostFrames), persisted by \(attached.backing.persistence)")
            print("config \(configPath) rewritten")
            if labelSizeFound { print("label-size \(labelSize): the label area found at the end of the backing") }
            if let m = labelReport?.message { print("warning: \(m)") }
        }
    }

    struct Detach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Detach a vNVDIMM from a modelled guest and remove it from the config (the backing is kept).")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var config: String
        @Option(help: "The slot to detach.", transform: parseSlot) var slot: Int
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let guest: String
            let slot: Int
            let device: String
            let backing: String
            let config: String
        }

        func run() async throws {
            let target = try GuestTarget.resolve(config, host: hostOption, change: true)
            let d = try target.host.detach(slot: slot, from: target.name)
            let configPath = try target.host.admittedGuest(target.name).record.config
            if output.json {
                print(try JSONOutput.encode(Report(guest: target.name, slot: slot, device: "\(d.virtualNVDIMM.deviceName)", backing: d.path, config: configPath)))
                return
            }
            print("detached slot \(slot) (\(d.virtualNVDIMM.deviceName)) from '\(target.name)': gpa \(d.guestRange) unmapped, backing \(d.path) kept (host pmem, now free)")
            print("config \(configPath) rewritten")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a guest's vNVDIMMs and where they are mapped.")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name, or a config file.") var config: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let target = try GuestTarget.resolve(config, host: hostOption, change: false)
            let domain = try target.guest(.inspect)
            let report = NVDIMMListReport(domain)
            if output.json { print(try JSONOutput.encode(report)); return }
            print(Self.render(report))
        }

        static func render(_ r: NVDIMMListReport) -> String {
            guard !r.nvdimms.isEmpty else { return "guest '\(r.guest)' has no vNVDIMMs (attach one: vpmem nvdimm attach CONFIG --backing PATH --size 8G)" }
            let rows = r.nvdimms.map { e -> [String] in
                let flags = [e.readonly ? "ro" : nil, e.unarmed ? "unarmed" : nil].compactMap { $0 }.joined(separator: ",")
                let pages = ["1G", "2M", "4K"].compactMap { k in e.pages[k].map { "\($0)x\(k)" } }.joined(separator: "+")
                return ["\(e.slot)", "\(e.device)", "\(e.handle)", "\(addr(e.gpa_start))-\(addr(e.gpa_last))",
                        ByteSize(bytes: e.size).description, ByteSize(bytes: e.label_size).description, "\(e.node)",
                        flags.isEmpty ? "-" : flags, "mfn 0x\(String(e.mfn_start, radix: 16))", pages, e.backing]
            }
            var out = "guest '\(r.guest)': \(r.nvdimms.count) vNVDIMM\(r.nvdimms.count == 1 ? "" : "s")\n"
            out += table(["SLOT", "DEVICE", "HANDLE", "GPA", "SIZE", "LABEL", "NODE", "FLAGS", "HOST", "P2M PAGES", "BACKING"], rows)
            out += "\nDSM page gpa \(addr(r.dsm_page)), port 0x\(String(r.dsm_port, radix: 16))"
            if let a = r.tables_address, let l = r.tables_length { out += "; NFIT+SSDT at gpa \(addr(a)), \(l) bytes" }
            return out
        }
    }

    struct InitLabels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init-labels",
            abstract: "Write an empty namespace label area through _DSM, byte for byte as `ndctl init-labels` does.",
            discussion: """
                Reads the index region, then Set Namespace Label Data calls of at most max-transfer bytes: \
                index block 0 (seq 3), then block 1 (seq 2), every slot free; the label slots are not touched. \
                The layout is UEFI 2.7's, as Linux and ndctl compute it. The default label version is ndctl's (1.1).
                """)
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var config: String
        @Option(help: "The vNVDIMM's slot.", transform: parseSlot) var slot: Int
        @Option(name: [.customShort("V"), .customLong("label-version")], help: "1.1 (128-byte labels, ndctl's default) or 1.2 (256-byte).")
        var labelVersion = "1.1"
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let slot: Int
            let area_size: Int
            let version: String
            let index_size: Int
            let nslot: Int
            let label_size: Int
            let dsm_calls: Int
            let max_transfer: Int
        }

        func run() async throws {
            let labelBytes: Int
            switch labelVersion {
            case "1.2", "v1.2": labelBytes = 256
            case "1.1", "v1.1": labelBytes = 128
            default: throw UsageError(problem: "--label-version \(Echo.quoted(labelVersion)) is not a label version", fix: "use 1.1 or 1.2")
            }
            let target = try GuestTarget.resolve(config, host: hostOption, change: true)
            let domain = try target.guest(.readWrite)
            let client = NamespaceLabelClient(domain: domain, slot: slot)
            let before = domain.device.calls
            let layout = try client.initLabels(labelSize: labelBytes)
            let (_, maxTransfer) = try client.labelSizeInfo()
            if output.json {
                print(try JSONOutput.encode(Report(slot: slot, area_size: Int(layout.areaSize), version: "1.\(layout.minor)", index_size: Int(layout.indexSize),
                                                   nslot: Int(layout.nslot), label_size: Int(layout.labelSize), dsm_calls: Int(domain.device.calls - before),
                                                   max_transfer: Int(maxTransfer))))
                return
            }
            print("slot \(slot): initialised a \(layout.areaSize)-byte label area (v1.\(layout.minor)): "
                + "2 index blocks of \(layout.indexSize) bytes, \(layout.nslot) slots of \(layout.labelSize) bytes, all free")
            print("through _DSM: \(domain.device.calls - before) calls on port 0x\(String(Guest.dsmPort, radix: 16)), "
                + "at most \(maxTransfer) bytes per Set Namespace Label Data, persisted on \(domain.nvdimm(slot: slot)?.path ?? "?")")
        }
    }

    struct Labels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a vNVDIMM's label area through _DSM, decode and verify it.",
            discussion: "Reports corruption by block and field; a torn index-block update shows as one bad block and the other current. Exit status 1 when the area has problems (the report is printed first).")
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name, or a config file.") var config: String
        @Option(help: "The vNVDIMM's slot.", transform: parseSlot) var slot: Int
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let target = try GuestTarget.resolve(config, host: hostOption, change: false)
            let domain = try target.guest(.inspect)
            let area = try NamespaceLabelClient(domain: domain, slot: slot).readArea()
            let report = LabelAreaReport(area: area)
            let namespaces = try NamespaceProvisioner(domain: domain, slot: slot).namespaces(area: area)
            if output.json {
                print(try JSONOutput.encode(LabelsWithNamespaces(report: report, namespaces: namespaces)))
            } else {
                print(Self.render(report, slot: slot))
                for n in namespaces {
                    print("  namespace \(n.uuid)\(n.name.isEmpty ? "" : " '\(n.name)'"): \(n.mode), " + NVDIMMCommand.sizes(n)
                        + (n.cookie_valid ? "" : "; its isetcookie is not the region's, so Linux ignores it"))
                }
            }
            // A report with problems is a failed check: scripts see exit status 1.
            if !report.clean {
                throw RequestFailure(problem: "slot \(slot): the label area has \(report.issues.count) problem\(report.issues.count == 1 ? "" : "s")",
                                     fix: "see the report on stdout; write a fresh area with `vpmem nvdimm init-labels` if its labels are expendable")
            }
        }

        static func render(_ r: LabelAreaReport, slot: Int) -> String {
            var out = "slot \(slot): label area \(r.size) bytes"
            if let l = r.label_size, let n = r.nslot { out += ", \(n) slots of \(l) bytes" }
            out += r.clean ? ", clean\n" : ", \(r.issues.count) problem\(r.issues.count == 1 ? "" : "s")\n"
            for b in r.blocks {
                let state = b.valid ? "valid, seq \(b.seq ?? 0), v\(b.version ?? "?"), \(b.free_slots ?? 0) of \(b.nslot ?? 0) slots free" : "INVALID"
                out += "  index block \(b.block): \(state)\(b.current ? " (current)" : "")\n"
                if let myoff = b.myoff, let mysize = b.mysize, let otheroff = b.otheroff, let labeloff = b.labeloff {
                    out += "    myoff 0x\(String(myoff, radix: 16)) mysize 0x\(String(mysize, radix: 16)) otheroff 0x\(String(otheroff, radix: 16)) "
                        + "labeloff 0x\(String(labeloff, radix: 16)) labelsize \(b.labelsize ?? 0) flags 0x\(String(b.flags ?? 0, radix: 16)) "
                        + "checksum 0x\(String(b.checksum ?? 0, radix: 16))\(b.checksum_valid == false ? " (bad)" : "")\n"
                }
                for i in b.issues { out += "    - \(i.message)\n" }
            }
            for i in r.issues where i.block == nil && i.slot == nil { out += "  - \(i.message)\n" }
            out += r.labels.isEmpty ? "  no namespace labels\n" : ""
            for l in r.labels {
                out += "  label slot \(l.slot)\(l.valid ? "" : " (INVALID: Linux ignores it)"): uuid \(l.uuid) '\(l.name)' "
                    + "dpa 0x\(String(l.dpa, radix: 16)) rawsize \(ByteSize(bytes: l.rawsize)) flags 0x\(String(l.flags, radix: 16)) "
                    + "nlabel \(l.nlabel) position \(l.position) isetcookie 0x\(String(l.isetcookie, radix: 16)) lbasize \(l.lbasize)\n"
                if let t = l.type_guid, let a = l.abstraction_guid {
                    out += "    type \(t) abstraction \(a) checksum 0x\(String(l.checksum ?? 0, radix: 16))\(l.checksum_valid == false ? " (bad)" : "")\n"
                }
                for i in r.issues where i.slot == Int(l.slot) { out += "    - \(i.message)\n" }
            }
            return String(out.dropLast())
        }
    }
}
