/// A range of DIMM physical addresses (label `dpa`, `rawsize`).
public struct DPAExtent: Sendable, Hashable, CustomStringConvertible {
    public let start: UInt64
    public let size: UInt64
    public var end: UInt64 { start + size }

    public init(start: UInt64, size: UInt64) {
        self.start = start
        self.size = size
    }

    public var description: String { "dpa 0x\(String(start, radix: 16)) + \(size)" }
}

/// Where Linux puts a new pmem namespace on one non-interleaved NVDIMM, and which sizes it (and
/// ndctl before it) refuses. The region is the whole NVDIMM: DPA 0 up to the memory device
/// map's region size (region offset and DPA are 0 in vpmem's NFIT).
///
/// Rules (x86-64, Linux 6.1, ndctl 76):
/// - The region's alignment (drivers/nvdimm/region_devs.c default_align) is 16 MiB
///   (MEMREMAP_COMPAT_ALIGN_MAX), or a page when the region is smaller than 16 MiB. A size must
///   be a multiple of it (the kernel's size store; ndctl "align setting ... is misaligned").
/// - The size must also be a multiple of the mode's alignment and at least its minimum
///   (`NamespaceMode`).
/// - A pmem namespace is one contiguous DPA range. Free space is the space between the ranges
///   other labels hold, each gap's start rounded up and end rounded down to the region's
///   alignment; the namespace takes the first gap, in DPA order, that holds the whole size
///   (namespace_devs.c scan_allocate/space_valid: first fit, contiguous), at its start.
/// - `ndctl create-namespace` checks the size against the largest such gap first
///   ("max_available_extent").
public struct NamespacePlacement: Sendable, Hashable {
    public static let pageSize: UInt64 = 4096
    /// MEMREMAP_COMPAT_ALIGN_MAX.
    public static let compatAlignMax: UInt64 = 16 << 20

    public let regionSize: UInt64
    /// The ranges the existing labels hold, sorted by start (overlaps kept: a corrupt set still
    /// only shrinks the free space).
    public let allocated: [DPAExtent]

    public init(regionSize: UInt64, allocated: [DPAExtent]) {
        self.regionSize = regionSize
        self.allocated = allocated.sorted { ($0.start, $0.size) < ($1.start, $1.size) }
    }

    /// The region's alignment (nd_region->align for one mapping).
    public var regionAlign: UInt64 { regionSize < Self.compatAlignMax ? Self.pageSize : Self.compatAlignMax }

    /// The aligned free gaps, in DPA order.
    public var freeExtents: [DPAExtent] {
        let a = regionAlign
        var out: [DPAExtent] = []
        var cursor: UInt64 = 0
        func gap(_ from: UInt64, _ to: UInt64) {
            let s = Self.roundUp(from, a), e = to / a * a
            if s < e { out.append(DPAExtent(start: s, size: e - s)) }
        }
        for x in allocated where x.start < regionSize {
            if x.start > cursor { gap(cursor, x.start) }
            let (end, overflow) = x.start.addingReportingOverflow(x.size)
            cursor = max(cursor, overflow ? UInt64.max : end)
        }
        if cursor < regionSize { gap(cursor, regionSize) }
        return out
    }

    /// The largest aligned free gap (ndctl's max_available_extent).
    public var maxAvailableExtent: UInt64 { freeExtents.map(\.size).max() ?? 0 }

    /// The DPA Linux gives a new namespace of `size` in `mode`, or why it refuses.
    public func place(size: UInt64, mode: NamespaceMode) throws(NamespaceError) -> DPAExtent {
        guard size > 0 else { throw .sizeZero }
        guard size % regionAlign == 0 else {
            throw .sizeMisaligned(size: size, alignment: regionAlign, rule: "the region's alignment")
        }
        guard size % mode.sizeAlignment == 0 else {
            throw .sizeMisaligned(size: size, alignment: mode.sizeAlignment, rule: "the \(mode) alignment")
        }
        guard size >= mode.minimumSize else { throw .sizeTooSmall(size: size, minimum: mode.minimumSize, mode: mode) }
        guard let gap = freeExtents.first(where: { $0.size >= size }) else {
            throw .noFreeExtent(size: size, largest: maxAvailableExtent, regionSize: regionSize)
        }
        return DPAExtent(start: gap.start, size: size)
    }

    static func roundUp(_ v: UInt64, _ a: UInt64) -> UInt64 {
        let (r, overflow) = v.addingReportingOverflow(a - 1)
        return overflow ? UInt64.max / a * a : r / a * a
    }
}
