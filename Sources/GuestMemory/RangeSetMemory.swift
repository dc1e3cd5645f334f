/// What a rangeset really has allocated, in bytes. Figures are capacity-based: slots reserved
/// but not yet holding a range are counted, so `bytesPerRange` is what a range really costs.
public struct RangeSetMemory: Equatable, Sendable, CustomStringConvertible {
    /// Ranges the set holds.
    public var ranges: Int
    /// Range slots allocated (`ranges <= capacity`).
    public var capacity: Int
    /// Heap bytes of the range storage (starts and ends, or list nodes for a linked list).
    public var rangeStorageBytes: Int
    /// Heap bytes of the search index over the starts (0 for a linked list).
    public var indexBytes: Int
    /// Bytes of the set itself, wherever its owner keeps it (the fixed per-set cost).
    public var setBytes: Int

    public init(ranges: Int, capacity: Int, rangeStorageBytes: Int, indexBytes: Int, setBytes: Int) {
        self.ranges = ranges
        self.capacity = capacity
        self.rangeStorageBytes = rangeStorageBytes
        self.indexBytes = indexBytes
        self.setBytes = setBytes
    }

    /// Heap bytes owned by the set: what a per-guest budget should be charged.
    public var heapBytes: Int { rangeStorageBytes + indexBytes }
    /// Everything: heap bytes plus the set's own fields.
    public var totalBytes: Int { heapBytes + setBytes }
    /// Heap bytes divided by the number of ranges (nil for an empty set).
    public var bytesPerRange: Double? { ranges == 0 ? nil : Double(heapBytes) / Double(ranges) }

    public var description: String {
        let per = bytesPerRange.map { ", \(($0 * 100).rounded() / 100) B/range" } ?? ""
        return "\(ranges) ranges in \(capacity) slots: \(rangeStorageBytes) B ranges + \(indexBytes) B index "
            + "+ \(setBytes) B set = \(totalBytes) B\(per)"
    }
}
