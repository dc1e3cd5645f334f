import DeviceModel
import Foundation
import SteeringFiles
import Testing
@testable import VpmemCLI

/// `--vcpus` with a trace holds the accesses in memory, up to a cap: a trace past the cap is
/// refused with the option that cuts it, never silently shortened.
@Suite struct SteerTraceHoldTests {
    /// A trace of `lines` writes whose data is their index.
    static func trace(_ lines: Int, _ dir: TempDir) throws -> String {
        let path = dir.file("t.trace")
        try (0..<lines).map { "mem 0x\(String(0x1000 + ($0 % 512) * 8, radix: 16)) 8 w 0x\(String($0, radix: 16))\n" }.joined()
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func hold(_ path: String, limit: UInt64, cap: Int) throws -> [UInt64] {
        let held = try SteerCommand.Run.preload(try AccessTraceReader(path: path), path: path, limit: limit, cap: cap)
        defer { held.deallocate() }
        return held.accesses.map(\.data)
    }

    @Test func aTraceUpToTheCapIsHeldWholeAndInOrder() throws {
        let dir = TempDir()
        let path = try Self.trace(5, dir)
        #expect(try Self.hold(path, limit: .max, cap: 5) == [0, 1, 2, 3, 4])
        #expect(try Self.hold(path, limit: 3, cap: 3) == [0, 1, 2])
        // Past the first block: the buffer grows and keeps what it held.
        let long = try Self.trace(70_000, dir)
        #expect(try Self.hold(long, limit: .max, cap: 1 << 17) == (0..<70_000).map { UInt64($0) })
    }

    @Test func aTracePastTheCapIsRefusedWithTheCut() throws {
        let dir = TempDir()
        let path = try Self.trace(5, dir)
        for (limit, cap) in [(UInt64.max, 4), (5, 4), (5, 1)] {
            #expect {
                _ = try Self.hold(path, limit: limit, cap: cap)
            } throws: { error in
                let text = "\(error)"
                return text.contains("more than \(cap) accesses") && text.contains("--accesses \(cap)")
            }
        }
    }
}
