/// A namespace index block (UEFI 2.7 NVDIMM Label Protocol; Linux struct nd_namespace_index).
///
/// Layout: sig[16] "NAMESPACE_INDEX\0" @0, flags[3] @16, labelsize u8 @19 (v1.2: label bytes =
/// 128 << labelsize), seq u32 @20, myoff u64 @24, mysize u64 @32, otheroff u64 @40,
/// labeloff u64 @48, nslot u32 @56, major u16 @60, minor u16 @62, checksum u64 @64,
/// free bitmap @72 (bit set = slot free), padded to the block size. The checksum covers the
/// whole block, padding included.
///
/// The bytes after the nslot free bits (the rest of the bitmap's last 64-bit word, the padding)
/// mean nothing, but they are checksummed, and writers fill them differently: ndctl's init-labels
/// sets the bits up to the next multiple of 64 slots and keeps whatever the area held after
/// them; the kernel clears those bits. `bitmapBytes` keeps them as they are so that a block
/// read from media encodes back to the same bytes.
public struct LabelIndexBlock: Sendable, Hashable {
    public static let signature: [UInt8] = Array("NAMESPACE_INDEX".utf8) + [0]
    public static let checksumOffset = 64

    /// The signature as stored (16 bytes).
    public var sig: [UInt8] = LabelIndexBlock.signature
    /// The 3-byte flags field.
    public var flags: UInt32 = 0
    /// The labelsize field: label bytes = 128 << labelSizeCode (v1.2; v1.1 blocks store 0).
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
    /// The block's bytes from offset 72 to its end as they are (or will be) on media. `free` is
    /// authoritative for the bits of slots 0..<nslot; `encode` keeps every other bit.
    public var bitmapBytes: [UInt8]

