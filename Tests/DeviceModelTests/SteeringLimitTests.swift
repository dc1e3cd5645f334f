import DeviceModel
import GuestMemory
import Logging
import Testing
import VpmemTestSupport

@Suite struct SteeringLimitTests {
    @Test func rangesetLimitIsExactAndARefusalChangesNothingAndIsLogged() throws {
        let (logger, logs) = capturingLogger()
        let host = try SteeringHost(logger: logger)
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "dm")
        for i in 0..<UInt64(256) { try e.mapRange(s, .port, first: i * 4, last: i * 4 + 1) }
        let before = try e.ranges(s, .port)
        let charged = e.rangeMemory.charged
        #expect(before.count == 256)
        #expect(throws: SteeringError.self) { try e.mapRange(s, .port, first: 0x2000, last: 0x2000) }
        do {
            try e.mapRange(s, .port, first: 0x2000, last: 0x2000)
        } catch {
            guard case let .rangeLimitReached(d, server, kind, inner) = error,
                  case let .limitReached(_, limit, needed, _, _, _) = inner else {
                Issue.record("expected rangeLimitReached, got \(error)")
                return
            }
            #expect(d.raw == 1 && server == s && kind == .port && limit == 256 && needed == 257)
            #expect(error.description.contains("fixed at 256"))
        }
        #expect(try e.ranges(s, .port) == before)
        #expect(e.rangeMemory.charged == charged)
        let refusals = logs.entries.filter { $0.level == .warning && $0.message.contains("rangeset limit reached") }
        #expect(refusals.count == 2)
        #expect(refusals.first?.metadata["kind"] == "port")
        #expect(refusals.first?.metadata["domain"] == "d1")
        // At the limit, a range that merges with one already held is still accepted.
        try e.mapRange(s, .port, first: 2, last: 2)
        #expect(try e.ranges(s, .port).count == 256)
        // Removing from the middle of a range splits it: refused at the limit, unchanged.
        try e.mapRange(s, .port, first: 0x3FC, last: 0x3FF)
        let full = try e.ranges(s, .port)
        #expect(throws: SteeringError.self) { try e.unmapRange(s, .port, first: 1, last: 1) }
        #expect(try e.ranges(s, .port) == full)
    }

    @Test func wpMemLimitIsRaisedOnlyByTheHostAndCheckedAs64Bits() throws {
        let (logger, logs) = capturingLogger()
        let host = try SteeringHost(logger: logger)
        // 2^34 frames of RAM: the maximum is 2^32 - 1 (the rangeset's unsigned int), not 2^33.
        let big = try makeGuest(host, domain: 1, declaredRAM: 1 << 34)
        #expect(big.wpMemLimit == 256)
        let twoTo32Plus5: UInt64 = (1 << 32) + 5
        #expect(throws: SteeringError.self) { try host.setWpMemRangeLimit(big.domain, twoTo32Plus5) }
        do { try host.setWpMemRangeLimit(big.domain, twoTo32Plus5) } catch {
            guard case let .valueAboveMaximum(_, value, maximum, _) = error else {
                Issue.record("expected valueAboveMaximum, got \(error)")
                return
            }
            #expect(value == twoTo32Plus5)  // not truncated to 5
            #expect(maximum == UInt64(UInt32.max))
            #expect(error.description.contains("4294967301"))
        }
        #expect(big.wpMemLimit == 256)
        #expect(logs.entries.contains { $0.message.contains("wp_mem limit refused") && $0.metadata["requested"] == "4294967301" })
        try host.setWpMemRangeLimit(big.domain, UInt64(UInt32.max))
        #expect(big.wpMemLimit == UInt64(UInt32.max))
        #expect(throws: SteeringError.self) { try host.setWpMemRangeLimit(big.domain, UInt64(UInt32.max) + 1) }

        // A 16 MiB guest: 4096 frames, so at most 2048 ranges.
        let small = try makeGuest(host, domain: 2, ramFrames: 4096)
        try host.setWpMemRangeLimit(small.domain, 2048)
        #expect(throws: SteeringError.self) { try host.setWpMemRangeLimit(small.domain, 2049) }
        #expect(small.wpMemLimit == 2048)
        #expect(HostSteeringConfig.maximumWpMemRanges(ramFrames: 4096) == 2048)
        #expect(HostSteeringConfig.maximumWpMemRanges(ramFrames: 100) == 256)
    }

    @Test func wpMemLimitAtCreationIsCheckedAndARefusedGuestReservesNothing() throws {
        let host = try SteeringHost()
        #expect(throws: SteeringError.self) { try makeGuest(host, domain: 3, wpLimit: (1 << 32) + 5) }
        #expect(throws: SteeringError.self) { try host.engine(try DomainID(3)) }
        #expect(host.reserved == 0)
        let e = try makeGuest(host, domain: 3, wpLimit: 1000)
        #expect(e.wpMemLimit == 1000)
        #expect(e.rangeLimit(.wpMem) == 1000 && e.rangeLimit(.mmio) == 256)
    }

    @Test func raisedWpMemLimitAppliesToEveryServerAndCannotDropBelowWhatIsHeld() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, ramFrames: 4096)
        let a = try e.createServer(name: "a")
        for i in 0..<UInt64(256) { try e.mapRange(a, .wpMem, first: i * 2, last: i * 2) }
        #expect(throws: SteeringError.self) { try e.mapRange(a, .wpMem, first: 600, last: 600) }
        try host.setWpMemRangeLimit(e.domain, 300)
        try e.mapRange(a, .wpMem, first: 600, last: 600)
        let b = try e.createServer(name: "b")  // created after the raise: same limit
        for i in 0..<UInt64(300) { try e.mapRange(b, .wpMem, first: i * 2, last: i * 2) }
        #expect(throws: SteeringError.self) { try e.mapRange(b, .wpMem, first: 1000, last: 1000) }
        do { try host.setWpMemRangeLimit(e.domain, 299) } catch {
            guard case let .limitBelowRanges(_, server, held, requested) = error else {
                Issue.record("expected limitBelowRanges, got \(error)")
                return
            }
            #expect(server == b && held == 300 && requested == 299)
        }
        #expect(e.wpMemLimit == 300)
    }

    @Test func rangesOutsideTheirSpaceAndUnmappingWhatIsNotMappedAreRefused() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "dm")
        #expect(throws: SteeringError.self) { try e.mapRange(s, .port, first: 0xFFFF, last: 0x1_0000) }
        #expect(throws: SteeringError.self) { try e.mapRange(s, .port, first: 5, last: 4) }
        #expect(throws: SteeringError.self) { try e.mapRange(s, .wpMem, first: 0, last: 1 << 36) }
        try e.mapRange(s, .mmio, first: 0x1000, last: 0x1FFF)
        #expect(throws: SteeringError.self) { try e.unmapRange(s, .mmio, first: 0x1800, last: 0x2000) }
        #expect(try e.ranges(s, .mmio) == [0x1000...0x1FFF])
        try e.unmapRange(s, .mmio, first: 0x1800, last: 0x1FFF)
        #expect(try e.ranges(s, .mmio) == [0x1000...0x17FF])
        #expect(throws: SteeringError.self) { try e.mapRange(IoreqServerID(7), .mmio, first: 0, last: 0) }
    }

    @Test func serverSlotsAndTheDefaultServerAreLimited() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let d = try e.createServer(name: "qemu", isDefault: true)
        #expect(throws: SteeringError.self) { try e.createServer(name: "second default", isDefault: true) }
        for i in 1..<SteeringEngine.maxServers { _ = try e.createServer(name: "s\(i)") }
        #expect(throws: SteeringError.self) { try e.createServer(name: "one too many") }
        try e.destroyServer(IoreqServerID(3))
        #expect(try e.createServer(name: "reuses 3") == IoreqServerID(3))
        #expect(e.servers.map(\.id.raw) == Array(0..<8))
        try e.destroyServer(d)
        #expect(e.defaultServer == nil)
        #expect(try e.createServer(name: "new default", isDefault: true) == d)
    }
}

