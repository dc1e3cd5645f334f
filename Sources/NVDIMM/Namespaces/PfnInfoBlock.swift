/// The pfn info block of an fsdax namespace (Linux struct nd_pfn_sb, drivers/nvdimm/pfn.h): 4096
/// bytes at 4 KiB into the namespace, written when the pfn device is first enabled, read on
/// every boot to bring the namespace up as fsdax.
///
/// Layout: signature[16] @0 ("NVDIMM_PFN_INFO\0"; devdax: "NVDIMM_DAX_INFO\0"), uuid[16] @16
/// (the pfn device's), parent_uuid[16] @32 (the namespace's), flags u32 @48, version_major u16
/// @52, version_minor u16 @54, dataoff u64 @56, npfns u64 @64, mode u32 @72, start_pad u32 @76,
/// end_trunc u32 @80, align u32 @84, page_size u32 @88, page_struct_size u16 @92, zero padding
/// to @4088, checksum u64 @4088 (Fletcher-64 over the 4096 bytes with the checksum zeroed).
public struct PfnInfoBlock: Sendable, Hashable {
    public static let size = 4096
    /// Where the block is in the namespace (SZ_4K).
    public static let namespaceOffset: UInt64 = 4096
    public static let checksumOffset = 4088
    public static let pfnSignature: [UInt8] = Array("NVDIMM_PFN_INFO".utf8) + [0]
    public static let daxSignature: [UInt8] = Array("NVDIMM_DAX_INFO".utf8) + [0]
    /// What Linux reserves at the namespace's start for the info block (SZ_8K).
    public static let reserve: UInt64 = 8192
    /// MAX_STRUCT_PAGE_SIZE: the memmap is sized for 64-byte struct pages.
    public static let maxStructPageSize: UInt64 = 64
    public static let pageSize: UInt64 = 4096

    /// Where the memmap lives (enum nd_pfn_mode).
    public enum Mode: UInt32, Sendable, Hashable, CustomStringConvertible {
        case none = 0
        /// "map=mem": in RAM.
        case ram = 1
        /// "map=dev", ndctl's default: on the namespace.
        case pmem = 2
        public var description: String { self == .pmem ? "dev" : self == .ram ? "mem" : "none" }
    }

    public var signature: [UInt8]
    public var uuid: NamespaceUUID
    public var parentUUID: NamespaceUUID
    public var flags: UInt32 = 0
    public var versionMajor: UInt16 = 1
    public var versionMinor: UInt16 = 4
    /// Bytes from the namespace's start (plus start_pad) to the data.
    public var dataoff: UInt64
    public var npfns: UInt64
    public var mode: UInt32
    public var startPad: UInt32 = 0
    public var endTrunc: UInt32
    public var align: UInt32
    public var pageSize: UInt32 = UInt32(PfnInfoBlock.pageSize)
    public var pageStructSize: UInt16 = UInt16(PfnInfoBlock.maxStructPageSize)
    /// As stored; `encode` recomputes it.
    public var checksum: UInt64 = 0

    /// The block Linux writes (nd_pfn_init, version 1.4) for an fsdax namespace of `size` bytes
    /// starting at guest-physical `start`, its memmap on the namespace, pfn alignment `align`:
    /// - the memmap is sized for every page after the 8 KiB reserve: 64 * (size - 8K) / 4K bytes;
    /// - the data starts at the first `align` boundary after the reserve and the memmap:
    ///   dataoff = ALIGN(start + 8K + memmap, align) - start;
    /// - end_trunc cuts the namespace's end down to an `align` boundary;
    /// - npfns = (size - dataoff - end_trunc) / 4K.
    /// Refused like Linux: a start not page aligned, and a namespace with no data left.
    public static func fsdax(start: UInt64, size: UInt64, uuid: NamespaceUUID, parentUUID: NamespaceUUID,
                             align: UInt64 = NamespaceMode.fsdaxAlign) throws(NamespaceError) -> PfnInfoBlock {
        guard start % pageSize == 0 else { throw .pfnStartMisaligned(start: start) }
        guard align.nonzeroBitCount == 1, align <= UInt64(UInt32.max), size > reserve,
              start <= UInt64.max - size - align else {
            throw .pfnNoRoom(size: size, dataoff: nil, align: align)
        }
        let a = max(align, pageSize)
        let npfns0 = (size - reserve) / pageSize
        let end = start + size
        let endTrunc = end - end / a * a
        let dataoff = NamespacePlacement.roundUp(start + reserve + maxStructPageSize * npfns0, a) - start
        guard dataoff < size - endTrunc else { throw .pfnNoRoom(size: size, dataoff: dataoff, align: align) }
        return PfnInfoBlock(signature: pfnSignature, uuid: uuid, parentUUID: parentUUID, dataoff: dataoff,
                            npfns: (size - dataoff - endTrunc) / pageSize, mode: Mode.pmem.rawValue,
                            endTrunc: UInt32(endTrunc), align: UInt32(align))
    }

    /// Bytes usable for data: what `ndctl list` shows as an fsdax namespace's size (the pfn
    /// device's size: the namespace less start_pad, end_trunc and dataoff).
    public func usableSize(namespaceSize: UInt64) -> UInt64 {
        let cut = UInt64(startPad) + UInt64(endTrunc) + dataoff
        return namespaceSize > cut ? namespaceSize - cut : 0
    }

