import HotPathKernels
import Benchmark
import DomainModel
import Foundation
import GuestMemory
import HostPmem
import NVDIMM

// Firmware tables for 1, 32 and 256 vNVDIMMs, and the _DSM Get Namespace Label Data path
// reading a whole 128 KiB label area in max-size (4076-byte) calls against a plain memcpy of
// the same bytes into the same page.
// Set Namespace Label Data with persistence: writing a 128 KiB label area in 4076-byte _DSM
// calls through the handler onto the PmemMapping-backed label area (each call durable before it
// returns) against PmemMapping.write of the same pieces directly (pmem_memcpy_persist on pmem,
// memcpy + msync on a file): the handler's cost over the persistence it cannot avoid.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    for count in [1, 32, 256] {
        let dimms = (0..<count).map { VirtualNVDIMM(slot: $0, base: Gpa(UInt64($0 + 4) << 30), size: 1 << 30) }
        Benchmark("NFIT build: \(count) vNVDIMMs") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try NFITBuilder(nvdimms: dimms, persistenceDomain: .cpu).table())
            }
        }
        Benchmark("SSDT build: \(count) vNVDIMMs") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try SSDTBuilder(nvdimms: dimms, dsmPage: Gpa(0xFEFF_0000)).table())
            }
        }
    }

    let labelSize = 128 * 1024
    let maxTransfer = DSMPage.maxTransfer
    let pattern = (0..<labelSize).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    Benchmark("_DSM get label data: 128 KiB area in 4076-byte calls", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var handler = DSMHandler<InMemoryLabelStorage>()
        try handler.attach(slot: 0, .init(labelArea: InMemoryLabelStorage(bytes: pattern)))
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0)
        var sum = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var offset = 0
            while offset < labelSize {
                let length = min(maxTransfer, labelSize - offset)
                fillDSMLabelCall(page, function: 5, offset: offset, length: length)
                sum &+= handler.handle(input: UnsafeRawBufferPointer(page), output: page)
                offset += length
            }
        }
        benchmark.stopMeasurement()
        blackHole(sum)
        blackHole(page[100])
    }

    Benchmark("baseline: memcpy 128 KiB in 4076-byte pieces", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let area = UnsafeMutableRawBufferPointer.allocate(byteCount: labelSize, alignment: 64)
        defer { area.deallocate() }
        area.copyBytes(from: pattern)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0)
        var sum = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var offset = 0
            while offset < labelSize {
                let length = min(maxTransfer, labelSize - offset)
                (page.baseAddress! + 8).copyMemory(from: area.baseAddress! + offset, byteCount: length)
                sum &+= length
                offset += length
            }
        }
        benchmark.stopMeasurement()
        blackHole(sum)
        blackHole(page[100])
    }

    // One emulated backing for both: 2 MiB of data, then the 128 KiB label area. On tmpfs when
    // there is one, so msync is a system call without disk I/O: the comparison then measures the
    // handler's cost, not the disk's mood (on a disk file both are dominated by writeback).
    let scratchDir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
    let backingPath = scratchDir + "vpmem-bench-labels-\(ProcessInfo.processInfo.processIdentifier).pmem"
    let dataSize: UInt64 = 2 << 20

    Benchmark("_DSM set label data, persisted: 128 KiB in 4076-byte calls", configuration: .init(scalingFactor: .one, maxDuration: .seconds(3))) { benchmark in
        unlink(backingPath)
        defer { unlink(backingPath) }
        let mapping = try PmemMapping.create(path: backingPath, size: dataSize + UInt64(labelSize))
        var handler = DSMHandler<PmemLabelStorage>()
        try handler.attach(slot: 0, .init(labelArea: PmemLabelStorage(mapping: mapping, offset: dataSize, size: UInt32(labelSize))))
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0)
        var sum = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var offset = 0
            while offset < labelSize {
                let length = min(maxTransfer, labelSize - offset)
                fillDSMLabelCall(page, function: 6, offset: offset, length: length)
                pattern.withUnsafeBytes { src in
                    (page.baseAddress! + 20).copyMemory(from: src.baseAddress! + offset, byteCount: length)
                }
                sum &+= handler.handle(input: UnsafeRawBufferPointer(page), output: page)
                sum &+= Int(page.load(fromByteOffset: 4, as: UInt32.self))  // status: 0
                offset += length
            }
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    Benchmark("baseline: PmemMapping.write (persisted) 128 KiB in 4076-byte pieces", configuration: .init(scalingFactor: .one, maxDuration: .seconds(3))) { benchmark in
        unlink(backingPath)
        defer { unlink(backingPath) }
        let mapping = try PmemMapping.create(path: backingPath, size: dataSize + UInt64(labelSize))
        var sum = 0
        try pattern.withUnsafeBytes { src in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var offset = 0
                while offset < labelSize {
                    let length = min(maxTransfer, labelSize - offset)
                    try mapping.write(UnsafeRawBufferPointer(rebasing: src[offset..<offset + length]), at: dataSize + UInt64(offset))
                    sum &+= length
                    offset += length
                }
            }
            benchmark.stopMeasurement()
        }
        blackHole(sum)
    }
}
