import GuestMemory
import NVDIMM

/// What `vpmem nvdimm list --json` prints: each attached vNVDIMM, where it is in the guest and
/// on the host, and how the p2m maps it.
public struct NVDIMMListReport: Encodable, Sendable {
    public struct Entry: Encodable, Sendable {
        public let slot: Int
        public let handle: UInt32
        public let device: String
        public let backing: String
        public let size: UInt64
        public let label_size: UInt64
        public let backing_size: UInt64
        public let node: UInt32
        public let readonly: Bool
        public let unarmed: Bool
        public let gpa_start: UInt64
        public let gpa_last: UInt64
        public let mfn_start: UInt64
        public let mfn_last: UInt64
        /// p2m leaves mapping the range, by page size ("1G", "2M", "4K").
        public let pages: [String: UInt64]
        public let persistence: String
    }
    public let guest: String
    public let nvdimms: [Entry]
    public let dsm_page: UInt64
    public let dsm_port: UInt16
    public let tables_address: UInt64?
    public let tables_length: Int?

    public init(_ domain: Guest) {
        guest = domain.config.name
        nvdimms = domain.nvdimms.map { d in
            var pages: [String: UInt64] = [:]
            for m in (try? domain.p2m.mappings(gfn: d.guestRange.first.frame, count: d.hostFrames.count)) ?? [] {
                pages[m.order.description, default: 0] += m.count / m.order.frames
            }
            return Entry(slot: d.slot, handle: d.virtualNVDIMM.handle, device: d.virtualNVDIMM.deviceName, backing: d.path,
                         size: d.config.size.bytes, label_size: d.config.labelSize.bytes, backing_size: d.backing.length,
                         node: d.config.node, readonly: d.config.readOnly, unarmed: d.config.unarmed,
                         gpa_start: d.guestRange.first.raw, gpa_last: d.guestRange.last.raw,
                         mfn_start: d.hostFrames.first.raw, mfn_last: d.hostFrames.last.raw, pages: pages,
                         persistence: d.backing.persistence.rawValue)
        }
        dsm_page = domain.dsmPage.raw
        dsm_port = Guest.dsmPort
        tables_address = domain.tables?.address.raw
        tables_length = domain.tables?.length
    }
}

/// What `vpmem nvdimm labels --json` prints: a decoded, verified label area.
public struct LabelAreaReport: Encodable, Sendable {
    public struct Block: Encodable, Sendable {
        public let block: Int
        public let valid: Bool
        public let current: Bool
        public let seq: UInt32?
        public let nslot: UInt32?
        public let free_slots: Int?
        public let version: String?
        public let issues: [Issue]
    }
    public struct Issue: Encodable, Sendable {
        /// "index" (a block field or checksum), "label" (a slot), or "area".
        public let kind: String
        public let block: Int?
        public let slot: Int?
        public let field: String?
        public let message: String
    }
    public struct Label: Encodable, Sendable {
        public let slot: UInt32
        public let uuid: String
        public let name: String
        public let dpa: UInt64
        public let rawsize: UInt64
        public let nlabel: UInt16
        public let position: UInt16
    }
    public let size: Int
    public let label_size: Int?
    public let nslot: Int?
    public let current_block: Int?
    public let clean: Bool
    public let blocks: [Block]
    public let labels: [Label]
    public let issues: [Issue]

    public init(area: [UInt8]) {
        let d = LabelArea.decode(area)
        size = area.count
        label_size = d.layout?.labelSize
        nslot = d.layout?.nslot
        current_block = d.current
        clean = d.isClean
        let issues = d.issues.map(Self.issue)
        self.issues = issues
        blocks = (0..<2).map { i in
            let b = i < d.blocks.count ? d.blocks[i] : nil
            return Block(block: i, valid: b != nil, current: d.current == i, seq: b?.seq, nslot: b?.nslot,
                         free_slots: b.map { $0.free.filter { $0 }.count }, version: b.map { "\($0.major).\($0.minor)" },
                         issues: issues.filter { $0.block == i })
        }
        labels = d.labels.map {
            Label(slot: $0.slot, uuid: Self.uuidString($0.uuid), name: $0.name, dpa: $0.dpa, rawsize: $0.rawsize,
                  nlabel: $0.nlabel, position: $0.position)
        }
    }

    static func issue(_ i: LabelAreaIssue) -> Issue {
        switch i {
        case let .indexField(block, field, _, _): return Issue(kind: "index", block: block, slot: nil, field: field.rawValue, message: i.description)
        case let .indexChecksum(block, _, _): return Issue(kind: "index", block: block, slot: nil, field: "checksum", message: i.description)
        case let .labelField(slot, field, _): return Issue(kind: "label", block: nil, slot: slot, field: field.rawValue, message: i.description)
        case let .labelChecksum(slot, _, _): return Issue(kind: "label", block: nil, slot: slot, field: "checksum", message: i.description)
        case .areaTooSmall, .noValidIndex: return Issue(kind: "area", block: nil, slot: nil, field: nil, message: i.description)
        }
    }

    static func uuidString(_ b: [UInt8]) -> String {
        let h = b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        guard h.count == 16 else { return h.joined() }
        return [h[0..<4], h[4..<6], h[6..<8], h[8..<10], h[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}
