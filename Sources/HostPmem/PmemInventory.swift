/// The host's persistent memory as libndctl sees it: buses, DIMMs, regions, namespaces.
///
/// JSON field names follow `ndctl list` where the two overlap (`dev`, `provider`, `size`,
/// `align`, `numa_node`, `uuid`, `raw_uuid`, `name`, `map`, `mode`, `blockdev`, `chardev`,
/// `available_size`, `type`, `id`, `handle`, `phys_id`), so output reads the same to someone who knows ndctl. Unknown values
/// (a NUMA node the kernel does not report, a uuid a raw namespace has none of) are absent.
public struct PmemInventory: Codable, Equatable, Sendable {
    public var buses: [Bus]

    public init(buses: [Bus] = []) { self.buses = buses }

    /// Every namespace on the host, across buses and regions.
    public var namespaces: [Namespace] { buses.flatMap { $0.regions.flatMap(\.namespaces) } }

    public struct Bus: Codable, Equatable, Sendable {
        public var provider: String
        public var dev: String
        public var dimms: [Dimm]
        public var regions: [Region]
        public init(provider: String, dev: String, dimms: [Dimm], regions: [Region]) {
            self.provider = provider; self.dev = dev; self.dimms = dimms; self.regions = regions
        }
    }

    public struct Dimm: Codable, Equatable, Sendable {
        public var dev: String
        public var id: String?
        public var handle: UInt32
        public var physId: UInt16
        public init(dev: String, id: String?, handle: UInt32, physId: UInt16) {
            self.dev = dev; self.id = id; self.handle = handle; self.physId = physId
        }
        enum CodingKeys: String, CodingKey { case dev, id, handle, physId = "phys_id" }
    }

    public struct Region: Codable, Equatable, Sendable {
        public var dev: String
        public var size: UInt64
        public var align: UInt64?
        public var availableSize: UInt64
        public var type: String
        public var numaNode: Int32?
        public var namespaces: [Namespace]
        public init(dev: String, size: UInt64, align: UInt64?, availableSize: UInt64, type: String, numaNode: Int32?, namespaces: [Namespace]) {
            self.dev = dev; self.size = size; self.align = align; self.availableSize = availableSize
            self.type = type; self.numaNode = numaNode; self.namespaces = namespaces
        }
        enum CodingKeys: String, CodingKey {
            case dev, size, align, type, namespaces
            case availableSize = "available_size", numaNode = "numa_node"
        }
    }

    /// Page structures in host RAM (`mem`) or on the namespace itself (`dev`).
    public enum Map: String, Codable, Sendable { case mem, dev }

    /// How a namespace is exposed (ndctl's `mode`).
    public enum Mode: String, Codable, Sendable {
        case fsdax, devdax, raw, sector, unknown
    }

    public struct Namespace: Codable, Equatable, Sendable {
        public var dev: String
        public var mode: Mode
        public var size: UInt64
        public var align: UInt64?
        public var numaNode: Int32?
        public var uuid: String?
        /// `pmem0` for fsdax/raw/sector: the block device to put a DAX filesystem on.
        public var blockdev: String?
        /// `dax0.0` for devdax: the character device vpmem maps directly.
        public var chardev: String?
        /// The namespace's first host-physical address (its SPA, from the NFIT), when known:
        /// where a host gives its frames to guests.
        public var resource: UInt64?
        /// The label's name (ndctl's `name`), when it has one.
        public var name: String?
        /// Where the page structures of an fsdax or devdax namespace live (ndctl's `map`).
        public var map: Map?
        /// The namespace's own (label) uuid when `uuid` is its pfn, dax or btt instance's, as
        /// `ndctl list -v` reports it.
        public var rawUUID: String?
        public init(dev: String, mode: Mode, size: UInt64, align: UInt64?, numaNode: Int32?, uuid: String?, blockdev: String?, chardev: String?,
                    resource: UInt64? = nil, name: String? = nil, map: Map? = nil, rawUUID: String? = nil) {
            self.dev = dev; self.mode = mode; self.size = size; self.align = align
            self.numaNode = numaNode; self.uuid = uuid; self.blockdev = blockdev; self.chardev = chardev
            self.resource = resource; self.name = name; self.map = map; self.rawUUID = rawUUID
        }

        /// The path vpmem maps through libpmem: `/dev/daxN.M` for devdax; for fsdax, the
        /// block device is given so the user can mount it and use a file there.
        public var devicePath: String? {
            if let chardev { return "/dev/\(chardev)" }
            if let blockdev { return "/dev/\(blockdev)" }
            return nil
        }

        enum CodingKeys: String, CodingKey {
            case dev, mode, size, align, uuid, blockdev, chardev, resource, name, map
            case numaNode = "numa_node", rawUUID = "raw_uuid"
        }
    }
}
