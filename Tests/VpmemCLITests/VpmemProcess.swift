import Foundation

/// Runs the built `vpmem` executable as a separate process, as a user would.
struct VpmemProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `vpmem` binary SwiftPM built next to this test bundle, or $VPMEM_TEST_BINARY (to run
    /// the suites, the bad-input table above all, against another build).
    static var binary: URL {
        if let other = ProcessInfo.processInfo.environment["VPMEM_TEST_BINARY"], !other.isEmpty { return URL(fileURLWithPath: other) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("vpmem")
    }

    /// A host directory that does not exist: a test that does not name a host never reads or
    /// changes the user's default one.
    static let noHost = NSTemporaryDirectory() + "vpmem-cli-test-no-host-" + UUID().uuidString

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["VPMEM_HOST": noHost]) { $1 }.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both before waiting so a full pipe cannot stall the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts `vpmem` in the background and waits for its first line of output.
    static func start(_ args: [String], environment: [String: String] = [:]) throws -> (Process, firstLine: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["VPMEM_HOST": noHost]) { $1 }.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while true {
            let chunk = out.fileHandleForReading.readData(ofLength: 1)
            if chunk.isEmpty || chunk == Data("\n".utf8) { break }
            line.append(chunk)
        }
        return (p, String(decoding: line, as: UTF8.self))
    }
}

/// A host made with `vpmem host init` in a temporary directory; `env` points commands at it.
final class TempHostDir {
    let dir = TempDir()
    var path: String { dir.file("host") }
    var env: [String: String] { ["VPMEM_HOST": path] }

    init(ram: String = "8G", extra: [String] = []) throws {
        let r = try VpmemProcess.run(["host", "init", "--ram", ram] + extra, environment: ["VPMEM_HOST": dir.file("host")])
        guard r.status == 0 else { throw HostInitFailed(stderr: r.stderr) }
    }

    func file(_ name: String) -> String { dir.file(name) }

    /// Runs vpmem on this host.
    func run(_ args: [String]) throws -> VpmemProcess.Result { try VpmemProcess.run(args, environment: env) }

    struct HostInitFailed: Error { let stderr: String }
}

final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "vpmem-cli-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func json(_ text: String) throws -> [String: Any] {
    (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
}

/// A named pipe at `path` that a thread fills with `data` once a reader opens it: a trace as
/// `--trace <(zcat trace.gz)` gives it, readable once and of no known length.
final class PipeFeeder {
    let path: String
    private let done = DispatchSemaphore(value: 0)

    init(_ data: Data, at path: String) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
        let done = self.done
        Thread {
            // Blocks until the reader opens the pipe.
            if let h = FileHandle(forWritingAtPath: path) {
                h.write(data)
                try? h.close()
            }
            done.signal()
        }.start()
    }

    /// Waits (a minute at most) for the thread to have written everything: false when no
    /// reader took it all.
    func wait() -> Bool { done.wait(timeout: .now() + 60) == .success }
}