@Suite struct RangeMemoryAccountingTests {
    /// Maps scattered wp_mem frames until the allowance refuses one; returns how many fit.
    func fill(_ e: SteeringEngine, _ s: IoreqServerID, upTo n: UInt64) throws -> (Int, SteeringError?) {
        for i in 0..<n {
            do { try e.mapRange(s, .wpMem, first: i * 2, last: i * 2) } catch { return (Int(i), error) }
        }
        return (Int(n), nil)
    }

    @Test func oneGuestExhaustingItsAllowanceCannotFailAnother() throws {
        let (logger, logs) = capturingLogger()
        let host = try SteeringHost(config: HostSteeringConfig(hostBudgetBytes: 256 << 10, guestAllowanceBytes: 64 << 10), logger: logger)
        let a = try makeGuest(host, domain: 1, ramFrames: 1 << 16, wpLimit: 30_000)
        let b = try makeGuest(host, domain: 2, ramFrames: 1 << 16, wpLimit: 30_000)
        let sa = try a.createServer(name: "xengt")
        let sb = try b.createServer(name: "xengt")
        let (fitted, error) = try fill(a, sa, upTo: 30_000)
        guard case let .guestAllowanceExhausted(d, allowance, charged, needed)? = error else {
            Issue.record("expected guestAllowanceExhausted, got \(String(describing: error))")
            return
        }
        #expect(d == a.domain && allowance == 64 << 10)
        #expect(charged + needed > allowance && charged <= allowance)
        #expect(error!.description.contains("allowance ran out"))
        #expect(fitted >= 1024 && fitted < 30_000)
        // Unchanged by the refusal.
        #expect(try a.ranges(sa, .wpMem).count == fitted)
        #expect(a.rangeMemory.charged == charged)
        #expect(a.rangeMemory.charged == UInt64(a.servers.map(\.rangeBytes).reduce(0, +)))
        #expect(logs.entries.contains { $0.message.contains("allowance exhausted") && $0.metadata["domain"] == "d1" })
        // The other guest gets exactly as far: A's exhaustion took nothing from it.
        let (fittedB, errorB) = try fill(b, sb, upTo: 30_000)
        #expect(fittedB == fitted)
        guard case let .guestAllowanceExhausted(db, _, _, _)? = errorB else {
            Issue.record("expected B's own allowance to end it")
            return
        }
        #expect(db == b.domain)
        // Freeing ranges credits the allowance; A can map again.
        try a.destroyServer(sa)
        #expect(a.rangeMemory.charged == 0)
        let sa2 = try a.createServer(name: "again")
        try a.mapRange(sa2, .wpMem, first: 0, last: 0)
    }

