import ArgumentParser
import DeviceModel
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import Logging
import SteeringFiles
import VpmemCore
import VpmemHost

/// `vpmem steer`: run a workload against the ioreq servers of a guest of the host (on its own
/// steering engine, with its allowance from host.toml) and report where every access went and
/// how fast.
struct SteerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steer",
        abstract: "Steer a workload's guest accesses to memory, device models or faults, and count the decisions.",
        subcommands: [Run.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a workload against a guest of the host: decisions per server, and the rate.",
            discussion: """
                The guest (a guest of the host by name, or a config file) runs on its own steering \
                engine, with the range-memory allowance host.toml gives it (guest_allowance, or its \
                [allowance] entry) and its vNVDIMMs' "nvdimm" ioreq server. It gets QEMU as its default \
                ioreq server and a XenGT-like vGPU as another server holding a 16M BAR, the VGA ports \
                and PCI 00:02.0. The vGPU's page-table pages are write-protected by p2m type (--mode \
                type: the vGPU claims ioreq_server writes) or by wp_mem rangeset (--mode range: one \
                range per run of pages, up to the wp_mem limit the host admin sets with --wp-mem-limit \
                and within the guest's allowance; runs beyond either are left unprotected, as XenGT \
                re-shadows them). The run changes nothing on disk. A config that is no guest of the \
                host runs on a private, throw-away host with the default allowance. \
                With one vCPU (the default) every access is carried out end to end, and the time per \
                access covers generating it, the decision, the delivery to memory or a device model and \
                the model's work. The guest has run before: its page tables and RAM \
                working set (--working-set, 64M) are made resident when the workload is set up, so \
                the run measures steering rather than the host kernel's first-touch faults, and the \
                memory it holds does not grow with --accesses (a trace on --vcpus is held in memory). With --vcpus N (or --changes-per-second), N threads steer at once \
                (decision and counters, each its own stream of accesses, --accesses split between \
                them; with --trace, N contiguous shares of the trace, read into memory first) while a \
                device-model thread maps and unmaps the vGPU's page-table runs in its wp_mem set (a \
                scenario file's: the first server with wp_mem ranges, range by range) at \
                --changes-per-second (default 1000; 0 as fast as it can). \
                Your own inputs: --scenario FILE sets up the servers a scenario file lists instead of \
                the built-in ones, --trace FILE replays an access trace instead of the generator \
                (read a batch at a time, outside the timed window; with --vcpus, whole before it), and --write-trace and \
                --write-scenario record a run so it can be replayed (the same results_digest). \
                Examples: vpmem steer hole-3g --host DIR --workload xengt --pages 8192 --fragmentation 0.5 --accesses 10M; \
                vpmem steer examples/hole-3g.toml --scenario examples/steer/nic.toml --trace examples/steer/nic.trace
                """)

        @OptionGroup var hostOption: HostOption
        @Argument(help: "The guest's name, or a config file (TOML; see examples/*.toml).")
        var guest: String
        @Option(help: "Workload: xengt (page tables, RAM, BAR, ports), mmio (BAR traffic), port (port IO) or ptwrite (page-table writes only). Default xengt.")
        var workload: String?
        @Option(help: "GPU page-table pages in guest RAM (default 8192).", transform: { try Parsers.int($0, in: 1...Int(Int32.max)) })
        var pages: Int?
        @Option(help: "0: the page tables are one contiguous run; 1: every page alone; between: that share of runs (default 0.5).", transform: parseFraction)
        var fragmentation: Double?
        @Option(help: "Accesses to run (K, M, G suffixes are powers of 1000). Default 1M; with --trace, the whole trace.")
        var accesses: String?
        @Option(help: "How page tables are write-protected: type or range (default type).")
        var mode: String?
        @Option(name: .customLong("wp-mem-limit"), help: "The host admin raises (or lowers) the guest's wp_mem range limit for this run (default 256; at most min(RAM frames / 2, 2^32 - 1)).")
        var wpMemLimit: String?
        @Option(help: "Seed of the workload (the same seed gives the same accesses; default 1).", transform: parseUInt64)
        var seed: UInt64?
        @Option(name: .customLong("working-set"), help: "The guest's hot RAM, where ordinary RAM accesses fall (default 64M; whole pages, at most its RAM).")
        var workingSet: String?
        @Option(help: "vCPU threads steering at once (1 to 64); above 1 a device-model thread changes wp_mem ranges meanwhile (none when the scenario has no wp_mem range). vCPUs decide and count; they do not carry accesses out.")
        var vcpus: Int = 1
        @Option(name: .customLong("changes-per-second"), help: "wp_mem changes a second the device-model thread makes while the vCPUs steer (default 1000 with --vcpus above 1; 0: as fast as it can).")
        var changesPerSecond: Double?
        @Option(help: "A scenario file (TOML: servers, their ranges, type claim, device behaviour, write-protected pages) set up instead of the built-in servers; needs --trace. See examples/steer/.")
        var scenario: String?
        @Option(help: "An access trace to replay instead of the generator: text (mem|port ADDRESS SIZE r|w [DATA] a line) or vpmem's binary form.")
        var trace: String?
        @Option(name: .customLong("write-trace"), help: "Write the accesses run to FILE as a trace (replaced only when the run succeeds).")
        var writeTrace: String?
        @Option(name: .customLong("trace-format"), help: "Form of --write-trace: text or binary (24 bytes an access). Default text.")
        var traceFormat: String?
        @Option(name: .customLong("write-scenario"), help: "Write the set-up (servers, ranges, claim, write-protected and resident pages) to FILE as a scenario file (once the run succeeds).")
        var writeScenario: String?
        @Flag(help: "Print JSON with stable snake_case keys instead of tables.")
        var json = false

        /// Checks the options against each other before anything is set up.
        func checkOptions() throws {
            guard (1...64).contains(vcpus) else { throw ValidationError("--vcpus \(vcpus): give 1 to 64") }
            if let c = changesPerSecond, !(c >= 0 && c <= 1e7) {
                throw ValidationError("--changes-per-second \(c): give 0 (as fast as possible) to 10000000")
            }
            if scenario != nil {
                let builtinOnly = [("--workload", workload != nil), ("--pages", pages != nil), ("--fragmentation", fragmentation != nil),
                                   ("--mode", mode != nil), ("--seed", seed != nil), ("--working-set", workingSet != nil)].filter(\.1).map(\.0)
                if let first = builtinOnly.first {
                    throw UsageError(problem: "\(first) shapes the built-in scenario, but --scenario replaces it",
                                     fix: "drop \(builtinOnly.joined(separator: ", ")), or drop --scenario")
                }
                guard trace != nil else {
                    throw UsageError(problem: "--scenario needs --trace: a scenario file sets up servers, and the generator only knows the built-in ones",
                                     fix: "give --trace FILE (record one with: vpmem steer GUEST --write-trace FILE --write-scenario FILE)")
                }
            }
            if trace != nil {
                if workload != nil {
                    throw UsageError(problem: "--workload chooses the generator, but --trace replaces it", fix: "drop --workload, or drop --trace")
                }
            }
            if writeTrace != nil, vcpus > 1 || changesPerSecond != nil {
                throw UsageError(problem: "--write-trace records one vCPU's accesses in order", fix: "drop --vcpus and --changes-per-second, or drop --write-trace")
            }
            if let f = traceFormat {
                guard writeTrace != nil else { throw UsageError(problem: "--trace-format applies to --write-trace", fix: "give --write-trace FILE too (a trace read with --trace is recognised by its content)") }
                guard AccessTraceFormat(rawValue: f) != nil else { throw UsageError(problem: "--trace-format \(Echo.quoted(f))", fix: "use text or binary") }
            }
            for (option, path) in [("--write-trace", writeTrace), ("--write-scenario", writeScenario)] {
                guard let path else { continue }
                if let other = [scenario, trace].compactMap({ $0 }).first(where: { $0 == path }) {
                    throw UsageError(problem: "\(option) \(Echo.quoted(path)) would overwrite the input \(Echo.quoted(other))", fix: "write to another file")
                }
            }
            if let w = writeTrace, w == writeScenario {
                throw UsageError(problem: "--write-trace and --write-scenario name the same file \(Echo.quoted(w))", fix: "give each its own file")
            }
        }

        func run() async throws {
            try checkOptions()
            let kind: WorkloadKind
            if let w = workload {
                guard let k = WorkloadKind(rawValue: w) else {
                    throw ValidationError("--workload \(Echo.quoted(w)): use one of \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kind = k
            } else {
                kind = .xengt
            }
            let steeringMode: SteeringMode
            if let m = mode {
                guard let sm = SteeringMode(rawValue: m) else { throw ValidationError("--mode \(Echo.quoted(m)): use type or range") }
                steeringMode = sm
            } else {
                steeringMode = .type
            }
            let limitAccesses: UInt64? = try accesses.map { try parseCount($0, option: "--accesses") }
            var workingSetFrames = WorkloadTargets.defaultWorkingSetFrames
            if let text = workingSet {
                let bytes: UInt64
                do { bytes = try Parsers.size(text).bytes } catch {
                    throw UsageError(problem: "--working-set \(Echo.quoted(text))", fix: "\(error)")
                }
                guard bytes >= 4096, bytes % 4096 == 0 else {
                    throw UsageError(problem: "--working-set \(Echo.quoted(text)) is not whole 4K pages", fix: "give a size like 64M, at least 4K")
                }
                workingSetFrames = bytes >> 12
            }
            var limit: UInt64?
            if let text = wpMemLimit {
                // The guest's maximum depends on its RAM: the steering host checks it.
                do { limit = try Parsers.wholeNumber(text, in: 1...UInt64.max) } catch {
                    throw UsageError(problem: "--wp-mem-limit \(Echo.quoted(text))", fix: "\(error)")
                }
            }
            // Inputs are read before anything is set up, so a bad file is the command's one error.
            let fileSpec: ScenarioSpec? = try scenario.map { path in
                do { return try ScenarioFile.load(from: path) } catch { throw RequestFailure(problem: "\(error)", fix: "correct the scenario file") }
            }
            let traceReader: AccessTraceReader? = try trace.map { path in
                do { return try AccessTraceReader(path: path) } catch { throw RequestFailure(problem: "\(error)", fix: "give a trace vpmem steer --write-trace wrote, or one access a line") }
            }
            // Refusals (a wp_mem range beyond the limit or the allowance) are logged; JSON keeps
            // stderr for errors.
            let level: Logger.Level = json ? .error : .warning
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            // Inspection: the run changes nothing on disk, so no lock and no admitted guest needed.
            let target = try GuestTarget.resolve(guest, host: hostOption, change: false)
            let host = target.host
            let g = try target.guest(.inspect)
            // The admin's consent: only the host's SteeringHost raises a guest's wp_mem limit.
            if let limit {
                // Checked here too, so the refusal is the command's one error line rather than
                // a log line before it.
                let maximum = HostSteeringConfig.maximumWpMemRanges(ramFrames: g.engine.ramFrames)
                guard limit <= maximum else {
                    throw RequestFailure(problem: "--wp-mem-limit \(limit) is above the maximum \(maximum) for guest '\(target.name)'",
                                         fix: "give at most \(maximum) (min(RAM frames / 2, 2^32 - 1) for \(g.engine.ramFrames) frames of RAM)")
                }
                try host.steering.setWpMemRangeLimit(g.id, limit)
            }
            guard workingSetFrames <= g.engine.ramFrames else {
                throw RequestFailure(problem: "--working-set \(ByteSize(bytes: workingSetFrames << 12)) is more than guest '\(target.name)''s RAM (\(ByteSize(bytes: g.engine.ramFrames << 12)))",
                                     fix: "give at most its RAM")
            }
            let options = ScenarioOptions(workload: kind, pageTablePages: pages ?? 8192, fragmentation: fragmentation ?? 0.5,
                                          seed: seed ?? 1, mode: steeringMode, workingSetFrames: workingSetFrames)
            let setup: SteerSetup
            if let fileSpec, let path = scenario {
                do { setup = .file(try ScenarioSetup(spec: fileSpec, engine: g.engine), path: path) } catch {
                    throw RequestFailure(problem: "scenario \(path) cannot be set up on guest '\(target.name)': \(error)",
                                         fix: "correct the scenario file, or give --wp-mem-limit N if its wp_mem ranges need more than the guest's limit (the host admin's setting, not the scenario's); nothing was changed: the set-up is all or nothing")
                }
            } else {
                setup = .builtin(try SteeringScenario(physmap: g.physmap, ramRegions: g.ramLayout.mappedRAMRegions,
                                                      engine: g.engine, options: options))
            }
            // Rendered now, written once the run has succeeded (as --write-trace is): a run refused
            // or failed on the way leaves no file.
            let scenarioText: String? = writeScenario.map { _ in
                var comment = ["The steering set-up of guest '\(g.physmap.config.name)', written by vpmem steer."]
                if case .builtin = setup {
                    comment.append("Built-in scenario: workload \(kind.rawValue), mode \(steeringMode.rawValue), \(options.pageTablePages) page-table pages, fragmentation \(options.fragmentation), seed \(options.seed).")
                }
                return ScenarioFile.render(setup.spec, comment: comment)
            }
            let engine = setup.engine
            var source: AccessSource
            if let traceReader {
                source = .trace(traceReader)
            } else if case let .builtin(s) = setup {
                source = .generator(try s.stream())
            } else {
                preconditionFailure("checkOptions: --scenario needs --trace")
            }
            let total = limitAccesses ?? (traceReader != nil ? UInt64.max : 1_000_000)
            let writer: AccessTraceWriter? = try writeTrace.map { path in
                do { return try AccessTraceWriter(path: path, format: AccessTraceFormat(rawValue: traceFormat ?? "text") ?? .text) } catch {
                    throw RequestFailure(problem: "\(error)", fix: "give a writable path")
                }
            }
            let admitted = try host.admittedGuest(target.name)
            let context = SteerReport.Context(
                host: host.store?.directory, domid: g.id.raw, config: admitted.record.config,
                allowance: host.allowance(of: target.name),
                allowanceFrom: host.store == nil ? "default (private host)"
                    : host.config.allowances[target.name] != nil ? "[allowance] \(target.name)" : "guest_allowance",
                guestName: g.physmap.config.name)

            let batch = 4096
            let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: batch)
            defer { buffer.deallocate() }
            let results = UnsafeMutableBufferPointer<AccessResult>.allocate(capacity: batch)
            results.initialize(repeating: .discarded)
            defer { results.deallocate() }
            let clock = ContinuousClock()
            var elapsed = Duration.zero
            var done: UInt64 = 0
            var digest = ResultDigest()
            var concurrent: ConcurrentSteeringResult?
            // The decision alone is timed on the run's first accesses again. A trace's are kept as
            // they go by (outside the timed window), so the trace is read once: it may be a pipe.
            let sampleLimit = 1_000_000
            let sample: UnsafeMutableBufferPointer<GuestAccess>? = traceReader == nil ? nil
                : .allocate(capacity: Int(min(UInt64(sampleLimit), total)))
            defer { sample?.deallocate() }
            var sampled = 0
            if vcpus > 1 || changesPerSecond != nil {
                let change = setup.wpMemChanger
                if change == nil, changesPerSecond != nil {
                    throw RequestFailure(problem: "--changes-per-second: scenario \(scenario.map { Echo.quoted($0) } ?? "") lists no wp_mem range for the device-model thread to map and unmap",
                                         fix: "give a server of the scenario a wp_mem range, or drop --changes-per-second (the vCPUs then steer without a writer)")
                }
                if let traceReader, let path = trace {
                    let held = try Self.preload(traceReader, path: path, limit: total)
                    defer { held.deallocate() }
                    if let sample {
                        sampled = min(sample.count, held.count)
                        _ = sample.initialize(fromContentsOf: held.accesses[0..<sampled])
                    }
                    concurrent = Self.steerConcurrently(engine, accesses: held.accesses, vcpus: vcpus,
                                                        changesPerSecond: changesPerSecond ?? 1000, change: change)
                    done = UInt64(held.count)
                } else {
                    guard case let .builtin(s) = setup else { preconditionFailure("checkOptions: --scenario needs --trace") }
                    concurrent = try Self.steerConcurrently(s, vcpus: vcpus, total: total,
                                                            changesPerSecond: changesPerSecond ?? 1000)
                    done = total
                }
            } else {
                let progress = ProgressBar(total: total, enabled: !json && isatty(STDOUT_FILENO) != 0 && total >= 2_000_000 && total != .max)
                while done < total {
                    let want = Int(min(UInt64(batch), total - done))
                    let slice = UnsafeMutableBufferPointer(rebasing: buffer[0..<want])
                    var n = want
                    if !source.generatesInTimedWindow {
                        n = try source.fill(slice)
                        if n == 0 { break }
                    }
                    let start = clock.now
                    if source.generatesInTimedWindow { n = try source.fill(slice) }
                    try engine.handle(UnsafeBufferPointer(rebasing: buffer[0..<n]), into: results)
                    elapsed += clock.now - start
                    if let sample, sampled < sample.count {
                        let k = min(n, sample.count - sampled)
                        _ = UnsafeMutableBufferPointer(rebasing: sample[sampled..<(sampled + k)]).initialize(fromContentsOf: buffer[0..<k])
                        sampled += k
                    }
                    digest.add(UnsafeBufferPointer(rebasing: results[0..<n]))
                    do { try writer?.write(UnsafeBufferPointer(rebasing: buffer[0..<n])) } catch {
                        throw RequestFailure(problem: "\(error)", fix: "give a writable path with room for the trace")
                    }
                    done += UInt64(n)
                    progress.update(done)
                }
                progress.finish()
            }
            guard done > 0 else {
                throw RequestFailure(problem: "the trace \(trace.map { Echo.quoted($0) } ?? "") holds no accesses", fix: "give a trace with at least one access line")
            }
            do { try writer?.finish() } catch { throw RequestFailure(problem: "\(error)", fix: "give a writable path with room for the trace") }
            if let path = writeScenario, let scenarioText {
                do { try AtomicFileWriter.write(scenarioText, to: path) } catch {
                    throw RequestFailure(problem: "cannot write the scenario to \(path): \(error)", fix: "give a writable path")
                }
            }
            // The decision alone, on the run's first accesses again (the generator's made anew,
            // a trace's as kept), counters untouched.
            var decideElapsed = Duration.zero
            var decided: UInt64 = 0
            var sink: UInt64 = 0
            if let sample {
                var i = 0
                while i < sampled {
                    let end = min(i + batch, sampled)
                    let start = clock.now
                    for j in i..<end { sink &+= UInt64(engine.decide(sample[j]).counter.rawValue) }
                    decideElapsed += clock.now - start
                    i = end
                }
                decided = UInt64(sampled)
            } else {
                guard case let .builtin(s) = setup else { preconditionFailure("checkOptions: --scenario needs --trace") }
                var again = AccessSource.generator(try s.stream())
                let decideCount = min(done, UInt64(sampleLimit))
                while decided < decideCount {
                    let n = try again.fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<Int(min(UInt64(batch), decideCount - decided))]))
                    let start = clock.now
                    for i in 0..<n { sink &+= UInt64(engine.decide(buffer[i]).counter.rawValue) }
                    decideElapsed += clock.now - start
                    decided += UInt64(n)
                }
            }
            if let c = concurrent {
                elapsed = .nanoseconds(Int64(c.seconds * 1e9))
                sink ^= c.checksum
            }
            var report = SteerReport(setup: setup, options: options, trace: trace, context: context, accesses: done, elapsed: elapsed,
                                     decideAccesses: decided, decideElapsed: decideElapsed, checksum: sink)
            report.vcpus = vcpus
            if concurrent == nil { report.resultsDigest = SteerReport.hex(digest.value) }
            report.writtenTrace = writeTrace
            report.writtenScenario = writeScenario
            if let c = concurrent {
                report.concurrent = .init(vcpus: vcpus, decisionsPerVCPU: c.decisions, changes: c.changes,
                                          refusedChanges: c.refusedChanges, changesPerSecond: c.changesPerSecond,
                                          writer: setup.wpMemChanger != nil)
            }
            report.maxRSSBytes = Self.maxRSSBytes()
            if json {
                print(try JSONOutput.encode(report))
            } else {
                print(report.text, terminator: "")
            }
        }
    }
}

