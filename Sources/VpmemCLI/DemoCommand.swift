import ArgumentParser
import Foundation
import HostPmem
import VpmemCore

/// The README's first command: what vpmem does, on this host, in under a minute.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Walk through what vpmem does on this host.",
        discussion: "Works on any Linux host: without NVDIMMs it uses an emulated pmem file in a temporary directory.")

    @Option(help: "Directory for the demo's files (default: a new temporary directory, removed afterwards).")
    var dir: String?
    @Flag(help: "Keep the demo's files.") var keep = false
    @Option(help: "Size of the emulated pmem file.", transform: parseSize) var size = ByteSize(bytes: 64 << 20)

    func run() async throws {
        let workDir: String
        if let dir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            workDir = dir
        } else {
            workDir = NSTemporaryDirectory() + "vpmem-demo-" + String(ProcessInfo.processInfo.processIdentifier)
            try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        }
        defer {
            if dir == nil && !keep { try? FileManager.default.removeItem(atPath: workDir) }
        }
        var step = 0
        func heading(_ s: String) { step += 1; print("\n== \(step). \(s)") }

        heading("Host persistent memory (libndctl)")
        let inventory = try NdctlDiscovery.inventory()
        print(HostCommand.render(inventory))

        heading("An emulated pmem backing (libpmem)")
        let path = workDir + "/demo.pmem"
        let payload = Self.pattern(count: 1 << 20, seed: 0x5eed)
        let checksum = Self.fnv1a(payload)
        do {
            let m = try PmemMapping.create(path: path, size: size.bytes)
            print("\(m.created ? "created" : "reused") \(path): \(size.humanReadable), sparse")
            print("pmem_is_pmem: \(m.isPmem ? "yes" : "no"), so stores are made durable by \(m.persistence)")
            let clock = ContinuousClock()
            let t = try clock.measure { try m.write(payload, at: 4096) }
            print("wrote and persisted \(ByteSize(bytes: UInt64(payload.count)).humanReadable) at offset 4096 in \(t) (fnv1a \(hex(checksum)))")

            heading("Exclusive use: the backing is locked while mapped for writing")
            do {
                _ = try PmemMapping.open(path: path)
                print("unexpected: a second writer got in")
            } catch {
                print("a second writer is refused: \(error)")
            }
        }
        print("mapping dropped: unmapped, lock released")

        heading("Reopen in a new mapping and verify")
        let reopened = try PmemMapping.open(path: path, expectedSize: size.bytes)
        let back = try reopened.read(at: 4096, count: payload.count)
        let again = Self.fnv1a(back)
        guard again == checksum else {
            throw ValidationError("verification failed: read back fnv1a \(hex(again)), wrote \(hex(checksum))")
        }
        print("read back \(ByteSize(bytes: UInt64(back.count)).humanReadable): fnv1a \(hex(again)) matches: verified")
        let info = try PmemInfo.inspect(path: path)
        print("on disk: \(ByteSize(bytes: info.size).humanReadable) file, \(ByteSize(bytes: info.allocated ?? 0).humanReadable) allocated")

        print("\nFiles: \(workDir)\(dir == nil && !keep ? " (removed on exit; --keep keeps them)" : "")")
    }

    /// Deterministic bytes (xorshift64), so a run can be repeated and compared.
    static func pattern(count: Int, seed: UInt64) -> [UInt8] {
        var x = seed | 1
        return (0..<count).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
