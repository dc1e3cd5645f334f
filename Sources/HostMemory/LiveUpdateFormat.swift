import GuestMemory

// The live-update state as bytes in host frames (seed 004's handover), all integers little-endian.
//
//  liveupdate region, frame 0 (its first 4 KiB are kept for this):
//      0   u64  machine address of the first MFN-list page (page aligned)
//
//  MFN-list page (4096 bytes), a chain of them when the state needs more than 506 data pages:
//      0   u64  magic "LUMFNLST"
//      8   u32  format version (2)        12  u32  entries in this page (<= 506)
//     16   u64  data pages in the whole state
//     24   u64  records in the whole state
//     32   u64  mfn of the next list page, or 2^64-1 for the last
//     40   u64  checksum of this page, computed with this field zero
//     48   u64[506]  mfns of data pages, in order
//
//  Data page (4096 bytes):
//      0   u64  magic "LUDATA01"
//      8   u32  format version (2)        12  u32  records in this page (101 in all but the last)
//     16   u64  sequence number of this data page (0, 1, ...)
//     24   u64  checksum of this page, computed with this field zero
//     32   record[101], 40 bytes each:
//            0  u16 kind   2 u16 domid   4 u32 flags   8 u64 a   16 u64 b   24 u64 c
//           32  u64 check = mix of the four words above and the record's global index
//
//  Records, in this order: every domain (each followed by its RAM regions), every p2m root,
//  owned ranges sorted by mfn and not overlapping, then pmem regions sorted by mfn, each followed
//  by its backing record and its backing path:
//      domain      (kind 1): flags 1 direct-map, 2 static memory, 4 dynamic pages allowed;
//                            a = ram base gfn, b = dynamic frames (0 for static guests),
//                            c = RAM-region records that follow (0: RAM from the ram base)
//      RAM region  (kind 6): flags = index (0, 1, ...) among its domain's regions;
//                            a = first gfn, b = frames, c = 0; ascending and disjoint
//      p2m root    (kind 2): a = root mfn, b = 1, c = 0
//      owned range (kind 3): flags 1 static memory, 2 p2m table (unmapped);
//                            a = first mfn, b = frames, c = first gfn (2^64-1 when unmapped)
//      pmem region (kind 4): flags = bytes in the backing path (1 to 4096);
//                            a = first mfn, b = frames, c = first gfn (mapped as p2m type pmem)
//      pmem backing(kind 7): right after its pmem record; flags = 0; a = byte offset of the
//                            region in the backing (a multiple of 4096), b = the backing's size
//                            in bytes (offset + frames * 4096 <= size), c = 0
//      path bytes  (kind 5): flags = chunk index (0, 1, ...) within the path; a, b, c = the next
//                            24 bytes of the path (UTF-8, no NUL), the last chunk zero-padded.
//                            Exactly ceil(length / 24) of them follow the backing record.
//
//  Pmem is described by these extents only: its frames have no owned-range records (and no
//  frame-table records on either side).
//
//  Version 2 added kinds 6 and 7 and the domain record's c; a version-1 state is refused.
//
// Checksums are FNV-1a over 64-bit words, finished with a 64-bit mix: not cryptographic, enough
// to catch torn or scribbled state. The record check binds a record to its position, so a
// reordered, duplicated or dropped record is caught even when its page checksum was redone.

/// Byte layout of the live-update state.
public enum LiveUpdateFormat {
    public static let pageBytes = 4096
    public static let version: UInt32 = 2
    public static let none: UInt64 = .max

    public static let listMagic = magic("LUMFNLST")
    public static let listHeaderBytes = 48
    public static let listChecksumOffset = 40
    public static let listCapacity = (pageBytes - listHeaderBytes) / 8

    public static let dataMagic = magic("LUDATA01")
    public static let dataHeaderBytes = 32
    public static let dataChecksumOffset = 24
    public static let recordBytes = 40
    public static let recordsPerPage = (pageBytes - dataHeaderBytes) / recordBytes

