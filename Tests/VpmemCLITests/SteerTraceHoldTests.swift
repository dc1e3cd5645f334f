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
        // From a pipe (no length known ahead) the buffer grows past its first block and keeps
        // what it held.
        let long = try Self.trace(70_000, dir)
        let pipe = try PipeFeeder(try Data(contentsOf: URL(fileURLWithPath: long)), at: dir.file("pipe"))
        let fromPipe = try AccessTraceReader(path: pipe.path)
        #expect(fromPipe.accessBound == nil)
        let held = try SteerCommand.Run.preload(fromPipe, path: pipe.path, limit: .max, cap: 1 << 17)
        defer { held.deallocate() }
        #expect(held.accesses.map(\.data) == (0..<70_000).map { UInt64($0) })
        #expect(pipe.wait())
    }

    /// A file's accesses are held in one buffer its length bounds: a binary trace's exactly.
    @Test func aFilesAccessesTakeOneBufferOfTheirSize() throws {
        let dir = TempDir()
        let text = try Self.trace(70_000, dir)
        let binary = dir.file("t.bin")
        let writer = try AccessTraceWriter(path: binary, format: .binary)
        let reader = try AccessTraceReader(path: text)
        let chunk = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 4096)
        defer { chunk.deallocate() }
        while case let n = try reader.read(into: chunk), n > 0 { try writer.write(UnsafeBufferPointer(rebasing: chunk[0..<n])) }
        try writer.finish()
        #expect(try AccessTraceReader(path: binary).accessBound == 70_000)
        let held = try SteerCommand.Run.preload(try AccessTraceReader(path: binary), path: binary, limit: .max, cap: 1 << 17)
        defer { held.deallocate() }
        #expect(held.count == 70_000 && held.storage.count == 70_000)
        #expect(held.accesses.map(\.data) == (0..<70_000).map { UInt64($0) })
        // Text: one slot per shortest line's bytes (below the cap), and nothing grown past that.
        let bytes = try FileManager.default.attributesOfItem(atPath: text)[.size] as? Int ?? 0
        let fromText = try SteerCommand.Run.preload(try AccessTraceReader(path: text), path: text, limit: .max, cap: 1 << 18)
        defer { fromText.deallocate() }
        #expect((bytes + 1) / 10 < 1 << 18)
        #expect(fromText.count == 70_000 && fromText.storage.count == (bytes + 1) / 10)
        // --accesses cuts the buffer too.
        let front = try SteerCommand.Run.preload(try AccessTraceReader(path: binary), path: binary, limit: 1000, cap: 1 << 17)
        defer { front.deallocate() }
        #expect(front.count == 1000 && front.storage.count == 1000)
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
