import GuestMemory

/// A device whose registers hold what was last written to them: what a device model does for
/// registers with no side effect (QEMU's default for many BAR and port registers). Registers are
/// bytes (a 4-byte write then a 1-byte read of its second byte returns that byte), one space per
/// ioreq type; bytes never written read as 0. Memory grows with the registers touched (4 KiB
/// pages of them), not with the accesses.
public final class RegisterFileDevice: EmulatedDevice {
    public let name: String
    let space = RegisterSpace()
    /// Reads and writes taken, behind a `let` pointer (no exclusivity check per access).
    let tally: UnsafeMutablePointer<(reads: UInt64, writes: UInt64)>

    public init(name: String) {
        self.name = name
        tally = .allocate(capacity: 1)
        tally.initialize(to: (0, 0))
    }

    deinit { tally.deallocate() }

    public var reads: UInt64 { tally.pointee.reads }
    public var writes: UInt64 { tally.pointee.writes }

    /// The value of the `size`-byte register at `address` of ioreq type `type`.
    public func register(_ type: IoreqType, _ address: UInt64, size: Int = 8) -> UInt64 {
        space.load(Self.key(type, address), size: size)
    }

    /// Pages of registers backed so far (written, or made resident).
    public var registerPages: Int { space.pages }

    /// Backs the registers of ioreq type `type` from `first` through `last` now, as a device
    /// whose driver has already programmed them has: later first writes then cost no page
    /// allocation. Their values stay 0. Memory: 4 KiB a page of the range.
    func makeResident(_ type: IoreqType, first: UInt64, last: UInt64) {
        space.makeResident(Self.key(type, first), through: Self.key(type, last))
    }

    public func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        deliver(ioreq)
    }

    /// `handle`, as the steering engine calls it (directly, on the delivery path).
    @inline(__always)
    func deliver(_ ioreq: Ioreq) -> UInt64 {
        let key = Self.key(ioreq.type, ioreq.address)
        if ioreq.direction == .write {
            tally.pointee.writes &+= 1
            space.store(key, size: Int(truncatingIfNeeded: ioreq.size), ioreq.data)
            return 0
        }
        tally.pointee.reads &+= 1
        return space.load(key, size: Int(truncatingIfNeeded: ioreq.size))
    }

    /// Registers of different spaces never collide: the ioreq type is above the 48 address bits.
    @inline(__always)
    static func key(_ type: IoreqType, _ address: UInt64) -> UInt64 {
        UInt64(type.rawValue) &<< 48 | (address & 0xFFFF_FFFF_FFFF)
    }
}

/// The XenGT-like vGPU's device model: GPU page-table (GTT/PPGTT) writes arrive because the
/// guest's page-table pages are write-protected (by type claim or by wp_mem ranges); the model
/// updates its shadow and commits the write to the guest's page through guest memory, as XenGT
/// does. BAR registers and VGA ports are a register file.
public final class GTTShadowDevice: EmulatedDevice {
    public let name = "xengt vgpu"
    public let registers = RegisterFileDevice(name: "xengt registers")
    /// The shadow's tally, behind a `let` pointer (no exclusivity check per access).
    let shadow: UnsafeMutablePointer<(updates: UInt64, digest: UInt64)>

    public init() {
        shadow = .allocate(capacity: 1)
        shadow.initialize(to: (0, 0))
    }

    deinit { shadow.deallocate() }

    /// Page-table entries the shadow has taken in.
    public var shadowUpdates: UInt64 { shadow.pointee.updates }
    /// A running digest of the shadowed entries (so the work cannot be skipped, and runs compare).
    public var shadowDigest: UInt64 { shadow.pointee.digest }

    public func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        try deliver(ioreq, guestMemory: guestMemory)
    }

    /// `handle`, as the steering engine calls it (directly, on the delivery path).
    @inline(__always)
    func deliver(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws(GuestMemoryFault) -> UInt64 {
        try Self.deliver(Unmanaged.passUnretained(self), ioreq, guestMemory)
    }

    /// `deliver` on a device the engine's published view holds unretained: no closure over
    /// `guestMemory` (a closure capturing it retains and releases it on every access).
    ///
    /// `committed`, when given, is the guest RAM at the ioreq's address as the engine's walk for
    /// this access found it: the model reads and writes there instead of walking again.
    @inline(always)
    static func deliver(_ d: Unmanaged<GTTShadowDevice>, _ ioreq: Ioreq, _ guestMemory: GuestMemoryAccess,
                        committed: UnsafeMutableRawPointer? = nil) throws(GuestMemoryFault) -> UInt64 {
        switch ioreq.route {
        case .typeClaim, .rangeset(.wpMem):
            let size = Int(truncatingIfNeeded: ioreq.size)
            // A read claimed by type (read flag): the entry as the guest wrote it.
            guard ioreq.direction == .write else {
                if let committed { return GuestMemoryAccess.load(committed, size: size) }
                return try guestMemory.load(ioreq.address, size: size)
            }
            if let committed {
                GuestMemoryAccess.store(committed, size: size, ioreq.data)
            } else {
                try guestMemory.store(ioreq.address, size: size, ioreq.data)
            }
            let shadow = d._withUnsafeGuaranteedRef { $0.shadow }
            shadow.pointee.updates &+= 1
            shadow.pointee.digest = (shadow.pointee.digest ^ ioreq.data) &* 0x100_0000_01B3
            return 0
        default:
            let registers = d._withUnsafeGuaranteedRef { Unmanaged.passUnretained($0.registers) }
            return registers._withUnsafeGuaranteedRef { $0.deliver(ioreq) }
        }
    }
}
