// swift-tools-version:6.1
// vpmem's benchmarks: ordo-one package-benchmark suites, one folder each under Benchmarks/.
// Every suite compares vpmem's hot path with a baseline measured in the same run.
//
//   cd benchmarks && swift package benchmark                 # all suites
//   cd benchmarks && swift package benchmark --target HostPmemBench   # one suite
import PackageDescription

// One entry per folder under Benchmarks/ (the plugin looks for suites exactly there). Suite
// names end in "Bench" so they never collide with the library modules they measure.
let suites = [
    "HostPmemBench",
    "NVDIMMBench",
    "P2MBench",
    "RangeSetBench",
    "SteeringBench",
    "LiveUpdateBench",
    "HostScaleBench",
]

let vpmemLibraries: [Target.Dependency] = [
    .product(name: "VpmemCore", package: "vpmem"),
    .product(name: "HostPmem", package: "vpmem"),
    .product(name: "GuestMemory", package: "vpmem"),
    .product(name: "NVDIMM", package: "vpmem"),
    .product(name: "DeviceModel", package: "vpmem"),
    .product(name: "DomainModel", package: "vpmem"),
    .product(name: "HostMemory", package: "vpmem"),
    .product(name: "VpmemHost", package: "vpmem"),
    .product(name: "HotPathKernels", package: "vpmem"),
]

let package = Package(
    name: "vpmem-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "vpmem", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The instruction-count gate (see Sources/Gate): callgrind counts a kernel's loop inside
        // vpmem_gate_measured, compared with a baseline kernel measured in the same run.
        .target(name: "CGate", path: "Sources/CGate"),
        // HostPmemBench's floor: PmemMapping.write's libpmem calls made straight from C.
        .target(name: "CPmemDirect", path: "Sources/CPmemDirect", linkerSettings: [.linkedLibrary("pmem")]),
        .executableTarget(
            name: "vpmem-gate",
            dependencies: vpmemLibraries + ["CGate", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Gate",
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        // Steering on many vCPUs (issue 18): decisions a second at 1 and 2 threads with and
        // without a writer, against rwlock_t-per-set baselines, in one run.
        .executableTarget(
            name: "vpmem-steering-concurrency",
            dependencies: vpmemLibraries,
            path: "Sources/SteeringConcurrency",
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
    ] + suites.map { name in
        .executableTarget(
            name: name,
            dependencies: vpmemLibraries + (name == "HostPmemBench" ? ["CPmemDirect"] : [])
                + [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/\(name)",
            swiftSettings: [.unsafeFlags(["-Ounchecked"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    },
    swiftLanguageModes: [.v6]
)
