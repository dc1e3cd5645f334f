import VpmemCore

/// One virtual NVDIMM in a guest's config (a `[[nvdimm]]` table): what it is backed by, how big
/// it is and what the guest is told about it. The rules here are the ones a config can be
/// checked against on its own; the rules that need the whole guest (the pmem aperture, the
/// backing's real size and lock) are checked when it is attached.
///
/// Sizes, as QEMU's `nvdimm` device with `label-size` lays them out:
/// ```
/// backing:  [ data: size bytes (the guest's SPA range) | label area: label_size bytes ]
/// ```
/// The backing holds `size + labelSize` bytes; the guest maps only the data part, and reaches
/// the label area only through _DSM.
public struct NVDIMMConfig: Equatable, Sendable {
    /// 0 to 255: the NFIT device handle is slot + 1 and the ACPI device `NV` + two hex digits.
    public var slot: Int
    /// An emulated pmem file, a file on an fsdax mount or a device-dax namespace. A relative
    /// path is relative to the config file's directory.
    public var backing: String
    /// Bytes the guest sees (the SPA range): a multiple of 2 MiB, at least 2 MiB.
    public var size: ByteSize
    /// Bytes of label area at the end of the backing: 0 for none, else at least 128 KiB (QEMU's
    /// minimum), a multiple of 4 KiB, below 4 GiB (the _DSM size field is 32 bits).
    public var labelSize: ByteSize
    /// NUMA node (the NFIT proximity domain), below `maxNodes`.
    public var node: UInt32
    /// The guest may not change the label area (Set Namespace Label Data answers "not
    /// supported") and the data is mapped read-only to the device model's writes.
    public var readOnly: Bool
    /// Sets the NFIT "not armed" flag: the guest should treat the data as read-only.
    public var unarmed: Bool
    /// Where the data part starts in the guest (config key `address`); nil: vpmem places it in
    /// the first free 1 GiB-aligned stretch of the pmem aperture. A pinned address is placed
    /// before the unpinned ones, so they go around it.
    public var address: Gpa?

    public static let defaultLabelSize = ByteSize(bytes: 128 * ByteSize.kib)
    public static let minLabelSize = ByteSize(bytes: 128 * ByteSize.kib)
    public static let maxLabelSize = ByteSize(bytes: (1 << 32) - 4096)
    public static let sizeAlignment: UInt64 = 2 * ByteSize.mib
    public static let labelAlignment: UInt64 = 4 * ByteSize.kib
    /// Xen's default MAX_NUMNODES.
    public static let maxNodes: UInt32 = 64
    public static let maxSlot = 255

    public init(slot: Int, backing: String, size: ByteSize, labelSize: ByteSize = NVDIMMConfig.defaultLabelSize,
                node: UInt32 = 0, readOnly: Bool = false, unarmed: Bool = false, address: Gpa? = nil) {
        self.slot = slot
        self.backing = backing
        self.size = size
        self.labelSize = labelSize
        self.node = node
        self.readOnly = readOnly
        self.unarmed = unarmed
        self.address = address
    }

    /// The guest range a pinned vNVDIMM asks for; nil when unpinned or when it would pass the
    /// top of the address space (`validate` reports that).
    public var pinnedRange: GpaRange? {
        address.flatMap { try? GpaRange(start: $0, size: size.bytes) }
    }

    /// Bytes the backing must hold: data then label area. Nil when that overflows 64 bits.
    public var backingSize: UInt64? {
        let (sum, overflow) = size.bytes.addingReportingOverflow(labelSize.bytes)
        return overflow ? nil : sum
    }

    /// Offset of the label area in the backing (the data part's size).
    public var labelOffset: UInt64 { size.bytes }

    public var hasLabelArea: Bool { labelSize.bytes > 0 }

    /// The name of its region in the guest physmap.
    public var regionName: String { "nvdimm\(slot)" }

