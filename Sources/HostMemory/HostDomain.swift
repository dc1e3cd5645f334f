import GuestMemory

/// How a guest is built, as the host's memory sees it.
public struct HostDomainConfig: Sendable, Equatable {
    public enum Memory: Sendable, Equatable {
        /// `frames` frames from the domain heap, mapped from `ramBase`.
        case dynamic(frames: UInt64)
        /// The guest's `xen,static-mem` regions from the host configuration. `directMap`: guest
        /// frame == machine frame (seed 003's 1:1 direct map); `allowDynamic`: balloon-in may
        /// take domain-heap pages once the reserved pool is empty (seed 003 leaves this a policy).
        case staticMemory(directMap: Bool, allowDynamic: Bool)
    }

    public var id: DomainID
    public var memory: Memory
    /// Where RAM starts in the guest when it is not direct-mapped (Arm's GUEST_RAM0_BASE, 1 GiB).
    public var ramBase: Gfn

    public static let defaultRamBase = Gfn(uncheckedRaw: 0x40000)

    public init(id: DomainID, memory: Memory, ramBase: Gfn = HostDomainConfig.defaultRamBase) {
        self.id = id
        self.memory = memory
        self.ramBase = ramBase
    }

    public var isStatic: Bool { if case .staticMemory = memory { return true } else { return false } }
    public var isDirectMapped: Bool { if case .staticMemory(true, _) = memory { return true } else { return false } }
    public var allowsDynamicPages: Bool {
        switch memory {
        case .dynamic: return true
        case .staticMemory(_, let allow): return allow
        }
    }
}

/// A guest as the host's memory sees it: its mappings, its reserved (static) ranges and its p2m
/// root. (The whole modelled guest, devices and all, is DomainModel's `Guest`.)
public struct HostDomain: Sendable, Equatable {
    public let config: HostDomainConfig
    /// gfn -> mfn for every mapped page (RAM, static or dynamic).
    public internal(set) var physmap: PhysmapExtents
    /// Static memory assigned to this guest (Xen's reserved_page_list), whole configured regions.
    public let staticRegions: [MfnRange]
    /// The page holding the guest's p2m root, owned by the guest, never mapped in it.
    public let p2mRoot: Mfn
    /// Host pmem given to the guest (`HostMachine.attachPmem`), mapped with p2m type `pmem`.
    public internal(set) var pmem: [GuestPmem] = []

    public var id: DomainID { config.id }
}
