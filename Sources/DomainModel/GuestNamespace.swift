import NVDIMM

/// One namespace on a vNVDIMM as a Linux guest would bring it up: from its label(s) and, for
/// fsdax, the info block in its data. What `vpmem nvdimm labels` and `create-namespace` print.
public struct GuestNamespace: Encodable, Sendable, Hashable {
    /// The pfn info block, as Linux's nd_pfn_validate reads it.
    public struct PfnInfo: Encodable, Sendable, Hashable {
        /// The pfn device's uuid: what `ndctl list` shows as an fsdax namespace's "uuid" (the
        /// namespace's own is its "raw_uuid").
        public let uuid: String
        public let parent_uuid: String
        public let signature: String
        public let version: String
        public let flags: UInt32
        public let dataoff: UInt64
        public let npfns: UInt64
        /// "dev" (memmap on the namespace) or "mem".
        public let map: String
        public let mode: UInt32
        public let start_pad: UInt32
        public let end_trunc: UInt32
        public let align: UInt32
        public let page_size: UInt32
        public let page_struct_size: UInt16
        public let checksum: UInt64
        /// Why Linux would not bring it up; empty when it would.
        public let problems: [String]
    }

    public let uuid: String
    public let name: String
    /// "fsdax" or "devdax" when a valid info block for this namespace is in its data, else "raw".
    public let mode: String
    /// The v1.2 label's claim class ("none", "pfn", ...); "none" for v1.1 labels.
    public let claim_class: String
    public let label_slots: [UInt32]
    public let dpa: UInt64
    /// Guest-physical start (the region's base + dpa).
    public let start: UInt64
    /// The namespace's size on the DIMM (the label's rawsize).
    public let raw_size: UInt64
    /// What `ndctl list` shows as its size: fsdax less the info block, memmap and end
    /// truncation; otherwise the raw size.
    public let usable_size: UInt64
    public let isetcookie: UInt64
    /// Whether the label carries the region's cookie; Linux ignores the namespace otherwise.
    public let cookie_valid: Bool
    public let lbasize: UInt64
    public let flags: UInt32
    public let nlabel: UInt16
    public let position: UInt16
    public let pfn: PfnInfo?

    /// `label` (and any other labels of its uuid), with `info` the 4096 bytes at 4 KiB into the
    /// namespace (nil when they could not be read).
    public init(labels: [NamespaceLabel], in set: NamespaceLabelSet, info: [UInt8]?) {
        let l = labels[0]
        let uuid = NamespaceUUID(bytes: l.uuid)
        self.uuid = uuid?.description ?? LabelAreaReport.uuidString(l.uuid)
        name = l.name
        label_slots = labels.map(\.slot).sorted()
        dpa = l.dpa
        start = set.region.base &+ l.dpa
        raw_size = l.rawsize
        isetcookie = l.isetcookie
        cookie_valid = set.cookieMatches(l)
        lbasize = l.lbasize
        flags = l.flags
        nlabel = l.nlabel
        position = l.position
        claim_class = set.layout.labelSize == 256 ? ClaimClass(abstractionGUID: l.abstractionGUID).description : "none"
        let block = info.flatMap(PfnInfoBlock.decode)
        if let b = block, let uuid {
            let problems = b.problems(parent: uuid, start: start, size: l.rawsize)
            pfn = PfnInfo(uuid: b.uuid.description, parent_uuid: b.parentUUID.description,
                          signature: String(decoding: b.signature.prefix { $0 != 0 }, as: UTF8.self),
                          version: "\(b.versionMajor).\(b.versionMinor)", flags: b.flags, dataoff: b.dataoff, npfns: b.npfns,
                          map: PfnInfoBlock.Mode(rawValue: b.mode)?.description ?? "unknown", mode: b.mode,
                          start_pad: b.startPad, end_trunc: b.endTrunc, align: b.align, page_size: b.pageSize,
                          page_struct_size: b.pageStructSize, checksum: b.checksum, problems: problems)
            let up = problems.isEmpty
            mode = up ? (b.isPfn ? "fsdax" : "devdax") : "raw"
            usable_size = up ? b.usableSize(namespaceSize: l.rawsize) : l.rawsize
        } else {
            pfn = nil
            mode = "raw"
            usable_size = l.rawsize
        }
    }
}
