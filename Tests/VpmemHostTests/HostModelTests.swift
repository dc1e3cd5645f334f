import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostMemory
import Testing
import VpmemCore
import VpmemTestSupport
@testable import VpmemHost

/// ModelledHost operations against a naive model: guests with domids and RAM, backings owned by at most
/// one guest. After every operation the host is opened again from disk, as the next command
/// would, and compared with the model.
@Suite struct HostModelTests {
    struct Model {
        struct G { var domid: UInt16; var slots: [Int: Int]; var out: Set<UInt64> = [] }  // slot -> backing index; ballooned-out gfns
        var guests: [String: G] = [:]
        func owner(of backing: Int) -> (String, Int)? {
            for (n, g) in guests { for (s, b) in g.slots where b == backing { return (n, s) } }
            return nil
        }
    }

    static let names = ["g0", "g1", "g2", "g3"]

    @Test func hostOperationsMatchANaiveModel() async throws {
        await checkProperty(count: 60, input: Gen.int(in: 0...Int.max).array(of: 1...14)) { ops in
            let t = try TempHost()
            var model = Model()
            for code in ops {
                let op = code % 6, k = (code >> 2) % 4, j = (code >> 4) % 3, slot = (code >> 6) % 2
                let name = Self.names[k]
                let backing = t.file("b\(j).pmem")
                let gfn = UInt64(0x100 + (code >> 8) % 4)
                var ok = true
                var failure = ""
                do {
                    // One command: the host opened, changed, closed (its lock released).
                    let host = try t.open()
                    switch op {
                    case 0:
                        // A new config, or (for a guest that exists) the one it already has.
                        let path = model.guests[name] != nil ? t.file(name + ".toml")
                            : try t.writeGuest(name, memory: "\(64 * (1 + (code >> 8) % 4))M")
                        try host.createGuest(configPath: path, createBackings: false)
                    case 1: try host.destroyGuest(name)
                    case 2:
                        try host.attach(NVDIMMConfig(slot: slot, backing: backing, size: ByteSize(bytes: 2 << 20)), to: name, createBacking: true)
                    case 3: try host.detach(slot: slot, from: name)
                    case 4: try host.balloon(name, .out, gfn: Gfn(uncheckedRaw: gfn))
                    default: try host.balloon(name, .in, gfn: Gfn(uncheckedRaw: gfn))
                    }
                } catch { ok = false; failure = "\(error)" }
                // What the model says should have happened.
                let expected: Bool
                switch op {
                case 0:
                    expected = model.guests[name] == nil
                    if expected {
                        let used = Set(model.guests.values.map(\.domid))
                        model.guests[name] = .init(domid: (1...).first { !used.contains($0) }!, slots: [:])
                    }
                case 1:
                    expected = model.guests.removeValue(forKey: name) != nil
                case 2:
                    expected = model.guests[name] != nil && model.guests[name]!.slots[slot] == nil && model.owner(of: j) == nil
                    if expected { model.guests[name]!.slots[slot] = j }
                case 3:
                    expected = model.guests[name]?.slots[slot] != nil
                    if expected { model.guests[name]!.slots[slot] = nil }
                case 4:
                    expected = model.guests[name].map { !$0.out.contains(gfn) } ?? false
                    if expected { model.guests[name]!.out.insert(gfn) }
                default:
                    expected = model.guests[name]?.out.contains(gfn) ?? false
                    if expected { model.guests[name]!.out.remove(gfn) }
                }
                #expect(ok == expected, "op \(op) on \(name) slot \(slot) backing b\(j): host \(ok ? "accepted" : "refused"), model \(expected ? "accepts" : "refuses") \(failure)")
                try Self.check(try t.open(.inspect), model, t, trace: ops)
            }
        }
    }

    /// The host, as opened from disk, agrees with the model.
    static func check(_ host: ModelledHost, _ model: Model, _ t: TempHost, trace: [Int]) throws {
        #expect(Dictionary(uniqueKeysWithValues: host.admitted.map { ($0.name, $0.record.domid) }) == model.guests.mapValues(\.domid))
        // Ownership of every backing, by identity.
        for j in 0..<3 {
            let path = t.file("b\(j).pmem")
            guard let id = BackingIdentity.of(path: path) else { #expect(model.owner(of: j) == nil); continue }
            let got = host.owners[id].map { "\($0.guest)/\($0.slot)" }
            let want = model.owner(of: j).map { "\($0.0)/\($0.1)" }
            #expect(got == want, "owner of b\(j) after \(trace.map { "op\($0 % 4) g\(($0 >> 2) % 4) b\(($0 >> 4) % 3) s\(($0 >> 6) % 2)" })")
        }
        // RAM: each guest has exactly its RAM regions' frames; no frame has two owners; what no
        // guest has is in the heap.
        var owned: [MfnRange] = []
        for a in host.admitted {
            let c = try a.config.get()
            var bare = c
            bare.nvdimms = []
            let frames = Guest.ramRegions(of: try GuestPhysmap(config: bare)).reduce(UInt64(0)) { $0 + $1.range.size / 4096 }
            let out = model.guests[a.name]?.out ?? []
            #expect(host.machine.domains[a.domid]?.physmap.mappedFrames == frames - UInt64(out.count), "\(a.name)'s RAM")
            // The guest's own p2m has its RAM where the host has it: a ballooned-out page unmapped.
            let g = try host.guest(a.name, access: .inspect)
            for gfn in UInt64(0x100)..<0x104 {
                let t = g.p2m.translate(Gfn(uncheckedRaw: gfn))
                #expect((t?.mfn) == host.machine.domains[a.domid]?.physmap.translate(Gfn(uncheckedRaw: gfn)), "\(a.name) gfn \(gfn)")
                #expect((t == nil) == out.contains(gfn))
            }
            owned += host.machine.ownedRanges(of: a.domid)
        }
        let sorted = owned.sorted { $0.first < $1.first }
        for (x, y) in zip(sorted, sorted.dropFirst()) { #expect(!x.overlaps(y), "frames owned twice: \(x) \(y)") }
        let ram = host.config.ramBanks.reduce(UInt64(0)) { $0 + $1.count }
        let free = host.machine.heapFreeRanges().reduce(UInt64(0)) { $0 + $1.count }
        let table = host.machine.bootAllocations.reduce(UInt64(0)) { $0 + $1.count }
        #expect(free + owned.reduce(0) { $0 + $1.count } + table + (host.config.liveUpdateRegion?.count ?? 0) == ram)
        // The registry behind every guest's checked mapping: each attached backing's frames are
        // owned by its guest.
        for a in host.admitted where !(try a.config.get().nvdimms.isEmpty) {
            let g = try host.guest(a.name, access: .inspect)
            for d in g.nvdimms {
                #expect(host.mapping.registry.lookup(d.hostFrames.first)?.owner == a.domid, "\(a.name) slot \(d.slot)")
            }
        }
    }
}
