#if VPMEM_LIBFUZZER
import CLibFuzzer
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The main of a fuzz target executable.
///
/// Built by scripts/fuzz (`-D VPMEM_LIBFUZZER`, `-sanitize=fuzzer,address`) it hands argv to
/// libFuzzer, which takes its usual flags and corpus directories. Built plainly it replays the
/// files and directories given as arguments through the same target, without libFuzzer or a
/// sanitizer (for a debugger, or to check a crash input after a fix).
public enum FuzzDriver {
    nonisolated(unsafe) static var target: ((UnsafeRawBufferPointer) -> Void)?

    public static func main(name: String, _ run: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        target = run
        #if VPMEM_LIBFUZZER
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzDriver.target!(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
        #else
        exit(replay(name: name, paths: Array(CommandLine.arguments.dropFirst())))
        #endif
    }

    /// Runs every file named (directories: every regular file in them, not recursing).
    static func replay(name: String, paths: [String]) -> Int32 {
        guard !paths.isEmpty else {
            printToStandardError("usage: \(name) FILE|DIR...  (replays inputs; scripts/fuzz builds the libFuzzer version)")
            return 2
        }
        var count = 0
        for path in paths {
            for file in files(at: path) {
                guard let bytes = readFile(file) else {
                    printToStandardError("\(name): cannot read \(file)")
                    return 1
                }
                bytes.withUnsafeBytes { target!($0) }
                count += 1
            }
        }
        print("\(name): replayed \(count) inputs, every invariant held")
        return 0
    }

    static func files(at path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            bytes += chunk[0..<n]
            if n < chunk.count { return ferror(f) == 0 ? bytes : nil }
        }
    }
}

/// Writes a line to standard error (fd 2, unbuffered).
public func printToStandardError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress! + done, $0.count - done) }
        guard n > 0 else { return }
        done += n
    }
}
