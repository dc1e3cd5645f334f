import CGate
import Foundation
import HotPathKernels

/// Runs a kernel's loop inside `vpmem_gate_measured`, the one function callgrind collects in.
func runMeasured(_ kernel: Kernel, iterations: Int64) {
    let loop = kernel.prepare()
    final class Box { let loop: (Int64) -> Void; init(_ l: @escaping (Int64) -> Void) { loop = l } }
    let box = Unmanaged.passRetained(Box(loop))
    defer { box.release() }
    vpmem_gate_measured({ ctx, n in
        Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().loop(n)
    }, box.toOpaque(), iterations)
}

enum GateError: Error, CustomStringConvertible {
    case valgrindMissing
    case valgrindFailed(kernel: String, status: Int32, output: String)
    case noTotals(kernel: String)
    case unknownKernel(String)
    case badSpec(String)

    var description: String {
        switch self {
        case .valgrindMissing: return "valgrind is not installed: run scripts/setup (apt-get install valgrind)"
        case let .valgrindFailed(k, s, o): return "valgrind failed on \(k) (status \(s)): \(o.suffix(600))"
        case .noTotals(let k): return "callgrind wrote no instruction total for \(k)"
        case .unknownKernel(let k): return "no kernel named \(k): see `vpmem-gate list`"
        case .badSpec(let s): return "gate spec: \(s)"
        }
    }
}

/// This executable without its debug sections: valgrind 3.19 cannot read the DWARF 5 that
/// current Swift toolchains emit, and callgrind needs only the symbol table to find
/// vpmem_gate_measured. Made once per process.
let strippedSelf: Result<String, GateError> = {
    let copy = NSTemporaryDirectory() + "vpmem-gate-stripped-\(ProcessInfo.processInfo.processIdentifier)"
    let self_ = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/objcopy")
    p.arguments = ["--strip-debug", self_, copy]
    let pipe = Pipe()
    p.standardError = pipe
    do { try p.run() } catch { return .failure(.valgrindFailed(kernel: "objcopy", status: -1, output: "\(error): install binutils")) }
    let err = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return .failure(.valgrindFailed(kernel: "objcopy", status: p.terminationStatus, output: err)) }
    atexit { unlink(NSTemporaryDirectory() + "vpmem-gate-stripped-\(ProcessInfo.processInfo.processIdentifier)") }
    return .success(copy)
}()

/// Instructions per operation of `kernel`, counted by callgrind inside the measured call only.
func instructionsPerOp(_ kernel: String, iterations: Int64) throws -> Double {
    let valgrind = ["/usr/bin/valgrind", "/usr/local/bin/valgrind"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let valgrind else { throw GateError.valgrindMissing }
    let out = NSTemporaryDirectory() + "vpmem-gate-\(ProcessInfo.processInfo.processIdentifier)-\(kernel).cg"
    defer { try? FileManager.default.removeItem(atPath: out) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: valgrind)
    p.arguments = [
        "--tool=callgrind", "--callgrind-out-file=\(out)", "--collect-atstart=no",
        "--toggle-collect=vpmem_gate_measured", try strippedSelf.get(),
        "run", kernel, "--iterations", String(iterations),
    ]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw GateError.valgrindFailed(kernel: kernel, status: p.terminationStatus, output: output) }
    let text = try String(contentsOfFile: out, encoding: .utf8)
    for line in text.split(separator: "\n") where line.hasPrefix("totals:") || line.hasPrefix("summary:") {
        if let n = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            return n / Double(iterations)
        }
    }
    throw GateError.noTotals(kernel: kernel)
}
