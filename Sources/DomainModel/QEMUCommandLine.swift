import GuestMemory
import HostPmem
import VpmemCore

/// The QEMU command line that boots a modelled guest as a real VM with the same vNVDIMMs at the
/// same guest addresses, so the guest's NFIT equals the one vpmem builds (from byte 36 on: the
/// header's OEM fields are QEMU's own).
///
/// - Machine: `pc` with `nvdimm=on`, the guest's persistence domain, and `max-ram-below-4g` at
///   the guest's MMIO hole start (QEMUMachineLayout says what QEMU then does).
/// - Memory: `-m RAM,slots=S,maxmem=M`, S one more than the highest slot (QEMU's DIMM slot is
///   the NFIT handle - 1, as vpmem's), M so the device-memory window reaches the last vNVDIMM.
/// - NUMA: when a vNVDIMM is on a node other than 0, nodes 0 to the highest, RAM and vCPUs on
///   node 0 (QEMU refuses a DIMM on a node it does not know).
/// - Each vNVDIMM: a `memory-backend-file` on its backing, sized data + label area (QEMU keeps
///   the label area in the backing's last `label-size` bytes, as vpmem does), `share=on`,
///   `pmem=on` only where libpmem finds real pmem, `align=2M` on a device-dax backing,
///   `readonly=on` for a read-only one; and an `nvdimm` device with its slot, node,
///   `label-size`, `unarmed` and `addr` pinned to vpmem's placement.
public struct QEMUCommandLine: Sendable {
    public enum Accelerator: String, Sendable, CaseIterable { case kvm, tcg }

    public struct Options: Sendable {
        public var binary = "qemu-system-x86_64"
        public var accelerator: Accelerator = .tcg
        public var kernel: String?
        public var initrd: String?
        public var append: String?
        /// Appended as they are (a disk, a network, `-no-reboot`, ...).
        public var extra: [String] = []
        public init() {}
    }

    /// One vNVDIMM as QEMU is told about it (JSON: `vpmem qemu --json`'s `nvdimms`).
    public struct Device: Sendable, Equatable, Encodable {
        public let slot: Int
        public let address: UInt64
        public let size: UInt64
        public let labelSize: UInt64
        public let node: UInt32
        public let backing: String
        /// Data plus label area: the `memory-backend-file` size.
        public let backendSize: UInt64
        public let isPmem: Bool
        public let isDeviceDax: Bool
        public let readOnly: Bool
        public let unarmed: Bool

        enum CodingKeys: String, CodingKey {
            case slot, address, size, node, backing, unarmed
            case labelSize = "label_size", backendSize = "backend_size", isPmem = "pmem"
            case isDeviceDax = "device_dax", readOnly = "readonly"
        }
    }

    /// The guest-physical bits QEMU's default TCG CPU (qemu64) has; a vNVDIMM must end below.
    public static let defaultPhysicalBits = 40

    public let argv: [String]
    public let machine: QEMUMachineLayout
    public let slots: Int
    public let maxmem: UInt64
    public let devices: [Device]

