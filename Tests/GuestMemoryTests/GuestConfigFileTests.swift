import Foundation
import PropertyBased
import Testing
import GuestConfigFile
import GuestMemory
import VpmemCore

@Suite struct GuestConfigFileTests {
    let path = "/etc/vpmem/g.toml"

    func error(_ text: String) -> GuestConfigFileError? {
        do { _ = try GuestConfigFile.parse(text, path: path); return nil } catch { return error }
    }

    @Test func aMinimalFileTakesXenDefaults() throws {
        let config = try GuestConfigFile.parse("name = \"small\"\nmemory = \"2G\"\n", path: path)
        #expect(config == GuestConfig(name: "small", memory: bytes(2 * GiB)))
        #expect(config.vcpus == 1 && config.maxGrantFrames == 64 && config.maxMaptrackFrames == 1024)
        #expect(config.mmioHole == bytes(256 * MiB) && config.safeRangeSize == nil)
    }

    @Test func everyKeyIsRead() throws {
        let text = """
            name = "big"
            memory = "1T"
            vcpus = 64
            mmio_hole = 3221225472      # integers are bytes
            pci_mmio64 = "0x1000000000"
            max_grant_frames = 128
            max_maptrack_frames = 2048
            pmem_aperture = "512GiB"
            safe_range_size = "256G"
            """
        let config = try GuestConfigFile.parse(text, path: path)
        #expect(config == GuestConfig(
            name: "big", memory: bytes(TiB), vcpus: 64, mmioHole: bytes(3 * GiB), pciMmio64: bytes(64 * GiB),
            maxGrantFrames: 128, maxMaptrackFrames: 2048, pmemAperture: bytes(512 * GiB), safeRangeSize: bytes(256 * GiB)))
    }

    @Test func anUnknownKeyIsAnErrorNamingTheKeyAndTheFile() {
        let typo = error("name = \"g\"\nmemory = \"2G\"\nmemroy = \"4G\"\n")
        #expect(typo == .unknownKey(path: path, key: "memroy", suggestion: "memory"))
        #expect(typo?.description.hasPrefix("/etc/vpmem/g.toml: unknown key 'memroy': did you mean 'memory'?") == true)
        #expect(error("name = \"g\"\nmemory = \"2G\"\n[extra]\nx = 1\n") == .unknownKey(path: path, key: "extra", suggestion: nil))
        #expect(error("name = \"g\"\nmemory = \"2G\"\n[[nvdimm]]\nslot = 0\n") == .notYetSupported(path: path, key: "nvdimm"))
    }

    @Test func badValuesAreErrorsNamingTheKeyAndTheFix() {
        #expect(error("memory = \"2G\"\n") == .missingKey(path: path, key: "name"))
        #expect(error("name = \"g\"\n") == .missingKey(path: path, key: "memory"))
        #expect(error("name = 3\nmemory = \"2G\"\n") == .wrongType(path: path, key: "name", expected: "a string", found: "int"))
        #expect(error("name = \"g\"\nmemory = true\n") == .wrongType(path: path, key: "memory", expected: "a size string or an integer of bytes", found: "bool"))
        #expect(error("name = \"g\"\nmemory = \"2X\"\n") == .badSize(path: path, key: "memory", error: .unknownSuffix("2X", suffix: "X")))
        #expect(error("name = \"g\"\nmemory = -5\n") == .outOfRange(path: path, key: "memory", value: -5, rule: "a size of 0 or more bytes"))
        #expect(error("name = \"g\"\nmemory = \"2G\"\nvcpus = \"2\"\n") == .wrongType(path: path, key: "vcpus", expected: "an integer", found: "string"))
        #expect(error("name = \"g\"\nmemory = \"2G\"\nvcpus = 500\n") == .invalid(
            path: path, error: .invalid(key: "vcpus", value: "500", rule: "1 to 128 (Xen's HVM_MAX_VCPUS)"), hint: nil))
        // xl users write memory in MiB: the error says integers are bytes here.
        let xlStyle = error("name = \"g\"\nmemory = 2048\n")
        #expect(xlStyle?.description.contains("integers are bytes here, unlike xl's MiB") == true)
    }

    @Test func syntaxErrorsGiveTheLine() {
        guard case let .syntax(p, line, _, _)? = error("name = \"g\"\nmemory = = 2\n") else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(p == path && line == 2)
    }

    static let configs = Gen.int(in: 0...Int.max).map { seed -> GuestConfig in
        var r = UInt64(seed)
        func next(_ n: UInt64) -> UInt64 { defer { r /= n }; return r % n }
        let names = ["a", "guest-1", "x_y.z", "Web01"]
        return GuestConfig(
            name: names[Int(next(4))], memory: bytes((next(4096) + 16) * MiB), vcpus: Int(next(128)) + 1,
            mmioHole: bytes((next(3585) + 256) * MiB), pciMmio64: bytes(next(64) * GiB),
            maxGrantFrames: Int(next(4096)) + 1, maxMaptrackFrames: Int(next(8192)),
            pmemAperture: bytes(next(1024) * GiB), safeRangeSize: next(2) == 0 ? nil : bytes((next(64) + 128) * GiB))
    }

    @Test func renderThenParseGivesTheSameConfig() async {
        await propertyCheck(count: 200, input: Self.configs) { config in
            #expect(throws: Never.self) { try config.validate() }
            #expect((try? GuestConfigFile.parse(GuestConfigFile.render(config), path: "mem")) == config)
        }
    }

    @Test func saveIsAtomicAndRoundTrips() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vpmem-cfg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("guest.toml").path
        let first = GuestConfig(name: "one", memory: bytes(2 * GiB), vcpus: 2, pmemAperture: bytes(16 * GiB))
        try first.save(to: file)
        #expect(try GuestConfigFile.load(from: file) == first)
        // load -> save -> load gives the same config, and the file is replaced in place.
        var second = try GuestConfigFile.load(from: file)
        second.memory = bytes(4 * GiB)
        second.safeRangeSize = bytes(200 * GiB)
        try second.save(to: file)
        #expect(try GuestConfigFile.load(from: file) == second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["guest.toml"], "no temporary file left")
        // An invalid config is refused before anything is written.
        var bad = second
        bad.vcpus = 0
        #expect(throws: GuestConfigFileError.self) { try bad.save(to: file) }
        #expect(try GuestConfigFile.load(from: file) == second)
        // A directory that does not exist: an error naming the step, nothing created.
        let nowhere = dir.appendingPathComponent("missing/guest.toml").path
        #expect {
            try first.save(to: nowhere)
        } throws: { error in
            guard case let GuestConfigFileError.cannotWrite(p, step, _) = error else { return false }
            return p == nowhere && step.contains("temporary file")
        }
        #expect {
            try GuestConfigFile.load(from: nowhere)
        } throws: { error in
            guard case let GuestConfigFileError.cannotRead(p, _) = error else { return false }
            return p == nowhere
        }
    }
}
