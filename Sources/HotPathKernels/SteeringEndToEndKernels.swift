import DeviceModel
import GuestMemory
import VpmemCore

/// `vpmem steer`'s run as the user makes it (issue 18): hole-3g (16 GiB, a 3 GiB MMIO hole), the
/// xengt workload, 8,192 page-table pages at fragmentation 0.5, range mode with a wp_mem limit of
/// 8,192 (or type mode). The kernel generates each access and carries it out
/// (`SteeringEngine.handle`: decision, counters, delivery, the device model, its write into guest
/// RAM); the baseline decides the same accesses, generated beforehand.
func endToEndScenario(_ mode: SteeringMode = .range) -> SteeringScenario {
    let config = GuestConfig(name: "hole-3g", memory: ByteSize(bytes: 16 << 30), mmioHole: ByteSize(bytes: 3 << 30))
    let physmap = try! GuestPhysmap(config: config)
    let options = ScenarioOptions(workload: .xengt, pageTablePages: 8192, fragmentation: 0.5, seed: 1, mode: mode)
    return try! SteeringScenario(physmap: physmap, options: options, domain: try! DomainID(1), wpMemRangeLimit: 8192)
}

let steeringEndToEndKernels: [Kernel] = [
    endToEnd("steer.end-to-end-xengt", .range),
    decide("steer.decide-xengt", .range),
    endToEnd("steer.end-to-end-xengt-type", .type),
    decide("steer.decide-xengt-type", .type),
]

private func endToEnd(_ name: String, _ mode: SteeringMode) -> Kernel {
    Kernel(name: name, summary: "generate and handle one xengt access (\(mode) mode, 8,192 pt pages)") {
        let scenario = endToEndScenario(mode)
        var stream = try! scenario.stream()
        let engine = scenario.engine
        // As `vpmem steer` runs: the generator fills a batch, the engine handles it.
        let batch = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 256)
        // Warm: caches, predictors and the device models' registers as after the first moments
        // of a run (the scenario has made its pages and registers resident already).
        for _ in 0..<2000 {
            stream.fill(batch)
            try! engine.handle(UnsafeBufferPointer(batch))
        }
        return { n in
            var left = Int(n)
            while left > 0 {
                let k = min(left, batch.count)
                let part = UnsafeMutableBufferPointer(rebasing: batch[0..<k])
                stream.fill(part)
                try! engine.handle(UnsafeBufferPointer(part))
                left -= k
            }
            consume(UInt64(truncatingIfNeeded: n))
        }
    }
}

private func decide(_ name: String, _ mode: SteeringMode) -> Kernel {
    Kernel(name: name, summary: "SteeringEngine.decide of the same xengt accesses (\(mode) mode), generated beforehand") {
        let scenario = endToEndScenario(mode)
        var stream = try! scenario.stream()
        let accesses = (0..<4096).map { _ in stream.next() }
        let engine = scenario.engine
        return { n in
            accesses.withUnsafeBufferPointer { a in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= UInt64(engine.decide(a[i & 4095]).counter.rawValue) }
                consume(sum)
            }
        }
    }
}
