import Foundation
import Testing
@testable import VpmemCLI

/// The memory estimates are upper bounds of what a run uses (its peak RSS, VmHWM), and the
/// p2m's is exact: the run's table is limited to it and ends with that many nodes.
@Suite struct ResourceEstimateTests {
    @Test(arguments: [("512M", "4K", "0"), ("1G", "4K", "0x1000"), ("6G", "2M", "0x40000000"), ("3G", "1G", "0"), ("8M", "4K", "0x7fffffe00000")])
    func p2mPopulateStaysWithinItsEstimate(size: String, page: String, at: String) throws {
        let r = CLIRun.run(["p2m", "populate", "--size", size, "--page", page, "--at", at, "--json"], measurePeak: true)
        #expect(r.exitStatus == 0, "\(r.stderr)")
        let stats = try json(r.stdout)["stats"] as? [String: Any] ?? [:]
        let gfn = try Parsers.wholeNumber(at, in: 0...UInt64.max) >> 12
        let count = try Parsers.size(size).bytes >> 12
        let delta: UInt64 = page == "4K" ? 1 : page == "2M" ? 512 : 1 << 18
        let nodes = MemoryEstimate.p2mNodes(gfn: gfn, count: count, delta: delta, frameless: false)
        #expect(stats["nodes"] as? Int == nodes, "the estimate is the table's size")
        #expect(stats["node_limit"] as? Int == nodes, "and its limit")
        #expect(r.maxRSS > 8 << 20, "the peak was measured")
        #expect(r.maxRSS <= MemoryEstimate.baseline + UInt64(nodes) * 4096, "peak RSS \(r.maxRSS)")
    }

    @Test(arguments: [("4G", "1", "1"), ("8G", "8", "1"), ("8G", "30", "0.3")])
    func liveUpdateSimulationStaysWithinItsEstimate(hostMem: String, guests: String, fragmentation: String) throws {
        let dir = TempDir()
        let r = CLIRun.run(["liveupdate", "simulate", "--host-mem", hostMem, "--guests", guests, "--fragmentation", fragmentation,
                            "--pmem", "16M", "--pmem-dir", dir.path, "--json"], measurePeak: true)
        #expect(r.exitStatus == 0, "\(r.stderr)")
        let estimate = MemoryEstimate.liveUpdateSimulation(hostBytes: try Parsers.size(hostMem).bytes, guests: Int(guests)!, pmemBytes: 16 << 20)
        #expect(r.maxRSS > 8 << 20, "the peak was measured")
        #expect(r.maxRSS <= estimate, "peak RSS \(r.maxRSS) above the estimate \(estimate)")
    }

    @Test func theMachinesMemoryIsRead() throws {
        let m = try #require(MachineMemory.available())
        #expect(m.bytes > 64 << 20)
    }
}
