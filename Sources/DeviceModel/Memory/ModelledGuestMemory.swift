import GuestMemory
import HostPmem

/// A modelled guest's memory, built from its physmap: the p2m and the machine memory behind it,
/// ready for a `SteeringEngine`.
///
/// The model:
/// - RAM regions (`ram`, `acpi_tables`, `acpi_nvs`) are `ram_rw`, machine frame = gfn + `ramMfnBase`, so each
///   region is one run of machine frames and 2M/1G superpages apply wherever the region is
///   aligned. Each region is a `SparseFrameStore`: a frame costs host memory only once written,
///   so a 16 GiB or 1 TiB guest costs the frames its workload touches (plus 8 bytes per 2 MiB
///   of directory).
/// - PCI apertures and MMIO regions (`pci_mmio32`, `pci_mmio64`, `mmio`) are `mmio_dm`: every
///   access to them is emulated. The grant-table region, firmware-reserved area and the rest
///   of the address space are unmapped (accesses fault).
/// - pmem regions are mapped by `attachPmem` through `CheckedMemoryMapping` (host pmem frames
///   registered, owned by the guest, type `pmem`), backed by a `PmemMapping`.
public final class ModelledGuestMemory {
    public let domain: DomainID
    public let physmap: GuestPhysmap
    public let p2m: P2M
    public let machine: MachineMemory
    /// Machine frame of gfn 0 for RAM: RAM machine frame = gfn + ramMfnBase.
    public let ramMfnBase: Mfn
    /// Frames of RAM mapped (what the admin declares as the guest's RAM).
    public let ramFrames: UInt64
    public private(set) var mapping: CheckedMemoryMapping

    /// Machine frames of host pmem start here in the model (16 TiB), above any modelled RAM.
    public static let pmemMfnBase = Mfn(uncheckedRaw: 1 << 32)
    public static let defaultRamMfnBase = Mfn(uncheckedRaw: 1 << 20)

    public init(domain: DomainID, physmap: GuestPhysmap, ramMfnBase: Mfn = ModelledGuestMemory.defaultRamMfnBase) throws(ModelledGuestError) {
        self.domain = domain
        self.physmap = physmap
        self.ramMfnBase = ramMfnBase
        p2m = P2M()
        machine = MachineMemory()
        var frames: UInt64 = 0
        for region in physmap.regions {
            let gfn = region.range.first.frame
            let count = region.range.size >> PageOrder.frameShift
            do {
                switch region.kind {
                case .ram, .acpiTables, .acpiNVS:
                    let mfn = try Mfn.checked(gfn.raw + ramMfnBase.raw)
                    try p2m.set(gfn: gfn, count: count, to: mfn, type: .ramRW)
                    try machine.addRAM(firstMfn: mfn, frames: count)
                    frames += count
                case .pciMmio32, .pciMmio64, .mmio:
                    try p2m.set(gfn: gfn, count: count, to: nil, type: .mmioDM)
                case .grantTable, .firmwareReserved, .pmem:
                    continue
                }
            } catch {
                throw .build(region: region.name, reason: "\(error)")
            }
        }
        ramFrames = frames
        mapping = CheckedMemoryMapping()
        do { try mapping.addGuest(domain, physmap: physmap, p2m: p2m) } catch { throw .mapping(error) }
    }

    /// Maps the pmem region `name` of the physmap onto `pmem` from `offset`, through the checked
    /// mapping: the host frames are registered as pmem, owned by this guest, and mapped `pmem`.
    public func attachPmem(region name: String, _ pmem: PmemMapping, offset: UInt64 = 0) throws(ModelledGuestError) {
        guard let region = physmap.pmemRegions.first(where: { $0.name == name }) else {
            throw .noPmemRegion(name: name, available: physmap.pmemRegions.map(\.name))
        }
        let gfn = region.range.first.frame
        let count = region.range.size >> PageOrder.frameShift
        let mfn = Mfn(uncheckedRaw: Self.pmemMfnBase.raw + gfn.raw)
        do {
            try machine.addPmem(pmem, firstMfn: mfn, frames: count, offset: offset)
        } catch { throw .machine(error) }
        do {
            try mapping.register(.pmem, MfnRange(first: mfn, count: count))
            try mapping.map(domain, gfn: gfn, mfn: mfn, count: count, type: .pmem)
        } catch { throw .mapping(error) }
    }

    /// The RAM regions' guest frames, ascending.
    public var ramRegions: [GfnRange] {
        physmap.regions.filter { $0.kind == .ram }.compactMap {
            try? GfnRange(first: $0.range.first.frame, count: $0.range.size >> PageOrder.frameShift)
        }
    }

    /// The emulated MMIO regions (PCI apertures, MMIO regions), ascending.
    public var mmioRegions: [PhysmapRegion] {
        physmap.regions.filter { [.pciMmio32, .pciMmio64, .mmio].contains($0.kind) }
    }
}

public enum ModelledGuestError: Error, CustomStringConvertible {
    case build(region: String, reason: String)
    case noPmemRegion(name: String, available: [String])
    case machine(MachineMemoryError)
    case mapping(MappingError)

    public var description: String {
        switch self {
        case let .build(region, reason): return "modelled guest: cannot map region '\(region)': \(reason)"
        case let .noPmemRegion(name, available):
            return "modelled guest: no pmem region '\(name)'; the physmap has: \(available.isEmpty ? "none" : available.joined(separator: ", "))"
        case let .machine(e): return "modelled guest: \(e)"
        case let .mapping(e): return "modelled guest: \(e)"
        }
    }
}
