import Atomics
import GuestMemory

/// One vCPU of a guest steering its own accesses, on its own thread, while the engine's writer
/// (a device-model thread) changes servers, ranges and claims: Xen's per-vCPU fault path.
///
/// Made by `SteeringEngine.makeVCPU()` on the writer's side, then used by one thread at a time.
/// `decide` and `steer` read the engine's published view with one acquire load and never block;
/// each decision sees the servers and sets as they were after some complete change. Call
/// `quiescent()` between batches of accesses (it says the vCPU holds no view, so old views can be
/// freed: SteeringReclamation.swift), and `offline()` when the thread stops steering for long.
/// Counters are the vCPU's own (no shared line is written per access), written by its thread
/// alone (it folds a destroyed server's tallies itself, at its quiescent points); the engine's
/// `counters` add them up when read (read them while the vCPUs are quiescent).
public final class SteeringVCPU: @unchecked Sendable {
    public let index: Int
    public let domain: DomainID
    @usableFromInline let published: UnsafeAtomic<UnsafeMutablePointer<SteeringView>>
    @usableFromInline let p2m: P2M
    @usableFromInline let decisionCounts: UnsafeMutablePointer<UInt64>
    @usableFromInline let serverCounts: UnsafeMutablePointer<UInt64>
    let slot: ReaderSlot
    let reclamation: SteeringReclamation
    let retirements: ServerRetirements
    /// Per server slot, the destructions whose tallies this vCPU has folded (its thread's alone).
    let folded: UnsafeMutablePointer<UInt64>

    init(index: Int, engine: SteeringEngine) {
        self.index = index
        domain = engine.domain
        published = engine.published
        p2m = engine.p2m
        reclamation = engine.reclamation
        slot = engine.reclamation.register()
        decisionCounts = .allocate(capacity: DecisionCounter.caseCount)
        decisionCounts.initialize(repeating: 0, count: DecisionCounter.caseCount)
        serverCounts = .allocate(capacity: ServerTally.count)
        serverCounts.initialize(repeating: 0, count: ServerTally.count)
        retirements = engine.retirements
        folded = .allocate(capacity: retirements.slots)
        for i in 0..<retirements.slots { (folded + i).initialize(to: retirements.count(i)) }
    }

    deinit {
        decisionCounts.deallocate()
        serverCounts.deallocate()
        folded.deallocate()
    }

    /// Folds this vCPU's tallies of servers destroyed since it last looked into its decision
    /// counters (at its quiescent points: it holds no view of a destroyed server then).
    func foldDestroyedServers() {
        for i in 0..<retirements.slots {
            let n = retirements.count(i)
            if folded[i] != n {
                folded[i] = n
                ServerTally.retire(slot: i, serverCounts, into: decisionCounts)
            }
        }
    }

    /// Where `access` goes, as `SteeringEngine.decide` says, against the current view.
    @inlinable @inline(__always)
    public func decide(_ access: GuestAccess) -> SteeringDecision {
        SteeringEngine.decide(access, published.load(ordering: .acquiring), p2m)
    }

    /// `decide`, counted in this vCPU's counters.
    @inlinable @inline(__always)
    public func steer(_ access: GuestAccess) -> SteeringDecision {
        let d = decide(access)
        SteeringEngine.count(d, access, decisionCounts, serverCounts)
        return d
    }

    /// This vCPU holds no view now (call between batches of accesses).
    public func quiescent() {
        foldDestroyedServers()
        slot.epoch.store(reclamation.epoch.load(ordering: .acquiring), ordering: .releasing)
    }

    /// This vCPU stops reading views until `online()`: it holds none, and is not waited for.
    public func offline() {
        foldDestroyedServers()
        slot.epoch.store(ReaderSlot.offline, ordering: .sequentiallyConsistent)
    }

    /// Back to reading views (before the first `decide` after `offline()`).
    public func online() {
        slot.epoch.store(reclamation.epoch.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
        foldDestroyedServers()
    }
}

extension SteeringEngine {
    /// A new vCPU reading this engine, online from now on (the writer's side: not while other
    /// changes run). Its counters are added to `counters`.
    public func makeVCPU() -> SteeringVCPU {
        let v = SteeringVCPU(index: vcpus.count, engine: self)
        vcpus.append(v)
        return v
    }

    /// Frees the old views every vCPU has passed (the writer's side; changes do it too).
    public func reclaim() { reclamation.collect() }

    /// Retired views not yet freed (a vCPU has not been quiescent since).
    public var viewsAwaitingReclamation: Int { reclamation.pending }
}
