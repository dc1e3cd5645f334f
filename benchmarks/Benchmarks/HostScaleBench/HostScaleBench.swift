import Benchmark
import DomainModel
import Foundation
import GuestMemory
import HostMemory
import HostPmem
import VpmemCore
import VpmemHost

// A large pmem host (HostScaleWorkload: 1 TiB of RAM, 6 TiB of pmem on two sockets from 2 TiB):
// cold boot, then admitting a 64 GiB guest, each beside the floor a per-frame design pays.
//
//   - cold boot: frame table, content model and heaps for 2^28 RAM frames, pmem as registry
//     extents. Baseline: one write to each of the 2^28 records of a fresh 2 GiB table, what a
//     boot that initialised every record would pay at least (and 2 GiB of resident memory).
//   - 64 GiB guest: 2^24 frames from the heap, their records and content ids written. Baseline:
//     the same 2^24 records (128 MiB) and 2^24 ids (64 MiB) written in fresh memory.
// Targets: cold boot under 1 s and well under 3 GiB peak RSS; the guest well under 1 s, near its
// baseline. Peak RSS is the whole process's (each benchmark runs in its own process).
//
// Then the same host as a user has it (ModelledHost on a host directory: host.toml with 1 TiB of
// RAM and two emulated pmem files, 1 TiB + 128 KiB and 5 TiB, sparse): opening it (host.toml,
// state.json, cold boot, the guests admitted again), admitting a 64 GiB guest, and attaching a
// 1 TiB vNVDIMM to it (the backing mapped through libpmem, 1 GiB p2m pages, NFIT and SSDT).
// Target: each under 1 s, peak RSS under 3 GiB.

let ramFrames: Int = 1 << 28
let guestFrames: UInt64 = 1 << 24

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], timeUnits: .milliseconds, warmupIterations: 1,
        maxDuration: .seconds(5), maxIterations: 20)
    let config = try! HostScaleWorkload.config()

    Benchmark("cold boot: 1 TiB RAM + 6 TiB pmem") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! HostMachine.coldBoot(config))
        }
    }

    Benchmark("baseline: write 2^28 records in a fresh 2 GiB table", configuration: .init(maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            let t = UnsafeMutablePointer<UInt64>.allocate(capacity: ramFrames)
            t.initialize(repeating: FrameRecord.hole.raw, count: ramFrames)
            blackHole(t[ramFrames - 1])
            t.deallocate()
        }
    }

    // A fresh host per sample (booting is not measured); only createDomain is.
    Benchmark("createDomain: a 64 GiB guest on it") { benchmark in
        let h = try! HostMachine.coldBoot(config)
        benchmark.startMeasurement()
        blackHole(try! h.createDomain(HostDomainConfig(id: DomainID(uncheckedRaw: 1), memory: .dynamic(frames: guestFrames))))
        benchmark.stopMeasurement()
    }

    Benchmark("baseline: write 2^24 records and 2^24 content ids in fresh memory") { benchmark in
        benchmark.startMeasurement()
        let records = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(guestFrames))
        let ids = UnsafeMutablePointer<UInt32>.allocate(capacity: Int(guestFrames))
        records.initialize(repeating: FrameRecord.owned(by: DomainID(uncheckedRaw: 1)).raw, count: Int(guestFrames))
        ids.initialize(repeating: 7, count: Int(guestFrames))
        blackHole(records[Int(guestFrames) - 1] &+ UInt64(ids[Int(guestFrames) - 1]))
        records.deallocate()
        ids.deallocate()
        benchmark.stopMeasurement()
    }

    Benchmark("host: open a 1 TiB RAM + 6 TiB pmem host directory") { benchmark in
        let fixture = try! ScaleHost()
        for _ in benchmark.scaledIterations {
            blackHole(try! ModelledHost.open(HostStore(directory: fixture.directory, access: .inspect)))
        }
    }

    Benchmark("host: admit a 64 GiB guest") { benchmark in
        let fixture = try! ScaleHost()
        for _ in benchmark.scaledIterations {
            let host = try! ModelledHost.open(HostStore(directory: fixture.directory, access: .change))
            benchmark.startMeasurement()
            blackHole(try! host.createGuest(configPath: fixture.guest, createBackings: false))
            benchmark.stopMeasurement()
            try! host.destroyGuest("big")
        }
    }

    Benchmark("host: attach a 1 TiB vNVDIMM to it") { benchmark in
        let fixture = try! ScaleHost()
        do {
            let host = try! ModelledHost.open(HostStore(directory: fixture.directory, access: .change))
            try! host.createGuest(configPath: fixture.guest, createBackings: false)
        }
        for _ in benchmark.scaledIterations {
            let host = try! ModelledHost.open(HostStore(directory: fixture.directory, access: .change))
            benchmark.startMeasurement()
            blackHole(try! host.attach(NVDIMMConfig(slot: 0, backing: fixture.nvdimmBacking, size: ByteSize(bytes: 1 << 40)),
                                       to: "big", createBacking: false))
            benchmark.stopMeasurement()
            try! host.detach(slot: 0, from: "big")
        }
    }
}

/// A host directory with 1 TiB of RAM and 6 TiB of emulated pmem (sparse files), and a 64 GiB
/// guest's config; removed with the value. `VPMEM_BENCH_DIR` chooses where it lives.
final class ScaleHost {
    let root: String
    var directory: String { root + "/host" }
    var guest: String { root + "/big.toml" }
    var nvdimmBacking: String { root + "/nvdimm.pmem" }

    init() throws {
        let base = ProcessInfo.processInfo.environment["VPMEM_BENCH_DIR"] ?? NSTemporaryDirectory()
        root = base + "/vpmem-scale-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var config = try HostSetup.config(ram: 1 << 40)
        for (path, size) in [(nvdimmBacking, (UInt64(1) << 40) + (128 << 10)), (root + "/other.pmem", UInt64(5) << 40)] {
            let m = try PmemMapping.create(path: path, size: size)
            config.pmem.append(.init(path: path, size: m.length, spa: config.nextPmemSPA(size: m.length)!))
        }
        _ = try HostStore.create(directory: directory, config: config)
        try "name = \"big\"\nmemory = \"64G\"\nvcpus = 8\npmem_aperture = \"2T\"\n".write(toFile: guest, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}
