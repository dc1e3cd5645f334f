import Foundation
import GuestMemory
import HostMemory
import Testing
@testable import VpmemHost

/// Seed 003 on one host: static memory configured in host.toml for a named guest, the direct
/// map asked for in the guest's config, and the ballooning rules, through `ModelledHost`.
@Suite struct StaticMemoryHostTests {
    /// A host whose host.toml reserves [0, 256M) + 16 extra pages for guest "s".
    func host() throws -> TempHost {
        let t = try TempHost()
        let toml = t.directory + "/host.toml"
        try (String(contentsOfFile: toml, encoding: .utf8)
            + "\n[[static_memory]]\nguest = \"s\"\nstart = \"0x0\"\nsize = \"\((256 << 20) + 16 * 4096)\"\n")
            .write(toFile: toml, atomically: true, encoding: .utf8)
        return t
    }

    @Test func aDirectMappedGuestHasGfnEqualMfnAndBalloonsWithinItsPool() throws {
        let t = try host()
        let path = try t.writeGuest("s", extra: "direct_map = true\n")
        do {
            let h = try t.open()
            try h.createGuest(configPath: path, createBackings: false)
        }
        var h: ModelledHost! = try t.open()
        let d = try h.admittedGuest("s").domid
        let hd = try #require(h.machine.domains[d])
        #expect(hd.physmap.extents.allSatisfy { $0.gfn.raw == $0.mfn.raw }, "1:1")
        #expect(hd.physmap.mappedFrames == 65536)
        // The guest's own p2m agrees: gfn 0x1234 is mfn 0x1234.
        let g = try h.guest("s", access: .inspect)
        defer { _ = g }
        #expect(g.p2m.translate(Gfn(uncheckedRaw: 0x1234))?.mfn == Mfn(uncheckedRaw: 0x1234))
        // The 16 frames past its RAM are its reserved pool, never the heap's.
        let pool = MfnRange(uncheckedFirst: 65536, end: 65536 + 16)
        #expect(!h.machine.heapFreeRanges().contains { $0.overlaps(pool) })
        // Balloon out: the page goes back to the pool; in: the direct map gives it back 1:1.
        try h.balloon("s", .out, gfn: Gfn(uncheckedRaw: 0x1234))
        h = nil
        h = try t.open()
        #expect(h.machine.domains[d]?.physmap.translate(Gfn(uncheckedRaw: 0x1234)) == nil)
        #expect(!h.machine.heapFreeRanges().contains { $0.contains(Mfn(uncheckedRaw: 0x1234)) })
        #expect(try h.balloon("s", .in, gfn: Gfn(uncheckedRaw: 0x1234)) == Mfn(uncheckedRaw: 0x1234))
        // A gfn the direct map cannot back (outside its static memory) is refused.
        #expect(throws: HostError.self) { try h.balloon("s", .in, gfn: Gfn(uncheckedRaw: 0x90000)) }
        // Destroyed, its static memory stays reserved: the heap still does not have it.
        try h.destroyGuest("s")
        h = nil
        h = try t.open()
        #expect(!h.machine.heapFreeRanges().contains { $0.overlaps(MfnRange(uncheckedFirst: 0, end: 65536 + 16)) })
    }

    @Test func aStaticGuestBalloonsFromTheHeapOnlyWhenItsConfigAllows() throws {
        for allow in [false, true] {
            let t = try host()
            let path = try t.writeGuest("s", extra: allow ? "balloon_from_heap = true\n" : "")
            let h = try t.open()
            try h.createGuest(configPath: path, createBackings: false)
            // Its pool holds 16 spare pages: 16 balloon-ins past its RAM come from there...
            for i in 0..<16 { try h.balloon("s", .in, gfn: Gfn(uncheckedRaw: 0x80000 + UInt64(i))) }
            // ...and the 17th needs the heap.
            let gfn = Gfn(uncheckedRaw: 0x80000 + 16)
            if allow {
                let m = try h.balloon("s", .in, gfn: gfn)
                #expect(m.map { $0.raw >= 65536 + 16 } == true, "a heap page")
            } else {
                #expect(throws: HostError.self) { try h.balloon("s", .in, gfn: gfn) }
            }
        }
    }

    @Test func theDirectMapNeedsStaticMemory() throws {
        let t = try TempHost()
        let path = try t.writeGuest("d", extra: "direct_map = true\n")
        let h = try t.open()
        #expect {
            try h.createGuest(configPath: path, createBackings: false)
        } throws: { "\($0)".contains("needs static memory") }
        #expect(h.admitted.isEmpty)
    }
}
