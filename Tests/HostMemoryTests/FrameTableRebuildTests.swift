import GuestMemory
import PropertyBased
import Testing
@testable import HostMemory

@Suite struct FrameTableRebuildTests {
    /// One pass, two passes and a naive per-frame model build the same table; the heap gaps are
    /// exactly the frames the layout calls free and no run covers.
    @Test func onePassMatchesTwoPassesAndANaiveModel() async {
        await propertyCheck(count: 60, input: Gen.int(in: 0...Int.max).array(of: 0...40), Gen.int(in: 0...Int.max)) { cuts, seed in
            let frames: UInt64 = 5000
            let layout = try HostLayout(smallLayoutConfig(seed: seed))
            var rng = SplitMix64(seed: UInt64(seed))
            var points = Set(cuts.map { UInt64($0) % frames })
            points.insert(frames)
            var runs: [FrameRun] = []
            var prev: UInt64 = 0
            for p in points.sorted() where p > prev {
                if rng.next() % 2 == 0 {
                    runs.append(FrameRun(start: prev, end: p, record: FrameRecord.owned(by: DomainID(uncheckedRaw: UInt16(rng.next() % 5))).raw))
                }
                prev = p
            }
            let plan = try runs.withUnsafeBufferPointer { try RebuildPlan(frames: frames, layout: layout.segments, preserved: $0) }
            let a = try FrameTable(frames: frames), b = try FrameTable(frames: frames)
            FrameTableRebuild.bareScan(a, record: .bad)
            FrameTableRebuild.onePass(a, plan: plan)
            FrameTableRebuild.twoPass(b, plan: plan)
            var model = [UInt64](repeating: 0, count: Int(frames))
            for s in layout.segments { for i in s.start..<s.end { model[Int(i)] = s.record } }
            for r in runs { for i in r.start..<r.end { model[Int(i)] = r.record } }
            #expect(a.snapshot() == model)
            #expect(b.snapshot() == model)
            #expect(plan.gaps(withLayoutRecord: .free) == a.runs { $0 == .free }.map(\.range))
        }
    }

    @Test func aPlanRefusesOverlappingRuns() {
        let runs = [FrameRun(start: 0, end: 10, record: 1), FrameRun(start: 5, end: 12, record: 1)]
        #expect(throws: LiveUpdateError.self) {
            _ = try runs.withUnsafeBufferPointer { try RebuildPlan(frames: 100, layout: [FrameRun(start: 0, end: 100, record: 0)], preserved: $0) }
        }
    }
}

func smallLayoutConfig(seed: Int) -> HostMemoryConfig {
    HostMemoryConfig(banks: [frames(0x10, 2000), frames(2100, 5000)],
                     staticMemory: [StaticMemoryRegion(domain: d1, range: frames(3000, 3100 + UInt64(seed % 50)))],
                     liveUpdateRegion: frames(4000, 4100), badPages: [mfn(0x10 + UInt64(seed % 1000))])
}
