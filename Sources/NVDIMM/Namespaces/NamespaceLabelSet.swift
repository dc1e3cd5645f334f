/// What to create: `ndctl create-namespace --size --name --uuid --mode`.
public struct NamespaceRequest: Sendable, Hashable {
    public var size: UInt64
    public var mode: NamespaceMode
    public var name: String
    /// Nil: a random one.
    public var uuid: NamespaceUUID?

    public init(size: UInt64, mode: NamespaceMode = .fsdax, name: String = "", uuid: NamespaceUUID? = nil) {
        self.size = size
        self.mode = mode
        self.name = name
        self.uuid = uuid
    }

    /// Linux's limits on a name (alt_name_store): the label's 64-byte field keeps 63 bytes and
    /// a NUL; surrounding whitespace is stripped (refused here, so the guest lists the name as
    /// given).
    public static func checkName(_ name: String) throws(NamespaceError) {
        let b = Array(name.utf8)
        guard !b.contains(0) else { throw .nameContainsNUL(name) }
        guard b.count < NamespaceLabel.nameFieldSize else { throw .nameTooLong(name, bytes: b.count) }
        let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
        if let f = b.first, let l = b.last, space.contains(f) || space.contains(l) { throw .nameHasOuterWhitespace(name) }
    }
}

/// The namespaces one NVDIMM's label area holds, in the region the NFIT describes, and the
/// updates Linux's label code would make to create or destroy one. Pure: it plans writes; the
/// caller carries them out in order.
///
/// Namespaces are the valid labels in the slots the current index block marks in use (what
/// Linux reads at probe); every valid label holds its DPA range, whatever its cookie.
public struct NamespaceLabelSet: Sendable, Hashable {
    public let decoded: LabelAreaDecoding
    public let region: NamespaceRegion

    /// Linux's lbasize for pmem namespaces ndctl creates: ndctl writes the namespace's
    /// sector_size (512 by default) before enabling it, and the kernel records it in the label.
    public static let defaultLBASize: UInt64 = 512
    /// Free slots creation needs: the kernel writes the label twice (flagged "updating", then
    /// final), each time into a free slot before the old one is freed.
    public static let slotsNeededToCreate = 2

    public init(decoded: LabelAreaDecoding, region: NamespaceRegion) throws(NamespaceError) {
        _ = try LabelAreaUpdate.currentIndex(decoded)
        self.decoded = decoded
        self.region = region
    }

    public var layout: LabelAreaLayout { decoded.layout! }
    public var currentIndex: LabelIndexBlock { decoded.blocks[decoded.current!]! }
    public var labels: [NamespaceLabel] { decoded.labels }
    public var freeSlots: Int { currentIndex.free.filter { $0 }.count }
    /// The cookie labels in this area must carry (v1.1 or v1.2 by label size).
    public var cookie: UInt64 { region.cookie.cookie(labelSize: layout.labelSize) }

    /// Whether Linux accepts `label` as a namespace of this region (cookie, or v1.1's alternate).
    public func cookieMatches(_ label: NamespaceLabel) -> Bool {
        label.isetcookie == cookie || (layout.labelSize == 128 && label.isetcookie == region.cookie.v1_1Alternate)
    }

    public var placement: NamespacePlacement {
        NamespacePlacement(regionSize: region.size, allocated: labels.map { DPAExtent(start: $0.dpa, size: $0.rawsize) })
    }

    /// Plans a namespace: checks the request as Linux and ndctl do, chooses its DPA and slot,
    /// and returns the label and the writes (label, then the other index block).
    public func planCreation(_ r: NamespaceRequest) throws(NamespaceError) -> (label: NamespaceLabel, update: LabelAreaUpdate) {
        try NamespaceRequest.checkName(r.name)
        let uuid = r.uuid ?? NamespaceUUID.random()
        guard !uuid.isNull else { throw .nullUUID }
        if let dup = labels.first(where: { $0.uuid == uuid.bytes }) { throw .duplicateUUID(uuid, slot: Int(dup.slot)) }
        if !r.name.isEmpty, let dup = labels.first(where: { $0.nameBytes == Array(r.name.utf8) }) {
            throw .duplicateName(r.name, slot: Int(dup.slot))
        }
        let extent = try placement.place(size: r.size, mode: r.mode)
        guard freeSlots >= Self.slotsNeededToCreate else { throw .noFreeSlot(free: freeSlots, nslot: currentIndex.free.count) }
        // v1.1 labels have no type or abstraction GUID: the label is kept as it reads back.
        let v12 = layout.labelSize == 256
        let label = NamespaceLabel(uuid: uuid.bytes, name: r.name, flags: 0, nlabel: region.mappings, position: region.position,
                                   isetcookie: cookie, lbasize: Self.defaultLBASize, dpa: extent.start, rawsize: extent.size,
                                   slot: 0, align: 0, typeGUID: v12 ? region.typeGUID : ClaimClass.none.abstractionGUID,
                                   abstractionGUID: v12 ? r.mode.claimClass.abstractionGUID : ClaimClass.none.abstractionGUID)
        let (update, slot) = try LabelAreaUpdate.adding(label, to: decoded)
        var placed = label
        placed.slot = UInt32(slot)
        return (placed, update)
    }

    /// The labels of the namespace with `uuid`.
    public func labels(uuid: NamespaceUUID) throws(NamespaceError) -> [NamespaceLabel] {
        let found = labels.filter { $0.uuid == uuid.bytes }
        guard !found.isEmpty else { throw .noSuchNamespace("with uuid \(uuid)", existing: summaries) }
        return found
    }

    /// The labels of the one namespace named `name`.
    public func labels(name: String) throws(NamespaceError) -> [NamespaceLabel] {
        let found = labels.filter { $0.nameBytes == Array(name.utf8) }
        let uuids = Set(found.map(\.uuid))
        guard !found.isEmpty, !name.isEmpty else { throw .noSuchNamespace("named '\(name)'", existing: summaries) }
        guard uuids.count == 1 else { throw .ambiguousName(name, count: uuids.count) }
        return found
    }

    /// Plans freeing `labels`' slots (one index write).
    public func planDestruction(_ labels: [NamespaceLabel]) throws(NamespaceError) -> LabelAreaUpdate {
        try LabelAreaUpdate.freeing(labels.map { Int($0.slot) }, in: decoded)
    }

    var summaries: [String] {
        labels.map { l in
            let u = NamespaceUUID(bytes: l.uuid)?.description ?? "?"
            return l.nameBytes.isEmpty ? u : "\(u) '\(l.name)'"
        }
    }
}
