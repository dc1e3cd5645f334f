#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// One bad command line and what the CLI's contract says it gets: `status` (1: the request
/// failed, 2: the command line is wrong), exactly one stderr line `vpmem: ...` that mentions
/// `mentions`, no signal, and nothing in the scratch directory created or changed.
struct BadInput: CustomTestStringConvertible, Sendable {
    let args: [String]
    let status: Int32
    let mentions: [String]
    /// What the case stands for (the issue's class, or what the suite found), for the report.
    let label: String

    init(_ args: [String], _ status: Int32, mentions: [String] = [], _ label: String = "") {
        self.args = args
        self.status = status
        self.mentions = mentions
        self.label = label
    }

    var testDescription: String {
        let shown = args.map { $0.count > 40 ? String($0.prefix(40)) + "...(\($0.count))" : $0 }
        return (label.isEmpty ? "" : label + ": ") + shown.joined(separator: " ").debugDescription
    }
}

/// The scratch directory every bad input runs against: a host with a guest that has a
/// vNVDIMM with initialised labels, a guest without one, a config that is no guest of the
/// host, broken configs, and the files and links output options may meet. `TMPDIR` points
/// inside it, so a stray temporary file shows too.
final class BadInputFixture: Sendable {
    let root: String
    let host: String
    let tmp: String
    let pristine: [String: String]

    static let shared: Result<BadInputFixture, FixtureFailed> = Result { () throws(FixtureFailed) in try BadInputFixture() }

    struct FixtureFailed: Error, CustomStringConvertible { let description: String }

