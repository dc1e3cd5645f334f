import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostMemory
import HostPmem
import Testing
import VpmemCore
@testable import VpmemHost

/// `ModelledHost.liveUpdate` (vpmem liveupdate run) on a host in a temporary directory: guest
/// "a" dynamic with a vNVDIMM holding known bytes, guest "s" on static memory at identity with
/// `direct_map = true`, a page ballooned out of each. The host is opened, used and dropped before
/// it is opened again (two opens at once in one process would wait on each other's lock).
@Suite struct HostLiveUpdateTests {
    typealias N = HostLiveUpdateReport.CheckName

    static let dataBytes: UInt64 = 2 << 20
    /// Offsets in the data part where known bytes go, and the bytes.
    static let writes: [(offset: UInt64, bytes: [UInt8])] = [
        (0x1000, Array("vpmem live update".utf8)),
        (dataBytes - 4096, (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }),
    ]
    static let allChecks = [N.incomingBoots, N.bootAllocatorSawOnlyRegion, N.sameGuests, N.sameRAMOwnership,
                            N.preservedFramesOwned, N.preservedContents, N.staticMemory, N.heap, N.p2ms,
                            N.pmemOwnership, N.pmemContents, N.hostDirectory, N.reopened]

    struct Fixture {
        let host: TempHost
        let backing: String
        /// The static range given to "s" (identity over its RAM-like regions).
        let staticRange: MfnRange
        var files: [String] { [host.directory + "/host.toml", host.directory + "/state.json", host.file("a.toml"), host.file("s.toml")] }
        func contents() -> [Data?] { files.map { FileManager.default.contents(atPath: $0) } }
    }

    static func makeHost() throws -> Fixture {
        let t = try TempHost()
        let pa = try t.writeGuest("a")
        let ps = try t.writeGuest("s", extra: "direct_map = true\n")
        // Static memory for "s" at identity over its RAM-like regions (a 256M guest's all lie
        // below the MMIO hole), appended to host.toml before the guest is created.
        let physmap = try GuestPhysmap(config: GuestConfigFile.load(from: ps))
        let regions = Guest.ramRegions(of: physmap)
        let end = regions.map { $0.range.first.raw + $0.range.size }.max()!
        #expect(regions.first?.range.first.raw == 0 && end == 256 << 20, "RAM-like regions of a 256M guest: \(regions)")
        let staticRange = MfnRange(uncheckedFirst: 0, end: end >> 12)
        let toml = t.directory + "/host.toml"
        try (String(contentsOfFile: toml, encoding: .utf8) + "\n[[static_memory]]\nguest = \"s\"\nstart = \"0x0\"\nsize = \"\(end >> 20)M\"\n")
            .write(toFile: toml, atomically: true, encoding: .utf8)
        let backing = t.file("a-nvdimm0.pmem")
        do {
            let host = try t.open()
            try host.createGuest(configPath: pa, createBackings: false)
            try host.createGuest(configPath: ps, createBackings: false)
            do {
                let d = try host.attach(NVDIMMConfig(slot: 0, backing: backing, size: ByteSize(bytes: dataBytes)), to: "a", createBacking: true)
                for w in writes { try d.backing.write(w.bytes, at: w.offset) }
            }
            try host.balloon("a", .out, gfn: Gfn(uncheckedRaw: 0x123))
            try host.balloon("s", .out, gfn: Gfn(uncheckedRaw: 0x234))
        }
        return Fixture(host: t, backing: backing, staticRange: staticRange)
    }

