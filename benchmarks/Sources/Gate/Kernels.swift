import GuestMemory

/// Every kernel the gate can measure. Each hot path has its baseline beside it.
let allKernels: [Kernel] = addressKernels + steeringKernels

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
