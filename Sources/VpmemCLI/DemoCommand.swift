import ArgumentParser
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore
import VpmemHost

/// The README's first command: what vpmem does, on this host, in under a minute.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Walk through what vpmem does on this host.",
        discussion: "Works on any Linux host: without NVDIMMs it uses an emulated pmem file in a temporary directory.")

    @Option(help: "Directory for the demo's files, new or empty (default: a new temporary directory, removed afterwards).")
    var dir: String?
    @Flag(help: "Keep the demo's files.") var keep = false
    @Option(help: "Size of the emulated pmem file (at least 2M).", transform: parseSize) var size = ByteSize(bytes: 64 << 20)

    func validate() throws {
        // The demo writes 1M at offset 4K.
        guard size.bytes >= 2 << 20 else { throw UsageError(problem: "--size \(size) is too small for the demo", fix: "give at least 2M") }
    }

    func run() async throws {
        let workDir: String
        // A fresh directory either way: the demo never writes among files it did not make.
        if let dir {
            try OutputFiles.emptyDirectory(dir)
            workDir = dir
        } else {
            workDir = try OutputFiles.freshTemporaryDirectory(prefix: "vpmem-demo-")
        }
        defer {
            if dir == nil && !keep { try? FileManager.default.removeItem(atPath: workDir) }
        }
        var step = 0
        func heading(_ s: String) { step += 1; print("\n== \(step). \(s)") }

        heading("ModelledHost persistent memory (libndctl)")
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
            throw RequestFailure(problem: "verification failed: read back fnv1a \(hex(again)), wrote \(hex(checksum))", fix: "the backing did not keep its bytes; check \(path)")
        }
        print("read back \(ByteSize(bytes: UInt64(back.count)).humanReadable): fnv1a \(hex(again)) matches: verified")
        let info = try PmemInfo.inspect(path: path)
        print("on disk: \(ByteSize(bytes: info.size).humanReadable) file, \(ByteSize(bytes: info.allocated ?? 0).humanReadable) allocated")

        try nvdimmSteps(workDir: workDir, heading: heading)

        print("\nFiles: \(workDir)\(dir == nil && !keep ? " (removed on exit; --keep keeps them)" : "")")
    }

    /// A host with two guests, each on its own pmem: the host's memory map, the refusal when the
    /// second guest asks for the first one's backing, the first guest's NFIT disassembled, labels
    /// written through _DSM and read back by a second process.
    func nvdimmSteps(workDir: String, heading: (String) -> Void) throws {
        heading("A host that owns its RAM, its pmem and its guests")
        let hostDir = workDir + "/host"
        var hostConfig = try HostSetup.config(ram: 8 << 30)
        for i in 0..<2 {
            let path = workDir + "/host-pmem\(i).pmem"
            let m = try PmemMapping.create(path: path, size: (64 << 20) + (128 << 10))
            guard let spa = hostConfig.nextPmemSPA(size: m.length) else { throw HostError.pmemFull(bytes: m.length) }
            hostConfig.pmem.append(.init(path: path, size: m.length, spa: spa))
        }
        _ = try HostStore.create(directory: hostDir, config: hostConfig)
        print("host \(hostDir): 8G of RAM and two emulated pmem backings, each 64M of data and a 128K label area")
        var configs: [String] = []
        for (i, name) in ["guest-a", "guest-b"].enumerated() {
            let config = GuestConfig(
                name: name, memory: ByteSize(bytes: (1 + UInt64(i)) << 30), vcpus: 2, pmemAperture: ByteSize(bytes: 16 << 30),
                nvdimms: [NVDIMMConfig(slot: 0, backing: "host-pmem\(i).pmem", size: ByteSize(bytes: 64 << 20), node: 0)],
                nvdimmPersistence: .cpu)
            let path = workDir + "/\(name).toml"
            try config.save(to: path)
            configs.append(path)
        }
        do {
            // The host is locked for changes while `host` lives: drop it before another process runs.
            let host = try ModelledHost.open(HostStore(directory: hostDir, access: .change))
            for path in configs {
                let g = try host.createGuest(configPath: path, createBackings: false)
                let d = g.nvdimm(slot: 0)!
                print("vpmem guest create \(path): \(g.id), \(g.config.memory.humanReadable) RAM from the host's heap, "
                    + "vNVDIMM on \((d.path as NSString).lastPathComponent) at gpa \(d.guestRange) -> host pmem \(d.hostFrames)")
            }
            print("")
            print(HostCommand.Show.render(HostReport(host)))

            heading("Pmem given to one guest is safe from every other")
            let stolen = NVDIMMConfig(slot: 1, backing: workDir + "/host-pmem0.pmem", size: ByteSize(bytes: 64 << 20))
            do {
                try host.attach(stolen, to: "guest-b", createBacking: false)
                throw RequestFailure(problem: "unexpected: guest-b was given guest-a's backing", fix: "report this as a bug")
            } catch let e as HostError {
                print("$ vpmem nvdimm attach guest-b --backing host-pmem0.pmem --size 64M")
                print("refused: \(e)")
            }

            heading("guest-a's NFIT and SSDT, in its ACPI-tables area")
            let domain = try host.guest("guest-a", access: .readWrite)
            let t = domain.tables!
            print("NFIT \(t.nfit.count) bytes + SSDT \(t.ssdt.count) bytes at gpa \(hex(t.address.raw)); published as")
            for k in [AcpiTablesArea.addressKey, AcpiTablesArea.lengthKey] {
                print("  \(try domain.keys.absolute(k)) = \(try domain.keys.read(k))")
            }
            let nfitPath = workDir + "/nfit.aml"
            try OutputFiles.write([(nfitPath, t.nfit), (workDir + "/ssdt.aml", t.ssdt)], force: false)
            if let dsl = Self.disassemble(nfitPath, in: workDir) {
                print("iasl -d \(nfitPath):")
                let interesting = dsl.split(separator: "\n").filter {
                    $0.contains("Signature") || $0.contains("Subtable Type") || $0.contains("Address Range Base")
                        || $0.contains("Address Range Length") || $0.contains("Device Handle") || $0.contains("Capabilities :")
                }
                for line in interesting.prefix(10) { print("  " + line.trimmingCharacters(in: .whitespaces)) }
            } else {
                print("iasl not found: install acpica-tools (scripts/setup) to disassemble \(nfitPath)")
            }

            heading("Namespace labels through _DSM (guest stores, port 0x0a18, the device model)")
            let client = NamespaceLabelClient(domain: domain, slot: 0)
            let (size, maxTransfer) = try client.labelSizeInfo()
            print("Get Namespace Label Size: \(size) bytes, max transfer \(maxTransfer)")
            let before = domain.device.calls
            let layout = try client.initLabels()
            print("init-labels: \(domain.device.calls - before) _DSM calls (Set Namespace Label Data in pieces of at most \(maxTransfer) bytes), 2 index blocks of \(layout.indexSize) bytes, "
                + "\(layout.nslot) free slots (v1.\(layout.minor)); each call persisted before it returned")
        }
        print("host closed: guests' backings unmapped and unlocked, the host's lock released")

        heading("The labels survive the process: a second vpmem reads them through _DSM")
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["nvdimm", "labels", "guest-a", "--slot", "0", "--host", hostDir]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        print("$ vpmem nvdimm labels guest-a --slot 0 --host \(hostDir)   (pid \(p.processIdentifier), exit \(p.terminationStatus))")
        print(out, terminator: "")
        guard p.terminationStatus == 0, out.contains("clean") else {
            throw RequestFailure(problem: "the second process did not find a clean label area", fix: "see its output above")
        }
    }

    /// Runs `iasl -d` on a table; the .dsl text, or nil when iasl is not installed.
    static func disassemble(_ path: String, in dir: String) -> String? {
        guard let iasl = ["/usr/bin/iasl", "/usr/local/bin/iasl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: iasl)
        p.arguments = ["-d", path]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        return try? String(contentsOfFile: (path as NSString).deletingPathExtension + ".dsl", encoding: .utf8)
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