    private init() throws(FixtureFailed) {
        let r = NSTemporaryDirectory() + "vpmem-bad-input-" + UUID().uuidString
        root = r
        host = r + "/host"
        tmp = r + "/tmp"
        let fm = FileManager.default
        func make(_ body: () throws -> Void) throws(FixtureFailed) {
            do { try body() } catch { throw FixtureFailed(description: "\(error)") }
        }
        func vpmem(_ args: [String]) throws(FixtureFailed) {
            let result = CLIRun.run(args, environment: ["VPMEM_HOST": r + "/host", "TMPDIR": r + "/tmp"])
            guard result.exitStatus == 0 else { throw FixtureFailed(description: "fixture: vpmem \(args) failed: \(result.stderr)") }
        }
        try make {
            for d in [r, r + "/tmp", r + "/acpi-existing", r + "/acpi-link", r + "/full", r + "/lu-existing", r + "/lu-link", r + "/empty"] {
                try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            }
        }
        try vpmem(["host", "init", "--ram", "8G"])
        try make {
            try "name = \"g\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n".write(toFile: r + "/g.toml", atomically: true, encoding: .utf8)
            try "name = \"plain\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n".write(toFile: r + "/plain.toml", atomically: true, encoding: .utf8)
            try "name = \"outside\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n".write(toFile: r + "/outside.toml", atomically: true, encoding: .utf8)
        }
        try vpmem(["guest", "create", r + "/g.toml"])
        try vpmem(["guest", "create", r + "/plain.toml"])
        try vpmem(["nvdimm", "attach", "g", "--backing", r + "/g0.pmem", "--size", "2M", "--create"])
        try vpmem(["nvdimm", "init-labels", "g", "--slot", "0"])
        try vpmem(["pmem", "create", r + "/free.pmem", "--size", "2M"])
        try make {
            // Broken configs, one per class of the issue.
            let configs: [(String, String)] = [
                ("nul-name.toml", "name = \"a\\u0000b\"\nmemory = \"1G\"\n"),
                ("nul-backing.toml", "name = \"nb\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"d1.pmem\\u0000.bak\"\nsize = \"2M\"\n"),
                ("nul-key.toml", "\"name\\u0000x\" = \"k\"\nmemory = \"1G\"\n"),
                ("raw-nul.toml", "name = \"r\"\nmemory = \"1G\"\n\0[[nvdimm]]\n"),
                ("esc-name.toml", "name = \"a\\u001b[31mb\\nc\"\nmemory = \"1G\"\n"),
                ("c1-name.toml", "name = \"a\\u0085b\"\nmemory = \"1G\"\n"),
                ("tab-oem.toml", "name = \"t\"\nmemory = \"1G\"\nacpi_oem_id = \"A\\tB\"\n"),
                ("size-5i.toml", "name = \"s\"\nmemory = \"5i\"\n"),
                ("size-5iB.toml", "name = \"s\"\nmemory = \"1G\"\npmem_aperture = \"5iB\"\n"),
                ("size-huge.toml", "name = \"s\"\nmemory = \"16384P\"\n"),
                ("unknown-key.toml", "name = \"u\"\nmemory = \"1G\"\nmemroy = \"1G\"\n"),
                ("not-toml.toml", "name = \n"),
                ("long-name.toml", "name = \"" + String(repeating: "n", count: 1 << 20) + "\"\nmemory = \"1G\"\n"),
                ("ctrl-long.toml", "name = \"" + String(repeating: "\\u001b[2J", count: 2000) + "\"\nmemory = \"1G\"\n"),
                ("binary.toml", String(decoding: [0xff, 0xfe, 0x00, 0x41], as: UTF8.self)),
            ]
            for (name, text) in configs { try text.write(toFile: r + "/" + name, atomically: false, encoding: .utf8) }
            try Data([0xff, 0xfe, 0x41]).write(to: URL(fileURLWithPath: r + "/latin1.toml"))
            // Output paths that are taken.
            try "keep me\n".write(toFile: r + "/acpi-existing/nfit.aml", atomically: false, encoding: .utf8)
            try "target\n".write(toFile: r + "/link-target.txt", atomically: false, encoding: .utf8)
            try fm.createSymbolicLink(atPath: r + "/acpi-link/nfit.aml", withDestinationPath: r + "/link-target.txt")
            try "a file\n".write(toFile: r + "/full/somebody-elses.txt", atomically: false, encoding: .utf8)
            try "not a pmem image\n".write(toFile: r + "/lu-existing/d1-pmem.img", atomically: false, encoding: .utf8)
            try fm.createSymbolicLink(atPath: r + "/lu-link/d1-pmem.img", withDestinationPath: r + "/link-target.txt")
            try "plain file\n".write(toFile: r + "/a-file", atomically: false, encoding: .utf8)
            try fm.createSymbolicLink(atPath: r + "/dangling", withDestinationPath: r + "/nowhere/x")
            // Backings that hold something a careless attach or benchmark would destroy: a
            // guest's data with no label area, and a label area (g0's, initialised) at the end
            // of a 4M data part; a guest whose vNVDIMM gives the data a label area.
            try Data((0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) | 1 }).write(to: URL(fileURLWithPath: r + "/data.pmem"))
            let labels = try Data(contentsOf: URL(fileURLWithPath: r + "/g0.pmem")).suffix(128 << 10)
            try (Data(count: 4 << 20) + labels).write(to: URL(fileURLWithPath: r + "/labelled.pmem"))
            // Steering inputs: a good trace and scenario, and broken ones.
            try "mem 0x1000 8 r\nport 0x60 1 w 0x1\n".write(toFile: r + "/good.trace", atomically: true, encoding: .utf8)
            try "mem 0x1000 8 r\n# next\nmem 0x1ffc 8 r\n".write(toFile: r + "/bad-line.trace", atomically: true, encoding: .utf8)
            try "# nothing\n\n".write(toFile: r + "/empty.trace", atomically: true, encoding: .utf8)
            var record = Data(count: 24)
            record[18] = 8  // an 8-byte read of guest address 0, then 6 bytes of a second record
            try (Data("VPMTRACE".utf8) + Data([1, 0, 0, 0, 24, 0, 0, 0]) + record + Data(count: 6)).write(to: URL(fileURLWithPath: r + "/cut.bin"))
            try "[[server]]\nname = \"q\"\ndefault = true\ndevice = \"register-file\"\n".write(toFile: r + "/scenario.toml", atomically: true, encoding: .utf8)
            try "[[server]]\nname = \"q\"\ndevice = \"register-file\"\ncolour = \"red\"\n".write(toFile: r + "/bad-scenario.toml", atomically: true, encoding: .utf8)
            try "ioreq_server = [\"0xfee00\"]\n[[server]]\nname = \"q\"\ndevice = \"none\"\n".write(toFile: r + "/notram-scenario.toml", atomically: true, encoding: .utf8)
            try "name = \"dg\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"data.pmem\"\nsize = \"2M\"\nlabel_size = \"2M\"\n"
                .write(toFile: r + "/data-guest.toml", atomically: true, encoding: .utf8)
        }
        do { pristine = try Snapshot.take(r) } catch { throw FixtureFailed(description: "snapshot: \(error)") }
        fixtureRootToRemove = r
        atexit { if let r = fixtureRootToRemove { try? FileManager.default.removeItem(atPath: r) } }
    }

    var environment: [String: String] { ["VPMEM_HOST": host, "TMPDIR": tmp] }

    /// `@S/...` in a case's arguments is a path in the scratch directory.
    func expand(_ args: [String]) -> [String] {
        args.map { $0.replacingOccurrences(of: "@S", with: root) }
    }

    /// Runs `input` and checks the contract; returns what happened, for the size report.
    func check(_ input: BadInput) throws {
        let before = try Snapshot.take(root)
        let r = CLIRun.run(expand(input.args), environment: environment)
        let after = try Snapshot.take(root)
        let what = input.testDescription
        // VPMEM_BAD_INPUT_LOG=FILE collects every case's status and line, to read them all.
        if let log = ProcessInfo.processInfo.environment["VPMEM_BAD_INPUT_LOG"], let h = FileHandle(forWritingAtPath: log) {
            logLock.lock()
            h.seekToEndOfFile()
            h.write(Data("\(r.exitStatus.map(String.init) ?? "signal") \(what)\n    \(r.stderr.split(separator: "\n").joined(separator: "\n    "))\n".utf8))
            logLock.unlock()
        }
        #expect(r.signal == nil, "\(what): killed by signal \(r.signal ?? 0)\n\(r.stderr.prefix(2000))")
        #expect(!r.timedOut, "\(what): still running after \(CLIRun.timeout) s")
        #expect(r.exitStatus == input.status, "\(what): exit \(r.exitStatus.map(String.init) ?? "-"), expected \(input.status); stderr: \(r.stderr.prefix(500))")
        // Exactly one line, `vpmem: <what is wrong>: <what to do>`, printable, of sane length.
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "\(what): \(lines.count - 1) stderr lines:\n\(r.stderr.prefix(1500))")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("vpmem: ") && line.dropFirst(7).contains(": "), "\(what): not `vpmem: problem: fix`: \(line.prefix(300))")
        #expect(line.count <= 2100, "\(what): a \(line.count)-character error line")
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(what): control characters in \(line.debugDescription.prefix(300))")
        for leak in ["NSCocoaErrorDomain", "Error Domain=", "UserInfo", "NSError", "NSFilePath", "The operation could not be completed", "couldn’t be completed", "Usage:", "USAGE:", "Fatal error", "\u{2019}"] {
            #expect(!r.stderr.contains(leak), "\(what): stderr has \(leak): \(line.prefix(300))")
        }
        for m in input.mentions {
            #expect(line.contains(m), "\(what): the error does not mention \(m.debugDescription): \(line.prefix(300))")
        }
        if input.status == 2 { #expect(r.stdout.isEmpty, "\(what): a usage error printed to stdout: \(r.stdout.prefix(300))") }
        // Nothing created or changed: against the listing before the run and the pristine one.
        #expect(Snapshot.difference(before, after) == nil, "\(what): \(Snapshot.difference(before, after) ?? "")")
        #expect(Snapshot.difference(pristine, after) == nil, "\(what) (or a case running beside it): \(Snapshot.difference(pristine, after) ?? "")")
    }
}