extension SteerCommand.Run {
    /// `--vcpus N`: N threads each steer their share of the accesses (their own stream, seeded
    /// apart) on their own SteeringVCPU, quiescent between batches, while a device-model thread
    /// toggles the vGPU's page-table runs in its wp_mem set.
    static func steerConcurrently(_ scenario: SteeringScenario, vcpus: Int, total: UInt64,
                                  changesPerSecond: Double) throws -> ConcurrentSteeringResult {
        let engine = scenario.engine
        var streams: [AccessStream] = []
        for i in 0..<vcpus {
            var s = try scenario.stream()
            if i > 0 {
                s = try AccessStream(mix: s.mix, targets: s.targets, seed: scenario.options.seed &+ 1 &+ UInt64(i) &* 0x9E37_79B9)
            }
            streams.append(s)
        }
        let handles = (0..<vcpus).map { _ in engine.makeVCPU() }
        let vcpuHandles = handles
        let vcpuStreams = streams
        let share = total / UInt64(vcpus), extra = total % UInt64(vcpus)
        let result = ConcurrentSteering.run(vcpus: vcpus, changesPerSecond: changesPerSecond,
                                            change: changesPerSecond >= 0 ? scenario.wpMemChanger() : nil) { i in
            let vcpu = vcpuHandles[i]
            var stream = vcpuStreams[i]
            let mine = share + (UInt64(i) < extra ? 1 : 0)
            let batch = 4096
            let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: batch)
            defer { buffer.deallocate() }
            var done: UInt64 = 0, sum: UInt64 = 0
            while done < mine {
                let n = Int(min(UInt64(batch), mine - done))
                stream.fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<n]))
                for k in 0..<n { sum &+= UInt64(vcpu.steer(buffer[k]).counter.rawValue) }
                vcpu.quiescent()
                done += UInt64(n)
            }
            vcpu.offline()
            return (done, sum)
        }
        engine.reclaim()
        return result
    }

    /// The most accesses `--vcpus` replays from a trace: they are held in memory (24 bytes each,
    /// 768 MiB at most; a trace from a pipe may briefly need half as much again while its buffer
    /// grows) so that reading the file stays out of the timed window.
    static let maxHeldTraceAccesses = 1 << 25

    /// Accesses read into memory: the first `count` of `storage`, which the owner deallocates.
    struct HeldAccesses {
        let storage: UnsafeMutableBufferPointer<GuestAccess>
        let count: Int
        var accesses: UnsafeBufferPointer<GuestAccess> { UnsafeBufferPointer(rebasing: storage[0..<count]) }
        func deallocate() { storage.deallocate() }
    }

    /// The first `limit` accesses of a trace (all when it holds fewer), read into memory for the
    /// vCPU threads. Throws when the trace holds more than `cap` and `limit` does not cut it
    /// there: nothing is dropped without being asked for. A file's length bounds what it holds,
    /// so its accesses take one buffer of about their size; a pipe's grow one (doubling).
    static func preload(_ reader: AccessTraceReader, path: String, limit: UInt64,
                        cap capacity: Int = maxHeldTraceAccesses) throws -> HeldAccesses {
        let cap = UInt64(capacity)
        let first = max(1, min(reader.accessBound ?? (1 << 16), limit, cap))
        var held = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: Int(first))
        var count = 0
        func read(_ into: UnsafeMutableBufferPointer<GuestAccess>) throws -> Int {
            do { return try reader.read(into: into) } catch {
                throw RequestFailure(problem: "\(error)", fix: "correct the trace there")
            }
        }
        do {
            while UInt64(count) < limit {
                if count == held.count {
                    // Full: the trace may end here; if not, it must fit under the cap.
                    let probe = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 1)
                    defer { probe.deallocate() }
                    if try read(probe) == 0 { break }
                    guard UInt64(count) < cap else {
                        throw RequestFailure(problem: "trace \(Echo.quoted(path)) holds more than \(cap) accesses, the most --vcpus holds in memory (24 bytes each)",
                                             fix: "give --accesses \(cap) or fewer to replay its start, or split the trace")
                    }
                    let bigger = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: min(max(held.count * 2, 1 << 16), capacity))
                    _ = bigger.initialize(fromContentsOf: held[0..<count])
                    held.deallocate()
                    held = bigger
                    held[count] = probe[0]
                    count += 1
                    continue
                }
                let want = Int(min(UInt64(held.count - count), limit - UInt64(count)))
                let n = try read(UnsafeMutableBufferPointer(rebasing: held[count..<(count + want)]))
                if n == 0 { break }
                count += n
            }
        } catch {
            held.deallocate()
            throw error
        }
        guard count > 0 else {
            held.deallocate()
            throw RequestFailure(problem: "the trace \(Echo.quoted(path)) holds no accesses", fix: "give a trace with at least one access line")
        }
        return HeldAccesses(storage: held, count: count)
    }

    /// `--vcpus N` with a trace: vCPU i steers the i-th of N contiguous shares of `accesses` (in
    /// order within its share) while `change`, when given, runs on the device-model thread.
    static func steerConcurrently(_ engine: SteeringEngine, accesses: UnsafeBufferPointer<GuestAccess>, vcpus: Int,
                                  changesPerSecond: Double, change: (@Sendable () -> Bool)?) -> ConcurrentSteeringResult {
        let handles = (0..<vcpus).map { _ in engine.makeVCPU() }
        nonisolated(unsafe) let all = accesses
        let share = all.count / vcpus, extra = all.count % vcpus
        let result = ConcurrentSteering.run(vcpus: vcpus, changesPerSecond: changesPerSecond, change: change) { i in
            let vcpu = handles[i]
            let start = i * share + min(i, extra)
            let mine = all[start..<(start + share + (i < extra ? 1 : 0))]
            var sum: UInt64 = 0
            var k = mine.startIndex
            while k < mine.endIndex {
                let end = min(k + 4096, mine.endIndex)
                for j in k..<end { sum &+= UInt64(vcpu.steer(all[j]).counter.rawValue) }
                vcpu.quiescent()
                k = end
            }
            vcpu.offline()
            return (UInt64(mine.count), sum)
        }
        engine.reclaim()
        return result
    }

    /// The process's peak resident memory.
    static func maxRSSBytes() -> UInt64 {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return UInt64(max(usage.ru_maxrss, 0)) * 1024  // kilobytes on Linux
    }
}

