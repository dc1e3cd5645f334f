/// Xen's ioreq types: how a device model reads an ioreq's address.
public enum IoreqType: UInt8, Sendable, Codable, CustomStringConvertible {
    /// Port IO (`IOREQ_TYPE_PIO`): the address is a port.
    case pio = 0
    /// Memory (`IOREQ_TYPE_COPY`): the address is guest-physical. MMIO, type-claimed and
    /// write-protected RAM accesses are all of this type.
    case copy = 1
    /// PCI configuration space (`IOREQ_TYPE_PCI_CONFIG`): the address is `sbdf << 32 | register`.
    case pciConfig = 2

    public var description: String {
        switch self {
        case .pio: return "pio"
        case .copy: return "copy"
        case .pciConfig: return "pci_config"
        }
    }
}

/// One emulation request as a device model receives it (the fields of Xen's `ioreq_t` a device
/// model acts on), with how its server was chosen.
public struct Ioreq: Hashable, Sendable, CustomStringConvertible {
    public let type: IoreqType
    /// A port, a guest-physical address, or `sbdf << 32 | register`.
    public let address: UInt64
    /// 1, 2, 4 or 8 bytes.
    public let size: UInt8
    public let direction: AccessDirection
    /// For a write, the data written (low `size` bytes); 0 for a read.
    public let data: UInt64
    /// The server the ioreq was sent to.
    public let server: IoreqServerID
    /// Why that server.
    public let route: SteeringRoute

    public init(type: IoreqType, address: UInt64, size: UInt8, direction: AccessDirection, data: UInt64,
                server: IoreqServerID, route: SteeringRoute) {
        self.type = type
        self.address = address
        self.size = size
        self.direction = direction
        self.data = data
        self.server = server
        self.route = route
    }

    /// The ioreq for `access` sent to `server` by `route`.
    public init(_ access: GuestAccess, server: IoreqServerID, route: SteeringRoute) {
        switch access.space {
        case .memory: type = .copy
        case .port: type = .pio
        case .pciConfig: type = .pciConfig
        }
        address = access.address
        size = access.size
        direction = access.direction
        data = access.data
        self.server = server
        self.route = route
    }

    /// The PCI config address of a `pciConfig` ioreq.
    public var pciConfigAddress: PciConfigAddress? {
        type == .pciConfig ? PciConfigAddress(uncheckedEncoded: address) : nil
    }

    public var description: String {
        "ioreq \(type) \(direction) \(size) at 0x\(String(address, radix: 16))"
            + (direction == .write ? " data 0x\(String(data, radix: 16))" : "") + " to \(server) (\(route))"
    }
}
