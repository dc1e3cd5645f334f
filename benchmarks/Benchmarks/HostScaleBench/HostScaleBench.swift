import Benchmark
import GuestMemory
import HostMemory

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
}
