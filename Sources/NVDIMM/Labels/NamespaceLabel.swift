/// A namespace label (UEFI 2.7; Linux struct nvdimm_efi_label).
///
/// Layout: uuid[16] @0, name[64] @16, flags u32 @80, nlabel u16 @84, position u16 @86,
/// isetcookie u64 @88, lbasize u64 @96, dpa u64 @104, rawsize u64 @112, slot u32 @120; v1.2 adds
/// align u8 @124, reserved[3], type GUID[16] @128, abstraction GUID[16] @144, reserved[88] @160,
/// checksum u64 @248 (Fletcher-64 over the 256 bytes with the checksum zeroed).
public struct NamespaceLabel: Sendable, Hashable {
    public static let checksumOffset = 248
    public static let nameFieldSize = 64

    public var uuid: [UInt8]
    /// The name field's bytes before its first NUL: at most 64 (the field's size; a name of 64
    /// bytes has no terminator, as Linux accepts). Kept byte for byte, UTF-8 or not, so a label
    /// read from media encodes back unchanged.
    public var nameBytes: [UInt8]
    /// The name as text (bytes that are not UTF-8 show as U+FFFD); setting it stores its UTF-8.
    public var name: String {
        get { String(decoding: nameBytes, as: UTF8.self) }
        set { nameBytes = Array(newValue.utf8) }
    }
    public var flags: UInt32
    public var nlabel: UInt16
    public var position: UInt16
    public var isetcookie: UInt64
    /// 0 for pmem namespaces.
    public var lbasize: UInt64
    public var dpa: UInt64
    public var rawsize: UInt64
    public var slot: UInt32
    public var align: UInt8
    /// v1.2: the SPA range type GUID (pmem: 66F0D379-...).
    public var typeGUID: [UInt8]
    /// v1.2: the personality (btt, pfn, dax) or zero.
    public var abstractionGUID: [UInt8]

    public init(uuid: [UInt8], name: String = "", flags: UInt32 = 0, nlabel: UInt16 = 1, position: UInt16 = 0,
                isetcookie: UInt64 = 0, lbasize: UInt64 = 0, dpa: UInt64, rawsize: UInt64, slot: UInt32, align: UInt8 = 0,
                typeGUID: [UInt8] = NFITBuilder.persistentMemoryRangeGUID, abstractionGUID: [UInt8] = Array(repeating: 0, count: 16)) {
        self.uuid = uuid
        self.nameBytes = Array(name.utf8)
        self.flags = flags
        self.nlabel = nlabel
        self.position = position
        self.isetcookie = isetcookie
        self.lbasize = lbasize
        self.dpa = dpa
        self.rawsize = rawsize
        self.slot = slot
        self.align = align
        self.typeGUID = typeGUID
        self.abstractionGUID = abstractionGUID
    }

    /// The label's bytes (`labelSize` long; v1.2 fields and checksum only at 256).
    public func encode(labelSize: Int) throws(LabelAreaError) -> [UInt8] {
        guard nameBytes.count <= Self.nameFieldSize else { throw .nameTooLong(name) }
        guard !nameBytes.contains(0) else { throw .nameContainsNUL(name) }
        var b = Self.fixed(uuid, 16)
        b += nameBytes + [UInt8](repeating: 0, count: Self.nameFieldSize - nameBytes.count)
        b.appendLE(flags); b.appendLE(nlabel); b.appendLE(position)
        b.appendLE(isetcookie); b.appendLE(lbasize); b.appendLE(dpa); b.appendLE(rawsize); b.appendLE(slot)
        guard labelSize == 256 else { b.appendZeros(labelSize - b.count); return b }
        b.append(align); b.appendZeros(3)
        b += Self.fixed(typeGUID, 16) + Self.fixed(abstractionGUID, 16)
        b.appendZeros(88)
        b.appendLE(UInt64(0))
        b.writeLE(Fletcher64.checksum(b), at: Self.checksumOffset)
        return b
    }

