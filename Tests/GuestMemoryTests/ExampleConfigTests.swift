import Foundation
import Testing
import GuestConfigFile
import GuestMemory
import VpmemCore

/// Every config under examples/ loads, builds a physmap and survives a save/load round trip.
@Suite struct ExampleConfigTests {
    static let examples: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples")

    static func files() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
        return names.filter { $0.hasSuffix(".toml") }.sorted()
    }

    @Test func theExpectedExamplesExist() {
        let files = Self.files()
        for name in ["small.toml", "hole-3g.toml", "large-1t.toml", "backend.toml"] {
            #expect(files.contains(name), "examples/\(name) is missing")
        }
    }

    @Test(arguments: files())
    func everyExampleLoadsAndBuilds(file: String) throws {
        let path = Self.examples.appendingPathComponent(file).path
        let config = try GuestConfigFile.load(from: path)
        #expect(config.name + ".toml" == file, "an example is named after its file")
        let physmap = try GuestPhysmap(config: config)
        #expect(physmap.safeRange.range.size >= physmap.safeRange.requiredBytes)
        #expect(try GuestConfigFile.parse(GuestConfigFile.render(config), path: path) == config)
    }

    @Test func theExamplesHaveTheShapesTheirCommentsClaim() throws {
        func load(_ name: String) throws -> GuestPhysmap {
            try GuestPhysmap(config: GuestConfigFile.load(from: Self.examples.appendingPathComponent(name).path))
        }
        let small = try load("small.toml")
        #expect(small.config.memory == bytes(2 * GiB) && !small.regions.contains { $0.name == "ram_high" })
        let hole = try load("hole-3g.toml")
        #expect(hole.holeStart == Gpa(GiB))
        #expect(hole.regions.first { $0.name == "ram_high" }?.range.size == 15 * GiB)
        let large = try load("large-1t.toml")
        #expect(large.config.memory == bytes(TiB) && large.safeRange.range.size == 256 * GiB)
        let backend = try load("backend.toml")
        #expect(backend.safeRange.range.size == 1025 * GiB, "the maptrack frames push it past 128 GiB")
    }
}
