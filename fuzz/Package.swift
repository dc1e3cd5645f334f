// swift-tools-version:6.1
// vpmem's fuzz targets (libFuzzer), kept out of the root package: they need special compiler
// flags (-sanitize=fuzzer,address) that must not touch the normal build. scripts/fuzz builds and
// runs them; fuzz/README.md says how to run one by hand and how to add a corpus entry.
//
//   scripts/fuzz [SECONDS]                         # build, run each target over its corpus
//   swift run --package-path fuzz vpmem-fuzz-seeds fuzz/corpus   # regenerate the seed inputs
//
// Built without scripts/fuzz (no VPMEM_LIBFUZZER), the target executables replay the inputs
// given as arguments through the same invariant checks: no libFuzzer, no sanitizer, debuggable.
import PackageDescription

let package = Package(
    name: "vpmem-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "vpmem", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver (linked in by -sanitize=fuzzer).
        .target(name: "CLibFuzzer"),
        // The targets' input formats, invariant checks, naive models and seed builders.
        .target(name: "VpmemFuzz", dependencies: [
            .product(name: "NVDIMM", package: "vpmem"), .product(name: "SteeringFiles", package: "vpmem"),
            .product(name: "DeviceModel", package: "vpmem"), .product(name: "GuestMemory", package: "vpmem"), "CLibFuzzer",
        ]),
        .executableTarget(name: "vpmem-fuzz-dsm", dependencies: ["VpmemFuzz"]),
        .executableTarget(name: "vpmem-fuzz-labels", dependencies: ["VpmemFuzz"]),
        .executableTarget(name: "vpmem-fuzz-traces", dependencies: ["VpmemFuzz"]),
        // Writes the seed corpus (fuzz/corpus/<target>/seed-*).
        .executableTarget(name: "vpmem-fuzz-seeds", dependencies: ["VpmemFuzz", .product(name: "NVDIMM", package: "vpmem")]),
    ],
    swiftLanguageModes: [.v6]
)
