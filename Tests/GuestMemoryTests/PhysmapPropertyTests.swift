import PropertyBased
import Testing
import GuestMemory
import VpmemCore

/// Random sequences of later actions against a naive model of the physmap rules: a flat list of
/// used ranges, checked by brute force.
@Suite struct PhysmapPropertyTests {
    static let config = GuestConfig(name: "p", memory: bytes(2 * GiB), pciMmio64: bytes(4 * GiB), pmemAperture: bytes(8 * GiB))

    enum Op: CustomStringConvertible {
        case mmio(GpaRange), ram(GpaRange), pmemAt(GpaRange), place(UInt64), remove(Int)
        var description: String {
            switch self {
            case .mmio(let r): return "mmio \(r)"
            case .ram(let r): return "ram \(r)"
            case .pmemAt(let r): return "pmem at \(r)"
            case .place(let s): return "place \(ByteSize(bytes: s))"
            case .remove(let i): return "remove #\(i)"
            }
        }
    }

    /// Decodes one random word into an operation over [0, 192 GiB): the layout ends at 16 GiB
    /// and the safe range covers [16 GiB, 144 GiB), so every rule gets exercised.
    static func op(_ word: Int) -> Op? {
        let w = UInt64(bitPattern: Int64(word))
        let units: [UInt64] = [4 * KiB, 2 * MiB, GiB]
        let unit = units[Int(w % 3)]
        let sizeUnit = units[Int((w >> 2) % 3)]
        let start = ((w >> 4) % (192 * GiB / unit)) * unit
        let size = ((w >> 40) % 4 + 1) * sizeUnit
        guard let r = try? GpaRange(start: Gpa(start), size: size) else { return nil }
        switch (w >> 50) % 6 {
        case 0: return .mmio(r)
        case 1: return .ram(r)
        case 2: return .pmemAt(r)
        case 3, 4: return .place(size)
        default: return .remove(Int((w >> 53) % 4))
        }
    }

    /// The rules, written as plainly as possible.
    struct Model {
        var used: [(name: String, range: GpaRange, pmem: Bool)]
        let aperture: GpaRange
        let safe: GpaRange

        func free(_ r: GpaRange) -> Bool { !used.contains { $0.range.overlaps(r) } }

        func admits(_ r: GpaRange, pmem: Bool) -> Bool {
            if r.overlaps(safe) { return false }
            if pmem {
                return r.first.raw % GiB == 0 && r.size % (2 * MiB) == 0 && aperture.contains(r) && free(r)
            }
            return r.first.raw % 4096 == 0 && r.size % 4096 == 0 && !aperture.overlaps(r) && free(r)
        }

        /// Lowest 1 GiB boundary in the aperture where `size` bytes are free.
        func placement(_ size: UInt64) -> GpaRange? {
            guard size % (2 * MiB) == 0 else { return nil }
            var start = aperture.first.raw
            while start <= aperture.last.raw {
                if let r = try? GpaRange(start: Gpa(start), size: size), aperture.contains(r), free(r) { return r }
                start += GiB
            }
            return nil
        }
    }

    @Test func laterActionsFollowTheRulesAndFailuresChangeNothing() async {
        await propertyCheck(count: 300, input: Gen.int(in: Int.min...Int.max).array(of: 1...40)) { words in
            var physmap = try! GuestPhysmap(config: Self.config)
            let built = physmap.regions
            var model = Model(used: built.map { ($0.name, $0.range, false) }, aperture: physmap.pmemAperture!, safe: physmap.safeRange.range)
            let safe = physmap.safeRange
            for (i, word) in words.enumerated() {
                guard let op = Self.op(word) else { continue }
                let before = physmap
                let name = "r\(i)"
                var accepted: Bool
                switch op {
                case .mmio(let r):
                    accepted = (try? physmap.addMmio(name: name, at: r)) != nil
                    #expect(accepted == model.admits(r, pmem: false), "\(op)")
                    if accepted { model.used.append((name, r, false)) }
                case .ram(let r):
                    accepted = (try? physmap.addRam(name: name, at: r)) != nil
                    #expect(accepted == model.admits(r, pmem: false), "\(op)")
                    if accepted { model.used.append((name, r, false)) }
                case .pmemAt(let r):
                    accepted = (try? physmap.addPmem(name: name, at: r)) != nil
                    #expect(accepted == model.admits(r, pmem: true), "\(op)")
                    if accepted { model.used.append((name, r, true)) }
                case .place(let size):
                    let placed = try? physmap.placePmem(name: name, size: size)
                    let expected = model.placement(size)
                    #expect(placed == expected, "\(op)")
                    accepted = placed != nil
                    if let r = placed { model.used.append((name, r, true)) }
                case .remove(let k):
                    let pmem = model.used.filter(\.pmem)
                    let target = k < pmem.count ? pmem[k].name : "missing"
                    let removed = try? physmap.removePmem(name: target)
                    #expect(removed == pmem.first { $0.name == target }?.range, "\(op)")
                    accepted = removed != nil
                    model.used.removeAll { $0.name == target }
                }
                if !accepted { #expect(physmap == before, "failed \(op) changed the physmap") }
                // Invariants after every step.
                let ranges = physmap.regions.map(\.range)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.last < b.first) }
                #expect(!ranges.contains { $0.overlaps(safe.range) })
                #expect(physmap.safeRange == safe)
                #expect(Set(physmap.regions.map(\.name)) == Set(model.used.map(\.name)))
                #expect(physmap.pmemRegions.allSatisfy { model.aperture.contains($0.range) && $0.range.first.raw % GiB == 0 })
            }
        }
    }

    @Test func placementPicksTheLowestFreeAlignedSlotAboveEverythingElse() throws {
        var physmap = try GuestPhysmap(config: Self.config)
        let aperture = physmap.pmemAperture!
        // The aperture is above RAM, the hole and the PCI aperture.
        #expect(physmap.regions.allSatisfy { $0.range.last < aperture.first })
        let a = try physmap.placePmem(name: "a", size: 3 * GiB / 2)
        let b = try physmap.placePmem(name: "b", size: 2 * MiB)
        #expect(a == (try sized(aperture.first.raw, 3 * GiB / 2)))
        #expect(b == (try sized(aperture.first.raw + 2 * GiB, 2 * MiB)), "next 1 GiB boundary after a")
        try physmap.removePmem(name: "a")
        let c = try physmap.placePmem(name: "c", size: GiB)
        #expect(c.first == aperture.first, "a freed slot is reused")
        #expect(throws: PhysmapError.pmemApertureFull(name: "d", size: 7 * GiB, aperture: aperture, largestFree: 5 * GiB)) {
            try physmap.placePmem(name: "d", size: 7 * GiB)
        }
        #expect(throws: PhysmapError.duplicateName("c")) { try physmap.placePmem(name: "c", size: GiB) }
        #expect(throws: PhysmapError.noSuchPmem(name: "zz", attached: ["c", "b"])) { try physmap.removePmem(name: "zz") }
        var none = try GuestPhysmap(config: GuestConfig(name: "np", memory: bytes(GiB)))
        #expect(throws: PhysmapError.noPmemAperture(guest: "np")) { try none.placePmem(name: "x", size: GiB) }
    }
}