    /// A fresh block for `layout`, all slots free, as `ndctl init-labels` writes it over a zeroed
    /// area: the bitmap set up to the next multiple of 64 slots, zero after.
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
        bitmapBytes = Self.initialisedBitmap(nslot: layout.nslot, over: [UInt8](repeating: 0, count: layout.indexSize - LabelAreaLayout.indexHeaderSize))
    }

    /// `previous` (a block's bytes from offset 72) with what ndctl's init-labels writes over it:
    /// 0xFF for the bitmap rounded up to whole 64-bit words; the bytes after that are kept.
    public static func initialisedBitmap(nslot: Int, over previous: [UInt8]) -> [UInt8] {
        var b = previous
        let words = (nslot + 63) / 64 * 8
        for i in 0..<min(words, b.count) { b[i] = 0xFF }
        return b
    }

    /// Slots in use (free bit clear).
    public var slotsInUse: [Int] { free.indices.filter { !free[$0] } }

    /// The block's bytes (`size` long) with its checksum computed.
    public func encode(size: Int) -> [UInt8] {
        var b = Self.fixed(sig, 16)
        b += LittleEndian.bytes(flags).prefix(3)
        b.append(labelSizeCode)
        b.appendLE(seq)
        b.appendLE(myoff); b.appendLE(mysize); b.appendLE(otheroff); b.appendLE(labeloff)
        b.appendLE(nslot); b.appendLE(major); b.appendLE(minor)
        b.appendLE(UInt64(0))
        var bitmap = Self.fixed(bitmapBytes, max(0, size - b.count))
        for (i, isFree) in free.enumerated() where i / 8 < bitmap.count {
            if isFree { bitmap[i / 8] |= 1 << (i % 8) } else { bitmap[i / 8] &= ~(1 << (i % 8)) }
        }
        b += bitmap
        b.writeLE(Fletcher64.checksum(b), at: Self.checksumOffset)
        return Array(b.prefix(size))
    }

    /// The fields of the block in `bytes` (its first 72 bytes at least) as stored, checked for
    /// nothing; nil when `bytes` is shorter than the fields. `free` holds at most as many slots
    /// as the bytes have bits, whatever nslot says.
    public init?(fields bytes: [UInt8]) {
        let h = LabelAreaLayout.indexHeaderSize
        guard bytes.count >= h else { return nil }
        sig = Array(bytes[0..<16])
        flags = bytes.readLE(UInt32.self, at: 16) & 0xFF_FFFF  // 3 bytes; the fourth is labelsize
        labelSizeCode = bytes[19]
        seq = bytes.readLE(UInt32.self, at: 20)
        myoff = bytes.readLE(UInt64.self, at: 24)
        mysize = bytes.readLE(UInt64.self, at: 32)
        otheroff = bytes.readLE(UInt64.self, at: 40)
        labeloff = bytes.readLE(UInt64.self, at: 48)
        nslot = bytes.readLE(UInt32.self, at: 56)
        major = bytes.readLE(UInt16.self, at: 60)
        minor = bytes.readLE(UInt16.self, at: 62)
        checksum = bytes.readLE(UInt64.self, at: Self.checksumOffset)
        bitmapBytes = Array(bytes[h...])
        let bits = bitmapBytes
        free = (0..<min(Int(nslot), bits.count * 8)).map { i in bits[i / 8] & (1 << (i % 8)) != 0 }
    }

    /// The label size the block's version and labelsize field give (Linux: 128 before v1.2).
    public var labelSize: Int { major == 1 && minor >= 2 ? 128 << Int(min(labelSizeCode, 8)) : 128 }

    /// Decodes block `block` of `area` under `layout`, reporting every field that is wrong, with
    /// Linux's checks (__nd_label_validate). Returns nil and the issues when the block must not
    /// be used.
    public static func decode(_ area: [UInt8], block: Int, layout: LabelAreaLayout) -> (LabelIndexBlock?, [LabelAreaIssue]) {
        let start = layout.indexOffset(block: block), size = layout.indexSize
        guard start + size <= area.count else { return (nil, [.areaTooSmall(size: area.count, needed: start + size)]) }
        let b = Array(area[start..<start + size])
        guard let blk = LabelIndexBlock(fields: b) else { return (nil, [.areaTooSmall(size: area.count, needed: start + size)]) }
        var issues: [LabelAreaIssue] = []
        func bad(_ field: LabelIndexField, _ found: UInt64, _ expected: String) {
            issues.append(.indexField(block: block, field: field, found: found, expected: expected))
        }
        if blk.sig != signature {
            bad(.signature, b.readLE(UInt64.self, at: 0), "\"NAMESPACE_INDEX\\0\"")
        }
        if blk.major != 1 || !(1...2).contains(blk.minor) { bad(.version, UInt64(blk.major) << 16 | UInt64(blk.minor), "1.1 or 1.2") }
        else if blk.labelSize != layout.labelSize { bad(.labelSize, UInt64(blk.labelSize), "\(layout.labelSize)") }
        let computed = Fletcher64.checksum(b[...], zeroingFieldAt: checksumOffset)
        if blk.checksum != computed { issues.append(.indexChecksum(block: block, stored: blk.checksum, computed: computed)) }
        if blk.seq & 3 == 0 { bad(.seq, UInt64(blk.seq), "1, 2 or 3 in the low 2 bits") }
        if blk.myoff != UInt64(start) { bad(.myoff, blk.myoff, "\(start)") }
        if blk.mysize > UInt64(size) || blk.mysize < UInt64(LabelAreaLayout.indexHeaderSize) {
            bad(.mysize, blk.mysize, "\(LabelAreaLayout.indexHeaderSize)...\(size)")
        }
        if blk.otheroff != UInt64(layout.indexOffset(block: 1 - block)) { bad(.otheroff, blk.otheroff, "\(layout.indexOffset(block: 1 - block))") }
        if blk.labeloff != UInt64(layout.labelsOffset) { bad(.labeloff, blk.labeloff, "\(layout.labelsOffset)") }
        if UInt64(blk.nslot) * UInt64(layout.labelSize) + UInt64(2 * size) > UInt64(layout.areaSize) {
            bad(.nslot, UInt64(blk.nslot), "at most \(layout.nslot) for a \(layout.areaSize)-byte area")
        }
        guard issues.isEmpty else { return (nil, issues) }
        // A valid nslot fits the area; slots whose bits would lie past the block are not free.
        var valid = blk
        if valid.free.count < Int(valid.nslot) { valid.free += Array(repeating: false, count: Int(valid.nslot) - valid.free.count) }
        return (valid, [])
    }

    static func fixed(_ bytes: [UInt8], _ n: Int) -> [UInt8] {
        Array(bytes.prefix(n)) + [UInt8](repeating: 0, count: max(0, n - bytes.count))
    }
}

/// The fields of an index block, for precise corruption reports.
public enum LabelIndexField: String, Sendable, Hashable {
    case signature, version, labelSize, seq, myoff, mysize, otheroff, labeloff, nslot
}
