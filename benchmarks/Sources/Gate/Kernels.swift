import GuestMemory
import NVDIMM

/// Every kernel the gate can measure. Each hot path has its baseline beside it.
let allKernels: [Kernel] = addressKernels + nvdimmKernels

/// Random 32-bit frame deltas, fixed by the seed: kernels read them from memory so the
/// optimizer cannot fold a loop into a closed form.
func deltas(_ count: Int, seed: UInt64) -> [UInt64] {
    var x = seed | 1
    return (0..<count).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x & 0xffff }
}

let addressKernels: [Kernel] = [
    Kernel(name: "address.gfn-advance-checked", summary: "Gfn.advanced(by:) with overflow and range checks") {
        let d = deltas(4096, seed: 1)
        return { n in
            d.withUnsafeBufferPointer { d in
                var g = Gfn(uncheckedRaw: 1)
                for i in 0..<Int(n) { g = (try? g.advanced(by: d[i & 4095])) ?? Gfn(uncheckedRaw: 0) }
                consume(g.raw)
            }
        }
    },
    Kernel(name: "baseline.raw-add", summary: "UInt64 &+ of the same deltas: the floor for frame arithmetic") {
        let d = deltas(4096, seed: 1)
        return { n in
            d.withUnsafeBufferPointer { d in
                var g: UInt64 = 1
                for i in 0..<Int(n) { g = g &+ d[i & 4095] }
                consume(g)
            }
        }
    },
]

/// The _DSM Get Namespace Label Data path: a whole 128 KiB label area read in max-transfer
/// calls, against copying the same pieces into the page with memcpy.
let labelAreaBytes = 128 * 1024

let nvdimmKernels: [Kernel] = [
    Kernel(name: "nvdimm.dsm-get-label-128k", summary: "_DSM function 5 over a whole 128 KiB label area, 4076-byte calls") {
        let pattern = (0..<labelAreaBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var handler = DSMHandler<InMemoryLabelStorage>()
        try! handler.attach(slot: 0, .init(labelArea: InMemoryLabelStorage(bytes: pattern)))
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        return { n in
            var sum = 0
            for _ in 0..<n {
                var offset = 0
                while offset < labelAreaBytes {
                    let length = min(DSMPage.maxTransfer, labelAreaBytes - offset)
                    page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
                    page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 4, as: UInt32.self)
                    page.storeBytes(of: UInt32(5).littleEndian, toByteOffset: 8, as: UInt32.self)
                    page.storeBytes(of: UInt32(offset).littleEndian, toByteOffset: 12, as: UInt32.self)
                    page.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 16, as: UInt32.self)
                    sum &+= handler.handle(input: UnsafeRawBufferPointer(page), output: page)
                    offset += length
                }
            }
            consume(UInt64(sum) &+ UInt64(page[100]))
        }
    },
    Kernel(name: "baseline.memcpy-label-128k", summary: "memcpy of the same 128 KiB in 4076-byte pieces into one page") {
        let pattern = (0..<labelAreaBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let area = UnsafeMutableRawBufferPointer.allocate(byteCount: labelAreaBytes, alignment: 64)
        area.copyBytes(from: pattern)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        // The gate process ends after one kernel: these buffers live until then.
        return { n in
            var sum = 0
            for _ in 0..<n {
                var offset = 0
                while offset < labelAreaBytes {
                    let length = min(DSMPage.maxTransfer, labelAreaBytes - offset)
                    (page.baseAddress! + 8).copyMemory(from: area.baseAddress! + offset, byteCount: length)
                    sum &+= length
                    offset += length
                }
            }
            consume(UInt64(sum) &+ UInt64(page[100]))
        }
    },
]