/// The scratch directory as a listing: each entry's relative path with its type, mode, size,
/// link target and a checksum of its bytes.
enum Snapshot {
    static func take(_ root: String) throws -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ rel: String) throws {
            let full = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { return }
            let mode = String(st.st_mode & 0o7777, radix: 8)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                out[rel] = "dir \(mode)"
                for name in try FileManager.default.contentsOfDirectory(atPath: full) { try walk(rel.isEmpty ? name : rel + "/" + name) }
            case S_IFLNK:
                out[rel] = "link -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "?")
            case S_IFREG:
                out[rel] = "file \(mode) \(st.st_size) \(checksum(full))"
            default:
                out[rel] = "other \(st.st_mode)"
            }
        }
        try walk("")
        return out
    }

    /// FNV-1a over 64-bit words (and the tail bytes): fast enough for the few MiB of backings.
    static func checksum(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "unreadable" }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3 }
            for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3 }
        }
        return String(h, radix: 16)
    }

    /// The first few differences, or nil when the listings are equal.
    static func difference(_ a: [String: String], _ b: [String: String]) -> String? {
        guard a != b else { return nil }
        var lines: [String] = []
        for k in Set(a.keys).union(b.keys).sorted() where a[k] != b[k] {
            lines.append("\(k.isEmpty ? "." : k): \(a[k] ?? "absent") -> \(b[k] ?? "absent")")
        }
        return "scratch directory changed: " + lines.prefix(5).joined(separator: "; ")
    }
}

