import ArgumentParser
import Foundation
import GuestMemory
import VpmemCore

/// `vpmem p2m`: build a modelled guest's p2m and show what its tables hold and cost.
struct P2MCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p2m",
        abstract: "The guest-frame to machine-frame table (p2m) of a modelled guest.",
        subcommands: [Populate.self])

    struct Populate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Map guest memory with pages of one size and print the p2m's entries and table memory.",
            discussion: """
                Machine frames are chosen so that the leaves are of --page size (for 4K, one frame \
                off any 2 MiB alignment). The table memory is worked out first: more than the machine \
                has available is refused unless --force, and the run's p2m may never grow past it. \
                Example: vpmem p2m populate --size 64G --page 4K
                """)

        @Option(help: "Guest memory to map (K, M, G, T suffixes; a multiple of 4K).", transform: parseSize)
        var size: ByteSize
        @Option(help: "Leaf size: 4K, 2M or 1G.")
        var page: String = "2M"
        @Option(help: "Guest-physical address to start at (hex with 0x, aligned to --page).")
        var at: String = "0"
        @Option(help: "p2m type, in Xen's spelling (ram_rw, ioreq_server, pmem, ...).")
        var type: String = "ram_rw"
        @Flag(help: "Run even when the tables would need more memory than the machine has available.")
        var force = false
        @Flag(help: "Print JSON.")
        var json = false

        struct Report: Codable {
            var gpa: String
            var bytes: UInt64
            var page: String
            var type: String
            var milliseconds: Double
            var stats: P2MStats
        }

        func run() async throws {
            let bytes = size.bytes
            guard let order = PageOrder.allCases.first(where: { $0.description == page.uppercased() }) else {
                throw ValidationError("--page \(Echo.quoted(page)): use 4K, 2M or 1G")
            }
            guard let p2mType = P2MType(name: type), p2mType != .invalid else {
                throw ValidationError("--type \(Echo.quoted(type)): use one of \(P2MType.allCases.filter { $0 != .invalid }.map(\.name).joined(separator: ", "))")
            }
            let startRaw: UInt64
            do { startRaw = try Parsers.wholeNumber(at, in: 0...UInt64.max) } catch {
                throw UsageError(problem: "--at \(Echo.quoted(at)): not an address", fix: "give a decimal or 0x-hex address")
            }
            let start = Gpa(startRaw)
            guard bytes > 0, bytes % PageOrder.frameBytes == 0 else {
                throw ValidationError("--size \(size): give a non-zero multiple of 4K")
            }
            guard start.isAligned(to: order) else {
                throw ValidationError("--at \(Echo.quoted(at)): not aligned to \(order) pages; align it or pick a smaller --page")
            }
            let gfn = start.frame
            let count = bytes >> PageOrder.frameShift
            guard gfn.raw <= P2M.maxGfn.raw, count - 1 <= P2M.maxGfn.raw - gfn.raw else {
                throw UsageError(problem: "--at \(Echo.quoted(at)) --size \(size) runs past the p2m's last guest frame \(P2M.maxGfn)",
                                 fix: "give a lower --at or a smaller --size (guest-physical addresses have 48 bits)")
            }
            // mfn - gfn: a multiple of the page size but of nothing larger, so leaves are exactly
            // that size; frameless types have no mfn.
            let offset: UInt64 = switch order {
            case .size4K: 1
            case .size2M: PageOrder.size2M.frames
            case .size1G: PageOrder.size1G.frames
            }
            let mfn: Mfn?
            if p2mType.hasMachineFrame {
                do { mfn = try Mfn.checked(gfn.raw).advanced(by: offset) } catch { throw ValidationError("\(error)") }
            } else {
                mfn = nil
            }
            // The tables' memory, exactly as P2M.set reserves it, checked before anything is
            // allocated; the p2m is then limited to it, so the run stays within the estimate.
            let nodes = MemoryEstimate.p2mNodes(gfn: gfn.raw, count: count, delta: (mfn?.raw ?? gfn.raw) &- gfn.raw, frameless: mfn == nil)
            try MemoryEstimate.require(MemoryEstimate.baseline + UInt64(nodes) * 4096,
                                       for: "p2m populate --size \(size) --page \(order)",
                                       fix: "give a smaller --size or a larger --page", force: force)
            let p2m = try P2M(nodeLimit: nodes)
            let clock = ContinuousClock()
            let t0 = clock.now
            do { try p2m.set(gfn: gfn, count: count, to: mfn, type: p2mType) } catch { throw ValidationError("\(error)") }
            let elapsed = clock.now - t0
            let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
            let stats = p2m.stats
            if json {
                let r = Report(gpa: "0x" + String(start.raw, radix: 16), bytes: bytes, page: order.description,
                               type: p2mType.name, milliseconds: ms, stats: stats)
                print(try JSONOutput.encodeSnakeCase(r))
                return
            }
            print("p2m: \(ByteSize(bytes: bytes)) of \(p2mType.name) from \(start), \(order) pages, set in \(String(format: "%.3f", ms)) ms")
            print("level  nodes  leaf entries  table entries")
            for l in stats.levels.reversed() {
                print("L\(l.level)     \(pad(l.nodes, 5))  \(pad(l.leafEntries, 12))  \(pad(l.tableEntries, 13))")
            }
            print("leaves: \(stats.leaves(.size1G)) x 1G, \(stats.leaves(.size2M)) x 2M, \(stats.leaves(.size4K)) x 4K")
            print("tables: \(stats.nodes) nodes, \(ByteSize(bytes: stats.tableBytes).humanReadable) (pool holds \(ByteSize(bytes: stats.poolBytes).humanReadable))")
            let last = Gfn(uncheckedRaw: gfn.raw + count - 1)
            for g in [gfn, last] {
                print("translate \(g): \(p2m.translate(g).map { "\($0)" } ?? "not mapped")")
            }
        }

        private func pad(_ n: Int, _ w: Int) -> String {
            let s = String(n)
            return String(repeating: " ", count: max(0, w - s.count)) + s
        }
    }
}
