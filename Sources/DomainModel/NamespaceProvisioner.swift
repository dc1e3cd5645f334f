import HostPmem
import NVDIMM

/// Creates and destroys namespaces on one vNVDIMM as a guest kernel and ndctl would: the label
/// area is read and written only through the guest's _DSM path (`NamespaceLabelClient`), the
/// region (size, cookies, type GUID) comes from the NFIT in guest memory, and an fsdax
/// namespace's info block goes into its data through the backing's libpmem mapping.
///
/// Order of writes, so that a command killed at any point leaves the guest's namespaces either
/// as they were or as intended, never half made:
/// - create: the info block (fsdax), into space no label holds yet; then the label into a
///   free slot; then the other index block (`LabelAreaUpdate`). Only the last write makes the
///   namespace exist.
/// - destroy: the other index block with the slots freed (the namespace is gone once it lands);
///   then, as ndctl does before deleting, the first 8 KiB of its data zeroed if they are not,
///   so no info block outlives it.
public struct NamespaceProvisioner {
    public let domain: Guest
    public let slot: Int

    public init(domain: Guest, slot: Int) {
        self.domain = domain
        self.slot = slot
    }

    var client: NamespaceLabelClient { NamespaceLabelClient(domain: domain, slot: slot) }

    func attached() throws(NamespaceProvisioningError) -> AttachedNVDIMM {
        guard let d = domain.nvdimm(slot: slot) else {
            throw .guest(.noSuchSlot(slot: slot, attached: domain.nvdimms.map(\.slot)))
        }
        guard d.config.hasLabelArea else { throw .guest(.noLabelArea(slot: slot)) }
        return d
    }

    /// The region Linux builds from the guest's NFIT for this vNVDIMM.
    public func region() throws(NamespaceProvisioningError) -> NamespaceRegion {
        let d = try attached()
        guard let nfit = domain.tables?.nfit, nfit.count >= 40 else {
            throw .guest(.noSuchSlot(slot: slot, attached: domain.nvdimms.map(\.slot)))
        }
        let v = d.virtualNVDIMM
        do { return try NamespaceRegion(fit: Array(nfit[40...]), rangeIndex: v.spaRangeIndex, deviceHandle: v.handle) } catch {
            throw .namespace(error)
        }
    }

    /// Reads the label area through _DSM (label size, then data in max-transfer pieces).
    public func labelSet() throws(NamespaceProvisioningError) -> NamespaceLabelSet {
        let region = try region()
        let area: [UInt8]
        do { area = try client.readArea() } catch { throw .guest(error) }
        do { return try NamespaceLabelSet(decoded: LabelArea.decode(area), region: region) } catch { throw .namespace(error) }
    }

    /// The namespaces as Linux would bring them up.
    public func namespaces() throws(NamespaceProvisioningError) -> [GuestNamespace] {
        try namespaces(in: labelSet())
    }

    /// The namespaces an area already read holds (none when it has no valid index block).
    public func namespaces(area: [UInt8]) throws(NamespaceProvisioningError) -> [GuestNamespace] {
        let decoded = LabelArea.decode(area)
        guard decoded.current != nil else { return [] }
        let region = try region()
        let set: NamespaceLabelSet
        do { set = try NamespaceLabelSet(decoded: decoded, region: region) } catch { throw .namespace(error) }
        return try namespaces(in: set)
    }

    func namespaces(in set: NamespaceLabelSet) throws(NamespaceProvisioningError) -> [GuestNamespace] {
        let d = try attached()
        var seen: [[UInt8]] = []
        var out: [GuestNamespace] = []
        for l in set.labels where !seen.contains(l.uuid) {
            seen.append(l.uuid)
            let all = set.labels.filter { $0.uuid == l.uuid }
            out.append(GuestNamespace(labels: all, in: set, info: infoBlock(d, dpa: l.dpa, rawsize: l.rawsize)))
        }
        return out
    }

    /// The 4096 bytes at 4 KiB into a namespace, if they are inside the vNVDIMM's data.
    func infoBlock(_ d: AttachedNVDIMM, dpa: UInt64, rawsize: UInt64) -> [UInt8]? {
        let (at, o1) = dpa.addingReportingOverflow(PfnInfoBlock.namespaceOffset)
        let (end, o2) = at.addingReportingOverflow(UInt64(PfnInfoBlock.size))
        guard !o1, !o2, rawsize >= PfnInfoBlock.namespaceOffset + UInt64(PfnInfoBlock.size),
              end <= d.config.size.bytes else { return nil }
        return try? d.backing.read(at: at, count: PfnInfoBlock.size)
    }

    /// What `create` will write, without writing anything: the label and index writes, and for
    /// fsdax the info block.
    public func planCreation(_ request: NamespaceRequest, pfnUUID: NamespaceUUID? = nil) throws(NamespaceProvisioningError) -> NamespaceCreation {
        let d = try attached()
        guard !d.config.readOnly, d.backing.access == .readWrite else { throw .readOnly(slot: slot) }
        let set = try labelSet()
        let (label, update): (NamespaceLabel, LabelAreaUpdate)
        do { (label, update) = try set.planCreation(request) } catch { throw .namespace(error) }
        var info: PfnInfoBlock? = nil
        if request.mode == .fsdax {
            do {
                info = try PfnInfoBlock.fsdax(start: set.region.base + label.dpa, size: label.rawsize, uuid: pfnUUID ?? .random(),
                                              parentUUID: NamespaceUUID(bytes: label.uuid)!)
            } catch { throw .namespace(error) }
        }
        return NamespaceCreation(label: label, update: update, infoBlock: info, labelSize: set.layout.labelSize)
    }

