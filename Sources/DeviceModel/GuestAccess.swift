import GuestMemory

/// Where a guest access goes: guest-physical memory, an IO port, or PCI configuration space.
public enum AccessSpace: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case memory = 0
    case port = 1
    case pciConfig = 2

    public var description: String {
        switch self {
        case .memory: return "memory"
        case .port: return "port"
        case .pciConfig: return "pci_config"
        }
    }
}

/// Read or write (Xen's `IOREQ_READ` / `IOREQ_WRITE`).
public enum AccessDirection: UInt8, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case read = 0
    case write = 1

    public var description: String { self == .read ? "read" : "write" }
}

/// One guest access as the steering engine receives it: what the vCPU did when it left the
/// guest (an EPT violation, an IN/OUT, a config-space cycle).
///
/// Invariants (checked by the throwing initialisers, assumed by the engine): `size` is 1, 2, 4
/// or 8; a memory access lies inside one 4 KiB page (Xen splits page-crossing accesses before
/// it steers them) and below 2^48; a port access stays within ports 0 to 0xFFFF; a config
/// access stays within its function's 4 KiB configuration space; a write's `data` fits in
/// `size` bytes; a read's `data` is 0.
@frozen public struct GuestAccess: Hashable, Sendable, CustomStringConvertible {
    /// A guest-physical address, a port number, or `PciConfigAddress.encoded`.
    public let address: UInt64
    /// The data written (little-endian, low `size` bytes); 0 for a read.
    public let data: UInt64
    public let space: AccessSpace
    public let direction: AccessDirection
    public let size: UInt8

    @inlinable init(unchecked address: UInt64, data: UInt64, space: AccessSpace, direction: AccessDirection, size: UInt8) {
        self.address = address
        self.data = data
        self.space = space
        self.direction = direction
        self.size = size
    }

    /// A read of `size` bytes of guest memory at `gpa`.
    public static func read(_ gpa: Gpa, size: UInt8) throws(GuestAccessError) -> GuestAccess {
        try memory(gpa, size: size, direction: .read, data: 0)
    }

    /// A write of the low `size` bytes of `data` to guest memory at `gpa`.
    public static func write(_ gpa: Gpa, size: UInt8, data: UInt64) throws(GuestAccessError) -> GuestAccess {
        try memory(gpa, size: size, direction: .write, data: data)
    }

    /// A read or write of `size` bytes of guest memory at `gpa`.
    public static func memory(_ gpa: Gpa, size: UInt8, direction: AccessDirection, data: UInt64 = 0) throws(GuestAccessError) -> GuestAccess {
        try checkSize(size)
        try checkData(data, size: size, direction: direction)
        let last = gpa.raw &+ UInt64(size) &- 1
        guard gpa.raw <= IoRangeKind.mmio.maxValue, last <= IoRangeKind.mmio.maxValue else {
            throw .beyondGuestPhysical(address: gpa.raw, size: size, limit: IoRangeKind.mmio.maxValue)
        }
        guard gpa.raw >> PageOrder.frameShift == last >> PageOrder.frameShift else {
            throw .crossesPage(address: gpa.raw, size: size)
        }
        return GuestAccess(unchecked: gpa.raw, data: data, space: .memory, direction: direction, size: size)
    }

    /// An IN (read) or OUT (write) of `size` bytes at `port`.
    public static func port(_ port: UInt16, size: UInt8, direction: AccessDirection, data: UInt64 = 0) throws(GuestAccessError) -> GuestAccess {
        try checkSize(size)
        try checkData(data, size: size, direction: direction)
        guard UInt64(port) + UInt64(size) - 1 <= IoRangeKind.port.maxValue else {
            throw .beyondPortSpace(port: port, size: size)
        }
        return GuestAccess(unchecked: UInt64(port), data: data, space: .port, direction: direction, size: size)
    }

    /// A configuration-space read or write of `size` bytes.
    public static func pciConfig(_ address: PciConfigAddress, size: UInt8, direction: AccessDirection, data: UInt64 = 0) throws(GuestAccessError) -> GuestAccess {
        try checkSize(size)
        try checkData(data, size: size, direction: direction)
        guard UInt64(address.register) + UInt64(size) <= PciConfigAddress.configSpaceBytes else {
            throw .beyondConfigSpace(address: address, size: size)
        }
        return GuestAccess(unchecked: address.encoded, data: data, space: .pciConfig, direction: direction, size: size)
    }

    static func checkSize(_ size: UInt8) throws(GuestAccessError) {
        guard size == 1 || size == 2 || size == 4 || size == 8 else { throw .size(size) }
    }

    static func checkData(_ data: UInt64, size: UInt8, direction: AccessDirection) throws(GuestAccessError) {
        if direction == .read {
            guard data == 0 else { throw .dataOnRead(data) }
        } else if size < 8 {
            guard data >> (UInt64(size) * 8) == 0 else { throw .dataWiderThanSize(data: data, size: size) }
        }
    }

    /// The last byte (memory, port) the access touches.
    @inlinable public var lastByte: UInt64 { address &+ UInt64(size) &- 1 }

    @inlinable public var isWrite: Bool { direction == .write }

    public var description: String {
        let what: String
        switch space {
        case .memory: what = "gpa 0x\(String(address, radix: 16))"
        case .port: what = "port 0x\(String(address, radix: 16))"
        case .pciConfig: what = "pci \(PciConfigAddress(uncheckedEncoded: address))"
        }
        let d = direction == .write ? " data 0x\(String(data, radix: 16))" : ""
        return "\(direction) \(size) at \(what)\(d)"
    }
}

/// A guest access that cannot be described; each case names the value and the rule.
public enum GuestAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    case size(UInt8)
    case dataOnRead(UInt64)
    case dataWiderThanSize(data: UInt64, size: UInt8)
    case beyondGuestPhysical(address: UInt64, size: UInt8, limit: UInt64)
    case crossesPage(address: UInt64, size: UInt8)
    case beyondPortSpace(port: UInt16, size: UInt8)
    case beyondConfigSpace(address: PciConfigAddress, size: UInt8)
    case pciField(field: String, value: UInt64, maximum: UInt64)

    public var description: String {
        switch self {
        case let .size(s):
            return "access size \(s) is not allowed: use 1, 2, 4 or 8 bytes"
        case let .dataOnRead(d):
            return "a read carries no data, but 0x\(String(d, radix: 16)) was given: pass 0"
        case let .dataWiderThanSize(d, s):
            return "data 0x\(String(d, radix: 16)) does not fit in \(s) bytes: pass only the low \(s * 8) bits"
        case let .beyondGuestPhysical(a, s, limit):
            return "access of \(s) bytes at 0x\(String(a, radix: 16)) ends past 0x\(String(limit, radix: 16)), "
                + "the last guest-physical address a p2m maps"
        case let .crossesPage(a, s):
            return "access of \(s) bytes at 0x\(String(a, radix: 16)) crosses a 4 KiB page boundary: "
                + "split it at the boundary into two accesses"
        case let .beyondPortSpace(p, s):
            return "port access of \(s) bytes at 0x\(String(p, radix: 16)) ends past port 0xffff"
        case let .beyondConfigSpace(a, s):
            return "config access of \(s) bytes at \(a) ends past the 4 KiB configuration space"
        case let .pciField(field, value, maximum):
            return "PCI \(field) \(value) is out of range: use 0 to \(maximum)"
        }
    }
}
