/// Builds the NFIT (ACPI 6.x 5.2.25) for a set of vNVDIMMs in QEMU's conventions, so a guest
/// image sees the same tables it sees under QEMU.
///
/// Per vNVDIMM, in slot order: SPA Range (type 0, 56 bytes), Memory Device to SPA Range Map
/// (type 1, 48 bytes), NVDIMM Control Region (type 4, 80 bytes); then one Platform Capabilities
/// structure (type 7, 16 bytes) when a persistence domain is configured. The table is the
/// 36-byte header, 4 reserved bytes, then these structures (the "FIT" that `_FIT` returns).
public struct NFITBuilder: Sendable {
    public static let signature = "NFIT"
    public static let revision: UInt8 = 1

    /// The persistent-memory SPA range type GUID 66F0D379-B4F3-4074-AC43-0D3318B78CDB, as stored.
    public static let persistentMemoryRangeGUID: [UInt8] = Aml.guidBytes("66F0D379-B4F3-4074-AC43-0D3318B78CDB")!
    /// EFI_MEMORY_WB | EFI_MEMORY_NV.
    public static let pmemMappingAttributes: UInt64 = 0x8008

    public enum StructureType: UInt16, Sendable {
        case spaRange = 0, memoryDeviceMap = 1, controlRegion = 4, platformCapabilities = 7
        public var length: Int {
            switch self {
            case .spaRange: 56
            case .memoryDeviceMap: 48
            case .controlRegion: 80
            case .platformCapabilities: 16
            }
        }
    }

    public var nvdimms: [VirtualNVDIMM]
    public var persistenceDomain: PersistenceDomain?
    public var oem: AcpiOemFields

    public init(nvdimms: [VirtualNVDIMM], persistenceDomain: PersistenceDomain? = nil, oem: AcpiOemFields = .init()) {
        self.nvdimms = nvdimms
        self.persistenceDomain = persistenceDomain
        self.oem = oem
    }

    /// The NFIT structures without the table header: what `_FIT` and Read FIT return.
    public func structures() throws(NVDIMMConfigError) -> [UInt8] {
        let sorted = try NVDIMMConfigError.validate(nvdimms)
        var out: [UInt8] = []
        out.reserveCapacity(sorted.count * 184 + 16)
        for d in sorted {
            Self.appendSPARange(d, into: &out)
            Self.appendMemoryDeviceMap(d, into: &out)
            Self.appendControlRegion(d, into: &out)
        }
        if let p = persistenceDomain { Self.appendPlatformCapabilities(p, into: &out) }
        return out
    }

    /// The complete NFIT.
    public func table() throws(NVDIMMBuildError) -> [UInt8] {
        let body: [UInt8]
        do { body = [0, 0, 0, 0] + (try structures()) } catch { throw .config(error) }
        do { return try AcpiTable(signature: Self.signature, revision: Self.revision, oem: oem, body: body).bytes() }
        catch { throw .table(error) }
    }

    static func appendSPARange(_ d: VirtualNVDIMM, into out: inout [UInt8]) {
        out.appendLE(StructureType.spaRange.rawValue)
        out.appendLE(UInt16(StructureType.spaRange.length))
        out.appendLE(d.spaRangeIndex)
        out.appendLE(UInt16(0x3))  // flags: control region for hot add, proximity domain valid
        out.appendLE(UInt32(0))  // reserved
        out.appendLE(d.proximityDomain)
        out.append(contentsOf: persistentMemoryRangeGUID)
        out.appendLE(d.base.raw)
        out.appendLE(d.size)
        out.appendLE(pmemMappingAttributes)
    }

    static func appendMemoryDeviceMap(_ d: VirtualNVDIMM, into out: inout [UInt8]) {
        out.appendLE(StructureType.memoryDeviceMap.rawValue)
        out.appendLE(UInt16(StructureType.memoryDeviceMap.length))
        out.appendLE(d.handle)
        out.appendLE(UInt16(0))  // physical id
        out.appendLE(UInt16(0))  // region id
        out.appendLE(d.spaRangeIndex)
        out.appendLE(d.controlRegionIndex)
        out.appendLE(d.size)  // region size
        out.appendLE(UInt64(0))  // region offset
        out.appendLE(UInt64(0))  // region DPA
        out.appendLE(UInt16(0))  // interleave index
        out.appendLE(UInt16(1))  // interleave ways
        out.appendLE(UInt16(d.unarmed ? 1 << 3 : 0))  // flags: bit 3 not armed
        out.appendLE(UInt16(0))  // reserved
    }

    static func appendControlRegion(_ d: VirtualNVDIMM, into out: inout [UInt8]) {
        let start = out.count
        out.appendLE(StructureType.controlRegion.rawValue)
        out.appendLE(UInt16(StructureType.controlRegion.length))
        out.appendLE(d.controlRegionIndex)
        out.appendLE(UInt16(0x8086))  // vendor id
        out.appendLE(UInt16(0x0001))  // device id
        out.appendLE(UInt16(0x0001))  // revision id
        out.appendLE(UInt16(0))  // subsystem vendor id
        out.appendLE(UInt16(0))  // subsystem device id
        out.appendLE(UInt16(0))  // subsystem revision id
        out.append(0)  // valid fields
        out.append(0)  // manufacturing location
        out.appendLE(UInt16(0))  // manufacturing date
        out.appendLE(UInt16(0))  // reserved
        out.appendLE(d.serialNumber)
        out.appendLE(UInt16(0x0301))  // format interface code: byte addressable, no energy backed
        // Block control windows, window/command/status offsets and sizes, flags, reserved: zero.
        out.appendZeros(start + StructureType.controlRegion.length - out.count)
    }

    static func appendPlatformCapabilities(_ p: PersistenceDomain, into out: inout [UInt8]) {
        out.appendLE(StructureType.platformCapabilities.rawValue)
        out.appendLE(UInt16(StructureType.platformCapabilities.length))
        out.append(p.highestValidCapability)
        out.appendZeros(3)
        out.appendLE(p.capabilities)
        out.appendLE(UInt32(0))
    }
}

/// Why a firmware table for vNVDIMMs could not be built.
public enum NVDIMMBuildError: Error, Hashable, Sendable, CustomStringConvertible {
    case config(NVDIMMConfigError)
    case table(AcpiTableError)
    case aml(AmlError)

    public var description: String {
        switch self {
        case .config(let e): return e.description
        case .table(let e): return e.description
        case .aml(let e): return e.description
        }
    }
}
