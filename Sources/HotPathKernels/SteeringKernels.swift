import DeviceModel
import GuestMemory
import VpmemCore

/// The steering decision (issue 4): a 2 GiB guest whose 8,192 GPU page-table pages are
/// scattered ioreq_server pages, 4,096 precomputed page-table writes; the same accesses through
/// the p2m walk alone (the baseline), the type-claim decision and the wp_mem rangeset decision.
func steeringFixture(_ mode: SteeringMode) -> ([GuestAccess], SteeringEngine) {
    let physmap = try! GuestPhysmap(config: GuestConfig(name: "gate", memory: ByteSize(bytes: 2 << 30)))
    let options = ScenarioOptions(workload: .ptwrite, pageTablePages: 8192, fragmentation: 1, seed: 1, mode: mode)
    let scenario = try! SteeringScenario(physmap: physmap, options: options, domain: try! DomainID(1), wpMemRangeLimit: 8192)
    var stream = try! scenario.stream()
    return ((0..<4096).map { _ in stream.next() }, scenario.engine)
}

func decideKernel(_ mode: SteeringMode) -> (Int64) -> Void {
    let (accesses, engine) = steeringFixture(mode)
    return { n in
        accesses.withUnsafeBufferPointer { a in
            var sum: UInt64 = 0
            for i in 0..<Int(n) { sum &+= UInt64(engine.decide(a[i & 4095]).counter.rawValue) }
            consume(sum)
        }
    }
}

let steeringKernels: [Kernel] = [
    Kernel(name: "steer.decide-type-8192", summary: "SteeringEngine.decide, ioreq_server type claimed, 8,192 page-table pages") {
        decideKernel(.type)
    },
    Kernel(name: "steer.decide-range-8192", summary: "SteeringEngine.decide, 8,192 wp_mem ranges") {
        decideKernel(.range)
    },
    Kernel(name: "baseline.p2m-translate-8192", summary: "P2M.translate of the same page-table writes: the walk steering starts with") {
        let (accesses, engine) = steeringFixture(.type)
        let p2m = engine.p2m
        return { n in
            accesses.withUnsafeBufferPointer { a in
                var sum: UInt64 = 0
                for i in 0..<Int(n) {
                    sum &+= UInt64(p2m.translate(Gfn(uncheckedRaw: a[i & 4095].address &>> 12))?.type.rawValue ?? 0)
                }
                consume(sum)
            }
        }
    },
]
