#if canImport(Glibc)
import Glibc
#endif
import CNdctl

/// Reads the host's pmem inventory through libndctl (never by reading sysfs here).
///
/// libndctl's iteration macros expand to get_first/get_next pairs; the walk below uses those
/// directly. A host without NVDIMMs has no buses: the result is an empty inventory, not an error.
public enum NdctlDiscovery {
    public static func inventory() throws(HostPmemError) -> PmemInventory {
        var ctxPointer: OpaquePointer?
        let rc = ndctl_new(&ctxPointer)
        guard rc == 0, let ctx = ctxPointer else {
            let e = rc < 0 ? -rc : rc
            throw .inventory(operation: "ndctl_new", errno: e, message: String(cString: strerror(e)))
        }
        defer { _ = ndctl_unref(ctx) }

        var buses: [PmemInventory.Bus] = []
        var bus = ndctl_bus_get_first(ctx)
        while let b = bus {
            buses.append(readBus(b))
            bus = ndctl_bus_get_next(b)
        }
        return PmemInventory(buses: buses)
    }

    static func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }

    /// libndctl reports "unknown" sizes and alignments as ULLONG_MAX, NUMA nodes as -1.
    static func known(_ v: UInt64) -> UInt64? { v == UInt64.max ? nil : v }
    static func known(_ v: UInt) -> UInt64? { v == UInt.max ? nil : UInt64(v) }
    static func known(node v: Int32) -> Int32? { v < 0 ? nil : v }
    static func known(node v: Int) -> Int32? { v < 0 || v > Int(Int32.max) ? nil : Int32(v) }

    static func readBus(_ b: OpaquePointer) -> PmemInventory.Bus {
        var dimms: [PmemInventory.Dimm] = []
        var dimm = ndctl_dimm_get_first(b)
        while let d = dimm {
            dimms.append(PmemInventory.Dimm(
                dev: string(ndctl_dimm_get_devname(d)) ?? "?",
                id: string(ndctl_dimm_get_unique_id(d)),
                handle: ndctl_dimm_get_handle(d),
                physId: ndctl_dimm_get_phys_id(d)))
            dimm = ndctl_dimm_get_next(d)
        }
        var regions: [PmemInventory.Region] = []
        var region = ndctl_region_get_first(b)
        while let r = region {
            regions.append(readRegion(r))
            region = ndctl_region_get_next(r)
        }
        return PmemInventory.Bus(
            provider: string(ndctl_bus_get_provider(b)) ?? "?",
            dev: string(ndctl_bus_get_devname(b)) ?? "?",
            dimms: dimms, regions: regions)
    }

    static func readRegion(_ r: OpaquePointer) -> PmemInventory.Region {
        var namespaces: [PmemInventory.Namespace] = []
        var ns = ndctl_namespace_get_first(r)
        while let n = ns {
            // Seed namespaces with no capacity are placeholders ndctl list hides too.
            if ndctl_namespace_get_size(n) > 0 { namespaces.append(readNamespace(n)) }
            ns = ndctl_namespace_get_next(n)
        }
        return PmemInventory.Region(
            dev: string(ndctl_region_get_devname(r)) ?? "?",
            size: ndctl_region_get_size(r),
            align: known(ndctl_region_get_align(r)),
            availableSize: ndctl_region_get_available_size(r),
            type: string(ndctl_region_get_type_name(r)) ?? "unknown",
            numaNode: known(node: Int(ndctl_region_get_numa_node(r))),
            namespaces: namespaces)
    }

    static func uuidString(_ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> String? {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
        if bytes.allSatisfy({ $0 == 0 }) { return nil }
        let hex = bytes.map { b in let s = String(b, radix: 16); return b < 16 ? "0" + s : s }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }

    static func readNamespace(_ n: OpaquePointer) -> PmemInventory.Namespace {
        // As `ndctl list` reports a namespace: the size, uuid and align of what claims it (the
        // pfn, dax or btt instance) when something does, the namespace's own otherwise; the
        // namespace's label uuid is then `raw_uuid`.
        let mode: PmemInventory.Mode
        var size = ndctl_namespace_get_size(n)
        var align: UInt64?
        var uuid: String?
        var blockdev: String?
        var chardev: String?
        var map: PmemInventory.Map?
        let labelUUID = uuidString { ndctl_namespace_get_uuid(n, $0) }
        switch ndctl_namespace_get_mode(n) {
        case NDCTL_NS_MODE_FSDAX:
            mode = .fsdax
            if let pfn = ndctl_namespace_get_pfn(n) {
                size = known(ndctl_pfn_get_size(pfn)) ?? size
                align = known(ndctl_pfn_get_align(pfn))
                uuid = uuidString { ndctl_pfn_get_uuid(pfn, $0) }
                blockdev = string(ndctl_pfn_get_block_device(pfn))
                map = Self.map(ndctl_pfn_get_location(pfn))
            } else {
                blockdev = string(ndctl_namespace_get_block_device(n))
                map = .mem
            }
        case NDCTL_NS_MODE_DEVDAX:
            mode = .devdax
            if let dax = ndctl_namespace_get_dax(n) {
                size = known(ndctl_dax_get_size(dax)) ?? size
                align = known(ndctl_dax_get_align(dax))
                uuid = uuidString { ndctl_dax_get_uuid(dax, $0) }
                map = Self.map(ndctl_dax_get_location(dax))
                if let region = ndctl_dax_get_daxctl_region(dax), let dev = daxctl_dev_get_first(region) {
                    chardev = string(daxctl_dev_get_devname(dev))
                }
            }
        case NDCTL_NS_MODE_SECTOR:
            mode = .sector
            if let btt = ndctl_namespace_get_btt(n) {
                size = known(ndctl_btt_get_size(btt)) ?? size
                uuid = uuidString { ndctl_btt_get_uuid(btt, $0) }
                blockdev = string(ndctl_btt_get_block_device(btt))
            }
        case NDCTL_NS_MODE_RAW:
            mode = .raw
            blockdev = string(ndctl_namespace_get_block_device(n))
        default:
            mode = .unknown
        }
        let claimed = uuid != nil
        if uuid == nil { uuid = labelUUID }
        return PmemInventory.Namespace(
            dev: string(ndctl_namespace_get_devname(n)) ?? "?",
            mode: mode, size: size, align: align,
            numaNode: known(node: Int(ndctl_namespace_get_numa_node(n))),
            uuid: uuid, blockdev: blockdev, chardev: chardev,
            resource: known(ndctl_namespace_get_resource(n)),
            name: string(ndctl_namespace_get_alt_name(n)).flatMap { $0.isEmpty ? nil : $0 },
            map: map, rawUUID: claimed ? labelUUID : nil)
    }

    static func map(_ location: ndctl_pfn_loc) -> PmemInventory.Map? {
        switch location {
        case NDCTL_PFN_LOC_RAM: return .mem
        case NDCTL_PFN_LOC_PMEM: return .dev
        default: return nil
        }
    }
}