    /// The fields of a label as stored in `bytes` (`labelSize` bytes: 128 or 256), checked for
    /// nothing; nil when `bytes` is shorter. The v1.2 fields are read only from 256-byte labels.
    public init?(fields b: [UInt8], labelSize: Int) {
        guard b.count >= labelSize, labelSize >= 128 else { return nil }
        let v12 = labelSize >= 256
        self.init(uuid: Array(b[0..<16]),
                  flags: b.readLE(UInt32.self, at: 80), nlabel: b.readLE(UInt16.self, at: 84), position: b.readLE(UInt16.self, at: 86),
                  isetcookie: b.readLE(UInt64.self, at: 88), lbasize: b.readLE(UInt64.self, at: 96), dpa: b.readLE(UInt64.self, at: 104),
                  rawsize: b.readLE(UInt64.self, at: 112), slot: b.readLE(UInt32.self, at: 120), align: v12 ? b[124] : 0,
                  typeGUID: v12 ? Array(b[128..<144]) : Array(repeating: 0, count: 16),
                  abstractionGUID: v12 ? Array(b[144..<160]) : Array(repeating: 0, count: 16))
        nameBytes = Array(b[16..<16 + Self.nameFieldSize].prefix { $0 != 0 })
    }

    /// Decodes the label in `slot`, checking what Linux checks (slot_valid): the slot field names
    /// its own slot, dpa and rawsize are 4 KiB aligned, and (v1.2) the checksum.
    public static func decode(_ area: [UInt8], slot: Int, layout: LabelAreaLayout) -> (NamespaceLabel?, [LabelAreaIssue]) {
        let checked = check(area, slot: slot, layout: layout)
        return (checked.issues.isEmpty ? checked.label : nil, checked.issues)
    }

    /// The label in `slot` as stored, with its stored and computed checksums (v1.2) and
    /// everything Linux would reject it for; nil label when the slot lies outside `area`.
    public static func check(_ area: [UInt8], slot: Int, layout: LabelAreaLayout) -> CheckedNamespaceLabel {
        let start = layout.labelOffset(slot: slot)
        guard start >= 0, start + layout.labelSize <= area.count else {
            return CheckedNamespaceLabel(slot: slot, label: nil, storedChecksum: nil, computedChecksum: nil,
                                         issues: [.areaTooSmall(size: area.count, needed: start + layout.labelSize)])
        }
        let b = Array(area[start..<start + layout.labelSize])
        let label = NamespaceLabel(fields: b, labelSize: layout.labelSize)!
        var issues: [LabelAreaIssue] = []
        if label.slot != UInt32(slot) { issues.append(.labelField(slot: slot, field: .slot, found: UInt64(label.slot))) }
        if label.dpa & 0xFFF != 0 { issues.append(.labelField(slot: slot, field: .dpa, found: label.dpa)) }
        if label.rawsize & 0xFFF != 0 { issues.append(.labelField(slot: slot, field: .rawsize, found: label.rawsize)) }
        var stored: UInt64? = nil, computed: UInt64? = nil
        if layout.labelSize == 256 {
            stored = b.readLE(UInt64.self, at: checksumOffset)
            computed = Fletcher64.checksum(b[...], zeroingFieldAt: checksumOffset)
            if stored != computed { issues.append(.labelChecksum(slot: slot, stored: stored!, computed: computed!)) }
        }
        return CheckedNamespaceLabel(slot: slot, label: label, storedChecksum: stored, computedChecksum: computed, issues: issues)
    }

    static func fixed(_ bytes: [UInt8], _ n: Int) -> [UInt8] {
        Array(bytes.prefix(n)) + [UInt8](repeating: 0, count: max(0, n - bytes.count))
    }
}

/// The fields of a label, for precise corruption reports.
public enum NamespaceLabelField: String, Sendable, Hashable {
    case slot, dpa, rawsize
}

/// A label slot the current index block marks in use, as read: the label's fields whatever they
/// hold, its checksums, and why Linux would ignore it (no issues: Linux uses it).
public struct CheckedNamespaceLabel: Sendable, Hashable {
    public var slot: Int
    /// Nil only when the slot lies outside the area.
    public var label: NamespaceLabel?
    /// v1.2 labels only.
    public var storedChecksum: UInt64?
    public var computedChecksum: UInt64?
    public var issues: [LabelAreaIssue]
    public var isValid: Bool { issues.isEmpty }
    /// Nil for v1.1 labels, which have no checksum.
    public var checksumValid: Bool? { storedChecksum.map { $0 == computedChecksum } }
}
