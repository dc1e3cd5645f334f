import VpmemCore

/// Why a namespace cannot be created or destroyed. Each case names the rule (Linux's or
/// ndctl's) and the fix; a refused request writes nothing.
public enum NamespaceError: Error, Hashable, Sendable, CustomStringConvertible {
    case noLabelIndex
    case sizeZero
    case sizeMisaligned(size: UInt64, alignment: UInt64, rule: String)
    case sizeTooSmall(size: UInt64, minimum: UInt64, mode: NamespaceMode)
    case noFreeExtent(size: UInt64, largest: UInt64, regionSize: UInt64)
    case noFreeSlot(free: Int, nslot: Int)
    case slotNotInUse(slot: Int)
    case duplicateUUID(NamespaceUUID, slot: Int)
    case duplicateName(String, slot: Int)
    case nullUUID
    case invalidUUID(String)
    case nameTooLong(String, bytes: Int)
    case nameContainsNUL(String)
    case nameHasOuterWhitespace(String)
    case noSuchNamespace(String, existing: [String])
    case ambiguousName(String, count: Int)
    case pfnStartMisaligned(start: UInt64)
    case pfnNoRoom(size: UInt64, dataoff: UInt64?, align: UInt64)
    case label(LabelAreaError)
    case nfitMalformed(offset: Int, reason: String)
    case nfitNoRange(index: UInt16)
    case nfitNoMapping(index: UInt16)
    case nfitNoControlRegion(rangeIndex: UInt16, controlRegionIndex: UInt16)

    public var description: String {
        switch self {
        case .noLabelIndex:
            return "the label area has no valid index block, so Linux sees a label-less region and cannot hold namespaces: initialise it first (vpmem nvdimm init-labels GUEST --slot N)"
        case .sizeZero:
            return "a namespace needs a size: give --size, a multiple of the region's alignment"
        case let .sizeMisaligned(size, alignment, rule):
            let up = (size / alignment + 1) * alignment
            let down = size / alignment * alignment
            return "size \(ByteSize(bytes: size)) (\(size) bytes) is not a multiple of \(rule), \(ByteSize(bytes: alignment)): "
                + "Linux refuses it; use \(down > 0 ? "\(ByteSize(bytes: down)) or " : "")\(ByteSize(bytes: up))"
        case let .sizeTooSmall(size, minimum, mode):
            return "size \(ByteSize(bytes: size)) is below the \(ByteSize(bytes: minimum)) an \(mode) namespace needs (ndctl: '--size=' must be >= 16MiB for fsdax): use at least \(ByteSize(bytes: minimum)), or --mode raw"
        case let .noFreeExtent(size, largest, regionSize):
            return "no free contiguous, aligned range of \(ByteSize(bytes: size)) in the \(ByteSize(bytes: regionSize)) region "
                + "(a pmem namespace is one DPA range; the largest free one is \(largest == 0 ? "none" : ByteSize(bytes: largest).description)): "
                + "use --size \(largest == 0 ? "after destroying a namespace" : "\(ByteSize(bytes: largest)) or less"), or destroy a namespace"
        case let .noFreeSlot(free, nslot):
            return "\(free) of \(nslot) label slots free: Linux writes a namespace's new label before it frees the old one and keeps one slot spare, so creating needs 2; destroy a namespace, or use a larger label area"
        case .slotNotInUse(let s):
            return "label slot \(s) is not in use"
        case let .duplicateUUID(u, slot):
            return "a namespace with uuid \(u) already exists (label slot \(slot)): Linux refuses a busy uuid; give another --uuid or none"
        case let .duplicateName(n, slot):
            return "a namespace named '\(n)' already exists (label slot \(slot)): names identify namespaces to destroy-namespace; choose another --name"
        case .nullUUID:
            return "the all-zero uuid means 'not set' to Linux: give a real --uuid or none (one is generated)"
        case .invalidUUID(let t):
            return "'\(t)' is not a uuid: write it 8-4-4-4-12 in hex, e.g. 6ba7b810-9dad-41d1-80b4-00c04fd430c8"
        case let .nameTooLong(n, bytes):
            return "name '\(n)' is \(bytes) bytes; Linux keeps at most 63 (the label's 64-byte field with its NUL): shorten it"
        case .nameContainsNUL(let n):
            return "name '\(n)' contains a NUL byte, which would end it early on media: remove it"
        case .nameHasOuterWhitespace(let n):
            return "name '\(n)' starts or ends with whitespace, which Linux strips (so the guest would list another name): remove it"
        case let .noSuchNamespace(key, existing):
            return "no namespace \(key) in this label area (it holds: \(existing.isEmpty ? "none" : existing.joined(separator: ", ")))"
        case let .ambiguousName(n, count):
            return "\(count) namespaces are named '\(n)': destroy by --uuid instead"
        case .pfnStartMisaligned(let s):
            return "the namespace starts at guest-physical 0x\(String(s, radix: 16)), not page aligned: Linux refuses fsdax there; use --mode raw"
        case let .pfnNoRoom(size, dataoff, align):
            return "an fsdax namespace of \(ByteSize(bytes: size)) has no room for data after its info block and memmap"
                + (dataoff.map { " (data would start at \($0))" } ?? "") + " at \(ByteSize(bytes: align)) alignment: use a larger --size"
        case .label(let e):
            return e.description
        case let .nfitMalformed(offset, reason):
            return "the guest's NFIT is malformed at structure offset \(offset): \(reason)"
        case .nfitNoRange(let i):
            return "the guest's NFIT has no SPA range \(i): is the vNVDIMM attached?"
        case .nfitNoMapping(let i):
            return "the guest's NFIT maps no memory device to SPA range \(i), so Linux builds no region from it"
        case let .nfitNoControlRegion(r, d):
            return "the guest's NFIT maps SPA range \(r) to control region \(d), which it does not contain (Linux: failed to find DCR)"
        }
    }
}