/// Parses a count with K, M, G suffixes (powers of 1000), from 1 to 10^12.
func parseCount(_ text: String, option: String) throws -> UInt64 {
    do { return try Parsers.count(text, in: 1...1_000_000_000_000) } catch {
        throw UsageError(problem: "\(option) \(Echo.quoted(text))", fix: "\(error)")
    }
}

/// A one-line progress bar on stdout, drawn only when enabled (a terminal, a long run, not JSON).
final class ProgressBar {
    let total: UInt64
    let enabled: Bool
    private var shown = -1

    init(total: UInt64, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(_ done: UInt64) {
        guard enabled else { return }
        let percent = Int(done * 100 / total)
        guard percent != shown else { return }
        shown = percent
        let width = 40
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        print("\r[\(bar)] \(percent)% \(done)/\(total) accesses", terminator: "")
        fflush(nil)
    }

    func finish() {
        guard enabled else { return }
        print("\r" + String(repeating: " ", count: 80) + "\r", terminator: "")
        fflush(nil)
    }
}

/// What `vpmem steer` reports, in JSON with snake_case keys, or as text.
struct SteerReport: Encodable {
    /// Where the guest runs: its host and what host.toml gives it.
    struct Context {
        /// The host directory; nil for a private host (a config outside any host).
        var host: String?
        var domid: UInt16
        var config: String
        /// The guest's range-memory allowance from host.toml, in bytes.
        var allowance: UInt64
        /// Where the allowance comes from: "[allowance] NAME", "guest_allowance", or the private
        /// host's default.
        var allowanceFrom: String
        /// The guest's name (from its config).
        var guestName: String
    }

