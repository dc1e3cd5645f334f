import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore

/// Everything that can stop a modelled guest from being built or changed. Each case names the
/// vNVDIMM, file or range involved and the fix; a failed operation leaves the guest, its config
/// and its backings as they were.
public enum GuestError: Error, CustomStringConvertible, Sendable {
    case config(GuestConfigError)
    case physmap(PhysmapError)
    case mapping(MappingError)
    case p2m(P2MError)
    case backing(slot: Int, HostPmemError)
    case backingMissing(slot: Int, path: String)
    case backingSize(slot: Int, path: String, actual: UInt64, size: UInt64, labelSize: UInt64)
    case backingInUse(slot: Int, path: String, otherSlot: Int)
    case backingLockedByWriter(slot: Int, path: String, holderPid: Int32?)
    case slotInUse(slot: Int)
    case noSuchSlot(slot: Int, attached: [Int])
    case labelAreaOutsideBacking(path: String, offset: UInt64, size: UInt64, backingSize: UInt64)
    /// The label area an attach would give the guest holds data its label writes would
    /// overwrite (`LabelAreaCheck.overwritesData`); `--force` attaches anyway.
    case labelAreaHoldsData(slot: Int, path: String, LabelAreaCheck)
    case hostPmemWindowFull(frames: UInt64)
    case tables(NVDIMMBuildError)
    case tablesTooLarge(length: Int, room: Int)
    case machineMemory(String)
    case guestMemory(String)
    case keyStore(KeyStoreError)
    case deviceModel(String)
    case guestFault(access: String, fault: String)
    case dsmArgumentTooLong(length: Int, limit: Int)
    case dsmStatus(handle: UInt32, function: UInt32, status: UInt32)
    /// A _DSM result that is not what its function's encoding says.
    case dsmResult(handle: UInt32, DSMWireError)
    case noLabelArea(slot: Int)
    case labels(LabelAreaError)
    /// The host refused the guest something (a backing another guest owns, no room for pmem):
    /// the host's message, which names the owner and the fix.
    case hostRefused(String)

    /// "3 (invalid input parameters)".
    public static func statusName(_ status: UInt32) -> String {
        let name: String
        switch DSMStatus(rawValue: status) {
        case .success?: name = "success"
        case .notSupported?: name = "not supported"
        case .nonExistingMemoryDevice?: name = "non-existing memory device"
        case .invalidInput?: name = "invalid input parameters"
        case .hardwareError?: name = "hardware error"
        case .fitChanged?: name = "FIT changed"
        case nil: name = "unknown"
        }
        return "\(status) (\(name))"
    }

    public var description: String {
        switch self {
        case .config(let e): return e.description
        case .hostRefused(let m): return m
        case .physmap(let e): return e.description
        case .mapping(let e): return e.description
        case .p2m(let e): return e.description
        case let .backing(slot, e): return "vNVDIMM slot \(slot): \(e)"
        case let .backingMissing(slot, path):
            return "vNVDIMM slot \(slot): backing \(path) does not exist: create it (vpmem pmem create \(path) --size SIZE, or attach with --create)"
        case let .backingSize(slot, path, actual, size, label):
            let data = actual >= label ? ByteSize(bytes: actual - label).description : "nothing"
            return "vNVDIMM slot \(slot): backing \(path) is \(ByteSize(bytes: actual)) (\(actual) bytes) but size \(ByteSize(bytes: size)) "
                + "plus a \(ByteSize(bytes: label)) label area needs \(size &+ label) bytes: with this backing use size \(data) "
                + "(its data part must be a multiple of 2M), or choose another backing"
        case let .backingInUse(slot, path, other):
            return "vNVDIMM slot \(slot): backing \(path) is already attached in slot \(other): give each vNVDIMM its own backing"
        case let .backingLockedByWriter(slot, path, pid):
            return "vNVDIMM slot \(slot): backing \(path) is mapped for writing by \(pid.map { "process \($0)" } ?? "another process"): a read-only vNVDIMM would see it change; stop that user first"
        case .slotInUse(let slot):
            return "vNVDIMM slot \(slot) is already attached: choose a free slot (vpmem nvdimm list CONFIG shows them)"
        case let .noSuchSlot(slot, attached):
            let list = attached.isEmpty ? "none" : attached.map(String.init).joined(separator: ", ")
            return "no vNVDIMM in slot \(slot) (attached slots: \(list)): give an attached slot, or attach one (vpmem nvdimm attach)"
        case let .labelAreaOutsideBacking(path, offset, size, backingSize):
            return "\(path): a label area of \(size) bytes at offset \(offset) does not fit in the \(backingSize)-byte backing"
        case let .labelAreaHoldsData(slot, path, check):
            return check.problem(slot: slot, path: path, readOnly: false)
                ?? "vNVDIMM slot \(slot): the label area of \(path) holds data: attach with --force to give it to the label area"
        case .hostPmemWindowFull(let frames):
            return "the model's host pmem window has no free 1G-aligned run of \(frames) frames: detach vNVDIMMs first"
        case .tables(let e): return "building the guest's NFIT/SSDT: \(e)"
        case let .tablesTooLarge(length, room):
            return "the guest's NFIT and SSDT take \(length) bytes but its ACPI-tables area has room for \(room): attach fewer vNVDIMMs"
        case .machineMemory(let s): return "machine memory: \(s)"
        case .guestMemory(let s): return "guest memory: \(s)"
        case .keyStore(let e): return e.description
        case .deviceModel(let s): return "device model: \(s)"
        case let .guestFault(access, fault): return "the guest's \(access) faulted: \(fault)"
        case let .dsmArgumentTooLong(length, limit):
            return "_DSM Arg3 of \(length) bytes does not fit the DSM page's \(limit)-byte argument field: split the call"
        case let .dsmStatus(handle, function, status):
            return "_DSM function \(function) on handle 0x\(String(handle, radix: 16)) returned status \(GuestError.statusName(status))"
        case let .dsmResult(handle, e): return "_DSM on handle 0x\(String(handle, radix: 16)): \(e)"
        case .labels(let e): return e.description
        case .noLabelArea(let slot):
            return "vNVDIMM slot \(slot) has no label area (label_size = 0): attach it with a label area to use namespace labels"
        }
    }
}
