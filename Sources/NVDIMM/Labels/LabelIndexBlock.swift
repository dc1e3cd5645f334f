/// A namespace index block (UEFI 2.7 NVDIMM Label Protocol; Linux struct nd_namespace_index).
///
/// Layout: sig[16] "NAMESPACE_INDEX\0" @0, flags[3] @16, labelsize u8 @19 (v1.2: label bytes =
/// 128 << labelsize), seq u32 @20, myoff u64 @24, mysize u64 @32, otheroff u64 @40,
/// labeloff u64 @48, nslot u32 @56, major u16 @60, minor u16 @62, checksum u64 @64,
/// free bitmap @72 (bit set = slot free), zero-padded to the block size.
public struct LabelIndexBlock: Sendable, Hashable {
    public static let signature: [UInt8] = Array("NAMESPACE_INDEX".utf8) + [0]
    public static let checksumOffset = 64

    public var flags: UInt32 = 0
    public var labelSizeCode: UInt8
    public var seq: UInt32
    public var myoff: UInt64
    public var mysize: UInt64
    public var otheroff: UInt64
    public var labeloff: UInt64
    public var nslot: UInt32
    public var major: UInt16 = 1
    public var minor: UInt16
    /// As stored; `encode` recomputes it.
    public var checksum: UInt64 = 0
    /// One entry per slot: true = free.
    public var free: [Bool]

    /// A fresh block for `layout` (all slots free) as Linux writes it on init.
    public init(layout: LabelAreaLayout, block: Int, seq: UInt32) {
        labelSizeCode = layout.labelSize == 256 ? 1 : 0
        self.seq = seq
        myoff = UInt64(layout.indexOffset(block: block))
        mysize = UInt64(layout.indexSize)
        otheroff = UInt64(layout.indexOffset(block: 1 - block))
        labeloff = UInt64(layout.labelsOffset)
        nslot = UInt32(layout.nslot)
        minor = layout.minor
        free = Array(repeating: true, count: layout.nslot)
    }

    /// Slots in use (free bit clear).
    public var slotsInUse: [Int] { free.indices.filter { !free[$0] } }

    /// The block's bytes (`size` long) with its checksum computed.
    public func encode(size: Int) -> [UInt8] {
        var b: [UInt8] = Self.signature
        b.append(UInt8(flags & 0xFF)); b.append(UInt8(flags >> 8 & 0xFF)); b.append(UInt8(flags >> 16 & 0xFF))
        b.append(labelSizeCode)
        b.appendLE(seq)
        b.appendLE(myoff); b.appendLE(mysize); b.appendLE(otheroff); b.appendLE(labeloff)
        b.appendLE(nslot); b.appendLE(major); b.appendLE(minor)
        b.appendLE(UInt64(0))
        var bitmap = [UInt8](repeating: 0, count: max(0, size - b.count))
        for (i, isFree) in free.enumerated() where isFree && i / 8 < bitmap.count { bitmap[i / 8] |= 1 << (i % 8) }
        b += bitmap
        b.writeLE(Fletcher64.checksum(b), at: Self.checksumOffset)
        return b
    }

    /// Decodes block `block` of `area` under `layout`, reporting every field that is wrong.
    /// Returns nil and the issues when the block must not be used.
    public static func decode(_ area: [UInt8], block: Int, layout: LabelAreaLayout) -> (LabelIndexBlock?, [LabelAreaIssue]) {
        let start = layout.indexOffset(block: block), size = layout.indexSize
        guard start + size <= area.count else { return (nil, [.areaTooSmall(size: area.count, needed: start + size)]) }
        let b = Array(area[start..<start + size])
        var issues: [LabelAreaIssue] = []
        func bad(_ field: LabelIndexField, _ found: UInt64, _ expected: String) {
            issues.append(.indexField(block: block, field: field, found: found, expected: expected))
        }
        if Array(b[0..<16]) != signature {
            bad(.signature, b.readLE(UInt64.self, at: 0), "\"NAMESPACE_INDEX\\0\"")
        }
        let major = b.readLE(UInt16.self, at: 60), minor = b.readLE(UInt16.self, at: 62), code = b[19]
        let labelSize = major == 1 && minor >= 2 ? 128 << Int(min(code, 8)) : 128
        if major != 1 || !(1...2).contains(minor) { bad(.version, UInt64(major) << 16 | UInt64(minor), "1.1 or 1.2") }
        else if labelSize != layout.labelSize { bad(.labelSize, UInt64(labelSize), "\(layout.labelSize)") }
        let stored = b.readLE(UInt64.self, at: checksumOffset)
        let computed = Fletcher64.checksum(b[...], zeroingFieldAt: checksumOffset)
        if stored != computed { issues.append(.indexChecksum(block: block, stored: stored, computed: computed)) }
        let seq = b.readLE(UInt32.self, at: 20)
        if seq & 3 == 0 { bad(.seq, UInt64(seq), "1, 2 or 3 in the low 2 bits") }
        let myoff = b.readLE(UInt64.self, at: 24), mysize = b.readLE(UInt64.self, at: 32)
        let otheroff = b.readLE(UInt64.self, at: 40), labeloff = b.readLE(UInt64.self, at: 48)
        let nslot = b.readLE(UInt32.self, at: 56)
        if myoff != UInt64(start) { bad(.myoff, myoff, "\(start)") }
        if mysize > UInt64(size) || mysize < UInt64(LabelAreaLayout.indexHeaderSize) {
            bad(.mysize, mysize, "\(LabelAreaLayout.indexHeaderSize)...\(size)")
        }
        if otheroff != UInt64(layout.indexOffset(block: 1 - block)) { bad(.otheroff, otheroff, "\(layout.indexOffset(block: 1 - block))") }
        if labeloff != UInt64(layout.labelsOffset) { bad(.labeloff, labeloff, "\(layout.labelsOffset)") }
        if UInt64(nslot) * UInt64(layout.labelSize) + UInt64(2 * size) > UInt64(layout.areaSize) {
            bad(.nslot, UInt64(nslot), "at most \(layout.nslot) for a \(layout.areaSize)-byte area")
        }
        guard issues.isEmpty else { return (nil, issues) }
        var blk = LabelIndexBlock(layout: layout, block: block, seq: seq)
        blk.flags = UInt32(b[16]) | UInt32(b[17]) << 8 | UInt32(b[18]) << 16
        blk.labelSizeCode = code
        blk.mysize = mysize
        blk.nslot = nslot
        blk.major = major
        blk.minor = minor
        blk.checksum = stored
        blk.free = (0..<Int(nslot)).map { i in
            let byte = LabelAreaLayout.indexHeaderSize + i / 8
            return byte < b.count && b[byte] & (1 << (i % 8)) != 0
        }
        return (blk, [])
    }
}

/// The fields of an index block, for precise corruption reports.
public enum LabelIndexField: String, Sendable, Hashable {
    case signature, version, labelSize, seq, myoff, mysize, otheroff, labeloff, nslot
}
