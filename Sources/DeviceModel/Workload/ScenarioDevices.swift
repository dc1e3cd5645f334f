import GuestMemory

/// A device whose registers hold what was last written to them: what a device model does for
/// registers with no side effect (QEMU's default for many BAR and port registers). Reads of a
/// register never written return 0.
public final class RegisterFileDevice: EmulatedDevice {
    public let name: String
    public private(set) var registers: [UInt64: UInt64] = [:]
    public private(set) var reads: UInt64 = 0
    public private(set) var writes: UInt64 = 0

    public init(name: String) { self.name = name }

    public func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        // Registers of different spaces never collide: the ioreq type is in the top bits.
        let key = ioreq.address ^ (UInt64(ioreq.type.rawValue) << 62)
        if ioreq.direction == .write {
            writes &+= 1
            registers[key] = ioreq.data
            return 0
        }
        reads &+= 1
        return registers[key] ?? 0
    }
}

/// The XenGT-like vGPU's device model: GPU page-table (GTT/PPGTT) writes arrive because the
/// guest's page-table pages are write-protected (by type claim or by wp_mem ranges); the model
/// updates its shadow and commits the write to the guest's page through guest memory, as XenGT
/// does. BAR registers and VGA ports are a register file.
public final class GTTShadowDevice: EmulatedDevice {
    public let name = "xengt vgpu"
    /// Page-table entries the shadow has taken in.
    public private(set) var shadowUpdates: UInt64 = 0
    /// A running digest of the shadowed entries (so the work cannot be skipped, and runs compare).
    public private(set) var shadowDigest: UInt64 = 0
    public let registers = RegisterFileDevice(name: "xengt registers")

    public init() {}

    public func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        switch ioreq.route {
        case .typeClaim, .rangeset(.wpMem):
            guard ioreq.direction == .write else {
                // A read claimed by type (read flag): the entry as the guest wrote it.
                var v: UInt64 = 0
                try withUnsafeMutableBytes(of: &v) { try guestMemory.read(Gpa(ioreq.address), into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<Int(ioreq.size)])) }
                return UInt64(littleEndian: v)
            }
            var v = ioreq.data.littleEndian
            try withUnsafeBytes(of: &v) { try guestMemory.write(Gpa(ioreq.address), from: UnsafeRawBufferPointer(rebasing: $0[0..<Int(ioreq.size)])) }
            shadowUpdates &+= 1
            shadowDigest = (shadowDigest ^ ioreq.data) &* 0x100_0000_01B3
            return 0
        default:
            return try registers.handle(ioreq, guestMemory: guestMemory)
        }
    }
}
