import Foundation
import Testing

@Suite struct SteerCLITests {
    static let example = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/small.toml").path

    @Test func jsonCountsEveryAccessOncePerDecisionAndPerServer() throws {
        let r = try VpmemProcess.run(["steer", Self.example, "--pages", "512", "--fragmentation", "1",
                                      "--accesses", "20K", "--mode", "range", "--wp-mem-limit", "512", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        let decisions = o["decisions"] as? [String: Int] ?? [:]
        #expect(decisions.values.reduce(0, +) == 20_000)
        #expect(o["protected_runs"] as? Int == 512 && o["unprotected_pages"] as? Int == 0)
        #expect((decisions["emulate_wp_mem"] ?? 0) > 5_000 && decisions["emulate_type_claim"] == 0)
        let servers = o["servers"] as? [[String: Any]] ?? []
        #expect(servers.count == 2)
        let emulated = servers.map { ($0["counters"] as? [String: Int])?["reads"] ?? 0 }.reduce(0, +)
            + servers.map { ($0["counters"] as? [String: Int])?["writes"] ?? 0 }.reduce(0, +)
        #expect(emulated == decisions.filter { $0.key.hasPrefix("emulate") }.values.reduce(0, +))
        #expect(!r.stdout.contains("\r"))  // no progress bar in JSON
    }

    @Test func aWpMemLimitAbove32BitsIsRefusedNotTruncated() throws {
        let r = try VpmemProcess.run(["steer", Self.example, "--mode", "range", "--accesses", "1K",
                                      "--wp-mem-limit", "4294967301"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("4294967301") && r.stderr.contains("above the maximum"))
        let bad = try VpmemProcess.run(["steer", Self.example, "--accesses", "ten"])
        #expect(bad.status != 0 && bad.stderr.contains("--accesses ten"))
    }

    @Test func textNamesTheServersAndTheRate() throws {
        let r = try VpmemProcess.run(["steer", Self.example, "--accesses", "5K"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("accesses/s") && r.stdout.contains("qemu (default)") && r.stdout.contains("xengt"))
        #expect(r.stdout.contains("emulate: type claim"))
    }
}
