import ArgumentParser
import Foundation
import HostMemory
import VpmemCore
import VpmemHost

struct LiveUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liveupdate",
        abstract: "Live update of the hypervisor: boot memory handover and the one-pass frame-table rebuild (seed 004).",
        subcommands: [Run.self, Simulate.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand the configured host over to a new instance with every guest in place, and verify nothing preserved was touched.",
            discussion: """
                The outgoing instance is the host as opened: every guest's RAM and static memory \
                (balloons replayed), and each vNVDIMM's data part as host pmem at the gfn the guest \
                has it, on the guest's own mapping of the backing. Its pmem is checksummed and every \
                guest's frame ownership recorded; then it writes the live-update state, lets go of \
                every backing, and the incoming instance boots on host.toml's liveupdate region \
                alone, reads the state, maps the backings again through libpmem and rebuilds the \
                frame table in one pass. Checked: preserved frames unchanged and owned as before, \
                the same guests with the same RAM, static memory still static, the heap holding \
                exactly the free frames, pmem contents unchanged; and afterwards host.toml, \
                state.json and the guests' configs byte for byte as they were, and the host opened \
                again giving the same ownership. Nothing is written to the host directory. Exit \
                status 1 when a check fails.
                """)

        @OptionGroup var hostOption: HostOption
        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() async throws {
            let report: HostLiveUpdateReport
            do {
                let host = try hostOption.open(.change)
                report = try host.liveUpdate()
            }
            if json {
                print(try JSONOutput.encodeSnakeCase(report))
            } else {
                print(Self.text(report))
            }
            try report.requireVerified()
        }

        static func text(_ r: HostLiveUpdateReport) -> String {
            func size(_ b: UInt64) -> String { ByteSize(bytes: b).humanReadable }
            var out = """
                host          \(r.host): \(r.frames) frames, \(r.guests.count) guest\(r.guests.count == 1 ? "" : "s")
                region        liveupdate=\(r.liveUpdateRegion)
                state         \(r.stateRecords) records: \(r.stateRanges) owned ranges, \(r.statePmemRegions) pmem regions \
                on \(r.stateDataPages) data + \(r.stateListPages) MFN-list pages (\(size(r.stateBytes)))
                preserved     \(r.preservedFrames) frames (\(size(r.preservedFrames * 4096))) in \(r.preservedRanges) ranges
                """
            if let h = r.framesHandedToHeap { out += "\nheap          \(h) frames handed to the incoming instance's heaps" }
            out += "\n\n" + table(["GUEST", "DOMID", "MEMORY", "OWNED", "STATIC", "POOL", "PMEM"], r.guests.map {
                [$0.name, "\($0.domid)", $0.memory, "\($0.ownedFrames)", "\($0.staticFrames)", "\($0.staticPoolFrames)", "\($0.pmemFrames)"]
            })
            if !r.pmem.isEmpty {
                out += "\n\n" + table(["PMEM", "SLOT", "BYTES", "FRAMES", "GFN", "BEFORE", "AFTER", "BACKING"], r.pmem.map {
                    [$0.guest, "\($0.slot)", size($0.bytes), $0.frames, $0.gfn, $0.checksumBefore, $0.checksumAfter ?? "-",
                     $0.backing + ($0.backingIsRealPmem == true ? " (real pmem)" : "")]
                })
            }
            out += "\n\nphase                                     ms (ContinuousClock; a report, not a benchmark)"
            for p in r.phases {
                out += "\n" + p.name.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%10.2f", p.milliseconds)
            }
            out += "\n\nchecks"
            for c in r.checks {
                out += "\n  " + (c.passed ? "ok    " : "FAILED") + " " + c.name + " (" + c.detail + ")"
            }
            return out
        }
    }

    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a modelled host with guests, hand it over to a new instance, and verify nothing preserved was touched.",
            discussion: """
                The outgoing instance writes the live-update state (owned ranges, p2m roots) on pages \
                outside the liveupdate region and puts the MFN list's address in the region's first \
                64 bits. The incoming instance boots on the region alone, reads the state, rebuilds \
                frame-table ownership in one pass and hands every other frame to the heap. Guest \
                RAM contents are modelled (see FrameContents); the frame table and the state are real. \
                With --pmem, d1 also gets host pmem backed by an emulated pmem file: known data is \
                written into it through libpmem before the handover, the outgoing instance lets go \
                of the mapping, the incoming one maps the file again from the path in the state, \
                and the whole backing is checksummed before and after.
                """)

        @Option(name: .customLong("host-mem"), help: "ModelledHost RAM, e.g. 64G (4G to 1T).", transform: parseSize)
        var hostMem = ByteSize(bytes: 64 << 30)
        @Option(help: "Guests (1 to 1000): d1 is a direct-mapped static guest, the rest dynamic.", transform: { try Parsers.int($0, in: 1...1000) })
        var guests: Int = 8
        @Option(help: "Fraction (0 to 1) of each dynamic guest's memory populated in small interleaved runs.", transform: parseFraction)
        var fragmentation: Double = 0.3
        @Option(help: "Seed for the fragmentation pattern and the pmem data.", transform: parseUInt64)
        var seed: UInt64 = 1
        @Option(help: "ModelledHost pmem given to d1, backed by an emulated pmem file (0 for none).", transform: parseSize)
        var pmem = ByteSize(bytes: 256 << 20)
        @Option(name: .customLong("pmem-dir"), help: "Directory for the pmem backing file d1-pmem.img, which must not exist yet (default: a new temporary directory, removed afterwards).")
        var pmemDir: String?
        @Flag(help: "Run even when the estimated memory is more than the machine has available.")
        var force = false
        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() async throws {
            let bytes = hostMem
            // The limits LiveUpdateSimulation checks, before anything is estimated or made.
            do {
                try LiveUpdateSimulation.checkParameters(.init(hostBytes: bytes.bytes, guests: guests, fragmentation: fragmentation,
                                                               seed: seed, pmemBytes: pmem.bytes, pmemBackingPath: pmem.bytes > 0 ? "-" : nil))
            } catch {
                throw ValidationError(error.description)
            }
            try MemoryEstimate.require(
                MemoryEstimate.liveUpdateSimulation(hostBytes: bytes.bytes, guests: guests, pmemBytes: pmem.bytes),
                for: "a simulated host of \(bytes)", fix: "give a smaller --host-mem", force: force)
            var backingPath: String?
            var madeDir: String?
            if pmem.bytes > 0 {
                let dir: String
                if let pmemDir {
                    try OutputFiles.makeDirectory(pmemDir)
                    dir = pmemDir
                } else {
                    dir = try OutputFiles.freshTemporaryDirectory(prefix: "vpmem-liveupdate-")
                    madeDir = dir
                }
                backingPath = (dir as NSString).appendingPathComponent("d1-pmem.img")
                if madeDir == nil { try OutputFiles.requireAbsent(backingPath!) }
            }
            defer { if let madeDir { try? FileManager.default.removeItem(atPath: madeDir) } }
            let report: LiveUpdateSimulation.Report
            do {
                report = try LiveUpdateSimulation.run(.init(hostBytes: bytes.bytes, guests: guests, fragmentation: fragmentation,
                                                             seed: seed, pmemBytes: pmem.bytes, pmemBackingPath: backingPath))
            } catch let e as LiveUpdateSimulation.ParameterError {
                throw ValidationError(e.description)
            }
            if json {
                print(try JSONOutput.encodeSnakeCase(report))
            } else {
                print(Self.text(report))
            }
            if !report.verified { throw RequestFailure(problem: "the simulated live update failed a check", fix: "see the report on stdout") }
        }

        static func text(_ r: LiveUpdateSimulation.Report) -> String {
            func mib(_ b: UInt64) -> String { ByteSize(bytes: b).humanReadable }
            func yes(_ b: Bool) -> String { b ? "yes" : "NO" }
            var out = """
                host          \(mib(r.hostBytes)) RAM, \(r.frames) frames, \(r.guests) guests, fragmentation \(r.fragmentation)
                region        liveupdate=\(r.liveUpdateRegion)
                state         \(r.stateRecords) records: \(r.stateRanges) owned ranges (Xen's boot allocator keeps \(r.xenBootAllocatorRangeLimit)) \
                on \(r.stateDataPages) data + \(r.stateListPages) MFN-list pages (\(mib(r.stateBytes)))
                preserved     \(r.preservedFrames) frames (\(mib(r.preservedFrames * 4096))) in \(r.preservedRanges) ranges
                model memory  frame table \(mib(r.frameTableBytes)) per instance, content model \(mib(r.contentModelBytes))

                phase                      ms (ContinuousClock; a report, not a benchmark)
                """
            for p in r.phases {
                out += "\n" + p.name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%10.2f", p.milliseconds)
            }
            out += """


                verified
                  boot allocator saw only the region      \(yes(r.bootAllocatorSawOnlyRegion))
                  preserved contents unchanged (digests)  \(yes(r.preservedContentsUnchanged))
                  same owner for every preserved frame    \(yes(r.ownershipUnchanged))
                  guest physmaps identical                \(yes(r.physmapsUnchanged))
                  guest RAM mapped through new p2ms       \(yes(r.p2msRebuilt))
                  heap holds exactly the free frames      \(yes(r.heapHoldsExactlyTheFreeFrames)) (\(r.framesHandedToHeap) frames)
                  static memory outside every heap        \(yes(r.staticPagesOutsideHeap))
                """
            if let p = r.pmem {
                out += """


                    pmem          \(mib(p.bytes)) of host pmem \(p.frames) for \(p.owner) at \(p.gfn)
                    backing       \(p.backingPath) (libpmem: \(p.backingIsRealPmem ? "real pmem, cache flushes" : "not pmem, msync"))
                    written       \(p.pagesWritten) pages of known data before the handover
                    checksum      \(p.checksumBefore) before, \(p.checksumAfter) after (every byte of the region)
                      contents unchanged (mapped again)     \(yes(p.contentsUnchanged))
                      same owner (registry extent)          \(yes(p.ownershipUnchanged))
                      mapped as p2m type pmem               \(yes(p.p2mTypeIsPmem))
                    """
            }
            return out
        }
    }
}
