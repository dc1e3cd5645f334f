import Atomics
import DeviceModel
import GuestMemory
import Testing

/// Many vCPUs steering while a device-model thread changes wp_mem ranges: every lookup's answer
/// must be the answer of the set as it stood at some moment during that lookup (linearizability
/// against the writer's order of changes). Run under ThreadSanitizer too (scripts/test).
@Suite struct SteeringConcurrencyTests {
    /// Gfns the writer changes (server 0's wp_mem set) and the fixed range of server 1, the
    /// newest (so a lookup outside it walks on to server 0).
    static let universe: UInt64 = 512
    static let fixed: ClosedRange<UInt64> = 400...450

    /// One recorded lookup: the writer had finished change `finished` before it began, had begun
    /// no change after `begun` when it ended; the answer is the server (0, 1) or -1 (direct).
    struct Lookup {
        let gfn: UInt64
        let finished: Int
        let begun: Int
        let answer: Int8
    }

    @Test func everyLookupSeesTheSetAsItStoodDuringTheLookup() throws {
        let changes = 6_000
        let lookupsPerVCPU = 150_000
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, ramFrames: 4096, wpLimit: 2048)
        let s0 = try e.createServer(name: "changing")
        let s1 = try e.createServer(name: "fixed")
        try e.mapRange(s1, .wpMem, first: Self.fixed.lowerBound, last: Self.fixed.upperBound)
        try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0), count: Self.universe, to: .ioreqServer)

        // The writer's order: state j is the set after change j (state 0: empty). Each state is
        // a bitmap of the universe, written before `finished` says j is done.
        let words = Int(Self.universe / 64)
        let states = UnsafeMutablePointer<UInt64>.allocate(capacity: (changes + 1) * words)
        states.initialize(repeating: 0, count: (changes + 1) * words)
        defer { states.deallocate() }
        let begun = UnsafeAtomic<Int>.create(0)
        let finished = UnsafeAtomic<Int>.create(0)
        defer { begun.destroy(); finished.destroy() }

        let vcpus = 2
        let handles = (0..<vcpus).map { _ in e.makeVCPU() }
        let logs = (0..<vcpus).map { _ in UnsafeMutablePointer<Lookup>.allocate(capacity: lookupsPerVCPU) }
        defer { for l in logs { l.deallocate() } }
        nonisolated(unsafe) let engine = e
        nonisolated(unsafe) let statesPointer = states
        let vcpuHandles = handles
        nonisolated(unsafe) let lookupLogs = logs
        nonisolated(unsafe) var refused = 0

        // The writer runs its whole sequence; the vCPUs run until it is done (and at least their
        // lookups' worth), so every change happens under load.
        let writerDone = UnsafeAtomic<Bool>.create(false)
        defer { writerDone.destroy() }
        let result = ConcurrentSteering.run(vcpus: vcpus + 1, changesPerSecond: 0, change: nil) { i in
            if i == vcpus {
                var random = SplitMix64(seed: 18)
                var model = [UInt64](repeating: 0, count: words)
                for j in 1...changes {
                    let first = random.next(below: Self.universe)
                    let last = min(Self.universe - 1, first + random.next(below: 24))
                    let adding = random.next() & 1 == 0
                    begun.store(j, ordering: .sequentiallyConsistent)
                    do {
                        if adding {
                            try engine.mapRange(s0, .wpMem, first: first, last: last)
                        } else {
                            // Unmap only what is mapped: the part of [first, last] the set holds
                            // from first on, if any.
                            var end = first
                            while end <= last && model[Int(end / 64)] >> (end % 64) & 1 == 1 { end += 1 }
                            if end > first { try engine.unmapRange(s0, .wpMem, first: first, last: end - 1) }
                            for g in first..<end { model[Int(g / 64)] &= ~(1 << (g % 64)) }
                        }
                        if adding { for g in first...last { model[Int(g / 64)] |= 1 << (g % 64) } }
                    } catch {
                        refused += 1
                    }
                    (statesPointer + j * words).update(from: model, count: words)
                    finished.store(j, ordering: .sequentiallyConsistent)
                }
                writerDone.store(true, ordering: .sequentiallyConsistent)
                return (UInt64(changes), 0)
            }
            let vcpu = vcpuHandles[i]
            let log = lookupLogs[i]
            var random = SplitMix64(seed: UInt64(i) &+ 100)
            var n = 0
            while n < lookupsPerVCPU {
                let gfn = random.next(below: Self.universe)
                // swiftlint:disable:next force_try
                let access = try! GuestAccess.write(Gpa(gfn << 12), size: 8, data: 1)
                let before = finished.load(ordering: .sequentiallyConsistent)
                let d = vcpu.decide(access)
                let after = begun.load(ordering: .sequentiallyConsistent)
                let answer: Int8
                switch d {
                case let .emulate(server, .rangeset(.wpMem)): answer = Int8(server.raw)
                case .direct: answer = -1
                default: answer = -2
                }
                log[n] = Lookup(gfn: gfn, finished: before, begun: after, answer: answer)
                n += 1
                if n & 63 == 0 { vcpu.quiescent() }
                // Keep going (overwriting the oldest half) until the writer is done.
                if n == lookupsPerVCPU && !writerDone.load(ordering: .acquiring) { n = lookupsPerVCPU / 2 }
            }
            vcpu.offline()
            return (UInt64(n), 0)
        }
        #expect(result.decisions[vcpus] == UInt64(changes))
        #expect(refused == 0, "no change may be refused here (limit 2048, default allowance)")

        // Every lookup: some state j in [finished, begun] gives its answer.
        var checked = 0, spanning = 0
        for v in 0..<vcpus {
            for k in 0..<lookupsPerVCPU {
                let l = logs[v][k]
                #expect(l.finished <= l.begun)
                var ok = false
                for j in l.finished...max(l.finished, l.begun) {
                    let inSet = states[j * words + Int(l.gfn / 64)] >> (l.gfn % 64) & 1 == 1
                    let expected: Int8 = Self.fixed.contains(l.gfn) ? Int8(s1.raw) : (inSet ? Int8(s0.raw) : -1)
                    if expected == l.answer { ok = true; break }
                }
                if !ok {
                    Issue.record("vCPU \(v) lookup \(k): gfn \(l.gfn) answered \(l.answer), no state in [\(l.finished), \(l.begun)] gives that")
                    return
                }
                if l.begun > l.finished { spanning += 1 }
                checked += 1
            }
        }
        #expect(checked == vcpus * lookupsPerVCPU)
        #expect(spanning > 0, "some lookups must have overlapped a change, or the test tested nothing concurrent")
        // Every view the vCPUs read is freed once they are offline.
        e.reclaim()
        #expect(e.viewsAwaitingReclamation == 0)
        #expect(try e.ranges(s0, .wpMem).flatMap { Array($0) }.allSatisfy { $0 < Self.universe })
    }

    /// A vCPU that is online and not quiescent keeps every view retired since; once quiescent,
    /// they are freed.
    @Test func oldViewsWaitForEveryOnlineVCPU() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "gpu")
        let vcpu = e.makeVCPU()
        for g in UInt64(0)..<10 { try e.mapRange(s, .wpMem, first: g * 2, last: g * 2) }
        #expect(e.viewsAwaitingReclamation == 10)
        vcpu.quiescent()
        e.reclaim()
        #expect(e.viewsAwaitingReclamation == 0)
        vcpu.offline()
        try e.mapRange(s, .wpMem, first: 100, last: 100)
        #expect(e.viewsAwaitingReclamation == 0, "an offline vCPU is not waited for")
        vcpu.online()
        try e.unmapRange(s, .wpMem, first: 100, last: 100)
        #expect(e.viewsAwaitingReclamation == 1)
    }

    /// A device-model thread destroys and re-creates a server while two vCPUs steer to it:
    /// every access is counted once, and the server of the end counts only accesses made to it.
    /// The vCPUs fold a destroyed server's tallies themselves, so no thread writes another's
    /// counters (ThreadSanitizer checks that too).
    @Test func destroyingAServerWhileVCPUsSteerKeepsEveryAccessCounted() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let first = try e.createServer(name: "gpu")
        try e.mapRange(first, .port, first: 0x60, last: 0x6F)
        let perVCPU = 100_000
        let handles = [e.makeVCPU(), e.makeVCPU()]
        nonisolated(unsafe) let engine = e
        nonisolated(unsafe) var server = first  // the writer's alone until the joins
        let result = ConcurrentSteering.run(vcpus: 2, changesPerSecond: 0, change: {
            do {
                try engine.destroyServer(server)
                server = try engine.createServer(name: "gpu")
                try engine.mapRange(server, .port, first: 0x60, last: 0x6F)
                return true
            } catch {
                return false
            }
        }) { i in
            let v = handles[i]
            var sum: UInt64 = 0
            for k in 0..<perVCPU {
                let a = try! GuestAccess.port(UInt16(0x60 + k % 16), size: 1,
                                              direction: k & 1 == 0 ? .read : .write, data: UInt64(k & 1))
                sum &+= UInt64(v.steer(a).counter.rawValue)
                if k % 256 == 255 { v.quiescent() }
            }
            v.offline()
            return (UInt64(perVCPU), sum)
        }
        #expect(result.changes > 10 && result.refusedChanges == 0)
        let c = e.counters
        #expect(c.total == UInt64(2 * perVCPU))
        #expect(c.decisions[.emulatePort]! + c.decisions[.faultNoServer]! == c.total)
        let last = c.servers[server]
        #expect(last != nil && c.servers.count == 1)
        if let last {
            #expect(last[.port]! == last[.reads]! + last[.writes]!)
            #expect(last[.port]! <= c.decisions[.emulatePort]!)
        }
    }

    /// A vCPU decides as the engine does and counts into the engine's counters.
    @Test func aVCPUDecidesAsTheEngineAndItsCountsAddUp() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "gpu")
        try e.mapRange(s, .wpMem, first: 5, last: 9)
        try e.setMemoryType(gfn: Gfn(uncheckedRaw: 0), count: 16, to: .ioreqServer)
        let vcpu = e.makeVCPU()
        for g in UInt64(0)..<16 {
            let a = try GuestAccess.write(Gpa(g << 12), size: 4, data: 7)
            #expect(vcpu.decide(a) == e.decide(a))
            _ = vcpu.steer(a)
            _ = e.steer(a)
        }
        #expect(e.counters.decisions[.emulateWpMem] == 10 && e.counters.total == 32)
        #expect(e.counters.servers[s]?[.writes] == 10)
    }
}
