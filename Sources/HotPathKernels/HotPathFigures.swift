/// The figures `vpmem bench hotpaths` reports: each hot path as a ratio to a baseline from
/// benchmarks/ (Xen-style list, Swift.RangeSet, binary search, Dictionary, the 4-load chase,
/// memcpy, the bare scan), both kernels from `allKernels`, so the gate, the suites and the CLI
/// measure one copy of each.
public struct HotPathFigure: Sendable {
    /// The hot path, as the report names it.
    public var path: String
    public var kernel: String
    public var baseline: String
    /// For the lookup plot: the number of ranges, when the figure is a rangeset lookup.
    public var ranges: Int?
}

public let hotPathFigures: [HotPathFigure] = {
    var f: [HotPathFigure] = []
    for n in lookupRangeCounts {
        let path = "rangeset lookup, \(n) ranges"
        for b in ["swift-rangeset", "binary-search"] + (n <= 8192 ? ["xen-list"] : []) {
            f.append(HotPathFigure(path: path, kernel: lookupKernelName(n, "rangeset"), baseline: lookupKernelName(n, b), ranges: n))
        }
    }
    f += [
        HotPathFigure(path: "p2m translate, hot", kernel: "p2m.translate-hot-4k", baseline: "baseline.four-load-chase"),
        HotPathFigure(path: "p2m translate, hot", kernel: "p2m.translate-hot-4k", baseline: "baseline.dictionary-hot"),
        HotPathFigure(path: "p2m translate, random", kernel: "p2m.translate-random-4g", baseline: "baseline.dictionary-random-4g"),
        HotPathFigure(path: "steering by type", kernel: "steer.decide-type-8192", baseline: "baseline.p2m-translate-8192"),
        HotPathFigure(path: "steering by range", kernel: "steer.decide-range-8192", baseline: "baseline.p2m-translate-8192"),
        HotPathFigure(path: "steering by range", kernel: "steer.decide-range-8192", baseline: "baseline.xen-style-select-8192"),
        HotPathFigure(path: "_DSM label read", kernel: "nvdimm.dsm-get-label-128k", baseline: "baseline.memcpy-label-128k"),
        HotPathFigure(path: "live-update rebuild, 1k ranges", kernel: "liveupdate.one-pass-1m-frames-1k-ranges", baseline: "baseline.bare-scan-1m-frames"),
        HotPathFigure(path: "live-update rebuild, 1m ranges", kernel: "liveupdate.one-pass-1m-frames-1m-ranges", baseline: "baseline.bare-scan-1m-frames"),
        HotPathFigure(path: "live-update rebuild, 1m ranges", kernel: "liveupdate.one-pass-1m-frames-1m-ranges", baseline: "baseline.copy-scan-1m-frames"),
    ]
    return f
}()

public func kernel(named name: String) -> Kernel? { allKernels.first { $0.name == name } }