    /// Checks this vNVDIMM's own rules; errors name the slot, the key and the fix.
    public func validate() throws(GuestConfigError) {
        let key = "nvdimm slot \(slot)"
        guard (0...NVDIMMConfig.maxSlot).contains(slot) else {
            throw .invalid(key: "nvdimm.slot", value: String(slot), rule: "0 to \(NVDIMMConfig.maxSlot) (ACPI devices NV00 to NVFF)")
        }
        guard !backing.isEmpty, !backing.utf8.contains(0) else {
            throw .invalid(key: "\(key) backing", value: "\"\(backing)\"", rule: "the path of an emulated pmem file or a /dev/daxN.M device")
        }
        guard size.bytes >= NVDIMMConfig.sizeAlignment, size.bytes % NVDIMMConfig.sizeAlignment == 0 else {
            throw .invalid(key: "\(key) size", value: size.description,
                           rule: "a multiple of 2M, at least 2M (the guest maps it with 2M or 1G pages); the label area comes on top")
        }
        if labelSize.bytes != 0 {
            guard labelSize >= NVDIMMConfig.minLabelSize else {
                throw .invalid(key: "\(key) label_size", value: labelSize.description,
                               rule: "0 for no label area, or at least 128K (QEMU's minimum, room for the two index blocks and the label slots)")
            }
            guard labelSize.bytes % NVDIMMConfig.labelAlignment == 0, labelSize <= NVDIMMConfig.maxLabelSize else {
                throw .invalid(key: "\(key) label_size", value: labelSize.description,
                               rule: "a multiple of 4K below 4G (the _DSM label size is a 32-bit field)")
            }
        }
        guard backingSize != nil else {
            throw .invalid(key: "\(key) size", value: size.description, rule: "a size that, with the label area, fits in 64 bits")
        }
        if let address {
            guard address.raw % GuestPhysmap.pmemStartAlignment == 0 else {
                throw .invalid(key: "\(key) address", value: address.description,
                               rule: "a multiple of 1G inside the pmem aperture (each vNVDIMM starts on its own 1G boundary), or no address to let vpmem place it")
            }
            guard pinnedRange != nil else {
                throw .invalid(key: "\(key) address", value: address.description, rule: "an address from which the vNVDIMM's \(size) fits below 2^64")
            }
        }
        guard node < NVDIMMConfig.maxNodes else {
            throw .invalid(key: "\(key) node", value: String(node), rule: "0 to \(NVDIMMConfig.maxNodes - 1) (Xen's MAX_NUMNODES)")
        }
    }
}

/// Where the platform guarantees stores are persistent, advertised in the NFIT's Platform
/// Capabilities structure (config key `nvdimm_persistence`). Absent: no such structure.
public enum NVDIMMPersistence: String, Equatable, Sendable, CaseIterable {
    /// CPU caches are flushed to the NVDIMMs on power loss (eADR).
    case cpu
    /// Only the memory controller's write queues are flushed (ADR).
    case memoryController = "memory-controller"
}

/// The ACPI header fields of the tables vpmem builds for this guest (config keys `acpi_oem_id`,
/// `acpi_oem_table_id`, `acpi_oem_revision`, `acpi_creator_id`, `acpi_creator_revision`). Nil
/// fields take vpmem's defaults. Text fields are printable ASCII no longer than the header field
/// (6, 8 and 4 bytes); they are padded with spaces, never cut.
public struct AcpiOemConfig: Equatable, Sendable {
    public var oemID: String?
    public var oemTableID: String?
    public var oemRevision: UInt32?
    public var creatorID: String?
    public var creatorRevision: UInt32?

    public init(oemID: String? = nil, oemTableID: String? = nil, oemRevision: UInt32? = nil,
                creatorID: String? = nil, creatorRevision: UInt32? = nil) {
        self.oemID = oemID
        self.oemTableID = oemTableID
        self.oemRevision = oemRevision
        self.creatorID = creatorID
        self.creatorRevision = creatorRevision
    }

    public var isEmpty: Bool { self == AcpiOemConfig() }

    public func validate() throws(GuestConfigError) {
        func check(_ value: String?, key: String, width: Int) throws(GuestConfigError) {
            guard let value else { return }
            let bytes = Array(value.utf8)
            guard !bytes.isEmpty, bytes.count <= width, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw .invalid(key: key, value: "\"\(value)\"", rule: "1 to \(width) printable ASCII characters (the ACPI header field is \(width) bytes)")
            }
        }
        try check(oemID, key: "acpi_oem_id", width: 6)
        try check(oemTableID, key: "acpi_oem_table_id", width: 8)
        try check(creatorID, key: "acpi_creator_id", width: 4)
    }
}
