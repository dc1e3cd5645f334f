/// A device model: a Swift object registered with an ioreq server that handles the ioreqs
/// steered to it (QEMU's device emulation, XenGT's vGPU, the vNVDIMM _DSM transport).
///
/// `handle` runs on the vCPU's path: it may read and write guest memory through `guestMemory`
/// (see GuestMemoryAccess.swift for the rules), and returns the data a read yields (the low
/// `ioreq.size` bytes are used; ignored for writes). A thrown error is reported to the caller of
/// `SteeringEngine.handle` as `.deviceFailed`, naming the device and the ioreq.
public protocol EmulatedDevice: AnyObject {
    /// A short name for reports and errors.
    var name: String { get }
    func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64
}

/// What became of a guest access after `SteeringEngine.handle`.
public enum AccessResult: Hashable, Sendable, CustomStringConvertible {
    /// Performed on memory or by a device model; `data` is what a read returned (0 for a write).
    case completed(data: UInt64)
    /// Sent to a server that has no device for it: reads return all ones, writes are dropped
    /// (what an unassigned address does on a PC, and QEMU's default).
    case unhandled(server: IoreqServerID, data: UInt64)
    /// A write to a read-only type, dropped.
    case discarded
    /// Not performed: the guest would get the fault (an EPT violation it cannot resolve, a #GP).
    case fault(SteeringFault)

    public var description: String {
        switch self {
        case let .completed(data): return "completed data 0x\(String(data, radix: 16))"
        case let .unhandled(server, data): return "unhandled by \(server), data 0x\(String(data, radix: 16))"
        case .discarded: return "discarded"
        case let .fault(f): return "fault: \(f)"
        }
    }
}
