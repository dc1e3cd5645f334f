import DomainModel
import GuestConfigFile
import GuestMemory
import HostMemory
import HostPmem
import VpmemCore

/// Everything that can stop a host command. Each case names what is wrong (the host, the guest,
/// the file, the backing) and what to do; a failed command leaves the host, its configs and
/// every backing as they were.
public enum HostError: Error, CustomStringConvertible, Sendable {
    case noHost(directory: String)
    case hostExists(directory: String)
    case cannotUse(path: String, step: String, reason: String)
    case config(path: String, key: String, problem: String, fix: String)
    case syntax(path: String, message: String)
    case state(path: String, problem: String)
    case guestConfig(GuestConfigFileError)
    case guest(name: String, GuestError)
    case memory(HostMemoryError)
    case noSuchGuest(name: String, host: String, known: [String])
    case guestExists(name: String, config: String)
    case configAlreadyAdmitted(config: String, guest: String)
    case notAGuestOfHost(config: String, host: String)
    case backingOwned(path: String, owner: String, slot: Int, requester: String)
    case backingNotHostPmem(path: String, host: String)
    case backingTooSmall(path: String, entryBytes: UInt64, needed: UInt64)
    case pmemFull(bytes: UInt64)
    case budgetExhausted(guest: String, requested: UInt64, budget: UInt64, reserved: UInt64)
    case noDomid(host: String)
    case staticMemory(guest: String, problem: String)
    case noLiveUpdateRegion(path: String)
    case liveUpdateFailed(problems: [String])
    case guestConfigInvalid(name: String, config: String, reason: String)

    public var description: String {
        switch self {
        case .noHost(let d):
            return "no vpmem host at \(d): create one with `vpmem host init --host \(d)` (or choose another with --host or VPMEM_HOST)"
        case .hostExists(let d):
            return "\(d) already holds a vpmem host: use it, or give another directory with --host"
        case let .cannotUse(path, step, reason):
            return "\(path): cannot \(step): \(reason)"
        case let .config(path, key, problem, fix):
            return "\(path): \(key) \(problem): \(fix)"
        case let .syntax(path, message):
            return "\(path): \(message)"
        case let .state(path, problem):
            return "\(path): \(problem): restore it from a backup, or remove it to forget every guest (the configs and backings stay)"
        case .guestConfig(let e): return e.description
        case let .guest(name, e): return "guest '\(name)': \(e)"
        case .memory(let e): return e.description
        case let .noSuchGuest(name, host, known):
            return "no guest '\(name)' on host \(host) (\(known.isEmpty ? "it has none" : "it has: " + known.joined(separator: ", "))): admit it with `vpmem guest create CONFIG`"
        case let .guestExists(name, config):
            return "a guest named '\(name)' is already on this host (config \(config)): destroy it first or rename the new one"
        case let .configAlreadyAdmitted(config, guest):
            return "\(config) is already the config of guest '\(guest)' on this host"
        case let .notAGuestOfHost(config, host):
            return "\(config) is not the config of a guest on host \(host): admit it with `vpmem guest create \(config)` to change it (inspection works without)"
        case let .backingOwned(path, owner, slot, requester):
            return "backing \(path) belongs to guest '\(owner)' (vNVDIMM slot \(slot)); '\(requester)' may not have it: detach it from '\(owner)' first (vpmem nvdimm detach \(owner) --slot \(slot)) or use another backing"
        case let .backingNotHostPmem(path, host):
            return "backing \(path) is not pmem of host \(host): add it with `vpmem host add-pmem --host \(host) \(path)`, or attach with --create"
        case let .backingTooSmall(path, entry, needed):
            return "backing \(path) is host pmem of \(ByteSize(bytes: entry)), less than the \(ByteSize(bytes: needed)) this vNVDIMM needs (data and label area): use a larger backing or a smaller --size"
        case .pmemFull(let bytes):
            return "no room for \(ByteSize(bytes: bytes)) more host pmem below the 52-bit frame space: remove unused [[pmem]] entries from host.toml"
        case let .budgetExhausted(guest, requested, budget, reserved):
            return "guest '\(guest)' needs a \(ByteSize(bytes: requested)) range-memory allowance but the host budget \(ByteSize(bytes: budget)) has \(ByteSize(bytes: budget - reserved)) left: raise steering_budget in host.toml, or lower this guest's allowance"
        case .noDomid(let host):
            return "host \(host) has no free domid left: destroy a guest first"
        case let .staticMemory(guest, problem):
            return "guest '\(guest)': \(problem)"
        case .noLiveUpdateRegion(let path):
            return "\(path) has no liveupdate region: add `liveupdate = { start = \"0x...\", size = \"...\" }` inside RAM (vpmem host init sizes one)"
        case .liveUpdateFailed(let problems):
            return "live update failed \(problems.count) check\(problems.count == 1 ? "" : "s"): " + problems.prefix(5).joined(separator: "; ")
        case let .guestConfigInvalid(name, config, reason):
            return "guest '\(name)': its config \(config) no longer loads (\(reason)): fix the file, or `vpmem guest destroy \(name)`"
        }
    }
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
