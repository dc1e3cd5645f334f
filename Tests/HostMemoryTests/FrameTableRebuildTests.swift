import GuestMemory
import VpmemTestSupport
import Testing
@testable import HostMemory

@Suite struct FrameTableRebuildTests {
    /// One pass, two passes and a naive per-frame model build the same table; the heap gaps are
    /// exactly the frames the layout calls free and no run covers.
    @Test func onePassMatchesTwoPassesAndANaiveModel() async {
        await checkProperty(count: 60, input: Gen.int(in: 0...Int.max).array(of: 0...40), Gen.int(in: 0...Int.max)) { cuts, seed in
            let frameCount: UInt64 = 5000
            let layout = try HostLayout(smallLayoutConfig(seed: seed))
            var rng = SplitMix64(seed: UInt64(seed))
            var points = Set(cuts.map { UInt64($0) % frameCount })
            points.insert(frameCount)
            var runs: [FrameRun] = []
            var prev: UInt64 = 0
            for p in points.sorted() where p > prev {
                if rng.next() % 2 == 0 {
                    runs.append(FrameRun(frames: frames(prev, p), record: FrameRecord.owned(by: DomainID(uncheckedRaw: UInt16(rng.next() % 5))).raw))
                }
                prev = p
            }
            let plan = try runs.withUnsafeBufferPointer { try RebuildPlan(frames: frameCount, layout: layout.segments, preserved: $0) }
            let a = try FrameTable(frames: frameCount), b = try FrameTable(frames: frameCount)
            FrameTableRebuild.bareScan(a, record: .bad)
            FrameTableRebuild.onePass(a, plan: plan)
            FrameTableRebuild.twoPass(b, plan: plan)
            var model = [UInt64](repeating: 0, count: Int(frameCount))
            for s in layout.segments { for i in s.start..<s.end { model[Int(i)] = s.record } }
            for r in runs { for i in r.start..<r.end { model[Int(i)] = r.record } }
            #expect(a.snapshot() == model)
            #expect(b.snapshot() == model)
            #expect(plan.gaps(withLayoutRecord: .free) == a.runs { $0 == .free }.map(\.range))
        }
    }

    /// Dense short runs (1 to 5 frames, two owners, sometimes touching): the tiling merges
    /// equal neighbours, copies short pieces as literals, and still writes exactly the model.
    @Test func shortRunsGoThroughLiteralsAndMergedPieces() async {
        await checkProperty(count: 60, input: Gen.int(in: 0...Int.max).array(of: 1...300)) { words in
            let frameCount: UInt64 = 5000
            let layout = try HostLayout(smallLayoutConfig(seed: words[0]))
            var runs: [FrameRun] = []
            var at: UInt64 = 0x10
            for w in words {
                let gap = UInt64(w % 3), length = UInt64(1 + (w / 3) % 5)
                guard at + gap + length <= frameCount else { break }
                runs.append(FrameRun(frames: frames(at + gap, at + gap + length), record: FrameRecord.owned(by: [d1, d2][(w / 15) % 2]).raw))
                at += gap + length
            }
            let plan = try runs.withUnsafeBufferPointer { try RebuildPlan(frames: frameCount, layout: layout.segments, preserved: $0) }
            let table = try FrameTable(frames: frameCount)
            FrameTableRebuild.bareScan(table, record: .bad)
            FrameTableRebuild.onePass(table, plan: plan)
            var model = [UInt64](repeating: 0, count: Int(frameCount))
            for s in layout.segments { for i in s.start..<s.end { model[Int(i)] = s.record } }
            for r in runs { for i in r.start..<r.end { model[Int(i)] = r.record } }
            #expect(table.snapshot() == model)
            // Merging equal neighbours: never more run steps than maximal runs of equal records.
            var maximal = 1
            for i in 1..<model.count where model[i] != model[i - 1] { maximal += 1 }
            #expect(plan.tilingSteps <= maximal)
            #expect(plan.paletteRecords <= Set(model).count)
        }
    }

    @Test func aPlanRefusesOverlappingRuns() {
        let runs = [FrameRun(frames: frames(0, 10), record: 1), FrameRun(frames: frames(5, 12), record: 1)]
        #expect(throws: LiveUpdateError.self) {
            _ = try runs.withUnsafeBufferPointer { try RebuildPlan(frames: 100, layout: [FrameRun(frames: frames(0, 100), record: 0)], preserved: $0) }
        }
    }
}

func smallLayoutConfig(seed: Int) -> HostMemoryConfig {
    HostMemoryConfig(banks: [frames(0x10, 2000), frames(2100, 5000)],
                     staticMemory: [StaticMemoryRegion(domain: d1, range: frames(3000, 3100 + UInt64(seed % 50)))],
                     liveUpdateRegion: frames(4000, 4100), badPages: [mfn(0x10 + UInt64(seed % 1000))])
}
