// swift-tools-version:6.1
// vpmem's benchmarks: ordo-one package-benchmark suites, one folder each under Benchmarks/.
// Every suite compares vpmem's hot path with a baseline measured in the same run.
//
//   cd benchmarks && swift package benchmark                 # all suites
//   cd benchmarks && swift package benchmark --target P2M    # one suite
import Foundation
import PackageDescription

// Each folder under Benchmarks/ is one suite; the plugin looks for targets exactly there.
let suitesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Benchmarks")
let suites = ((try? FileManager.default.contentsOfDirectory(atPath: suitesDir.path)) ?? [])
    .filter { !$0.hasPrefix(".") }
    .sorted()

let vpmemLibraries: [Target.Dependency] = [
    .product(name: "VpmemCore", package: "vpmem"),
    .product(name: "HostPmem", package: "vpmem"),
    .product(name: "GuestMemory", package: "vpmem"),
    .product(name: "HostMemory", package: "vpmem"),
]

let package = Package(
    name: "vpmem-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "vpmem", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: suites.map { name in
        .executableTarget(
            name: name,
            dependencies: vpmemLibraries + [.product(name: "Benchmark", package: "package-benchmark")],
            path: "Benchmarks/\(name)",
            swiftSettings: [.unsafeFlags(["-Ounchecked"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        )
    },
    swiftLanguageModes: [.v6]
)