    @Test func handsTheConfiguredHostOverAndVerifies() throws {
        let f = try Self.makeHost()
        let before = f.contents()
        // Where the guest has its vNVDIMM, from its own model.
        let (guestGfn, hostFrames): (Gfn, MfnRange) = try {
            let host = try f.host.open(.inspect)
            let d = try host.guest("a", access: .inspect).nvdimms[0]
            return (d.guestRange.first.frame, d.hostFrames)
        }()

        let report = try f.host.open().liveUpdate()
        #expect(report.failed == [], "\(report.failed)")
        try report.requireVerified()
        #expect(report.checks.map(\.name) == Self.allChecks)
        #expect(report.checks.allSatisfy { $0.passed })

        #expect(report.guests.map(\.name) == ["a", "s"])
        let a = try #require(report.guests.first { $0.name == "a" }), s = try #require(report.guests.first { $0.name == "s" })
        #expect(a.memory == "dynamic" && a.pmemFrames == Self.dataBytes >> 12)
        // 256M less the ballooned-out page, plus the p2m root.
        #expect(a.ownedFrames == (256 << 8) - 1 + 1)
        #expect(s.memory == "static, 1:1" && s.staticFrames == f.staticRange.count && s.staticPoolFrames == 1)
        #expect(report.preservedFrames == a.ownedFrames + s.ownedFrames)
        #expect(report.statePmemRegions == 1)

        let p = try #require(report.pmem.first)
        #expect(report.pmem.count == 1)
        #expect(p.guest == "a" && p.slot == 0 && p.bytes == Self.dataBytes)
        #expect(p.gfn == "\(guestGfn)" && p.frames == "\(hostFrames)")
        #expect(p.checksumAfter == p.checksumBefore && p.unchanged)

        // The host directory byte for byte; the backing's bytes still there, its lock released.
        #expect(f.contents() == before)
        let host = try f.host.open()
        let d = try host.guest("a", access: .readWrite).nvdimms[0]
        for w in Self.writes { #expect(try d.backing.read(at: w.offset, count: w.bytes.count) == w.bytes) }
    }

    @Test func checksumsCoverTheDataPartOfTheBacking() throws {
        let f = try Self.makeHost()
        let (expected, withoutWrites): (UInt64, UInt64) = try {
            let m = try PmemMapping.open(path: f.backing, access: .readOnly)
            let sum = try PmemChecksum.of(m, offset: 0, bytes: Self.dataBytes)
            var bytes = try m.read(at: 0, count: Int(Self.dataBytes))
            for w in Self.writes { bytes.replaceSubrange(Int(w.offset)..<Int(w.offset) + w.bytes.count, with: repeatElement(0, count: w.bytes.count)) }
            return (sum, bytes.withUnsafeBytes { StateChecksum.hash($0) })
        }()
        #expect(expected != withoutWrites)
        let report = try f.host.open().liveUpdate()
        #expect(report.failed == [])
        let p = try #require(report.pmem.first)
        #expect(p.checksumBefore == "0x" + String(expected, radix: 16))
        #expect(p.checksumAfter == "0x" + String(expected, radix: 16))
    }

    @Test func aBackingCorruptedDuringTheHandoverFailsTheContentsCheck() throws {
        let f = try Self.makeHost()
        let hooks = ModelledHost.LiveUpdateHooks(afterHandover: {
            // The outgoing instance let go of the backing: nothing holds its lock.
            let m = try PmemMapping.open(path: f.backing)
            let old = try m.read(at: 0x1000, count: 1)
            try m.write([old[0] ^ 0x5a], at: 0x1000)
        })
        let report = try f.host.open().liveUpdate(hooks: hooks)
        #expect(report.failed.count == 1, "\(report.failed)")
        #expect(report.failed.first?.hasPrefix(N.pmemContents + ": 'a' slot 0") == true, "\(report.failed)")
        #expect(report.checks.filter { !$0.passed }.map(\.name) == [N.pmemContents])
        #expect(report.pmem.first?.unchanged == false)
        #expect(report.pmem.first?.checksumAfter != report.pmem.first?.checksumBefore)
        #expect(throws: HostError.self) { try report.requireVerified() }
        do { try report.requireVerified() } catch {
            guard case .liveUpdateFailed(let problems) = error else { Issue.record("\(error)"); return }
            #expect(problems == report.failed)
            #expect("\(error)".contains(N.pmemContents))
        }
    }

    @Test func aHostFileChangedDuringTheHandoverFailsTheDirectoryCheck() throws {
        let f = try Self.makeHost()
        let state = f.host.directory + "/state.json"
        let hooks = ModelledHost.LiveUpdateHooks(afterHandover: {
            try (String(contentsOfFile: state, encoding: .utf8) + " ").write(toFile: state, atomically: true, encoding: .utf8)
        })
        let report = try f.host.open().liveUpdate(hooks: hooks)
        #expect(report.checks.filter { !$0.passed }.map(\.name) == [N.hostDirectory])
        #expect(report.failed == [N.hostDirectory + ": changed: " + state])
    }

    @Test func aHostWithoutALiveUpdateRegionIsRefused() throws {
        let t = try TempHost()
        let toml = t.directory + "/host.toml"
        let text = try String(contentsOfFile: toml, encoding: .utf8)
        try text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("liveupdate") }
            .joined(separator: "\n").write(toFile: toml, atomically: true, encoding: .utf8)
        let host = try t.open()
        do {
            _ = try host.liveUpdate()
            Issue.record("a host without a liveupdate region was handed over")
        } catch {
            guard case .noLiveUpdateRegion(let path) = error else { Issue.record("\(error)"); return }
            #expect(path == toml)
        }
    }
}
