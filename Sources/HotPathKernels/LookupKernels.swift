import DeviceModel
import GuestMemory

/// Rangeset lookup at 256, 8,192 and 1,000,000 ranges against the baselines RangeSetBench
/// uses: the Xen-style sorted linked list (xen/common/rangeset.c; 256 and 8,192 only, since
/// building a million ranges that way is quadratic), Swift.RangeSet, and a plain binary search
/// over the same starts. Same shape as RangeSetBench: range i starts at i*64 + [0, 16) and is
/// 1-32 values long; 65,536 random keys over the whole span (more than a cache holds at a
/// million ranges, so the big set is measured out of cache as it would be used).
public let lookupRangeCounts = [256, 8192, 1_000_000]
let lookupKeyCount = 1 << 16

struct LookupFixture {
    var ranges: [ClosedRange<UInt64>]
    var keys: [UInt64]

    init(_ n: Int) {
        var x: UInt64 = 0x9e37_79b9_7f4a_7c15 &+ UInt64(n)
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        ranges = (0..<n).map { i in
            let s = UInt64(i) * 64 + next() % 16
            return s...(s + next() % 32)
        }
        let span = UInt64(n) * 64
        keys = (0..<lookupKeyCount).map { _ in next() % span }
    }
}

final class XenRangeSetHolder: @unchecked Sendable {
    let set: XenStyleRangeSet
    init(_ set: consuming XenStyleRangeSet) { self.set = set }
}

/// Runs `lookup` over the keys, counting hits; the count goes to the sink.
@inline(__always)
func lookupLoop(_ keys: [UInt64], _ n: Int64, _ lookup: (UInt64) -> Bool) {
    keys.withUnsafeBufferPointer { k in
        var hits: UInt64 = 0
        for i in 0..<Int(n) where lookup(k[i & (lookupKeyCount - 1)]) { hits &+= 1 }
        consume(hits)
    }
}

func label(_ n: Int) -> String { n >= 1_000_000 ? "\(n / 1_000_000)m" : "\(n)" }

public func lookupKernelName(_ n: Int, _ what: String) -> String {
    what == "rangeset" ? "rangeset.lookup-\(label(n))-random" : "baseline.\(what)-lookup-\(label(n))-random"
}

let lookupKernels: [Kernel] = lookupRangeCounts.flatMap { n -> [Kernel] in
    var k: [Kernel] = [
        Kernel(name: lookupKernelName(n, "rangeset"), summary: "RangeSet.contains at \(n) ranges, 64 Ki random keys") {
            let f = LookupFixture(n)
            var set = try! GuestMemory.RangeSet(name: "lookup", limit: UInt64(n) + 1)
            for r in f.ranges { try! set.add(r) }
            let holder = RangeSetHolder(set)
            return { iterations in lookupLoop(f.keys, iterations) { holder.set.contains($0) } }
        },
        Kernel(name: lookupKernelName(n, "swift-rangeset"), summary: "Swift.RangeSet.contains, same ranges and keys") {
            let f = LookupFixture(n)
            var set = Swift.RangeSet<UInt64>()
            for r in f.ranges { set.insert(contentsOf: r.lowerBound..<(r.upperBound + 1)) }
            return { iterations in lookupLoop(f.keys, iterations) { set.contains($0) } }
        },
        Kernel(name: lookupKernelName(n, "binary-search"), summary: "binary search over the same sorted starts, same keys") {
            let f = LookupFixture(n)
            let starts = f.ranges.map(\.lowerBound), ends = f.ranges.map(\.upperBound)
            return { iterations in
                starts.withUnsafeBufferPointer { s in
                    ends.withUnsafeBufferPointer { e in
                        lookupLoop(f.keys, iterations) { key in
                            var lo = 0, hi = s.count  // first start > key
                            while lo < hi {
                                let mid = (lo &+ hi) >> 1
                                if s[mid] <= key { lo = mid &+ 1 } else { hi = mid }
                            }
                            return lo > 0 && key <= e[lo &- 1]
                        }
                    }
                }
            }
        },
    ]
    if n <= 8192 {
        k.append(Kernel(name: lookupKernelName(n, "xen-list"), summary: "Xen-style sorted linked list, same ranges and keys") {
            let f = LookupFixture(n)
            var set = try! XenStyleRangeSet(name: "xen", limit: UInt64(n) + 1)
            for r in f.ranges { try! set.add(r) }
            let holder = XenRangeSetHolder(set)
            return { iterations in lookupLoop(f.keys, iterations) { holder.set.contains($0) } }
        })
    }
    return k
}

/// The p2m's other baselines: a Dictionary for the hot set, and a random walk over a 4 GiB guest
/// (1 Mi gfns at 4K leaves) against a Dictionary holding the same 1 Mi entries.
let p2mRandomFrames: UInt64 = 1 << 20

func randomGfns() -> [UInt64] {
    var x: UInt64 = 0x2545_f491_4f6c_dd1d
    return (0..<lookupKeyCount).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % p2mRandomFrames }
}

let p2mBaselineKernels: [Kernel] = [
    Kernel(name: "baseline.dictionary-hot", summary: "Dictionary<UInt64, UInt64> of the same 512 hot gfns, same lookups") {
        var d: [UInt64: UInt64] = [:]
        for g in p2mHotBase..<(p2mHotBase + 512) { d[g] = (g + 1) << 12 | 0x887 }
        let hot = p2mHotSet()
        return { n in
            hot.withUnsafeBufferPointer { h in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= d[h[i & 255]].map { $0 >> 12 } ?? 0 }
                consume(sum)
            }
        }
    },
    Kernel(name: "p2m.translate-random-4g", summary: "P2M.translate, random gfns over a 4 GiB guest at 4K leaves") {
        let p2m = P2M()
        try! p2m.set(gfn: Gfn(uncheckedRaw: 0), count: p2mRandomFrames, to: Mfn(uncheckedRaw: 1), type: .ramRW)
        let gfns = randomGfns()
        return { n in
            gfns.withUnsafeBufferPointer { r in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= p2m.translate(Gfn(uncheckedRaw: r[i & (lookupKeyCount - 1)]))?.mfn?.raw ?? 0 }
                consume(sum)
            }
        }
    },
    Kernel(name: "baseline.dictionary-random-4g", summary: "Dictionary<UInt64, UInt64> of the same 1 Mi gfns, same lookups") {
        var d = [UInt64: UInt64](minimumCapacity: Int(p2mRandomFrames))
        for g in 0..<p2mRandomFrames { d[g] = (g + 1) << 12 | 0x887 }
        let gfns = randomGfns()
        return { n in
            gfns.withUnsafeBufferPointer { r in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= d[r[i & (lookupKeyCount - 1)]].map { $0 >> 12 } ?? 0 }
                consume(sum)
            }
        }
    },
]

/// Xen's way of choosing a server for the steering decision: the server list and linked-list
/// rangesets (XenStyleIoreqSelect), on the same 8,192-range guest and accesses.
let steeringBaselineKernels: [Kernel] = [
    Kernel(name: "baseline.xen-style-select-8192", summary: "XenStyleIoreqSelect.decide, 8,192 wp_mem ranges in linked lists") {
        let (accesses, engine) = steeringFixture(.range)
        let xen = try! XenStyleIoreqSelect(mirroring: engine)
        return { n in
            accesses.withUnsafeBufferPointer { a in
                var sum: UInt64 = 0
                for i in 0..<Int(n) { sum &+= UInt64(xen.decide(a[i & 4095]).counter.rawValue) }
                consume(sum)
            }
        }
    }
]
