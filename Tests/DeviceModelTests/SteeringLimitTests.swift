import DeviceModel
import GuestMemory
import Logging
import Testing

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