    /// Creates a namespace; returns it as the guest now sees it.
    @discardableResult
    public func create(_ request: NamespaceRequest, pfnUUID: NamespaceUUID? = nil) throws(NamespaceProvisioningError) -> CreatedNamespace {
        let before = domain.device.calls
        let plan = try planCreation(request, pfnUUID: pfnUUID)
        let d = try attached()
        if let info = plan.infoBlock {
            do { try d.backing.write(info.encode(), at: plan.label.dpa + PfnInfoBlock.namespaceOffset) } catch {
                throw .backing(slot: slot, error)
            }
        }
        for w in plan.update.writes { try apply(w) }
        let ns = try namespaces().first { $0.uuid == NamespaceUUID(bytes: plan.label.uuid)!.description }
        guard let ns else { throw .notVisibleAfterWrite(uuid: NamespaceUUID(bytes: plan.label.uuid)!.description) }
        return CreatedNamespace(namespace: ns, plan: plan, dsmCalls: domain.device.calls - before)
    }

    /// Which namespace to destroy.
    public enum Key: Sendable, Hashable {
        case uuid(NamespaceUUID)
        case name(String)
    }

    /// What `destroy` will write: the other index block with the namespace's slots free.
    public func planDestruction(_ key: Key) throws(NamespaceProvisioningError) -> (namespace: GuestNamespace, update: LabelAreaUpdate) {
        let d = try attached()
        guard !d.config.readOnly, d.backing.access == .readWrite else { throw .readOnly(slot: slot) }
        let set = try labelSet()
        do {
            let labels: [NamespaceLabel]
            switch key {
            case .uuid(let u): labels = try set.labels(uuid: u)
            case .name(let n): labels = try set.labels(name: n)
            }
            let ns = GuestNamespace(labels: labels, in: set, info: infoBlock(d, dpa: labels[0].dpa, rawsize: labels[0].rawsize))
            return (ns, try set.planDestruction(labels))
        } catch { throw .namespace(error) }
    }

    /// Destroys a namespace; returns it as it was, whether its info block was zeroed, and the
    /// _DSM calls made.
    @discardableResult
    public func destroy(_ key: Key) throws(NamespaceProvisioningError) -> (namespace: GuestNamespace, zeroedInfoBlock: Bool, dsmCalls: UInt64) {
        let before = domain.device.calls
        let (ns, update) = try planDestruction(key)
        for w in update.writes { try apply(w) }
        let d = try attached()
        let reserve = Int(min(PfnInfoBlock.reserve, ns.raw_size))
        var zeroed = false
        if d.config.size.bytes >= UInt64(reserve), ns.dpa <= d.config.size.bytes - UInt64(reserve) {
            let head: [UInt8]
            do { head = try d.backing.read(at: ns.dpa, count: reserve) } catch { throw .backing(slot: slot, error) }
            if head.contains(where: { $0 != 0 }) {
                do { try d.backing.write([UInt8](repeating: 0, count: reserve), at: ns.dpa) } catch { throw .backing(slot: slot, error) }
                zeroed = true
            }
        }
        return (ns, zeroed, domain.device.calls - before)
    }

    /// Carries out one planned write through _DSM Set Namespace Label Data calls.
    public func apply(_ w: LabelAreaWrite) throws(NamespaceProvisioningError) {
        guard let offset = UInt32(exactly: w.offset) else { throw .offsetOutOfRange(w.offset) }
        do { try client.writeArea(offset: offset, w.bytes) } catch { throw .guest(error) }
    }
}

/// A planned namespace: its label, the label-area writes, and (fsdax) its info block.
public struct NamespaceCreation: Sendable, Hashable {
    public let label: NamespaceLabel
    public let update: LabelAreaUpdate
    public let infoBlock: PfnInfoBlock?
    public let labelSize: Int
}

/// A namespace made: as the guest now sees it, what was written, and how many _DSM calls it took.
public struct CreatedNamespace: Sendable {
    public let namespace: GuestNamespace
    public let plan: NamespaceCreation
    public let dsmCalls: UInt64
}

/// Why a namespace could not be created, destroyed or listed.
public enum NamespaceProvisioningError: Error, CustomStringConvertible, Sendable {
    case guest(GuestError)
    case namespace(NamespaceError)
    case readOnly(slot: Int)
    case backing(slot: Int, HostPmemError)
    case notVisibleAfterWrite(uuid: String)
    case offsetOutOfRange(Int)

    public var description: String {
        switch self {
        case .guest(let e): return e.description
        case .namespace(let e): return e.description
        case .readOnly(let s):
            return "vNVDIMM slot \(s) is read-only: the guest cannot write labels or data there (Set Namespace Label Data is not supported); attach it without --readonly"
        case let .backing(s, e): return "vNVDIMM slot \(s): \(e)"
        case .notVisibleAfterWrite(let u):
            return "namespace \(u) was written but does not read back from the label area: another writer changed it; run vpmem nvdimm labels"
        case .offsetOutOfRange(let o):
            return "label-area offset \(o) is outside the 32-bit range _DSM can address"
        }
    }
}
