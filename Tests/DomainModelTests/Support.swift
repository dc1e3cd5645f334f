import Foundation
import Testing
import DomainModel
import GuestMemory
import VpmemCore

let KiB: UInt64 = 1 << 10
let MiB: UInt64 = 1 << 20
let GiB: UInt64 = 1 << 30

/// A scratch directory removed when the value goes away.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "vpmem-domain-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

func guestConfig(aperture: UInt64 = 64 * GiB, nvdimms: [NVDIMMConfig] = [], persistence: NVDIMMPersistence? = nil) -> GuestConfig {
    GuestConfig(name: "g", memory: ByteSize(bytes: 2 * GiB), vcpus: 2, pmemAperture: ByteSize(bytes: aperture),
                nvdimms: nvdimms, nvdimmPersistence: persistence)
}

func nvdimm(_ slot: Int, size: UInt64 = 2 * MiB, label: UInt64 = 128 * KiB, node: UInt32 = 0,
            readOnly: Bool = false, unarmed: Bool = false) -> NVDIMMConfig {
    NVDIMMConfig(slot: slot, backing: "n\(slot).pmem", size: ByteSize(bytes: size), labelSize: ByteSize(bytes: label),
                 node: node, readOnly: readOnly, unarmed: unarmed)
}

/// Everything a failed operation must leave as it was.
struct DomainSnapshot: Equatable {
    let config: GuestConfig
    let physmap: GuestPhysmap
    let p2m: [P2MMapping]
    let registry: HostRangeRegistry
    let keys: KeyStore
    let tables: PublishedTables?
    let slots: [Int]
    let fit: [UInt8]
    let fitGeneration: UInt64

    init(_ d: Guest) {
        config = d.config
        physmap = d.physmap
        p2m = (try? d.p2m.mappings(gfn: Gfn(uncheckedRaw: 0), count: P2M.maxGfn.raw + 1)) ?? []
        registry = d.mapping.registry
        keys = d.keys
        tables = d.tables
        slots = d.nvdimms.map(\.slot)
        fit = d.device.handler.fit
        fitGeneration = d.device.handler.fitGeneration
    }
}

func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}
func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
