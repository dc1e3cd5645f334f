/// A PCI function: segment, bus, device, function, packed as Xen's SBDF number
/// `segment << 16 | bus << 8 | device << 3 | function`. The PCI-config rangesets of ioreq
/// servers hold these numbers.
@frozen public struct PciSbdf: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let raw: UInt32

    /// Checked construction: device 0 to 31, function 0 to 7.
    public init(segment: UInt16 = 0, bus: UInt8, device: UInt8, function: UInt8) throws(GuestAccessError) {
        guard device < 32 else { throw .pciField(field: "device", value: UInt64(device), maximum: 31) }
        guard function < 8 else { throw .pciField(field: "function", value: UInt64(function), maximum: 7) }
        raw = UInt32(segment) << 16 | UInt32(bus) << 8 | UInt32(device) << 3 | UInt32(function)
    }

    /// From a packed SBDF number (every 32-bit value is one).
    @inlinable public init(raw: UInt32) { self.raw = raw }

    public var segment: UInt16 { UInt16(truncatingIfNeeded: raw >> 16) }
    public var bus: UInt8 { UInt8(truncatingIfNeeded: raw >> 8) }
    public var device: UInt8 { UInt8(truncatingIfNeeded: raw >> 3) & 0x1F }
    public var function: UInt8 { UInt8(truncatingIfNeeded: raw) & 0x7 }

    public static func < (a: PciSbdf, b: PciSbdf) -> Bool { a.raw < b.raw }

    /// `ssss:bb:dd.f`, as lspci -D prints it.
    public var description: String {
        func h(_ v: UInt64, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(h(UInt64(segment), 4)):\(h(UInt64(bus), 2)):\(h(UInt64(device), 2)).\(function)"
    }
}

/// A PCI configuration-space address: a function and a register offset in its 4 KiB extended
/// configuration space. As an ioreq address it is Xen's encoding `sbdf << 32 | register`.
@frozen public struct PciConfigAddress: Hashable, Sendable, CustomStringConvertible {
    public let sbdf: PciSbdf
    public let register: UInt16

    /// The extended configuration space of one function is 4 KiB.
    public static let configSpaceBytes: UInt64 = 4096

    public init(sbdf: PciSbdf, register: UInt16) throws(GuestAccessError) {
        guard UInt64(register) < PciConfigAddress.configSpaceBytes else {
            throw .pciField(field: "register", value: UInt64(register), maximum: PciConfigAddress.configSpaceBytes - 1)
        }
        self.sbdf = sbdf
        self.register = register
    }

    @inlinable init(uncheckedEncoded v: UInt64) {
        sbdf = PciSbdf(raw: UInt32(truncatingIfNeeded: v >> 32))
        register = UInt16(truncatingIfNeeded: v)
    }

    /// `sbdf << 32 | register`.
    @inlinable public var encoded: UInt64 { UInt64(sbdf.raw) << 32 | UInt64(register) }

    public var description: String { "\(sbdf) reg 0x\(String(register, radix: 16))" }
}
