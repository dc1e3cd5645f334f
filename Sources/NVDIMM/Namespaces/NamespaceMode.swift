/// The modes vpmem provisions, with what Linux and ndctl require of each.
public enum NamespaceMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The namespace's bytes as a plain block device (`/dev/pmemN`), no info block.
    case raw
    /// A pfn info block at 4 KiB into the namespace; its memmap ("map=dev", ndctl's default) on
    /// the namespace itself; `/dev/pmemN` usable with `-o dax`.
    case fsdax

    public var description: String { rawValue }

    /// The claim class a v1.2 label records (its abstraction GUID): what ndctl's
    /// `holder_class` write leaves there ("" for raw, "pfn" for fsdax).
    public var claimClass: ClaimClass { self == .fsdax ? .pfn : .none }

    /// The pfn device's alignment ndctl takes by default for fsdax: the kernel's default, the
    /// PMD size (2 MiB on x86-64 with transparent huge pages). A namespace's size must be a
    /// multiple of it.
    public static let fsdaxAlign: UInt64 = 2 << 20

    /// What `--size` must be a multiple of besides the region's alignment (ndctl: "'--size='
    /// must align to interleave-width: 1 and alignment"): the pfn alignment for fsdax, a page
    /// for raw.
    public var sizeAlignment: UInt64 { self == .fsdax ? Self.fsdaxAlign : NamespacePlacement.pageSize }

    /// The smallest size: 16 MiB for fsdax (ndctl, after the kernel's nd_namespace_store), one
    /// page for raw (ND_MIN_NAMESPACE_SIZE).
    public var minimumSize: UInt64 { self == .fsdax ? 16 << 20 : NamespacePlacement.pageSize }
}

/// Who may claim a namespace, as a v1.2 label's abstraction GUID records it (Linux
/// `enum nvdimm_claim_class`, GUIDs from drivers/nvdimm/label.h).
public enum ClaimClass: Sendable, Hashable, CustomStringConvertible {
    case none, btt, btt2, pfn, dax
    case unknown([UInt8])

    static let bttGUID = Aml.guidBytes("8aed63a2-29a2-4c66-8b12-f05d15d3922a")!
    static let btt2GUID = Aml.guidBytes("18633bfc-1735-4217-8ac9-17239282d3f8")!
    static let pfnGUID = Aml.guidBytes("266400ba-fb9f-4677-bcb0-968f11d0d225")!
    static let daxGUID = Aml.guidBytes("97a86d9c-3cdd-4eda-986f-5068b4f80088")!

    /// The GUID bytes as a label stores them (EFI mixed-endian layout).
    public var abstractionGUID: [UInt8] {
        switch self {
        case .none: return Array(repeating: 0, count: 16)
        case .btt: return Self.bttGUID
        case .btt2: return Self.btt2GUID
        case .pfn: return Self.pfnGUID
        case .dax: return Self.daxGUID
        case .unknown(let g): return g
        }
    }

    public init(abstractionGUID g: [UInt8]) {
        switch g {
        case _ where g.allSatisfy({ $0 == 0 }): self = .none
        case Self.bttGUID: self = .btt
        case Self.btt2GUID: self = .btt2
        case Self.pfnGUID: self = .pfn
        case Self.daxGUID: self = .dax
        default: self = .unknown(g)
        }
    }

    /// Linux's `holder_class` spelling ("" shown as "none").
    public var description: String {
        switch self {
        case .none: return "none"
        case .btt, .btt2: return "btt"
        case .pfn: return "pfn"
        case .dax: return "dax"
        case .unknown: return "unknown"
        }
    }
}
