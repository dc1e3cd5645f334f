import GuestMemory

/// The one place a guest's memory is laid into its p2m and machine memory (see
/// `GuestRAMLayout` for the model): RAM-like regions `ram_rw` onto the given machine runs, each
/// run added as modelled RAM (`MachineMemory.addRAM`, backed only where written), and the
/// emulated MMIO regions `mmio_dm`.
///
/// All or nothing: the layout is checked whole first, and the guest frames it maps must be
/// unmapped in the p2m, so undoing a failed build is removing what it laid. A failure leaves
/// machine memory as it was, and the p2m too unless it sits at its node limit, where even the
/// removal's worst-case reservation may be refused (such a p2m is of no use to the guest).
public enum GuestMemoryBuilder {
    /// Lays `physmap`'s memory into `p2m` and `machine`, its RAM on `ramRuns` (pairwise disjoint,
    /// totalling `GuestRAMLayout.ramFrames(of: physmap)` frames, used in order).
    @discardableResult
    public static func build(_ physmap: GuestPhysmap, ramRuns: [MfnRange], p2m: P2M,
                             machine: MachineMemory) throws(GuestMemoryBuildError) -> GuestRAMLayout {
        let layout = try GuestRAMLayout(physmap: physmap, ramRuns: ramRuns)
        try lay(layout, guest: physmap.config.name, p2m: p2m, machine: machine)
        return layout
    }

    /// As `build(_:ramRuns:p2m:machine:)`, the RAM exactly at the extents the host has mapped
    /// (after ballooning, some RAM frames may be unmapped).
    @discardableResult
    public static func build(_ physmap: GuestPhysmap, ramExtents: [(gfns: GfnRange, firstMfn: Mfn)], p2m: P2M,
                             machine: MachineMemory) throws(GuestMemoryBuildError) -> GuestRAMLayout {
        let layout = try GuestRAMLayout(physmap: physmap, ramExtents: ramExtents)
        try lay(layout, guest: physmap.config.name, p2m: p2m, machine: machine)
        return layout
    }

    /// As `build(_:ramRuns:p2m:machine:)`, the RAM on one run of machine frames from `ramBase`
    /// (a standalone guest: tests, benchmarks, a guest given one run of host RAM).
    @discardableResult
    public static func build(_ physmap: GuestPhysmap, ramBase: Mfn, p2m: P2M,
                             machine: MachineMemory) throws(GuestMemoryBuildError) -> GuestRAMLayout {
        let frames = GuestRAMLayout.ramFrames(of: physmap)
        let run: MfnRange
        do { run = try MfnRange(first: ramBase, count: frames) } catch {
            throw .ramRunBeyondFrameSpace(guest: physmap.config.name, base: ramBase, frames: frames)
        }
        return try build(physmap, ramRuns: [run], p2m: p2m, machine: machine)
    }

    private static func lay(_ layout: GuestRAMLayout, guest: String, p2m: P2M,
                            machine: MachineMemory) throws(GuestMemoryBuildError) {
        // What goes into the p2m: RAM extents, then the emulated regions.
        let entries: [(region: String, gfns: GfnRange, mfn: Mfn?, type: P2MType)] =
            layout.extents.map { ($0.region, $0.gfns, $0.firstMfn, .ramRW) }
            + layout.mmioRegions.map { ($0.name, GuestRAMLayout.frames(of: $0), nil, .mmioDM) }
        for e in entries {
            let existing: [P2MMapping]
            do { existing = try p2m.mappings(gfn: e.gfns.first, count: e.gfns.count) } catch {
                throw .p2m(guest: guest, region: e.region, error)
            }
            if let m = existing.first { throw .alreadyMapped(guest: guest, region: e.region, existing: m) }
        }
        var added: [Mfn] = []
        var laid: [GfnRange] = []
        func undo() {
            // The laid frames were unmapped before, so no superpage reaches past them: removing
            // them whole splits nothing.
            for r in GfnRange.merging(laid) { _ = try? p2m.remove(gfn: r.first, count: r.count) }
            for m in added { machine.removeRAM(firstMfn: m) }
        }
        for run in layout.ramRuns {
            do { try machine.addRAM(firstMfn: run.first, frames: run.count) } catch {
                undo()
                throw .machineMemory(guest: guest, run: run, error)
            }
            added.append(run.first)
        }
        for e in entries {
            do { try p2m.set(gfn: e.gfns.first, count: e.gfns.count, to: e.mfn, type: e.type) } catch {
                undo()
                throw .p2m(guest: guest, region: e.region, error)
            }
            laid.append(e.gfns)
        }
    }
}
