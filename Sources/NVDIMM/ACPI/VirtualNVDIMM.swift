import GuestMemory

/// One virtual NVDIMM as the guest's firmware tables describe it.
///
/// `size` is the data the guest maps (the SPA range); the label area lives elsewhere (QEMU keeps
/// it in the last `label-size` bytes of the backing file) and is reached only through _DSM.
public struct VirtualNVDIMM: Sendable, Hashable {
    /// 0-based slot; the NFIT device handle is slot + 1 and the AML device is `NV` + two hex digits.
    public var slot: Int
    /// Guest-physical base of the SPA range.
    public var base: Gpa
    /// Bytes of persistent memory mapped at `base` (label area excluded).
    public var size: UInt64
    /// NUMA node of the range (the NFIT proximity domain).
    public var proximityDomain: UInt32
    /// Sets the memory-device map's "not armed" flag: the guest should treat the data as read-only.
    public var unarmed: Bool
    /// What the guest may do with the label area: decides the device's label methods in the
    /// SSDT, as _DSM function 0 decides the functions it reports.
    public var labelAccess: LabelAreaAccess

    public init(slot: Int, base: Gpa, size: UInt64, proximityDomain: UInt32 = 0, unarmed: Bool = false,
                labelAccess: LabelAreaAccess = .readWrite) {
        self.slot = slot
        self.base = base
        self.size = size
        self.proximityDomain = proximityDomain
        self.unarmed = unarmed
        self.labelAccess = labelAccess
    }

    /// The largest slot: device names are `NV00` to `NVFF`, as in QEMU.
    public static let maxSlot = 255

    /// NFIT device handle (0 is the root device).
    public var handle: UInt32 { UInt32(slot) + 1 }
    /// SPA range structure index.
    public var spaRangeIndex: UInt16 { UInt16(slot + 1) << 1 }
    /// Control region structure index.
    public var controlRegionIndex: UInt16 { spaRangeIndex + 1 }
    /// Serial number in the control region.
    public var serialNumber: UInt32 { 0x123456 + UInt32(slot) }
    /// The ACPI device name of this NVDIMM under `NVDR`.
    public var deviceName: String {
        let hex = String(slot, radix: 16, uppercase: true)
        return "NV" + (hex.count < 2 ? "0" + hex : hex)
    }
}

/// What a guest may do with a vNVDIMM's label area.
public enum LabelAreaAccess: String, Sendable, Hashable, CaseIterable {
    /// No label area: no label methods, function 0 reports nothing.
    case none
    /// `_LSI` and `_LSR` (functions 4 and 5); no `_LSW`, no function 6.
    case readOnly
    /// `_LSI`, `_LSR` and `_LSW` (functions 4, 5 and 6).
    case readWrite

    public init(hasLabelArea: Bool, readOnly: Bool) {
        self = !hasLabelArea ? .none : readOnly ? .readOnly : .readWrite
    }
}

/// Where a flush makes stores persistent; advertised by the NFIT Platform Capabilities structure.
public enum PersistenceDomain: String, Sendable, Hashable, CaseIterable {
    /// CPU caches are flushed to the NVDIMM on power loss (capabilities 0x3).
    case cpu
    /// Only the memory controller's buffers are flushed (capabilities 0x2).
    case memoryController = "mem-ctrl"

    /// The capabilities bitmap.
    public var capabilities: UInt32 { self == .cpu ? 0x3 : 0x2 }
    /// Index of the highest valid capability bit.
    public var highestValidCapability: UInt8 { UInt8(31 - capabilities.leadingZeroBitCount) }
}

/// Why a set of vNVDIMMs cannot be described.
public enum NVDIMMConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    case slotOutOfRange(slot: Int)
    case duplicateSlot(slot: Int)
    case emptyRange(slot: Int)
    case misaligned(slot: Int, base: UInt64, size: UInt64)
    case rangeWraps(slot: Int, base: UInt64, size: UInt64)
    case overlap(slot: Int, otherSlot: Int)
    case dsmPageMisaligned(gpa: UInt64)
    case dsmPageAbove4G(gpa: UInt64)
    case ioPortRange(port: UInt16)

    public var description: String {
        switch self {
        case .slotOutOfRange(let s):
            return "vNVDIMM slot \(s) is out of range: slots are 0 to \(VirtualNVDIMM.maxSlot) (device names NV00 to NVFF)"
        case .duplicateSlot(let s):
            return "vNVDIMM slot \(s) is used twice: give each vNVDIMM its own slot"
        case .emptyRange(let s):
            return "vNVDIMM slot \(s) has size 0: give it at least 4 KiB of data"
        case let .misaligned(s, base, size):
            return "vNVDIMM slot \(s): base 0x\(String(base, radix: 16)) and size 0x\(String(size, radix: 16)) must both be 4 KiB aligned"
        case let .rangeWraps(s, base, size):
            return "vNVDIMM slot \(s): base 0x\(String(base, radix: 16)) + size 0x\(String(size, radix: 16)) wraps past 2^64"
        case let .overlap(s, o):
            return "vNVDIMM slots \(o) and \(s) overlap in guest-physical space: move one of them"
        case .dsmPageMisaligned(let g):
            return "DSM page gpa 0x\(String(g, radix: 16)) is not 4 KiB aligned"
        case .dsmPageAbove4G(let g):
            return "DSM page gpa 0x\(String(g, radix: 16)) is above 4 GiB: the AML writes it to a 32-bit IO port; place it below 4 GiB"
        case .ioPortRange(let p):
            return "DSM IO port 0x\(String(p, radix: 16)) leaves no room for its 4 bytes: use a port at most 0xfffc (QEMU uses 0x0a18)"
        }
    }

    /// Checks a set of vNVDIMMs: slots in range and unique, ranges non-empty, 4 KiB aligned,
    /// not wrapping and not overlapping. Returns them sorted by slot.
    public static func validate(_ nvdimms: [VirtualNVDIMM]) throws(NVDIMMConfigError) -> [VirtualNVDIMM] {
        let sorted = nvdimms.sorted { $0.slot < $1.slot }
        var previousSlot: Int? = nil
        for d in sorted {
            guard (0...VirtualNVDIMM.maxSlot).contains(d.slot) else { throw .slotOutOfRange(slot: d.slot) }
            if previousSlot == d.slot { throw .duplicateSlot(slot: d.slot) }
            previousSlot = d.slot
            guard d.size > 0 else { throw .emptyRange(slot: d.slot) }
            guard d.base.raw & 0xFFF == 0, d.size & 0xFFF == 0 else {
                throw .misaligned(slot: d.slot, base: d.base.raw, size: d.size)
            }
            guard (try? d.base.adding(d.size - 1)) != nil else { throw .rangeWraps(slot: d.slot, base: d.base.raw, size: d.size) }
        }
        let byBase = sorted.sorted { $0.base.raw < $1.base.raw }
        for (a, b) in zip(byBase, byBase.dropFirst()) where b.base.raw <= a.base.raw + (a.size - 1) {
            throw .overlap(slot: b.slot, otherSlot: a.slot)
        }
        return sorted
    }
}