    struct Server: Encodable {
        var id: UInt16
        var name: String
        var isDefault: Bool
        var ranges: [String: Int]
        var counters: [String: UInt64]

        enum CodingKeys: String, CodingKey {
            case id, name, ranges, counters
            case isDefault = "default"
        }
    }

    var guest: String
    var host: String?
    var domid: UInt16
    var config: String
    var guestAllowance: UInt64
    var allowanceFrom: String
    /// The generator's workload, or "trace" for a replayed trace.
    var workload: String
    /// The built-in scenario's mode; nil for a scenario file.
    var mode: String?
    var pages: Int
    /// The built-in workload's hot RAM, in bytes; nil for a trace.
    var workingSetBytes: UInt64?
    var fragmentation: Double?
    var seed: UInt64?
    /// The scenario file and trace given, when given.
    var scenarioFile: String?
    var traceFile: String?
    var writtenTrace: String?
    var writtenScenario: String?
    var pageTableRuns: Int
    var protectedRuns: Int
    var unprotectedPages: Int
    var degradation: String?
    var wpMemLimit: UInt64
    var claimant: UInt16?
    var accesses: UInt64
    var seconds: Double
    var accessesPerSecond: Double
    var nanosecondsPerAccess: Double
    var decisionNanoseconds: Double
    var decisions: [String: UInt64]
    var servers: [Server]
    var rangeMemoryAllowance: UInt64
    var rangeMemoryCharged: UInt64
    var shadowUpdates: UInt64
    /// Digests as hex strings: JSON numbers past 2^53 lose digits in most readers.
    var shadowDigest: String
    var checksum: UInt64
    /// A digest of every access's result (one vCPU): equal for equal accesses on equal set-ups.
    var resultsDigest: String?
    var vcpus = 1
    /// With several vCPUs: what each steered and what the device-model thread changed.
    struct Concurrent: Encodable {
        var vcpus: Int
        var decisionsPerVCPU: [UInt64]
        var changes: UInt64
        var refusedChanges: UInt64
        var changesPerSecond: Double
        /// False when no device-model thread ran (a scenario without wp_mem ranges).
        var writer: Bool

