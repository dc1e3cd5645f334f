// swift-tools-version:6.1
// vpmem: host persistent memory attached to modelled guests, and the hypervisor hot paths
// that decide how fast that is. See docs/ARCHITECTURE.md for what each target owns.
import PackageDescription

let package = Package(
    name: "vpmem",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vpmem", targets: ["VpmemCLI"]),
        .library(name: "VpmemCore", targets: ["VpmemCore"]),
        .library(name: "HostPmem", targets: ["HostPmem"]),
        .library(name: "GuestMemory", targets: ["GuestMemory"]),
        .library(name: "NVDIMM", targets: ["NVDIMM"]),
        .library(name: "DomainModel", targets: ["DomainModel"]),
        .library(name: "DeviceModel", targets: ["DeviceModel"]),
        .library(name: "HostMemory", targets: ["HostMemory"]),
        .library(name: "VpmemHost", targets: ["VpmemHost"]),
        .library(name: "HotPathKernels", targets: ["HotPathKernels"]),
        .library(name: "SteeringFiles", targets: ["SteeringFiles"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        // Latency percentiles for `vpmem bench` (the histogram package-benchmark uses too).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.4"),
    ],
    targets: [
        // C libraries, found with pkg-config. Only HostPmem imports these.
        .systemLibrary(
            name: "CPmem", path: "CModules/CPmem", pkgConfig: "libpmem",
            providers: [.apt(["libpmem-dev"])]),
        .systemLibrary(
            name: "CNdctl", path: "CModules/CNdctl", pkgConfig: "libndctl",
            providers: [.apt(["libndctl-dev", "libdaxctl-dev"])]),

        // Cache prefetch hints (one header of static inline functions) for the steering delivery.
        .target(name: "CPrefetch"),
        // Shared vocabulary: byte sizes, JSON output helpers.
        .target(name: "VpmemCore"),
        // Host side of persistent memory: libpmem mappings, libndctl inventory, backing locks.
        .target(
            name: "HostPmem",
            dependencies: [
                "CPmem", "CNdctl", "VpmemCore",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Guest memory: address types, rangesets, the p2m, the guest physmap and safe range.
        .target(name: "GuestMemory", dependencies: ["VpmemCore"]),
        // Host memory: the frame table, boot and buddy allocators, static memory and direct map,
        // and the live-update handover (seeds 003 and 004).
        .target(name: "HostMemory", dependencies: ["VpmemCore", "GuestMemory", "HostPmem"]),
        // Virtual NVDIMMs, byte level: AML builder, ACPI table framing, NFIT and SSDT builders,
        // the _DSM function handler and the namespace label area codec.
        .target(name: "NVDIMM", dependencies: ["VpmemCore", "GuestMemory"]),
        // A modelled guest tied together: config, physmap, p2m on modelled host RAM, vNVDIMM
        // backings through the checked mapping, NFIT/SSDT in guest memory, the key store, and
        // the _DSM device model on the guest's steering engine.
        .target(
            name: "DomainModel",
            dependencies: ["VpmemCore", "GuestMemory", "HostPmem", "NVDIMM", "DeviceModel"]),
        // Ioreq servers and fault steering: route each guest access to memory, to a device model
        // or to a fault, by p2m type and by rangeset; the guest-memory access device models use;
        // the workload generator for steering measurements.
        .target(
            name: "DeviceModel",
            dependencies: [
                "GuestMemory", "HostPmem", "VpmemCore", "CPrefetch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]),
        // The guest config file (TOML, like an xl.cfg): load, validate into GuestMemory's
        // GuestConfig, save atomically. Kept apart so GuestMemory (and the benchmarks that link
        // it) carry no C++ TOML parser.
        .target(
            name: "GuestConfigFile",
            dependencies: ["GuestMemory", "VpmemCore", .product(name: "TOMLKit", package: "TOMLKit")]),

        // The user's own steering inputs: scenario files (TOML: servers, ranges, claims, device
        // behaviour) and access traces (text or binary), read and written a batch at a time.
        .target(
            name: "SteeringFiles",
            dependencies: [
                "DeviceModel", "GuestMemory", "GuestConfigFile",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        // One modelled host: host.toml and state.json in a host directory, the machine's RAM
        // (HostMemory), its pmem and every guest's mappings in one registry, its guests
        // (DomainModel), under the host's lock.
        .target(
            name: "VpmemHost",
            dependencies: [
                "VpmemCore", "GuestMemory", "HostPmem", "HostMemory", "DomainModel", "DeviceModel", "GuestConfigFile",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]),

        // The hot-path kernels and their baselines, one copy shared by `vpmem bench hotpaths`,
        // benchmarks/'s suites and its callgrind gate. Unchecked in release like the suites, so
        // a baseline's loop carries no overflow checks the hot path's library code would not.
        .target(name: "CHotPathSink", path: "Sources/CHotPathSink"),
        .target(
            name: "HotPathKernels",
            dependencies: ["CHotPathSink", "VpmemCore", "GuestMemory", "HostMemory", "NVDIMM", "DeviceModel"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),

        .executableTarget(
            name: "VpmemCLI",
            dependencies: [
                "VpmemCore", "HostPmem", "GuestMemory", "GuestConfigFile", "DeviceModel", "NVDIMM", "DomainModel", "HostMemory", "VpmemHost",
                "HotPathKernels", "SteeringFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),

        // Test support: `checkProperty`, the property-test entry point every test target uses
        // (it makes a property that throws fail; see Tests/Support/CheckProperty.swift).
        .target(
            name: "VpmemTestSupport",
            dependencies: [.product(name: "PropertyBased", package: "swift-property-based")],
            path: "Tests/Support"),

        .testTarget(name: "VpmemCoreTests", dependencies: ["VpmemCore"]),
        .testTarget(name: "HostPmemTests", dependencies: ["HostPmem", "VpmemCore"]),
        .testTarget(
            name: "GuestMemoryTests",
            dependencies: [
                "GuestMemory", "GuestConfigFile", "VpmemCore",
                "VpmemTestSupport",
            ]),
        .testTarget(name: "VpmemCLITests", dependencies: ["VpmemCLI", "VpmemCore", "HostPmem"]),
        .testTarget(
            name: "DomainModelTests",
            dependencies: [
                "DomainModel", "DeviceModel", "NVDIMM", "GuestMemory", "GuestConfigFile", "HostPmem", "VpmemCore",
                "VpmemTestSupport",
            ]),
        .testTarget(
            name: "DeviceModelTests",
            dependencies: [
                "DeviceModel", "GuestMemory", "HostPmem", "VpmemCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                "VpmemTestSupport",
            ]),
        .testTarget(
            name: "SteeringFilesTests",
            dependencies: ["SteeringFiles", "DeviceModel", "GuestMemory", "GuestConfigFile", "VpmemCore", "VpmemTestSupport"]),
        .testTarget(
            name: "NVDIMMTests",
            dependencies: [
                "NVDIMM", "GuestMemory", "VpmemCore",
                "VpmemTestSupport",
            ]),
        .testTarget(
            name: "VpmemHostTests",
            dependencies: [
                "VpmemHost", "DomainModel", "DeviceModel", "HostMemory", "GuestMemory", "GuestConfigFile", "HostPmem", "VpmemCore",
                "VpmemTestSupport",
            ]),
        .testTarget(
            name: "HostMemoryTests",
            dependencies: [
                "HostMemory", "GuestMemory", "HostPmem", "VpmemCore",
                "VpmemTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
