import DeviceModel
import DomainModel
import Foundation
import GuestMemory
import Testing
import VpmemHost

/// Seed 001 on one host, in one process: every guest's engine comes from the host's one
/// `SteeringHost`, each with the allowance host.toml gives it.
@Suite struct HostSteeringTests {
    static func scenario(_ g: Guest, pages: Int, fragmentation: Double) throws -> SteeringScenario {
        try SteeringScenario(physmap: g.physmap, ramRegions: g.ramLayout.mappedRAMRegions, engine: g.engine,
                             options: ScenarioOptions(pageTablePages: pages, fragmentation: fragmentation, mode: .range))
    }

    @Test func oneGuestExhaustingItsAllowanceCannotFailAnother() throws {
        let t = try TempHost(ram: 4 << 30, guestAllowance: 64 << 10)
        for name in ["a", "b"] {
            let host = try t.open()
            try host.createGuest(configPath: t.writeGuest(name, memory: "1G"), createBackings: false)
        }
        // B alone first, on its own host instance.
        let alone = try Self.scenario(try t.open(.inspect).guest("b", access: .inspect), pages: 64, fragmentation: 1)
        #expect(alone.unprotectedPages == 0 && alone.protectedRuns == 64)

        let host = try t.open(.inspect)
        let a = try host.guest("a", access: .inspect), b = try host.guest("b", access: .inspect)
        #expect(host.steering.reserved == 2 * (64 << 10))
        try host.steering.setWpMemRangeLimit(a.id, 8192)
        let sa = try Self.scenario(a, pages: 8192, fragmentation: 1)
        #expect(sa.unprotectedPages > 0 && sa.protectedRuns < 8192)
        guard case .guestAllowanceExhausted(let d, let allowance, _, _)? = sa.degradation else {
            Issue.record("A stopped short for another reason: \(String(describing: sa.degradation))")
            return
        }
        #expect(d == a.id && allowance == 64 << 10)
        #expect(a.engine.rangeMemory.charged <= 64 << 10)
        // B, after A ran out, on the same SteeringHost: every page protected, the same charge as alone.
        let sb = try Self.scenario(b, pages: 64, fragmentation: 1)
        #expect(sb.unprotectedPages == 0 && sb.protectedRuns == 64 && sb.degradation == nil)
        #expect(b.engine.rangeMemory.charged == alone.engine.rangeMemory.charged)
        #expect(b.engine.rangeMemory.allowance == 64 << 10)
    }
}