        enum CodingKeys: String, CodingKey {
            case vcpus, changes, writer
            case decisionsPerVCPU = "decisions_per_vcpu"
            case refusedChanges = "refused_changes"
            case changesPerSecond = "changes_per_second"
        }
    }
    var concurrent: Concurrent?
    var maxRSSBytes: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case guest, host, domid, config, workload, mode, pages, fragmentation, seed, degradation, claimant, accesses, seconds
        case decisions, servers, checksum
        case guestAllowance = "guest_allowance"
        case allowanceFrom = "allowance_from"
        case pageTableRuns = "page_table_runs"
        case protectedRuns = "protected_runs"
        case unprotectedPages = "unprotected_pages"
        case wpMemLimit = "wp_mem_limit"
        case accessesPerSecond = "accesses_per_second"
        case nanosecondsPerAccess = "ns_per_access"
        case decisionNanoseconds = "decision_ns"
        case rangeMemoryAllowance = "range_memory_allowance"
        case rangeMemoryCharged = "range_memory_charged"
        case shadowUpdates = "shadow_updates"
        case shadowDigest = "shadow_digest"
        case workingSetBytes = "working_set_bytes"
        case resultsDigest = "results_digest"
        case scenarioFile = "scenario_file"
        case traceFile = "trace_file"
        case writtenTrace = "written_trace"
        case writtenScenario = "written_scenario"
        case vcpus, concurrent
        case maxRSSBytes = "max_rss_bytes"
    }

