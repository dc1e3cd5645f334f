import Benchmark
import GuestMemory
import NVDIMM

// Firmware tables for 1, 32 and 256 vNVDIMMs, and the _DSM Get Namespace Label Data path
// reading a whole 128 KiB label area in max-size (4076-byte) calls against a plain memcpy of
// the same bytes into the same page.
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
                // The guest's AML fills the page: handle, revision, function, offset, length.
                page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
                page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 4, as: UInt32.self)
                page.storeBytes(of: UInt32(5).littleEndian, toByteOffset: 8, as: UInt32.self)
                page.storeBytes(of: UInt32(offset).littleEndian, toByteOffset: 12, as: UInt32.self)
                page.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 16, as: UInt32.self)
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
}