    /// The block's 4096 bytes with its checksum computed.
    public func encode() -> [UInt8] {
        var b = NamespaceLabel.fixed(signature, 16) + uuid.bytes + parentUUID.bytes
        b.appendLE(flags); b.appendLE(versionMajor); b.appendLE(versionMinor)
        b.appendLE(dataoff); b.appendLE(npfns); b.appendLE(mode)
        b.appendLE(startPad); b.appendLE(endTrunc); b.appendLE(align); b.appendLE(pageSize); b.appendLE(pageStructSize)
        b.appendZeros(Self.size - b.count)
        b.writeLE(Fletcher64.checksum(b), at: Self.checksumOffset)
        return b
    }

    /// Decodes 4096 bytes that carry a pfn or dax signature and a matching checksum (what
    /// nd_pfn_validate checks before anything else); nil otherwise.
    public static func decode(_ b: [UInt8]) -> PfnInfoBlock? {
        guard b.count == size else { return nil }
        let sig = Array(b[0..<16])
        guard sig == pfnSignature || sig == daxSignature else { return nil }
        let stored = b.readLE(UInt64.self, at: checksumOffset)
        guard stored == Fletcher64.checksum(b[...], zeroingFieldAt: checksumOffset) else { return nil }
        let minor = b.readLE(UInt16.self, at: 54)
        var p = PfnInfoBlock(signature: sig, uuid: NamespaceUUID(bytes: Array(b[16..<32]))!,
                             parentUUID: NamespaceUUID(bytes: Array(b[32..<48]))!, dataoff: b.readLE(UInt64.self, at: 56),
                             npfns: b.readLE(UInt64.self, at: 64), mode: b.readLE(UInt32.self, at: 72),
                             endTrunc: b.readLE(UInt32.self, at: 80), align: b.readLE(UInt32.self, at: 84))
        p.flags = b.readLE(UInt32.self, at: 48)
        p.versionMajor = b.readLE(UInt16.self, at: 52)
        p.versionMinor = minor
        p.startPad = b.readLE(UInt32.self, at: 76)
        // Fields older minor versions did not have read as Linux defaults them.
        if minor < 1 { p.startPad = 0; p.endTrunc = 0 }
        if minor < 2 { p.align = 0 }
        if minor < 4 {
            p.pageSize = UInt32(pageSize)
            p.pageStructSize = UInt16(maxStructPageSize)
        } else {
            p.pageSize = b.readLE(UInt32.self, at: 88)
            p.pageStructSize = b.readLE(UInt16.self, at: 92)
        }
        p.checksum = stored
        return p
    }

    /// Whether this is an fsdax (pfn) rather than a devdax block.
    public var isPfn: Bool { signature == Self.pfnSignature }

    /// What nd_pfn_validate would refuse of this block for a namespace with uuid `parent`,
    /// starting at guest-physical `start` with `size` bytes (x86-64: 4 KiB pages, 64-byte
    /// struct page); empty when Linux brings it up.
    public func problems(parent: NamespaceUUID, start: UInt64, size: UInt64) -> [String] {
        var out: [String] = []
        if parentUUID != parent { out.append("parent_uuid \(parentUUID) is not the namespace's \(parent)") }
        if mode != Mode.pmem.rawValue && mode != Mode.ram.rawValue { out.append("mode \(mode) is neither 1 (ram) nor 2 (pmem)") }
        if mode == Mode.pmem.rawValue && UInt64(pageSize) > Self.pageSize { out.append("page_size \(pageSize) exceeds 4096") }
        if mode == Mode.pmem.rawValue && UInt64(pageStructSize) < Self.maxStructPageSize {
            out.append("page_struct_size \(pageStructSize) is below the kernel's 64")
        }
        let effectiveAlign = align == 0 ? (dataoff == 0 ? 0 : UInt64(1) << (63 - UInt64(dataoff.leadingZeroBitCount))) : UInt64(align)
        if effectiveAlign > size { out.append("align \(effectiveAlign) exceeds the namespace's \(size) bytes") }
        if dataoff >= size { out.append("dataoff \(dataoff) is past the namespace's \(size) bytes") }
        let (dataStart, o1) = start.addingReportingOverflow(dataoff &+ UInt64(startPad))
        if o1 || (effectiveAlign != 0 && dataStart % effectiveAlign != 0) || dataoff % Self.pageSize != 0 {
            out.append("dataoff \(dataoff) does not put the data on an \(effectiveAlign)-byte boundary")
        }
        if (start &+ UInt64(startPad)) % Self.pageSize != 0 { out.append("the namespace's start is not page aligned") }
        if (start &+ size &- UInt64(endTrunc)) % Self.pageSize != 0 { out.append("the namespace's end less end_trunc is not page aligned") }
        if UInt64(startPad) + UInt64(endTrunc) >= size || dataoff >= size - UInt64(startPad) - UInt64(endTrunc) {
            out.append("dataoff \(dataoff) leaves no data in a \(size)-byte namespace")
        }
        return out
    }
}
