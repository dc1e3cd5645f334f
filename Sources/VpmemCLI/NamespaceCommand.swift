import ArgumentParser
import DomainModel
import NVDIMM
import VpmemCore

extension NVDIMMCommand {
    struct CreateNamespace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-namespace",
            abstract: "Create a pmem namespace on a vNVDIMM through _DSM, as ndctl create-namespace and the guest kernel would.",
            discussion: """
                The label area is read and written only through the guest's _DSM path, with Linux's update \
                protocol: the label into the lowest free slot, then the other index block with the next seq \
                (a write torn before that leaves the old namespaces). The label carries the interleave-set \
                cookie Linux computes from the guest's NFIT, and Linux's placement: the first free, 16 MiB \
                aligned DPA range that holds SIZE. fsdax also writes the pfn info block Linux writes (memmap \
                on the namespace, 2 MiB alignment) at 4 KiB into the namespace's data, through libpmem. \
                The label area must be initialised (vpmem nvdimm init-labels).
                """)
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var config: String
        @Option(help: "The vNVDIMM's slot.", transform: parseSlot) var slot: Int
        @Option(help: "The namespace's size on the DIMM (a multiple of 16M; fsdax at least 16M).", transform: parseSize)
        var size: ByteSize
        @Option(help: "A name for the namespace (at most 63 bytes, no control characters).", transform: parsePlainText) var name = ""
        @Option(help: "The namespace's uuid (default: a random one).", transform: parseUUID) var uuid: String?
        @Option(help: "fsdax (default, as ndctl) or raw.") var mode = "fsdax"
        @OptionGroup var output: JSONFlag

        func run() async throws {
            guard let m = NamespaceMode(rawValue: mode) else {
                throw UsageError(problem: "--mode \(Echo.quoted(mode)) is not a mode vpmem creates", fix: "use fsdax or raw")
            }
            var u: NamespaceUUID? = nil
            if let uuid {
                guard let parsed = NamespaceUUID(uuid) else { throw NamespaceError.invalidUUID(uuid) }
                u = parsed
            }
            let target = try GuestTarget.resolve(config, host: hostOption, change: true)
            let domain = try target.guest(.readWrite)
            let made = try NamespaceProvisioner(domain: domain, slot: slot).create(NamespaceRequest(size: size.bytes, mode: m, name: name, uuid: u))
            let report = NamespaceCreationReport(slot: slot, made)
            if output.json { print(try JSONOutput.encode(report)); return }
            print(Self.render(report))
        }

        static func render(_ r: NamespaceCreationReport) -> String {
            let n = r.namespace
            var out = "slot \(r.slot): created \(n.mode) namespace \(n.uuid)\(n.name.isEmpty ? "" : " '\(n.name)'")\n"
            out += "  " + NVDIMMCommand.sizes(n) + "\n"
            out += "  label slot \(r.label_slot) (v\(r.label_version) labels), dpa 0x\(String(n.dpa, radix: 16)), gpa \(addr(n.start)), "
                + "isetcookie 0x\(String(n.isetcookie, radix: 16)), lbasize \(n.lbasize), claim class \(n.claim_class)\n"
            if let p = n.pfn {
                out += "  pfn info block at 4K: uuid \(p.uuid), dataoff \(p.dataoff), npfns \(p.npfns), map=\(p.map), align \(ByteSize(bytes: UInt64(p.align))), end_trunc \(p.end_trunc)\n"
                out += "  ndctl list will show uuid \(p.uuid) (the pfn device) and raw_uuid \(n.uuid)\n"
            }
            out += "  through _DSM: \(r.dsm_calls) calls on port 0x\(String(r.dsm_port, radix: 16)): the label, then index block \(r.index_block) with seq \(r.index_seq)"
            return out
        }
    }

    struct DestroyNamespace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "destroy-namespace",
            abstract: "Destroy a namespace on a vNVDIMM through _DSM, as ndctl destroy-namespace and the guest kernel would.",
            discussion: """
                Frees the namespace's label slots in the other index block with the next seq (the label bytes \
                stay, as Linux leaves them), then zeroes the first 8 KiB of its data if they hold anything \
                (its info block), as ndctl does.
                """)
        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name (or its config file).") var config: String
        @Option(help: "The vNVDIMM's slot.", transform: parseSlot) var slot: Int
        @Option(help: "The namespace's uuid.", transform: parseUUID) var uuid: String?
        @Option(help: "The namespace's name.", transform: parsePlainText) var name: String?
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let slot: Int
            let namespace: GuestNamespace
            let zeroed_info_block: Bool
            let dsm_calls: UInt64
        }

        func run() async throws {
            let key: NamespaceProvisioner.Key
            switch (uuid, name) {
            case let (u?, nil):
                guard let parsed = NamespaceUUID(u) else { throw NamespaceError.invalidUUID(u) }
                key = .uuid(parsed)
            case let (nil, n?): key = .name(n)
            default: throw UsageError(problem: "which namespace to destroy is not given once", fix: "give exactly one of --uuid and --name")
            }
            let target = try GuestTarget.resolve(config, host: hostOption, change: true)
            let domain = try target.guest(.readWrite)
            let (ns, zeroed, calls) = try NamespaceProvisioner(domain: domain, slot: slot).destroy(key)
            if output.json {
                print(try JSONOutput.encode(Report(slot: slot, namespace: ns, zeroed_info_block: zeroed, dsm_calls: calls)))
                return
            }
            print("slot \(slot): destroyed \(ns.mode) namespace \(ns.uuid)\(ns.name.isEmpty ? "" : " '\(ns.name)'") at dpa 0x\(String(ns.dpa, radix: 16)), "
                + "\(ByteSize(bytes: ns.raw_size)) freed; label slot\(ns.label_slots.count == 1 ? "" : "s") \(ns.label_slots.map(String.init).joined(separator: ", ")) free"
                + (zeroed ? "; info block zeroed" : "") + " (\(calls) _DSM calls)")
        }
    }

    /// "raw size X (n bytes), usable Y (m bytes)".
    static func sizes(_ n: GuestNamespace) -> String {
        "raw size \(ByteSize(bytes: n.raw_size)) (\(n.raw_size) bytes), usable \(ByteSize(bytes: n.usable_size)) (\(n.usable_size) bytes"
            + (n.mode == "fsdax" ? ", what ndctl list shows as its size" : "") + ")"
    }
}

/// What `create-namespace --json` prints.
struct NamespaceCreationReport: Encodable {
    let slot: Int
    let namespace: GuestNamespace
    let label_slot: UInt32
    /// "1.1" (128-byte labels) or "1.2" (256-byte).
    let label_version: String
    let index_block: Int
    let index_seq: UInt32
    let dsm_calls: UInt64
    let dsm_port: UInt16

    init(slot: Int, _ made: CreatedNamespace) {
        self.slot = slot
        namespace = made.namespace
        label_slot = made.plan.label.slot
        label_version = made.plan.labelSize == 128 ? "1.1" : "1.2"
        index_block = made.plan.update.block
        index_seq = made.plan.update.index.seq
        dsm_calls = made.dsmCalls
        dsm_port = Guest.dsmPort
    }
}

/// `labels --json`: the label area report with the namespaces it holds.
struct LabelsWithNamespaces: Encodable {
    let report: LabelAreaReport
    let namespaces: [GuestNamespace]

    enum Keys: String, CodingKey { case namespaces }

    func encode(to encoder: any Encoder) throws {
        try report.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(namespaces, forKey: .namespaces)
    }
}
