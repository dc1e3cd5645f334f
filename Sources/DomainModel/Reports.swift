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

/// What `vpmem nvdimm labels --json` prints: a decoded, verified label area, every field of
/// both index blocks and of every label in a slot the current block marks in use. Key names are
/// the fields' own (UEFI 2.7, Linux, `ndctl read-labels --json`); GUIDs are printed as ndctl
/// prints them, the 16 stored bytes in order.
public struct LabelAreaReport: Encodable, Sendable {
    public struct Block: Encodable, Sendable {
        public let block: Int
        /// Linux would use the block (every check passed).
        public let valid: Bool
        public let current: Bool
        /// The stored fields (nil when the area does not reach the block).
        public let signature: String?
        public let flags: UInt32?
        /// Label bytes the labelsize field and the version give.
        public let labelsize: Int?
        public let seq: UInt32?
        public let myoff: UInt64?
        public let mysize: UInt64?
        public let otheroff: UInt64?
        public let labeloff: UInt64?
        public let nslot: UInt32?
        public let major: UInt16?
        public let minor: UInt16?
        public let checksum: UInt64?
        public let checksum_valid: Bool?
        /// Free bits among the block's nslot (valid blocks only).
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
        /// Linux would use the label (the checks of its slot all passed).
        public let valid: Bool
        public let uuid: String
        public let name: String
        public let flags: UInt32
        public let nlabel: UInt16
        public let position: UInt16
        public let isetcookie: UInt64
        public let lbasize: UInt64
        public let dpa: UInt64
        public let rawsize: UInt64
        /// The slot field as stored (Linux requires it to name its own slot).
        public let label_slot: UInt32
        /// v1.2 only.
        public let align: UInt8?
        public let type_guid: String?
        public let abstraction_guid: String?
        public let checksum: UInt64?
        public let checksum_valid: Bool?
    }
    public let size: Int
    public let label_size: Int?
    public let nslot: Int?
    public let index_size: Int?
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
        index_size = d.layout?.indexSize
        current_block = d.current
        clean = d.isClean
        let issues = d.issues.map(Self.issue)
        self.issues = issues
        blocks = (0..<2).map { i in
            let valid = i < d.blocks.count ? d.blocks[i] : nil
            var raw: LabelIndexBlock? = nil
            var checksumValid: Bool? = nil
            if let layout = d.layout, layout.indexOffset(block: i + 1) <= area.count {
                let bytes = Array(area[layout.indexOffset(block: i)..<layout.indexOffset(block: i + 1)])
                raw = LabelIndexBlock(fields: bytes)
                checksumValid = raw.map { $0.checksum == Fletcher64.checksum(bytes[...], zeroingFieldAt: LabelIndexBlock.checksumOffset) }
            }
            return Block(block: i, valid: valid != nil, current: d.current == i,
                         signature: raw.map { String(decoding: $0.sig.prefix { $0 != 0 }, as: UTF8.self) }, flags: raw?.flags,
                         labelsize: raw?.labelSize, seq: raw?.seq, myoff: raw?.myoff, mysize: raw?.mysize, otheroff: raw?.otheroff,
                         labeloff: raw?.labeloff, nslot: raw?.nslot, major: raw?.major, minor: raw?.minor, checksum: raw?.checksum,
                         checksum_valid: checksumValid, free_slots: valid.map { $0.free.filter { $0 }.count },
                         version: raw.map { "\($0.major).\($0.minor)" }, issues: issues.filter { $0.block == i })
        }
        let v12 = d.layout?.labelSize == 256
        labels = d.slotsInUse.compactMap { c in
            guard let l = c.label else { return nil }
            return Label(slot: UInt32(c.slot), valid: c.isValid, uuid: Self.uuidString(l.uuid), name: l.name, flags: l.flags,
                         nlabel: l.nlabel, position: l.position, isetcookie: l.isetcookie, lbasize: l.lbasize, dpa: l.dpa,
                         rawsize: l.rawsize, label_slot: l.slot, align: v12 ? l.align : nil,
                         type_guid: v12 ? Self.uuidString(l.typeGUID) : nil, abstraction_guid: v12 ? Self.uuidString(l.abstractionGUID) : nil,
                         checksum: c.storedChecksum, checksum_valid: c.checksumValid)
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

/// A backing's label areas as `--json` prints them (`pmem info`, `bench pmem`, `nvdimm attach`,
/// `guest create`): every area found, where the configuration puts one, the verdict, and the
/// one line that names a problem and its fix.
public struct LabelAreaCheckReport: Codable, Equatable, Sendable {
    public struct Area: Codable, Equatable, Sendable {
        /// Where it starts in the backing: the size to give the guest.
        public let offset: UInt64
        /// Its size: the label-size to give the guest.
        public let size: UInt64
        /// False: block 0's signature is there but no index block passes its checks.
        public let valid: Bool
        public let version: String?
        public let label_size: Int?
        public let nslot: Int?
        public let valid_blocks: [Int]
        public let current_block: Int?
        public let seq: UInt32?
        public let slots_in_use: Int?
    }
    /// A valid label area is somewhere at the end of the backing.
    public let label_area_found: Bool
    public let areas: [Area]
    public let backing_size: UInt64
    /// The label area the vNVDIMM is given (absent for a backing looked at alone).
    public let configured_offset: UInt64?
    public let configured_size: UInt64?
    /// none-found, found, no-label-area, fresh, matches, labels-ignored, data-in-label-area,
    /// label-size-changed, damaged.
    public let verdict: String
    /// The guest's label writes would overwrite data (refused without --force).
    public let overwrites_data: Bool
    /// The first non-zero byte of the configured label area.
    public let first_non_zero: UInt64?
    /// What the backing holds and how to give it to a guest (looked at alone), or the problem
    /// and its fix; absent when there is nothing to say.
    public let message: String?

    /// `message` is `check.problem(...)` for a vNVDIMM (`slot`), `check.advice` for a backing
    /// looked at alone.
    public init(_ check: LabelAreaCheck, slot: Int? = nil, path: String, readOnly: Bool = false, forced: Bool = false) {
        label_area_found = check.labelAreaFound
        areas = check.found.map { a in
            Area(offset: a.offset, size: a.size, valid: a.isValid, version: a.layout.map { "1.\($0.minor)" },
                 label_size: a.isValid ? a.layout?.labelSize : nil, nslot: a.isValid ? a.layout?.nslot : nil,
                 valid_blocks: a.validBlocks, current_block: a.current, seq: a.seq, slots_in_use: a.slotsInUse)
        }
        backing_size = check.backingLength
        configured_offset = check.configuredOffset
        configured_size = check.configuredSize
        verdict = check.verdict.rawValue
        overwrites_data = check.overwritesData
        first_non_zero = check.firstNonZero
        if let slot { message = check.problem(slot: slot, path: path, readOnly: readOnly, forced: forced) } else { message = check.advice }
    }
}
