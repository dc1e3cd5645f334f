import Atomics

// SteeringReclamation: when an old SteeringView (and the set buffers only it names) may be freed.
// Quiescent-state-based reclamation, the RCU flavour of a hypervisor that needs nothing on the
// read side: a vCPU reads views freely between quiescent states, and announces one (it holds no
// view) between batches of accesses, as Xen's vCPUs pass through one on every return to the
// guest.
//
// Why this and not a sequence lock: the decision follows pointers into a set's buffers. Under a
// seqlock a reader could follow a pointer into a buffer the writer has just freed or is
// rewriting, and would have to retry; here a reader never retries, never waits and never
// writes a shared line per lookup (an epoch counter or a reader count per lookup would bounce
// one cache line between vCPUs, which is what makes Xen's rwlock_t per rangeset scale badly).
// The price is on the writer, which copies the set it changes and keeps the old copy until
// every vCPU has been quiescent once.
//
// Protocol (all the engine's writer side calls it; changes are serialised by the caller):
//   - `epoch` counts retirements. Retiring a view first publishes its successor, then takes
//     e = ++epoch and files the old view under e.
//   - Each registered vCPU has a slot: the epoch it last saw while quiescent, or `offline`.
//     `quiescent()` stores the current epoch (release, after every read of the old view: those
//     reads happen before the store, so a writer that loads the slot with acquire and finds it
//     >= e may free what it filed under e).
//   - A vCPU whose slot is >= e loaded the epoch after the increment, which came after the new
//     view was published: it reads only the new view or later.
//   - Going online stores the epoch with sequential consistency before the first view load; the
//     writer reads slots with sequential consistency after publishing, so either it sees the
//     vCPU online (and waits for it) or the vCPU's first load sees the new view.
// Memory the readers can never free is bounded: a vCPU that is online but never quiescent holds
// every retired view since; the CLI and the tests announce every batch.

/// One vCPU's reclamation slot (the vCPU writes it once a batch).
final class ReaderSlot {
    static let offline = UInt64.max
    let epoch: UnsafeAtomic<UInt64>

    init(epoch e: UInt64) { epoch = .create(e) }
    deinit { epoch.destroy() }
}

final class SteeringReclamation {
    let epoch = UnsafeAtomic<UInt64>.create(0)
    private(set) var readers: [ReaderSlot] = []
    private var retired: [(epoch: UInt64, free: () -> Void)] = []

    deinit {
        // The engine is going: no vCPU can read its views any more.
        for r in retired { r.free() }
        epoch.destroy()
    }

    /// A new reader, online from now on.
    func register() -> ReaderSlot {
        let slot = ReaderSlot(epoch: epoch.load(ordering: .sequentiallyConsistent))
        readers.append(slot)
        return slot
    }

    func unregister(_ slot: ReaderSlot) {
        readers.removeAll { $0 === slot }
        collect()
    }

    /// Files `free` to run once every reader online now has been quiescent. Call after the
    /// successor of what `free` frees is published.
    func retire(_ free: @escaping () -> Void) {
        let e = epoch.wrappingIncrementThenLoad(ordering: .sequentiallyConsistent)
        retired.append((e, free))
        collect()
    }

    /// Frees everything every reader has passed.
    func collect() {
        guard !retired.isEmpty else { return }
        var passed = UInt64.max
        for r in readers { passed = min(passed, r.epoch.load(ordering: .sequentiallyConsistent)) }
        var kept: [(epoch: UInt64, free: () -> Void)] = []
        for r in retired {
            if r.epoch <= passed { r.free() } else { kept.append(r) }
        }
        retired = kept
    }

    /// Retirements not yet freed (for tests and reports).
    var pending: Int { retired.count }
}
