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
        .library(name: "HostMemory", targets: ["HostMemory"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
    ],
    targets: [
        // C libraries, found with pkg-config. Only HostPmem imports these.
        .systemLibrary(
            name: "CPmem", path: "CModules/CPmem", pkgConfig: "libpmem",
            providers: [.apt(["libpmem-dev"])]),
        .systemLibrary(
            name: "CNdctl", path: "CModules/CNdctl", pkgConfig: "libndctl",
            providers: [.apt(["libndctl-dev", "libdaxctl-dev"])]),

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
        // The guest config file (TOML, like an xl.cfg): load, validate into GuestMemory's
        // GuestConfig, save atomically. Kept apart so GuestMemory (and the benchmarks that link
        // it) carry no C++ TOML parser.
        .target(
            name: "GuestConfigFile",
            dependencies: ["GuestMemory", "VpmemCore", .product(name: "TOMLKit", package: "TOMLKit")]),

        .executableTarget(
            name: "VpmemCLI",
            dependencies: [
                "VpmemCore", "HostPmem", "GuestMemory", "GuestConfigFile", "HostMemory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "VpmemCoreTests", dependencies: ["VpmemCore"]),
        .testTarget(name: "HostPmemTests", dependencies: ["HostPmem", "VpmemCore"]),
        .testTarget(
            name: "GuestMemoryTests",
            dependencies: [
                "GuestMemory", "GuestConfigFile", "VpmemCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "VpmemCLITests", dependencies: ["VpmemCLI", "VpmemCore", "HostPmem"]),
        .testTarget(
            name: "NVDIMMTests",
            dependencies: [
                "NVDIMM", "GuestMemory", "VpmemCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "HostMemoryTests",
            dependencies: [
                "HostMemory", "GuestMemory", "HostPmem", "VpmemCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
