import DeviceModel
import GuestMemory
import Testing
import VpmemCore

/// A device model that changes its guest's p2m when written: the first write makes `gfn`
/// read-only, the next makes it RAM again. What a balloon or a log-dirty device does in the
/// middle of a vCPU's run of exits.
final class RetypingDevice: EmulatedDevice {
    let name = "retyping"
    let gfn: Gfn
    init(gfn: Gfn) { self.gfn = gfn }
    func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        guard ioreq.direction == .write else { return 0 }
        let p2m = guestMemory.p2m
        if p2m.translate(gfn)?.type == .ramRW {
            try p2m.changeType(gfn: gfn, count: 1, from: .ramRW, to: .ramRO)
        } else {
            try p2m.changeType(gfn: gfn, count: 1, from: .ramRO, to: .ramRW)
        }
        return 0
    }
}

/// A device model that, when read, runs a batch of its own through the engine it sits on (a
/// batch started inside another batch's delivery) and returns the batch's last result.
final class NestedBatchDevice: EmulatedDevice {
    let name = "nested batch"
    weak var engine: SteeringEngine?
    let inner: [GuestAccess]
    init(inner: [GuestAccess]) { self.inner = inner }
    func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        guard ioreq.direction == .read, let engine else { return 0 }
        var results = [AccessResult](repeating: .discarded, count: inner.count)
        try inner.withUnsafeBufferPointer { a in
            try results.withUnsafeMutableBufferPointer { r in try engine.handle(a, into: r) }
        }
        if case let .completed(data) = results.last! { return data }
        return 0xDEAD
    }
}

/// `SteeringEngine.handle(_:into:)`, the batch path with its prefetch stages and the walk it
/// carries to each access, against one `handle(_:)` an access.
@Suite struct BatchDeliveryTests {
    /// The XenGT-like scenario on a 2 GiB guest, one engine per call.
    static func scenario(seed: UInt64, mode: SteeringMode) throws -> SteeringScenario {
        let physmap = try GuestPhysmap(config: GuestConfig(name: "batch", memory: ByteSize(bytes: 2 << 30)))
        let options = ScenarioOptions(workload: .xengt, pageTablePages: 512, fragmentation: 0.5, seed: seed, mode: mode)
        return try SteeringScenario(physmap: physmap, options: options, domain: try DomainID(1), wpMemRangeLimit: 4096)
    }

    /// Property: for generated workloads with faults mixed in (unmapped frames beyond RAM,
    /// writes to a page made read-only), cut into batches of random sizes, the batch path
    /// returns what one access at a time returns, and leaves the same counters, vGPU shadow and
    /// guest memory.
    @Test(arguments: [(UInt64(1), SteeringMode.range), (2, .type), (3, .range), (4, .type)])
    func batchesGiveWhatSingleAccessesGive(seed: UInt64, mode: SteeringMode) throws {
        let a = try Self.scenario(seed: seed, mode: mode), b = try Self.scenario(seed: seed, mode: mode)
        // A RAM page of the working set made read-only in both: writes there are discarded.
        var stream = try a.stream()
        let ramPage = (0..<1000).lazy.map { _ in stream.next() }
            .first { $0.space == .memory && a.engine.decide($0).counter == .directRAM }!.address >> 12
        for s in [a, b] {
            let t = try #require(s.engine.p2m.translate(Gfn(uncheckedRaw: ramPage)))
            try s.engine.p2m.set(gfn: Gfn(uncheckedRaw: ramPage), count: 1, to: t.mfn, type: .ramRO)
        }
        var random = SplitMix64(seed: seed &* 7919)
        var accesses: [GuestAccess] = []
        stream = try a.stream()
        for _ in 0..<20_000 {
            switch random.next(below: 50) {
            case 0: accesses.append(try .memory(Gpa((1 << 40) | random.next(below: 1 << 20) << 3), size: 8, direction: .read))
            case 1: accesses.append(try .memory(Gpa(ramPage << 12 | random.next(below: 512) << 3), size: 8, direction: .write, data: random.next()))
            case 2: accesses.append(try .memory(Gpa(ramPage << 12 | random.next(below: 512) << 3), size: 8, direction: .read))
            default: accesses.append(stream.next())
            }
        }
        var batched = [AccessResult](repeating: .discarded, count: accesses.count)
        try accesses.withUnsafeBufferPointer { all in
            try batched.withUnsafeMutableBufferPointer { out in
                var i = 0
                while i < all.count {
                    let n = min(Int(random.next(below: 300)) + 1, all.count - i)
                    try a.engine.handle(UnsafeBufferPointer(rebasing: all[i..<(i + n)]),
                                        into: UnsafeMutableBufferPointer(rebasing: out[i..<(i + n)]))
                    i += n
                }
            }
        }
        let single = try accesses.map { try b.engine.handle($0) }
        #expect(batched == single)
        #expect(a.engine.counters == b.engine.counters)
        #expect(a.gtt.shadowDigest == b.gtt.shadowDigest && a.gtt.shadowUpdates == b.gtt.shadowUpdates)
        #expect(batched.contains(.discarded) && batched.contains { if case .fault = $0 { return true } else { return false } })
        // Guest memory: every RAM page the accesses touched reads the same in both guests.
        let pages = Set(accesses.filter { $0.space == .memory && $0.address < (1 << 40) }.map { $0.address >> 12 })
            .filter { a.engine.p2m.translate(Gfn(uncheckedRaw: $0))?.type.hasMachineFrame == true }
        #expect(pages.count > 1000)
        for p in pages {
            #expect(try a.engine.memory.read(Gpa(p << 12), count: 4096) == b.engine.memory.read(Gpa(p << 12), count: 4096), "page \(p)")
        }
    }

