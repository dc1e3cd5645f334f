import Foundation
import Testing

/// Runs ACPICA's iasl and acpiexec for oracle tests. A missing tool is a test failure that says
/// how to install it, never a skip: CI installs acpica-tools.
enum AcpiTools {
    struct Run {
        var status: Int32
        var output: String
    }

    static func path(of tool: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let p = dir + "/" + tool
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        Issue.record("\(tool) not found: install acpica-tools (apt-get install acpica-tools)")
        throw CancellationError()
    }

    static func run(_ tool: String, _ args: [String], in dir: URL) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try path(of: tool))
        p.arguments = args
        p.currentDirectoryURL = dir
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vpmem-nvdimm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Compiles ASL (a whole DefinitionBlock) and returns the AML after the 36-byte header.
    static func compile(_ asl: String) throws -> [UInt8] {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try asl.write(to: dir.appendingPathComponent("t.asl"), atomically: true, encoding: .utf8)
        let r = try run("iasl", ["-p", "out", "t.asl"], in: dir)
        guard r.status == 0 else {
            Issue.record("iasl failed (\(r.status)):\n\(r.output)\n--- source ---\n\(asl)")
            throw CancellationError()
        }
        let aml = try [UInt8](Data(contentsOf: dir.appendingPathComponent("out.aml")))
        return Array(aml.dropFirst(36))
    }

    /// Wraps statements in a DefinitionBlock of the given revision and compiles them.
    static func compileBody(_ body: String, revision: Int = 2) throws -> [UInt8] {
        try compile("DefinitionBlock (\"\", \"SSDT\", \(revision), \"VPMEM\", \"TEST\", 1)\n{\n\(body)\n}\n")
    }

    /// Disassembles a binary table with `iasl -d`; returns the run and the .dsl text.
    static func disassemble(_ table: [UInt8], name: String) throws -> (Run, String) {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(table).write(to: dir.appendingPathComponent("\(name).dat"))
        let r = try run("iasl", ["-d", "\(name).dat"], in: dir)
        let dsl = (try? String(contentsOf: dir.appendingPathComponent("\(name).dsl"), encoding: .utf8)) ?? ""
        return (r, dsl)
    }

    /// Loads a table into acpiexec and runs batch commands.
    static func acpiexec(_ table: [UInt8], commands: String, options: [String] = []) throws -> Run {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(table).write(to: dir.appendingPathComponent("t.aml"))
        return try run("acpiexec", options + ["-b", commands, "t.aml"], in: dir)
    }
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined(separator: " ") }
}
