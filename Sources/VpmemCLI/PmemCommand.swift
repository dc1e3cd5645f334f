import ArgumentParser
import DomainModel
import Foundation
import HostPmem
import VpmemCore

struct PmemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmem", abstract: "Emulated pmem files and pmem devices.",
        subcommands: [Create.self, Info.self, Hold.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an emulated pmem file (sparse, through libpmem).",
            discussion: "An existing file of exactly that size is left as it is; another size is refused.")
        @Argument(help: "Path of the file to create.") var path: String
        @Option(help: "Size, e.g. 4G (K, M, G, T: powers of 1024).", transform: parseSize) var size: ByteSize
        @Flag(help: "Allocate every block now, so a full filesystem shows at once.") var preallocate = false
        @OptionGroup var output: JSONFlag

        func run() async throws {
            let m = try PmemMapping.create(path: path, size: size.bytes, preallocate: preallocate)
            let created = m.created
            let isPmem = m.isPmem
            withExtendedLifetime(m) {}
            let info = try PmemInfo.inspect(path: path)
            if output.json { print(try JSONOutput.encode(info)); return }
            print("\(created ? "created" : "exists, same size:") \(path): \(size.humanReadable), \(isPmem ? "real pmem" : "not pmem (emulated)"), persisted by \(info.persistence)")
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a backing's size, whether it is pmem, who holds it, whether writes are durable, and its label area.",
            discussion: """
                The label area: a vNVDIMM keeps its namespace labels in the last label-size bytes of its \
                backing (QEMU's rule, and vpmem's). info looks for namespace index blocks where a label \
                area of each plausible size would start (128K to 16M in 4K steps, to 256M in 1M steps, \
                powers of two beyond) and says what it found and the size and label-size to give a guest.
                """)
        @Argument(help: "An emulated pmem file, a file on an fsdax mount, or /dev/daxN.M.") var path: String
        @OptionGroup var output: JSONFlag

        /// PmemInfo's fields and `label_area`.
        struct Report: Encodable {
            let info: PmemInfo
            let labelArea: LabelAreaCheckReport
            enum Keys: String, CodingKey { case label_area }
            func encode(to encoder: any Encoder) throws {
                try info.encode(to: encoder)
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(labelArea, forKey: .label_area)
            }
        }

        func run() async throws {
            let info = try PmemInfo.inspect(path: path)
            let labels = LabelAreaCheckReport(try BackingLabelProbe.check(path: path, configuredLabelSize: nil), path: path)
            if output.json { print(try JSONOutput.encode(Report(info: info, labelArea: labels))); return }
            let holder: String
            if info.locked {
                holder = info.lockHolderPid.map { "mapped for writing by pid \($0)" } ?? "mapped for writing by another process"
            } else {
                holder = "free"
            }
            print(table(["PATH", "KIND", "SIZE", "ALLOCATED", "PMEM", "PERSISTENCE", "LOCK"], [[
                info.path, info.kind.rawValue, ByteSize(bytes: info.size).humanReadable,
                info.allocated.map { ByteSize(bytes: $0).humanReadable } ?? "-",
                info.isPmem ? "yes" : "no", info.persistence.rawValue, holder,
            ]]))
            printDurability(info.durability)
            print("label area: \(labels.message ?? "")")
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Map a backing for writing and keep it locked until interrupted.",
            discussion: "Shows what another user of the backing sees (vpmem pmem info, or an attach that is refused). The lock goes away when this process ends, however it ends.")
        @Argument var path: String
        @Option(help: "Release after this many seconds (e.g. 30 or 0.5) instead of waiting for a signal.", transform: parseDuration)
        var seconds: Duration?
        @OptionGroup var output: JSONFlag

        struct Report: Encodable {
            let path: String
            let size: UInt64
            let pid: Int32
        }

        func run() async throws {
            let m = try PmemMapping.open(path: path)
            // Unbuffered, so a script reading a pipe sees it while we wait.
            let pid = ProcessInfo.processInfo.processIdentifier
            let line = output.json
                ? (try JSONOutput.encode(Report(path: path, size: m.length, pid: pid))) + "\n"
                : "holding \(path) (\(ByteSize(bytes: m.length).humanReadable)) as pid \(pid)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            if let seconds {
                try await Task.sleep(for: seconds)
            } else {
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            withExtendedLifetime(m) {}
        }
    }
}

/// Item 6 of `pmem info` and `bench pmem`: whether a write here is durable when it returns.
func printDurability(_ d: BackingDurability) {
    print("durable: \(d.durable ? "yes" : "NO"): \(d.explanation)")
    for w in d.warnings { print("warning: \(w)") }
}
