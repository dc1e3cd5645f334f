import Benchmark
import CPmemDirect
import Foundation
import HostPmem

// Copy + persist through PmemMapping against a plain memcpy into the same mapping, in one run.
//
// The backing is an emulated pmem file in $VPMEM_BENCH_DIR (default: the temporary directory).
// Point it at an fsdax mount to measure real pmem; run with PMEM_IS_PMEM_FORCE=1 to measure the
// cache-flush path on a file (libpmem then flushes instead of calling msync).
//
// Target (issue 16): PmemMapping.write within 5% of the same libpmem calls made straight from C
// (CPmemDirect: pmem_memcpy_persist on pmem, memcpy + pmem_msync otherwise) at every size from
// 4 KiB to 2 MiB, on the same mapping: the Swift layer (bounds check, dispatch) costs nothing
// measurable. Compare "write+persist N: PmemMapping.write" with "write+persist N: C" (p50).

let mappingSize: UInt64 = 64 << 20

let benchmarks: @Sendable () -> Void = {
    let dir = ProcessInfo.processInfo.environment["VPMEM_BENCH_DIR"] ?? NSTemporaryDirectory()
    let path = dir + "/vpmem-bench-\(ProcessInfo.processInfo.processIdentifier).pmem"
    let mapping: PmemMapping
    do {
        mapping = try PmemMapping.create(path: path, size: mappingSize, preallocate: true)
    } catch {
        fatalError("cannot create the benchmark backing: \(error)")
    }
    unlink(path)  // the mapping keeps the file alive; nothing is left behind

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(2), maxIterations: 100_000)

    _ = try! mapping.withUnsafeMutableBytes(offset: 0, count: Int(mappingSize)) { (base: UnsafeMutableRawBufferPointer) in
        for block in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20] {
            let source = [UInt8](repeating: 0x5A, count: block)
            let slots = Int(mappingSize) / block
            let label = block >= 1 << 20 ? "\(block >> 20) MiB" : "\(block >> 10) KiB"
            Benchmark("write+persist \(label): PmemMapping.write", configuration: .init(scalingFactor: .one)) { benchmark in
                var slot = 0
                source.withUnsafeBytes { src in
                    for _ in benchmark.scaledIterations {
                        try! mapping.write(src, at: UInt64(slot * block))
                        slot = slot + 1 == slots ? 0 : slot + 1
                    }
                }
            }
            let raw = base.baseAddress!
            let isPmem: Int32 = mapping.isPmem ? 1 : 0
            // The same loop shape as above, one write per iteration, each one C call.
            Benchmark("write+persist \(label): C", configuration: .init(scalingFactor: .one)) { benchmark in
                var slot = 0
                source.withUnsafeBytes { src in
                    for _ in benchmark.scaledIterations {
                        // Not inside precondition: -Ounchecked never evaluates its condition.
                        if vpmem_direct_write_loop(raw + slot * block, 1, block, src.baseAddress!, 1, isPmem) != 0 { fatalError("msync failed") }
                        slot = slot + 1 == slots ? 0 : slot + 1
                    }
                }
            }
        }
    }

    for block in [4 << 10, 2 << 20] {
        let label = block == 4096 ? "4 KiB" : "2 MiB"
        let source = [UInt8](repeating: 0xA5, count: block)
        let slots = Int(mappingSize) / block

        Benchmark("copy+persist \(label) (\(mapping.persistence))",
                  configuration: .init(scalingFactor: .one)) { benchmark in
            var slot = 0
            source.withUnsafeBytes { src in
                for _ in benchmark.scaledIterations {
                    try! mapping.write(src, at: UInt64(slot * block))
                    slot = (slot + 1) % slots
                }
            }
        }
        Benchmark("baseline: memcpy \(label) into the same mapping",
                  configuration: .init(scalingFactor: .one)) { benchmark in
            var slot = 0
            source.withUnsafeBytes { src in
                for _ in benchmark.scaledIterations {
                    _ = try! mapping.withUnsafeMutableBytes(offset: UInt64(slot * block), count: block) { dst in
                        dst.copyMemory(from: src)
                    }
                    slot = (slot + 1) % slots
                }
            }
        }
    }
}