    init(setup: SteerSetup, options: ScenarioOptions, trace: String?, context: Context, accesses: UInt64, elapsed: Duration,
         decideAccesses: UInt64, decideElapsed: Duration, checksum: UInt64) {
        let engine = setup.engine
        let counters = engine.counters
        guest = context.guestName
        host = context.host
        domid = context.domid
        config = context.config
        guestAllowance = context.allowance
        allowanceFrom = context.allowanceFrom
        workload = trace == nil ? options.workload.rawValue : "trace"
        traceFile = trace
        switch setup {
        case let .builtin(s):
            mode = s.options.mode.rawValue
            pages = s.options.pageTablePages
            if trace == nil { workingSetBytes = s.targets.ramWorkingSetFrames << 12 }
            fragmentation = s.options.fragmentation
            seed = s.options.seed
            pageTableRuns = s.targets.pageTables.runs.count
            protectedRuns = s.protectedRuns
            unprotectedPages = s.unprotectedPages
            degradation = s.degradation.map { "\($0)" }
        case let .file(f, path):
            scenarioFile = path
            pages = Int(f.spec.ioreqServerPages.reduce(UInt64(0)) { $0 + $1.count })
            pageTableRuns = f.spec.ioreqServerPages.count
            protectedRuns = pageTableRuns
            unprotectedPages = 0
        }
        wpMemLimit = engine.wpMemLimit
        claimant = engine.claimant?.server.raw
        self.accesses = accesses
        seconds = Self.seconds(elapsed)
        accessesPerSecond = seconds > 0 ? Double(accesses) / seconds : 0
        nanosecondsPerAccess = Double(accesses) > 0 ? seconds * 1e9 / Double(accesses) : 0
        decisionNanoseconds = decideAccesses > 0 ? Self.seconds(decideElapsed) * 1e9 / Double(decideAccesses) : 0
        var d: [String: UInt64] = [:]
        for c in DecisionCounter.allCases { d[c.key] = counters.decisions[c] ?? 0 }
        decisions = d
        servers = engine.servers.map { info in
            var r: [String: Int] = [:]
            for k in IoRangeKind.allCases { r[k.name] = info.rangeCounts[k] ?? 0 }
            var c: [String: UInt64] = [:]
            for k in ServerCounter.allCases { c[k.key] = counters.servers[info.id]?[k] ?? 0 }
            return Server(id: info.id.raw, name: info.name, isDefault: info.isDefault, ranges: r, counters: c)
        }
        rangeMemoryAllowance = engine.rangeMemory.allowance
        rangeMemoryCharged = engine.rangeMemory.charged
        shadowUpdates = setup.shadow.updates
        shadowDigest = Self.hex(setup.shadow.digest)
        self.checksum = checksum
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - s.count) + s
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    var text: String {
        var out = "guest '\(guest)' (domid \(domid), \(config)) "
        out += host.map { "of host \($0)" } ?? "on a private host (its config is no guest of the host)"
        out += ": range-memory allowance \(ByteSize(bytes: guestAllowance)) (\(allowanceFrom)"
        out += host == nil ? ")\n" : " in host.toml)\n"
        if let scenarioFile {
            out += "scenario \(scenarioFile): \(servers.count) ioreq servers; \(pages) ioreq_server pages in \(pageTableRuns) runs; wp_mem limit \(wpMemLimit)\n"
        } else {
            out += "\(traceFile == nil ? "workload \(workload), " : "")\(pages) page-table pages in \(pageTableRuns) runs "
            out += "(fragmentation \(fragmentation ?? 0)), seed \(seed ?? 0)"
            if let workingSetBytes { out += ", RAM working set \(ByteSize(bytes: workingSetBytes))" }
            out += "\n"
            if mode == "type" {
                out += "mode type: the vGPU claims the ioreq_server p2m type for writes; all \(protectedRuns) runs are ioreq_server pages\n"
            } else {
                out += "mode range: wp_mem limit \(wpMemLimit); \(protectedRuns) of \(pageTableRuns) runs write-protected by range"
                if unprotectedPages > 0 {
                    out += "\n  \(unprotectedPages) pages left unprotected: the vGPU must re-shadow them before each submission"
                    if let degradation { out += "\n  protection stopped short: \(degradation)" }
                }
                out += "\n"
            }
        }
        if let traceFile { out += "accesses replayed from trace \(traceFile)\n" }
        if let writtenTrace { out += "accesses written to trace \(writtenTrace)\n" }
        if let writtenScenario { out += "set-up written to scenario \(writtenScenario)\n" }
        out += "\n\(accesses) accesses in \(String(format: "%.3f", seconds)) s: "
        out += "\(String(format: "%.2f", accessesPerSecond / 1e6))M accesses/s, "
        if let c = concurrent {
            out += "\(c.vcpus) vCPUs steering (decision and counters) "
            if c.writer {
                out += "while a device-model thread made \(c.changes) wp_mem changes (\(String(format: "%.0f", c.changesPerSecond))/s, \(c.refusedChanges) refused); "
            } else {
                out += "with no device-model thread (the scenario lists no wp_mem range to change); "
            }
        } else {
            out += "\(String(format: "%.1f", nanosecondsPerAccess)) ns each (\(traceFile == nil ? "generation, " : "")decision, delivery, device model); "
        }
        out += "decision alone \(String(format: "%.1f", decisionNanoseconds)) ns"
        if concurrent == nil && decisionNanoseconds > 0 {
            out += " (end to end \(String(format: "%.1f", nanosecondsPerAccess / decisionNanoseconds))x)"
        }
        out += "\npeak RSS \(ByteSize(bytes: maxRSSBytes))\n\n"
        out += "Decisions\n"
        var rows: [[String]] = []
        for c in DecisionCounter.allCases {
            let n = decisions[c.key] ?? 0
            guard n > 0 else { continue }
            rows.append([c.description, "\(n)", String(format: "%.1f%%", Double(n) * 100 / Double(max(accesses, 1)))])
        }
        out += table(["decision", "count", "share"], rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n\n"
        out += "Ioreq servers\n"
        let keys = ServerCounter.allCases
        rows = servers.map { s in
            [String(s.id), s.name + (s.isDefault ? " (default)" : "")] + keys.map { String(s.counters[$0.key] ?? 0) }
        }
        out += table(["id", "name"] + keys.map(\.key), rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n\n"
        out += "Range memory: \(rangeMemoryCharged) of \(rangeMemoryAllowance) bytes of the guest's allowance\n"
        out += "vGPU shadow: \(shadowUpdates) page-table entries taken in (digest \(shadowDigest))\n"
        if let resultsDigest { out += "results digest \(resultsDigest) (what the accesses returned to the guest)\n" }
        return out
    }
}