    /// A change that needs no new slot can still need memory: a block whose ranges come to span
    /// more than 2^32 values keeps its offsets' high halves in a side buffer. An add or a remove
    /// that would allocate it beyond the allowance is refused, and leaves the set as it was.
    @Test func aChangeThatNeedsWideStorageIsChargedBeforeItStays() throws {
        var probe = try RangeSet(name: "probe", limit: 256)
        try probe.reserveCapacity(16)
        let sixteenNarrow = UInt64(probe.bytesAllocated)
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, allowance: sixteenNarrow)
        let s = try e.createServer(name: "bars")
        // Nine pages of MMIO: capacity 16, narrow blocks, the whole allowance used.
        for i in 0..<UInt64(9) { try e.mapRange(s, .mmio, first: i << 16, last: i << 16 | 0xFFF) }
        #expect(e.rangeMemory.charged == sixteenNarrow)
        let held = try e.ranges(s, .mmio)
        // A tenth, 1 TiB up, has a free slot but makes the second block wide.
        var refusal: SteeringError?
        do { try e.mapRange(s, .mmio, first: 1 << 40, last: 1 << 40 | 0xFFF) } catch { refusal = error }
        guard case let .guestAllowanceExhausted(d, allowance, charged, needed)? = refusal else {
            Issue.record("expected guestAllowanceExhausted, got \(String(describing: refusal))")
            return
        }
        #expect(d == e.domain && allowance == sixteenNarrow && charged == sixteenNarrow && needed > 0)
        #expect(try e.ranges(s, .mmio) == held)
        #expect(e.rangeMemory.charged == sixteenNarrow)
        #expect(e.rangeMemory.charged == UInt64(e.servers.map(\.rangeBytes).reduce(0, +)))
        // A remove can do the same: with ranges 0-7 in block 0 and one 1 TiB up alone in block 1,
        // removing one of the eight pulls the far range into block 0.
        let t = try e.createServer(name: "ports-and-more")
        try e.destroyServer(s)
        for i in 0..<UInt64(8) { try e.mapRange(t, .mmio, first: i << 16, last: i << 16 | 0xFFF) }
        try e.mapRange(t, .mmio, first: 1 << 40, last: 1 << 40 | 0xFFF)
        let chargedBefore = e.rangeMemory.charged
        let before = try e.ranges(t, .mmio)
        #expect(chargedBefore == sixteenNarrow, "block 1 holds only the far range, so it is narrow")
        #expect(throws: SteeringError.self) { try e.unmapRange(t, .mmio, first: 3 << 16, last: 3 << 16 | 0xFFF) }
        #expect(try e.ranges(t, .mmio) == before)
        #expect(e.rangeMemory.charged == chargedBefore)
        #expect(e.rangeMemory.charged == UInt64(e.servers.map(\.rangeBytes).reduce(0, +)))
        // A first range that alone spans more than 2^32 values needs the side buffer too.
        let u = try e.createServer(name: "one huge BAR")
        try e.destroyServer(t)
        #expect(e.rangeMemory.charged == 0)
        #expect(throws: SteeringError.self) { try e.mapRange(u, .mmio, first: 0, last: 1 << 40) }
        #expect(try e.ranges(u, .mmio).isEmpty)
        #expect(e.rangeMemory.charged == 0)
        #expect(e.rangeMemory.charged == UInt64(e.servers.map(\.rangeBytes).reduce(0, +)))
        // A wp_mem limit that is not a multiple of 8 leaves the capacity above the limit (20 ->
        // 24 slots): the refusal must not depend on rebuilding the set at that capacity.
        let w = try makeGuest(host, domain: 3, ramFrames: 1 << 16, declaredRAM: 1 << 34, wpLimit: 20)
        let v = try w.createServer(name: "xengt")
        for i in 0..<UInt64(17) { try w.mapRange(v, .wpMem, first: i * 2, last: i * 2) }
        let wpHeld = try w.ranges(v, .wpMem)
        let wpCharged = w.rangeMemory.charged
        let tight = try makeGuest(host, domain: 4, ramFrames: 1 << 16, declaredRAM: 1 << 34, allowance: wpCharged, wpLimit: 20)
        let tv = try tight.createServer(name: "xengt")
        for i in 0..<UInt64(17) { try tight.mapRange(tv, .wpMem, first: i * 2, last: i * 2) }
        #expect(tight.rangeMemory.charged == wpCharged && wpCharged == tight.rangeMemory.allowance)
        #expect(throws: SteeringError.self) { try tight.mapRange(tv, .wpMem, first: 1 << 33, last: 1 << 33) }
        #expect(try tight.ranges(tv, .wpMem) == wpHeld)
        #expect(tight.rangeMemory.charged == wpCharged)
        #expect(tight.rangeMemory.charged == UInt64(tight.servers.map(\.rangeBytes).reduce(0, +)))
        try w.mapRange(v, .wpMem, first: 1 << 33, last: 1 << 33)
        #expect(w.rangeMemory.charged > wpCharged, "the roomy guest pays for the side buffer")
        // Within the allowance the same changes go through.
        let roomy = try makeGuest(host, domain: 2, allowance: 4 * sixteenNarrow)
        let r = try roomy.createServer(name: "bars")
        for i in 0..<UInt64(8) { try roomy.mapRange(r, .mmio, first: i << 16, last: i << 16 | 0xFFF) }
        try roomy.mapRange(r, .mmio, first: 1 << 40, last: 1 << 40 | 0xFFF)
        try roomy.unmapRange(r, .mmio, first: 3 << 16, last: 3 << 16 | 0xFFF)
        #expect(roomy.rangeMemory.charged > sixteenNarrow)
        #expect(roomy.rangeMemory.charged == UInt64(roomy.servers.map(\.rangeBytes).reduce(0, +)))
    }

    /// `ranges` with `[first, last]` added (merging overlapping and adjacent ranges) or removed.
    static func applied(_ ranges: [ClosedRange<UInt64>], _ first: UInt64, _ last: UInt64, adding: Bool) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        var new = first...last
        for r in ranges {
            if adding {
                // Values stay far below UInt64.max here, so + 1 cannot wrap.
                if r.lowerBound <= new.upperBound + 1 && new.lowerBound <= r.upperBound + 1 {
                    new = min(r.lowerBound, new.lowerBound)...max(r.upperBound, new.upperBound)
                } else {
                    out.append(r)
                }
            } else {
                if r.lowerBound < first { out.append(r.lowerBound...min(r.upperBound, first - 1)) }
                if r.upperBound > last { out.append(max(r.lowerBound, last + 1)...r.upperBound) }
            }
        }
        if adding { out.append(new) }
        return out.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Random adds and removes of MMIO ranges, near each other and (now and then) terabytes
    /// apart, under an allowance of one 32-slot set: whatever the encoding needs (more slots, wide blocks' side
    /// buffer), the charge equals what the sets hold and stays within the allowance, a refused
    /// change leaves the ranges as they were, and an accepted one does what the model says.
    @Test func rangeMemoryStaysWithinTheAllowanceWhateverTheSpan() async throws {
        // Exactly what 32 narrow slots cost: growing to 64, or a side buffer at 32, is refused.
        var probe = try RangeSet(name: "probe", limit: 256)
        try probe.reserveCapacity(32)
        let allowance = UInt64(probe.bytesAllocated)
        await checkProperty(count: 60, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var r = SplitMix64(seed: seed)
            let host = try SteeringHost()
            let e = try makeGuest(host, domain: 1, allowance: allowance)
            let s = try e.createServer(name: "bars")
            var model: [ClosedRange<UInt64>] = []
            for step in 0..<80 {
                let far = r.next(below: 12) == 0
                let first = (far ? r.next(below: 1 << 44) : r.next(below: 1 << 20)) & ~0xFFF
                let last = first + (r.next(below: 4) << 12 | 0xFFF)
                let adding = r.next(below: 3) != 0
                if !adding && !model.contains(where: { $0.lowerBound <= first && last <= $0.upperBound }) { continue }
                do {
                    if adding { try e.mapRange(s, .mmio, first: first, last: last) } else { try e.unmapRange(s, .mmio, first: first, last: last) }
                    model = Self.applied(model, first, last, adding: adding)
                } catch {
                    guard let refusal = error as? SteeringError, case .guestAllowanceExhausted = refusal else {
                        Issue.record("seed \(seed) step \(step): unexpected \(error)")
                        return
                    }
                }
                let held = try e.ranges(s, .mmio)
                #expect(held == model, "seed \(seed) step \(step)")
                let charged = e.rangeMemory.charged
                #expect(charged == UInt64(e.servers.map(\.rangeBytes).reduce(0, +)), "seed \(seed) step \(step)")
                #expect(charged <= allowance, "seed \(seed) step \(step): \(charged) charged")
                if held != model || charged > allowance { return }
            }
        }
    }

    @Test func theHostBudgetRefusesAGuestWhoseAllowanceDoesNotFit() throws {
        let (logger, logs) = capturingLogger()
        let host = try SteeringHost(config: HostSteeringConfig(hostBudgetBytes: 1 << 20, guestAllowanceBytes: 256 << 10), logger: logger)
        for d in 1...4 { _ = try makeGuest(host, domain: UInt16(d)) }
        #expect(host.reserved == 1 << 20)
        do {
            _ = try makeGuest(host, domain: 5)
            Issue.record("a fifth guest fit in the budget")
        } catch let error as SteeringError {
            guard case let .hostBudgetExhausted(d, budget, reserved, requested) = error else {
                Issue.record("expected hostBudgetExhausted, got \(error)")
                return
            }
            #expect(d.raw == 5 && budget == 1 << 20 && reserved == 1 << 20 && requested == 256 << 10)
            #expect(error.description.contains("host-wide range budget"))
        }
        #expect(logs.entries.contains { $0.message.contains("host-wide range budget exhausted") })
        // A smaller allowance than the default is still refused when nothing is left...
        #expect(throws: SteeringError.self) { try makeGuest(host, domain: 5, allowance: 1) }
        // ...and fits once a guest is removed.
        try host.removeGuest(try DomainID(2))
        _ = try makeGuest(host, domain: 5)
        #expect(host.reserved == 1 << 20)
    }

    @Test func hostConfigurationValuesAreChecked() throws {
        #expect(throws: SteeringError.self) { try SteeringHost(config: HostSteeringConfig(hostBudgetBytes: (1 << 40) + 1)) }
        #expect(throws: SteeringError.self) { try SteeringHost(config: HostSteeringConfig(hostBudgetBytes: 1 << 20, guestAllowanceBytes: 2 << 20)) }
        #expect(throws: SteeringError.self) { try SteeringHost(config: HostSteeringConfig(guestAllowanceBytes: 0)) }
        let host = try SteeringHost(config: HostSteeringConfig(hostBudgetBytes: 1 << 20, guestAllowanceBytes: 1 << 10))
        #expect(throws: SteeringError.self) { try makeGuest(host, domain: 1, allowance: (1 << 32) + (1 << 10)) }
    }
}
