import DeviceModel
import GuestMemory
import HostMemory
import HostPmem
import VpmemCore

/// The defaults `vpmem host init` writes.
public enum HostSetup {
    /// A host of `ram` bytes (one bank from 0) with a live-update region at the top of RAM, sized
    /// for the incoming instance's frame table twice over (seed 004: it builds its own while the
    /// old one is still described) and the state's first frame, on a 2 MiB boundary.
    public static func config(ram: UInt64, steeringBudget: UInt64? = nil, guestAllowance: UInt64? = nil) throws(HostError) -> HostConfig {
        guard ram >= 256 * ByteSize.mib, ram % (2 * ByteSize.mib) == 0 else {
            throw .config(path: "--ram", key: "ram", problem: "\(ByteSize(bytes: ram)) is below 256M or not a multiple of 2M", fix: "give e.g. --ram 64G")
        }
        let frames = ram >> 12
        let tableFrames = HostMachine.frameTableFrames(for: frames)
        let regionBytes = ((2 * tableFrames + 2) * 4096 + (2 << 20) - 1) & ~((2 << 20) - 1)
        let region = MfnRange(uncheckedFirst: (ram - regionBytes) >> 12, end: frames)
        var steering = HostSteeringConfig()
        if let b = steeringBudget { steering.hostBudgetBytes = b }
        if let a = guestAllowance { steering.guestAllowanceBytes = a }
        let config = HostConfig(ramBanks: [MfnRange(uncheckedFirst: 0, end: frames)], liveUpdateRegion: region, steering: steering)
        try config.validate(path: "host.toml")
        return config
    }

    /// A `[[pmem]]` entry for the real namespace `uuid`, at its SPA from libndctl.
    public static func namespaceEntry(_ uuid: String, config: HostConfig) throws(HostError) -> HostConfig.Pmem {
        let inventory: PmemInventory
        do { inventory = try NdctlDiscovery.inventory() } catch {
            throw .cannotUse(path: "namespace \(uuid)", step: "list the host's NVDIMMs", reason: "\(error)")
        }
        for bus in inventory.buses {
            for region in bus.regions {
                for ns in region.namespaces where ns.uuid?.lowercased() == uuid.lowercased() {
                    guard let spa = ns.resource else {
                        throw .cannotUse(path: "namespace \(uuid)", step: "find its SPA", reason: "libndctl reports no resource for \(ns.dev)")
                    }
                    return .init(namespace: uuid.lowercased(), size: ns.size, spa: spa)
                }
            }
        }
        throw .cannotUse(path: "namespace \(uuid)", step: "find it", reason: "libndctl lists no namespace with that uuid (see `vpmem host list`)")
    }
}