    /// The command for `guest` (its vNVDIMMs attached; backings opened any way).
    public init(guest: Guest, options: Options) throws(QEMUCommandError) {
        let config = guest.config
        let memory = config.memory.bytes
        let holeStart = GuestLayout.fourGiB - config.mmioHole.bytes
        let machine = QEMUMachineLayout(memory: memory, holeStart: holeStart)
        var devices: [Device] = []
        for d in guest.nvdimms {
            let info: PmemInfo
            do { info = try PmemInfo.inspect(path: d.path) } catch { throw .backing(slot: d.slot, error) }
            if d.config.readOnly && !d.config.unarmed { throw .readOnlyNeedsUnarmed(slot: d.slot) }
            guard d.guestRange.first.raw >= machine.deviceMemoryBase else {
                throw .belowDeviceMemory(slot: d.slot, address: d.guestRange.first.raw, base: machine.deviceMemoryBase)
            }
            devices.append(Device(slot: d.slot, address: d.guestRange.first.raw, size: d.config.size.bytes,
                                  labelSize: d.config.labelSize.bytes, node: d.config.node, backing: d.path,
                                  backendSize: d.backing.length, isPmem: info.isPmem, isDeviceDax: info.kind == .devdax,
                                  readOnly: d.config.readOnly, unarmed: d.config.unarmed))
        }
        let end = devices.map { $0.address + $0.size }.max() ?? machine.deviceMemoryBase
        let limit = UInt64(1) << UInt64(Self.defaultPhysicalBits)
        guard end <= limit else { throw .beyondPhysicalBits(end: end, bits: Self.defaultPhysicalBits) }
        let slots = (devices.map(\.slot).max() ?? 0) + 1
        let maxmem = machine.maxmem(memory: memory, windowEnd: end)
        self.machine = machine
        self.slots = slots
        self.maxmem = maxmem
        self.devices = devices

        var machineOptions = ["pc", "nvdimm=on", "max-ram-below-4g=\(machine.maxRamBelow4G)"]
        if let p = config.nvdimmPersistence {
            machineOptions.append("nvdimm-persistence=" + (p == .cpu ? "cpu" : "mem-ctrl"))
        }
        var argv = [options.binary, "-accel", options.accelerator.rawValue, "-machine", machineOptions.joined(separator: ","),
                    "-m", "size=\(Self.sizeArgument(memory)),slots=\(slots),maxmem=\(Self.sizeArgument(maxmem))",
                    "-smp", String(config.vcpus)]
        let highestNode = devices.map(\.node).max() ?? 0
        if highestNode > 0 {
            argv += ["-object", "memory-backend-ram,id=ram-node0,size=\(memory)",
                     "-numa", "node,nodeid=0,cpus=0-\(config.vcpus - 1),memdev=ram-node0"]
            for n in 1...highestNode { argv += ["-numa", "node,nodeid=\(n)"] }
        }
        for d in devices {
            var backend = ["memory-backend-file", "id=nvmem\(d.slot)", "mem-path=\(Self.optionValue(d.backing))",
                           "size=\(d.backendSize)", "share=on"]
            if d.isPmem { backend.append("pmem=on") }
            if d.isDeviceDax { backend.append("align=\(2 * ByteSize.mib)") }
            if d.readOnly { backend.append("readonly=on") }
            var device = ["nvdimm", "id=nvdimm\(d.slot)", "memdev=nvmem\(d.slot)", "slot=\(d.slot)", "node=\(d.node)",
                          "addr=0x" + String(d.address, radix: 16)]
            if d.labelSize > 0 { device.append("label-size=\(d.labelSize)") }
            if d.unarmed { device.append("unarmed=on") }
            argv += ["-object", backend.joined(separator: ","), "-device", device.joined(separator: ",")]
        }
        argv.append("-nographic")
        if let k = options.kernel { argv += ["-kernel", k] }
        if let i = options.initrd { argv += ["-initrd", i] }
        if let a = options.append { argv += ["-append", a] }
        argv += options.extra
        self.argv = argv
    }

    /// A size for `-m`, whose bare numbers are MiB: with an explicit unit.
    static func sizeArgument(_ bytes: UInt64) -> String {
        for (unit, suffix) in [(ByteSize.gib, "G"), (ByteSize.mib, "M"), (ByteSize.kib, "K")] where bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)B"
    }

    /// QEMU's option syntax doubles a comma inside a value.
    static func optionValue(_ s: String) -> String { s.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,") }

    /// The command as one line for a POSIX shell: words quoted where they need it.
    public var shellCommand: String { argv.map(Self.shellQuoted).joined(separator: " ") }

    static func shellQuoted(_ word: String) -> String {
        let plain = word.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "-_./=,:+@%".utf8.contains(c)
        }
        if plain && !word.isEmpty { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

/// Why a modelled guest has no QEMU command line.
public enum QEMUCommandError: Error, CustomStringConvertible, Sendable {
    case backing(slot: Int, HostPmemError)
    case readOnlyNeedsUnarmed(slot: Int)
    case belowDeviceMemory(slot: Int, address: UInt64, base: UInt64)
    case beyondPhysicalBits(end: UInt64, bits: Int)

    public var description: String {
        switch self {
        case let .backing(slot, e):
            return "nvdimm slot \(slot): \(e)"
        case .readOnlyNeedsUnarmed(let slot):
            return "nvdimm slot \(slot) is read-only, and QEMU maps a read-only backing only for an unarmed NVDIMM: set unarmed = true in its [[nvdimm]] table"
        case let .belowDeviceMemory(slot, address, base):
            return "nvdimm slot \(slot) is at 0x\(String(address, radix: 16)), below QEMU's device-memory window at 0x\(String(base, radix: 16)): pin it with address = 0x\(String(base, radix: 16)) or higher"
        case let .beyondPhysicalBits(end, bits):
            return "the vNVDIMMs end at 0x\(String(end, radix: 16)), beyond the \(bits)-bit guest-physical space of QEMU's default CPU: pin them lower (address) or use a smaller pmem_aperture"
        }
    }
}
