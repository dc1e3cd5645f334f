import Foundation
import Testing
import GuestMemory
import VpmemCore

/// `vpmem guest show --json`: scripts rely on the keys and on numbers being plain byte counts.
@Suite struct PhysmapReportTests {
    @Test func jsonHasStableSnakeCaseKeysAndByteCounts() throws {
        var physmap = try GuestPhysmap(config: GuestConfig(name: "j", memory: bytes(2 * GiB), pmemAperture: bytes(4 * GiB)))
        try physmap.placePmem(name: "pmem0", size: GiB)
        let text = try JSONOutput.encode(PhysmapReport(physmap))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["name", "config", "hole_start", "regions", "pmem_aperture", "e820", "safe_range", "device_tree"])
        let config = try #require(json["config"] as? [String: Any])
        #expect(config["safe_range_size"] is NSNull, "present as null when defaulted")
        #expect((config["memory"] as? NSNumber)?.uint64Value == 2 * GiB)
        let safe = try #require(json["safe_range"] as? [String: Any])
        #expect((safe["start"] as? NSNumber)?.uint64Value == physmap.safeRange.range.first.raw)
        #expect(safe["dt_compatible"] as? String == "xen,safe-range")
        let regions = try #require(json["regions"] as? [[String: Any]])
        #expect(regions.contains { $0["kind"] as? String == "pmem" && $0["name"] as? String == "pmem0" })
        #expect(Set(regions.flatMap(\.keys)) == ["name", "kind", "start", "last", "size"])
        let e820 = try #require(json["e820"] as? [[String: Any]])
        #expect(e820.last?["type_code"] as? Int == 2)
        let none = try JSONOutput.encode(PhysmapReport(GuestPhysmap(config: GuestConfig(name: "n", memory: bytes(GiB)))))
        #expect(none.contains("\"pmem_aperture\" : null"))
    }
}