/// Runs the built `vpmem` with posix_spawn, reading stdout and stderr together (a child that
/// fills one pipe never stalls), with a timeout and the child's peak RSS.
enum CLIRun {
    struct Result {
        var exitStatus: Int32?
        var signal: Int32?
        var stdout: String
        var stderr: String
        var timedOut: Bool
        /// Peak resident set size of the child, bytes: the largest VmHWM read from
        /// /proc/PID/status while it ran, every 10 ms. (wait4's ru_maxrss will not do: a
        /// vfork-spawned child's exec records the parent's high-water mark as its own.)
        var maxRSS: UInt64
    }

    static let timeout: Double = 120

    /// `measurePeak`: sample the child's VmHWM every 10 ms (else `maxRSS` is 0).
    static func run(_ args: [String], environment: [String: String] = [:], measurePeak: Bool = false) -> Result {
        let binary = VpmemProcess.binary.path
        var env = ProcessInfo.processInfo.environment
        env["VPMEM_HOST"] = VpmemProcess.noHost
        for (k, v) in environment { env[k] = v }
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Pipes and spawn under one lock, close-on-exec set before any other spawn can run:
        // a sibling child holding our write end would delay our EOF until it exits.
        spawnLock.lock()
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            spawnLock.unlock()
            return Result(exitStatus: nil, signal: nil, stdout: "", stderr: "pipe failed", timedOut: false, maxRSS: 0)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv = ([binary] + args).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, binary, &actions, nil, argv, envp)
        spawnLock.unlock()
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            return Result(exitStatus: nil, signal: nil, stdout: "", stderr: "spawn failed: \(rc)", timedOut: false, maxRSS: 0)
        }
        var out = Data(), err = Data()
        var open = [outPipe[0], errPipe[0]]
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        var peak: UInt64 = 0
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            if measurePeak { peak = max(peak, highWaterMark(pid)) }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(left, measurePeak ? 0.01 : 1) * 1000))
            if n < 0 && errno != EINTR { break }
            for f in fds where f.revents != 0 {
                let got = buffer.withUnsafeMutableBytes { read(f.fd, $0.baseAddress, $0.count) }
                if got > 0 {
                    if f.fd == outPipe[0] { out.append(contentsOf: buffer[..<got]) } else { err.append(contentsOf: buffer[..<got]) }
                } else if got == 0 || errno != EINTR {
                    close(f.fd)
                    open.removeAll { $0 == f.fd }
                }
            }
        }
        for fd in open { close(fd) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let signaled = status & 0x7f != 0 && status & 0x7f != 0x7f
        return Result(exitStatus: signaled ? nil : (status >> 8) & 0xff, signal: signaled ? status & 0x7f : nil,
                      stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
                      timedOut: timedOut, maxRSS: peak)
    }

    /// VmHWM of a running process, bytes (0 once it has exited).
    static func highWaterMark(_ pid: pid_t) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0) * 1024
        }
        return 0
    }
}

private let spawnLock = NSLock()
private let logLock = NSLock()

/// The shared fixture's directory, removed when the test process exits.
nonisolated(unsafe) private var fixtureRootToRemove: String?

/// Runs a group of bad inputs against the shared fixture.
func checkBadInput(_ input: BadInput) throws {
    let fixture = try BadInputFixture.shared.get()
    try fixture.check(input)
}
