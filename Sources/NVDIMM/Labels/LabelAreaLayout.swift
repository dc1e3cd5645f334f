/// Where things are in a label area of a given size: two index blocks, then `nslot` label slots.
///
/// As UEFI 2.7 lays it out, and as Linux (drivers/nvdimm/label.c, since 2018) and ndctl compute
/// it: with L the label size and A the area size, n0 = A / L slots would need index blocks of
/// i0 bytes; nslot = (A - 2 * i0) / L; the index block size is then that of nslot slots. An index
/// block is 72 bytes of fields plus an nslot-bit free bitmap, rounded up to 256 bytes. Linux
/// refuses an area with fewer than 2 slots or whose blocks and slots do not fit in it.
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
        let minimum = 2 * Self.indexAlignment + 2 * labelSize
        guard areaSize >= minimum else { throw .areaTooSmall(size: areaSize, needed: minimum) }
        // The label-size command reports a 32-bit size: a larger area cannot be reached.
        guard areaSize <= Int(UInt32.max) else { throw .areaTooLarge(size: areaSize) }
        let firstGuess = Self.indexSize(slots: areaSize / labelSize)
        let nslot = (areaSize - 2 * firstGuess) / labelSize
        let index = Self.indexSize(slots: nslot)
        guard nslot >= 2, 2 * index + nslot * labelSize <= areaSize else {
            throw .areaTooSmall(size: areaSize, needed: minimum)
        }
        self.areaSize = areaSize
        self.labelSize = labelSize
        self.nslot = nslot
        indexSize = index
    }

    /// Bytes of an index block describing `slots` slots: the fields, one bit a slot, rounded up
    /// to 256.
    public static func indexSize(slots: Int) -> Int {
        roundUp(indexHeaderSize + (slots + 7) / 8, to: indexAlignment)
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
    case areaTooLarge(size: Int)
    case unsupportedLabelSize(Int)
    case slotOutOfRange(slot: UInt32, nslot: Int)
    case duplicateSlot(UInt32)
    case nameTooLong(String)
    case nameContainsNUL(String)

    public var description: String {
        switch self {
        case let .areaTooSmall(size, needed):
            return "label area of \(size) bytes cannot hold two index blocks and two label slots (UEFI 2.7's minimum, \(needed) bytes at this label size): use 128 KiB, as QEMU requires, or more"
        case .areaTooLarge(let size):
            return "label area of \(size) bytes is larger than the 32-bit size _DSM and _LSI report: use at most 4 GiB - 1 (128 KiB is usual)"
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
