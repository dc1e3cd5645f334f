import PropertyBased
import Testing
import GuestMemory

func mfns(_ first: UInt64, _ count: UInt64) throws -> MfnRange { try MfnRange(first: Mfn.checked(first), count: count) }

@Suite struct HostRangeRegistryTests {
    let d1 = try! DomainID(1)
    let d2 = try! DomainID(2)

    func host() throws -> HostRangeRegistry {
        var r = HostRangeRegistry()
        try r.register(.ram, mfns(0, 0x1000))          // 16 MiB of RAM
        try r.register(.pmem, mfns(0x1000, 0x800))     // 8 MiB of pmem right after it
        try r.register(.mmio, mfns(0x2000, 0x10))      // a BAR, with a gap before it
        return r
    }

    @Test func hostRamIsRefused() throws {
        let registry = try host()
        #expect(throws: MappingError.hostRam(requested: try mfns(0x10, 4), ram: try mfns(0x10, 4))) {
            try registry.checkMappable(mfns(0x10, 4), allowed: [.pmem, .mmio], into: d1)
        }
        // Straddling RAM and pmem: refused as RAM, naming only the RAM part.
        #expect(throws: MappingError.hostRam(requested: try mfns(0xFFE, 4), ram: try mfns(0xFFE, 2))) {
            try registry.checkMappable(mfns(0xFFE, 4), allowed: [.pmem, .mmio], into: d1)
        }
    }

    @Test func aRangePartlyOutsideTheRegisteredPmemIsRefused() throws {
        let registry = try host()
        try registry.checkMappable(mfns(0x1000, 0x800), allowed: [.pmem], into: d1)
        #expect(throws: MappingError.notRegistered(requested: try mfns(0x17F0, 0x20), unregistered: try mfns(0x1800, 0x10))) {
            try registry.checkMappable(mfns(0x17F0, 0x20), allowed: [.pmem], into: d1)
        }
        #expect(throws: MappingError.notRegistered(requested: try mfns(0x1FF0, 0x20), unregistered: try mfns(0x1FF0, 0x10))) {
            try registry.checkMappable(mfns(0x1FF0, 0x20), allowed: [.pmem, .mmio], into: d1)
        }
        #expect(throws: MappingError.wrongHostKind(requested: try mfns(0x2000, 1), part: try mfns(0x2000, 1), found: .mmio, allowed: [.pmem])) {
            try registry.checkMappable(mfns(0x2000, 1), allowed: [.pmem], into: d1)
        }
    }

    @Test func framesOwnedByAnotherGuestAreRefusedUntilReleased() throws {
        var registry = try host()
        let claimed = try registry.claim(mfns(0x1100, 0x100), allowed: [.pmem], for: d1)
        #expect(claimed == [try mfns(0x1100, 0x100)])
        #expect(registry.lookup(try Mfn.checked(0x1180))?.owner == d1)
        #expect(throws: MappingError.ownedByAnotherGuest(requested: try mfns(0x10F0, 0x20), part: try mfns(0x1100, 0x10), owner: d1, requester: d2)) {
            try registry.checkMappable(mfns(0x10F0, 0x20), allowed: [.pmem], into: d2)
        }
        // The owner may claim overlapping frames again; only the unowned part is new.
        #expect(try registry.claim(mfns(0x10F0, 0x20), allowed: [.pmem], for: d1) == [try mfns(0x10F0, 0x10)])
        let before = registry
        #expect(throws: MappingError.notOwned(frames: try mfns(0x1100, 0x100), domain: d2)) {
            try registry.release([mfns(0x1100, 0x100)], from: d2)
        }
        #expect(registry == before)
        try registry.release(claimed + [mfns(0x10F0, 0x10)], from: d1)
        try registry.checkMappable(mfns(0x1000, 0x800), allowed: [.pmem], into: d2)
        #expect(registry == (try host()), "released frames coalesce back")
    }

    @Test func registeringOverAnExistingRangeIsRefused() throws {
        var registry = try host()
        #expect(throws: MappingError.self) { try registry.register(.pmem, mfns(0x17FF, 2)) }
        try registry.register(.pmem, mfns(0x1800, 0x800))  // adjacent is fine, and coalesces
        #expect(registry.lookup(try Mfn.checked(0x1000))?.frames == (try mfns(0x1000, 0x1000)))
        #expect(throws: MappingError.reservedDomainID(0x7FF2)) { try DomainID(0x7FF2) }
    }

    /// Random register/claim/release sequences against a per-frame array.
    @Test func followsAPerFrameModel() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int.max).array(of: 1...50)) { words in
            let universe = 96
            var registry = HostRangeRegistry()
            var kind = [HostMemoryKind?](repeating: nil, count: universe)
            var owner = [DomainID?](repeating: nil, count: universe)
            var claims: [(DomainID, [MfnRange])] = []
            let kinds: [HostMemoryKind] = [.ram, .pmem, .mmio]
            let allowedSets: [Set<HostMemoryKind>] = [[.pmem], [.mmio], [.pmem, .mmio], [.ram, .pmem]]
            for word in words {
                let w = UInt64(word)
                let first = Int(w % 80), count = Int((w / 80) % 16) + 1
                let frames = try! mfns(UInt64(first), UInt64(count))
                let span = first..<(first + count)
                let domain = try! DomainID(UInt16((w >> 20) % 3))
                let before = registry
                switch (w >> 24) % 3 {
                case 0:
                    let k = kinds[Int((w >> 30) % 3)]
                    let ok = (try? registry.register(k, frames)) != nil
                    #expect(ok == span.allSatisfy { kind[$0] == nil })
                    if !ok { #expect(registry == before) }
                    if ok { for i in span { kind[i] = k } }
                case 1:
                    let allowed = allowedSets[Int((w >> 30) % 4)]
                    let expectOK = span.allSatisfy { i in
                        guard let k = kind[i], k != .ram, allowed.contains(k) else { return false }
                        return owner[i] == nil || owner[i] == domain
                    }
                    do {
                        let got = try registry.claim(frames, allowed: allowed, for: domain)
                        #expect(expectOK)
                        let gotFrames = Set(got.flatMap { Int($0.first.raw)...Int($0.last.raw) })
                        #expect(gotFrames == Set(span.filter { owner[$0] == nil }))
                        for i in span { owner[i] = domain }
                        claims.append((domain, got))
                    } catch let error {
                        #expect(!expectOK)
                        #expect(registry == before)
                        if span.contains(where: { kind[$0] == .ram }) {
                            guard case MappingError.hostRam = error else { Issue.record("RAM not reported first: \(error)"); break }
                        }
                    }
                default:
                    guard !claims.isEmpty else { break }
                    let (claimant, parts) = claims.remove(at: Int((w >> 30) % UInt64(claims.count)))
                    let releaser = (w >> 33) % 4 == 0 ? domain : claimant
                    let allOwned = parts.allSatisfy { p in (Int(p.first.raw)...Int(p.last.raw)).allSatisfy { owner[$0] == releaser } }
                    let ok = (try? registry.release(parts, from: releaser)) != nil
                    #expect(ok == allOwned)
                    if !ok { #expect(registry == before) }
                    if ok { for p in parts { for i in Int(p.first.raw)...Int(p.last.raw) { owner[i] = nil } } }
                }
                for i in 0..<universe {
                    let entry = registry.lookup(try! Mfn.checked(UInt64(i)))
                    #expect(entry?.kind == kind[i] && entry?.owner == owner[i], "frame \(i)")
                }
                let r = registry.ranges
                for (a, b) in zip(r, r.dropFirst()) {
                    #expect(a.frames.last < b.frames.first)
                    #expect(!(a.frames.last.raw + 1 == b.frames.first.raw && a.kind == b.kind && a.owner == b.owner), "not coalesced")
                }
                #expect(!r.contains { $0.kind == .ram && $0.owner != nil })
            }
        }
    }
}
