/// Where things are in a label area of a given size: two index blocks, then `nslot` label slots.
///
/// As Linux computes it: nslot = size / (labelSize + 1) (a byte of index overhead per label);
/// an index block is 72 bytes of fields plus an nslot-bit free bitmap, rounded up to 256 bytes;
/// both blocks and all slots must fit in the area.
public struct LabelAreaLayout: Sendable, Hashable {
    public static let indexHeaderSize = 72
    public static let indexAlignment = 256

    public let areaSize: Int
    /// 128 (v1.1) or 256 (v1.2).
    public let labelSize: Int
    public let nslot: Int
    /// Bytes of one index block.
    public let indexSize: Int

    public init(areaSize: Int, labelSize: Int = 256) throws(LabelAreaError) {
        guard labelSize == 128 || labelSize == 256 else { throw .unsupportedLabelSize(labelSize) }
        guard areaSize >= 0, areaSize <= Int(UInt32.max) else { throw .areaTooSmall(size: areaSize, needed: 0) }
        let nslot = areaSize / (labelSize + 1)
        let index = Self.roundUp(Self.indexHeaderSize + (nslot + 7) / 8, to: Self.indexAlignment)
        guard nslot > 0, 2 * index + nslot * labelSize <= areaSize else {
            throw .areaTooSmall(size: areaSize, needed: 2 * index + max(nslot, 1) * labelSize)
        }
        self.areaSize = areaSize
        self.labelSize = labelSize
        self.nslot = nslot
        indexSize = index
    }

    public var labelsOffset: Int { 2 * indexSize }
    public func indexOffset(block: Int) -> Int { block * indexSize }
    public func labelOffset(slot: Int) -> Int { labelsOffset + slot * labelSize }
    /// Minor version: 1 for 128-byte labels, 2 for 256-byte labels.
    public var minor: UInt16 { labelSize == 128 ? 1 : 2 }

    static func roundUp(_ v: Int, to a: Int) -> Int { (v + a - 1) / a * a }
}

/// Why a label area could not be laid out or encoded.
public enum LabelAreaError: Error, Hashable, Sendable, CustomStringConvertible {
    case areaTooSmall(size: Int, needed: Int)
    case unsupportedLabelSize(Int)
    case slotOutOfRange(slot: UInt32, nslot: Int)
    case duplicateSlot(UInt32)
    case nameTooLong(String)
    case nameContainsNUL(String)

    public var description: String {
        switch self {
        case let .areaTooSmall(size, needed):
            return "label area of \(size) bytes cannot hold its index blocks and size / (label size + 1) label slots (that needs \(needed) bytes): use 128 KiB, as QEMU requires, or 256 KiB"
        case .unsupportedLabelSize(let s):
            return "label size \(s) is not supported: use 128 (v1.1) or 256 (v1.2)"
        case let .slotOutOfRange(slot, nslot):
            return "label slot \(slot) does not exist: this area has slots 0 to \(nslot - 1)"
        case .duplicateSlot(let s):
            return "label slot \(s) is given twice"
        case .nameTooLong(let n):
            return "namespace name '\(n)' is longer than the label's 64-byte name field: shorten it"
        case .nameContainsNUL(let n):
            return "namespace name '\(n)' contains a NUL byte, which would end it early on media: remove it"
        }
    }
}

/// Index block sequence numbers: 2 bits, 1 -> 2 -> 3 -> 1; 0 is invalid.
public enum LabelSequence {
    public static func next(_ seq: UInt32) -> UInt32 { [0, 2, 3, 1][Int(seq & 3)] }

    /// Which of two valid blocks is current (Linux best_seq): the one whose seq follows the
    /// other's; with equal seqs, block 1.
    public static func current(seq0: UInt32, seq1: UInt32) -> Int {
        let a = seq0 & 3, b = seq1 & 3
        let best: UInt32
        if a == 0 || a == b { best = b } else if b == 0 { best = a } else if next(a) == b { best = b } else { best = a }
        return best == b ? 1 : 0
    }
}