    static func magic(_ s: StaticString) -> UInt64 {
        var v: UInt64 = 0
        s.withUTF8Buffer { for (i, b) in $0.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) } }
        return v
    }

    public enum Kind: UInt16, Sendable {
        case domain = 1, p2mRoot = 2, ownedRange = 3, pmemRegion = 4, pathBytes = 5, ramRegion = 6, pmemBacking = 7

        /// The section a record belongs to, in state order: a RAM region goes with its domain,
        /// a backing record and path bytes with their pmem region.
        var section: Int {
            switch self {
            case .domain, .ramRegion: return 1
            case .p2mRoot: return 2
            case .ownedRange: return 3
            case .pmemRegion, .pmemBacking, .pathBytes: return 4
            }
        }
    }

    /// The longest backing path the state carries (Linux's PATH_MAX, with its NUL).
    public static let maxPathBytes = 4096
    /// Path bytes per kind-5 record.
    public static let pathBytesPerRecord = 24

    /// The records describing `config`: the domain record, then its RAM regions.
    static func domainRecords(_ config: HostDomainConfig, flags: DomainFlags, dynamicFrames: UInt64) -> [Record] {
        let regions = config.ramRegions ?? []
        return [Record(kind: Kind.domain.rawValue, domid: config.id.raw, flags: flags.rawValue,
                       a: config.ramBase.raw, b: dynamicFrames, c: UInt64(regions.count))]
            + regions.enumerated().map { i, r in
                Record(kind: Kind.ramRegion.rawValue, domid: config.id.raw, flags: UInt32(i), a: r.first.raw, b: r.count, c: 0)
            }
    }

    /// The records naming `region` for `domid`: one pmem record, its backing record, then its
    /// path in chunks.
    static func pmemRecords(_ region: GuestPmem, domid: UInt16) -> [Record] {
        let path = Array(region.backingPath.utf8)
        var out = [Record(kind: Kind.pmemRegion.rawValue, domid: domid, flags: UInt32(path.count),
                          a: region.frames.first.raw, b: region.frames.count, c: region.gfn.raw),
                   Record(kind: Kind.pmemBacking.rawValue, domid: domid, flags: 0, a: region.backingOffset, b: region.backingBytes, c: 0)]
        var chunk = 0
        while chunk * pathBytesPerRecord < path.count {
            var words: [UInt64] = [0, 0, 0]
            for i in 0..<pathBytesPerRecord where chunk * pathBytesPerRecord + i < path.count {
                words[i / 8] |= UInt64(path[chunk * pathBytesPerRecord + i]) << (8 * UInt64(i % 8))
            }
            out.append(Record(kind: Kind.pathBytes.rawValue, domid: domid, flags: UInt32(chunk), a: words[0], b: words[1], c: words[2]))
            chunk += 1
        }
        return out
    }

    public struct DomainFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let directMap = DomainFlags(rawValue: 1)
        public static let staticMemory = DomainFlags(rawValue: 2)
        public static let allowDynamic = DomainFlags(rawValue: 4)
        public static let all: DomainFlags = [.directMap, .staticMemory, .allowDynamic]
    }

    public struct RangeFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let staticMemory = RangeFlags(rawValue: 1)
        public static let p2mTable = RangeFlags(rawValue: 2)
        public static let all: RangeFlags = [.staticMemory, .p2mTable]
    }

    /// One decoded record.
    public struct Record: Equatable, Sendable {
        public var kind: UInt16
        public var domid: UInt16
        public var flags: UInt32
        public var a: UInt64
        public var b: UInt64
        public var c: UInt64

        var word0: UInt64 { UInt64(kind) | UInt64(domid) << 16 | UInt64(flags) << 32 }

        /// The check word binding the record to its global index.
        func check(index: UInt64) -> UInt64 {
            mix64(word0 ^ mix64(a ^ mix64(b ^ mix64(c ^ mix64(index ^ 0x4C55_5245_4344)))))
        }
    }
}

/// FNV-1a over 64-bit little-endian words, with a final mix.
public enum StateChecksum {
    public static func hash(_ bytes: UnsafeRawBufferPointer, zeroingWordAt skip: Int? = nil) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let words = bytes.count / 8
        for i in 0..<words {
            let w = (skip == i * 8) ? 0 : UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            h = (h ^ w) &* 0x0000_0100_0000_01B3
        }
        for i in (words * 8)..<bytes.count { h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3 }
        return mix64(h)
    }
}

/// Little-endian byte access to a page, with bounds checked by the caller's layout constants.
struct PageWriter {
    var bytes = [UInt8](repeating: 0, count: LiveUpdateFormat.pageBytes)
    mutating func put(_ v: UInt64, at o: Int) { for i in 0..<8 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
    mutating func put(_ v: UInt32, at o: Int) { for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    mutating func put(_ v: UInt16, at o: Int) { bytes[o] = UInt8(truncatingIfNeeded: v); bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
    mutating func seal(checksumAt o: Int) {
        let sum = bytes.withUnsafeBytes { StateChecksum.hash($0, zeroingWordAt: o) }
        put(sum, at: o)
    }
}

/// Reads little-endian integers from a page; every read is bounds-checked (returns nil outside).
struct PageReader {
    let bytes: [UInt8]
    func u64(_ o: Int) -> UInt64? {
        guard o >= 0, o + 8 <= bytes.count else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[o + i]) << (8 * UInt64(i)) }
        return v
    }
    func u32(_ o: Int) -> UInt32? {
        guard o >= 0, o + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[o + i]) << (8 * UInt32(i)) }
        return v
    }
    func u16(_ o: Int) -> UInt16? {
        guard o >= 0, o + 2 <= bytes.count else { return nil }
        return UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8
    }
    func checksumValid(at o: Int) -> Bool {
        guard let stored = u64(o) else { return false }
        return bytes.withUnsafeBytes { StateChecksum.hash($0, zeroingWordAt: o) } == stored
    }
}