    /// A device model that changes the p2m in the middle of a batch: the accesses after it see
    /// the change, though the batch walked them before it (a write to the retyped page is
    /// discarded, and the page keeps its bytes), and see it undone after the next change.
    @Test func aP2MChangeInMidBatchIsSeenByTheAccessesAfterIt() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "qemu")
        let target = Gfn(uncheckedRaw: 0x40)
        try e.register(RetypingDevice(gfn: target), server: s, kind: .port, first: 0x500, last: 0x500)
        let retype = try GuestAccess.port(0x500, size: 1, direction: .write, data: 1)
        let write = { (v: UInt64) throws -> GuestAccess in try .memory(gpa(0x40, 8), size: 8, direction: .write, data: v) }
        let read = try GuestAccess.memory(gpa(0x40, 8), size: 8, direction: .read)
        // Fewer accesses than the batch looks ahead, and more: the change lands on carried walks.
        for filler in [0, 3, 40] {
            let pad = try (0..<filler).map { _ in try GuestAccess.memory(gpa(0x41), size: 8, direction: .read) }
            let batch = try [write(1)] + pad + [retype, write(2), read, retype, write(3), read]
            var out = [AccessResult](repeating: .discarded, count: batch.count)
            try batch.withUnsafeBufferPointer { a in try out.withUnsafeMutableBufferPointer { r in try e.handle(a, into: r) } }
            let k = filler + 1
            #expect(out[0] == .completed(data: 0))
            #expect(out[k + 1] == .discarded, "a write after the page went read-only, filler \(filler)")
            #expect(out[k + 2] == .completed(data: 1), "the page kept the write made before, filler \(filler)")
            #expect(out[k + 4] == .completed(data: 0))
            #expect(out[k + 5] == .completed(data: 3), "filler \(filler)")
            #expect(e.p2m.translate(target)?.type == .ramRW)
        }
    }

    /// A batch run by a device model from inside another batch's delivery (on the same engine)
    /// is carried out in full, and the outer batch goes on where it was.
    @Test func aBatchInsideABatchWorks() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "qemu")
        let inner = try (0..<20).map { i in try GuestAccess.memory(gpa(0x100 + UInt64(i)), size: 8, direction: .write, data: UInt64(i) + 100) }
            + [GuestAccess.memory(gpa(0x100 + 19), size: 8, direction: .read)]
        let device = NestedBatchDevice(inner: inner)
        device.engine = e
        try e.register(device, server: s, kind: .port, first: 0x600, last: 0x600)
        let outer = try (0..<12).map { i in try GuestAccess.memory(gpa(0x200 + UInt64(i)), size: 8, direction: .write, data: UInt64(i)) }
            + [GuestAccess.port(0x600, size: 1, direction: .read)]
            + (0..<12).map { i in try GuestAccess.memory(gpa(0x200 + UInt64(i)), size: 8, direction: .read) }
        var out = [AccessResult](repeating: .discarded, count: outer.count)
        try outer.withUnsafeBufferPointer { a in try out.withUnsafeMutableBufferPointer { r in try e.handle(a, into: r) } }
        #expect(out[12] == .completed(data: 119 & 0xFF))
        #expect(Array(out[13...]) == (0..<12).map { AccessResult.completed(data: UInt64($0)) })
        for i in 0..<20 {
            #expect(try e.memory.load(gpa(0x100 + UInt64(i)).raw, size: 8) == UInt64(i) + 100)
        }
    }
}
