import VpmemCore

/// Finds namespace label areas in a backing by their index blocks.
///
/// QEMU (hw/mem/nvdimm.c) and vpmem keep an NVDIMM's label area in the last `label-size` bytes
/// of its backing, so a label area of X bytes starts at `backing length - X`. The search looks
/// there for every plausible X and reports each place where a valid index block sits (signature
/// "NAMESPACE_INDEX\0", Fletcher-64 checksum, and every field Linux checks, for a label area
/// ending at the end of the backing), or where block 0's signature sits but no block passes
/// (a damaged area).
///
/// Plausible sizes (`candidateSizes`): every multiple of 4 KiB from 128 KiB (QEMU's minimum) to
/// 16 MiB, every multiple of 1 MiB to 256 MiB, every power of two to 2 GiB, 4 GiB - 4 KiB (the
/// largest a 32-bit _DSM size allows at 4 KiB granularity), and any size the caller names (the
/// configured one). A label area that no longer ends at the end of the backing (a file grown or
/// cut after its guest used it) is not found.
///
/// Cost: at most three 16-byte reads per candidate (block 0's signature, and block 1's for
/// 128- and 256-byte labels), about 4,300 candidates on a large backing; a full decode only
/// where a signature is.
public enum LabelAreaSearch {
    /// QEMU's minimum label-size.
    public static let minimumSize: UInt64 = 128 * ByteSize.kib
    /// The largest label area the 32-bit size of _DSM function 4 and _LSI can report.
    public static let maximumSize: UInt64 = UInt64(UInt32.max)

    /// The label-area sizes looked at in a backing of `backingLength` bytes, ascending, each at
    /// most the backing's length; `including` adds sizes (the configured label size).
    public static func candidateSizes(backingLength: UInt64, including extra: [UInt64] = []) -> [UInt64] {
        let top = min(backingLength, maximumSize)
        guard top >= minimumSize else { return extra.filter { $0 >= minimumSize && $0 <= top } }
        var sizes: [UInt64] = []
        var x = minimumSize
        while x <= min(top, 16 * ByteSize.mib) { sizes.append(x); x += 4 * ByteSize.kib }
        x = 17 * ByteSize.mib
        while x <= min(top, 256 * ByteSize.mib) { sizes.append(x); x += ByteSize.mib }
        x = 512 * ByteSize.mib
        while x <= min(top, 2 * ByteSize.gib) { sizes.append(x); x *= 2 }
        let largest = 4 * ByteSize.gib - 4 * ByteSize.kib
        if largest <= top { sizes.append(largest) }
        for e in extra where e >= minimumSize && e <= top && !sizes.contains(e) { sizes.append(e) }
        return sizes.sorted()
    }

    /// Every label area found at the end of a backing of `backingLength` bytes, nearest the end
    /// first. `read(offset, count)` returns the backing's bytes there (nil if it cannot).
    public static func find(backingLength: UInt64, including extra: [UInt64] = [],
                            read: (UInt64, Int) -> [UInt8]?) -> [FoundLabelArea] {
        var valid: [FoundLabelArea] = []
        var damaged: [FoundLabelArea] = []
        for size in candidateSizes(backingLength: backingLength, including: extra) {
            let offset = backingLength - size
            let at0 = hasSignature(read(offset, 16))
            var at1 = false
            if !at0 {
                for labelSize in [128, 256] {
                    guard let layout = try? LabelAreaLayout(areaSize: Int(size), labelSize: labelSize) else { continue }
                    if hasSignature(read(offset + UInt64(layout.indexSize), 16)) { at1 = true; break }
                }
            }
            guard at0 || at1, let area = examine(offset: offset, size: size, read: read) else { continue }
            if area.isValid { valid.append(area) } else if at0 { damaged.append(area) }
        }
        // A signature that is a valid area's own block is no damaged area of another size.
        let blockOffsets = Set(valid.flatMap { a in a.layout.map { l in [a.offset, a.offset + UInt64(l.indexSize)] } ?? [a.offset] })
        return valid + damaged.filter { !blockOffsets.contains($0.offset) }
    }

    /// The label area of `size` bytes at `offset`, under whichever label size (128 or 256) gives
    /// more valid index blocks; damaged (no valid block) when neither gives one; nil when the
    /// bytes cannot be read or no layout fits `size`.
    public static func examine(offset: UInt64, size: UInt64, read: (UInt64, Int) -> [UInt8]?) -> FoundLabelArea? {
        guard size <= maximumSize else { return nil }
        var best: FoundLabelArea?
        for labelSize in [256, 128] {
            guard let layout = try? LabelAreaLayout(areaSize: Int(size), labelSize: labelSize),
                  let region = read(offset, 2 * layout.indexSize) else { continue }
            var blocks: [LabelIndexBlock?] = []
            for i in 0..<2 { blocks.append(LabelIndexBlock.decode(region, block: i, layout: layout).0) }
            let validBlocks = (0..<2).filter { blocks[$0] != nil }
            guard !validBlocks.isEmpty else { continue }
            let current: Int
            if let a = blocks[0], let b = blocks[1] { current = LabelSequence.current(seq0: a.seq, seq1: b.seq) } else { current = validBlocks[0] }
            let area = FoundLabelArea(offset: offset, size: size, layout: layout, validBlocks: validBlocks, current: current,
                                      seq: blocks[current]!.seq, slotsInUse: blocks[current]!.slotsInUse.count)
            if best == nil || area.validBlocks.count > best!.validBlocks.count { best = area }
        }
        return best ?? FoundLabelArea(offset: offset, size: size, layout: nil, validBlocks: [], current: nil, seq: nil, slotsInUse: nil)
    }

    static func hasSignature(_ bytes: [UInt8]?) -> Bool {
        guard let bytes, bytes.count >= 16 else { return false }
        return Array(bytes[0..<16]) == LabelIndexBlock.signature
    }
}

/// A label area found in a backing.
public struct FoundLabelArea: Sendable, Hashable {
    /// Where it starts in the backing: the data size a guest should be given.
    public var offset: UInt64
    /// Its size, to the end of the backing: the label-size it was made with.
    public var size: UInt64
    /// The layout its valid blocks were checked against; nil when damaged.
    public var layout: LabelAreaLayout?
    /// The index blocks that pass every check (0, 1 or both); empty: damaged (block 0's
    /// signature is there, but no block passes).
    public var validBlocks: [Int]
    /// The current block, by the seq rules.
    public var current: Int?
    public var seq: UInt32?
    /// Slots the current block marks in use (one or more labels per namespace).
    public var slotsInUse: Int?

    public var isValid: Bool { !validBlocks.isEmpty }

    /// "128K label area (v1.1, 1020 slots, 2 in use) at offset 0x200000", or the damaged form.
    public var summary: String {
        let at = "at offset 0x\(String(offset, radix: 16))"
        guard let layout, isValid else {
            return "damaged namespace label area of \(ByteSize(bytes: size)) \(at) (index signature present, no index block passes its checks)"
        }
        let blocks = validBlocks.count == 2 ? "" : ", only index block \(validBlocks[0]) valid"
        return "namespace label area of \(ByteSize(bytes: size)) (v1.\(layout.minor), \(layout.nslot) slots, \(slotsInUse ?? 0) in use\(blocks)) \(at)"
    }
}
