import GuestMemory

// The modelled contents of the host's machine frames.
//
// A 64 GiB host cannot be allocated for real, so contents are modelled, and the model is what the
// live-update check ("nothing preserved is ever written") relies on:
//  - Every RAM-space frame (the frame table's frames; pmem contents live on backings) has a
//    32-bit content id (4 bytes a frame, on ZeroedMemory: reserved for every frame, paid for
//    where written, so 64 MiB for a 64 GiB guest and nothing for free RAM). Id 0 is what the
//    frame held at power-on; `fill(_:)` models a bulk write (a guest running, a frame table being
//    initialised) by giving the frames a fresh id. A frame with id n holds the deterministic
//    pattern P(mfn, n): 512 little-endian 64-bit words, word i = mix(mfn, n, i).
//  - Frames written byte by byte (the live-update state pages, the region's first 64 bits, test
//    data) are materialized: they hold real 4096-byte pages, and their id is `materializedId`.
//  - `digest(_:)` identifies a frame's contents: for a materialized page a 64-bit hash of its
//    bytes; for a pattern page a hash of (mfn, id), without generating the 4 KiB.
//    Any write through this type changes the digest (a write of identical bytes still counts as a
//    write: the check is stricter than "bytes unchanged"). Reading never changes anything.
//
// Invariants:
//  - `ids` points to `frames` UInt32s in `storage` (owned here); never-written ids read 0.
//  - `pages[mfn]` exists iff ids[mfn] == materializedId, and then holds exactly 4096 bytes.
//  - `nextId` is never 0 or materializedId when handed out; ids are not reused.

/// The contents of host RAM, modelled: patterns by content id, real bytes where written byte-wise.
public final class FrameContents: @unchecked Sendable {
    public static let pageBytes = Int(PageOrder.frameBytes)
    /// The content id of a materialized (really stored) page.
    public static let materializedId: UInt32 = .max

    public let frames: Int
    private let ids: UnsafeMutablePointer<UInt32>
    private let storage: ZeroedMemory
    private var pages: [UInt64: [UInt8]] = [:]
    private var nextId: UInt32 = 1
    /// Frames written so far (bulk fills and byte writes), for reports.
    public private(set) var framesWritten: UInt64 = 0

    public init(frames: UInt64) {
        precondition(frames <= HostMemoryConfig.maxFrames, "host too large to model")
        self.frames = Int(frames)
        storage = ZeroedMemory(bytes: Int(frames) * MemoryLayout<UInt32>.stride)
        ids = storage.base.bindMemory(to: UInt32.self, capacity: Int(frames))
    }

    /// Bytes the model reserves (content ids for every frame, plus materialized pages).
    public var modelBytes: UInt64 { UInt64(frames) * 4 + UInt64(pages.count) * UInt64(Self.pageBytes) }
    /// Pages held as real bytes.
    public var materializedPages: Int { pages.count }

    /// A fresh content id for `fill(_:contentId:)`.
    public func newContentId() -> UInt32 {
        precondition(nextId < Self.materializedId, "content ids exhausted")
        defer { nextId += 1 }
        return nextId
    }

    private func check(_ mfn: Mfn) {
        precondition(mfn.raw < UInt64(frames), "machine memory: \(mfn) is past the last frame")
    }

    /// Models a bulk write of every frame of `range`: each now holds the pattern for `contentId`.
    public func fill(_ range: MfnRange, contentId: UInt32) {
        precondition(range.end <= UInt64(frames), "machine memory: \(range) is past the last frame")
        precondition(contentId != Self.materializedId, "use write(_:at:to:) for real bytes")
        if UInt64(pages.count) < range.count {
            for m in pages.keys.filter({ range.contains(Mfn(uncheckedRaw: $0)) }) { pages[m] = nil }
        } else {
            for m in range.first.raw..<range.end where ids[Int(m)] == Self.materializedId { pages[m] = nil }
        }
        (ids + Int(range.first.raw)).update(repeating: contentId, count: Int(range.count))
        framesWritten += range.count
    }

    /// The pattern word `i` of frame `mfn` with content id `id`.
    @inline(__always) static func patternWord(_ mfn: UInt64, _ id: UInt32, _ i: UInt64) -> UInt64 {
        mix64(mfn &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(id) &<< 20 ^ i)
    }

    /// The 4096 bytes of frame `mfn`.
    public func readPage(_ mfn: Mfn) -> [UInt8] {
        check(mfn)
        let id = ids[Int(mfn.raw)]
        if id == Self.materializedId, let p = pages[mfn.raw] { return p }
        var out = [UInt8](repeating: 0, count: Self.pageBytes)
        out.withUnsafeMutableBytes { raw in
            for i in 0..<(Self.pageBytes / 8) {
                raw.storeBytes(of: Self.patternWord(mfn.raw, id, UInt64(i)).littleEndian, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        return out
    }

    /// Writes `bytes` at `offset` in frame `mfn` (materializing it). The write must fit the page.
    public func write(_ bytes: [UInt8], at offset: Int, to mfn: Mfn) {
        check(mfn)
        precondition(offset >= 0 && offset + bytes.count <= Self.pageBytes, "write past the page")
        var page = readPage(mfn)
        page.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        pages[mfn.raw] = page
        ids[Int(mfn.raw)] = Self.materializedId
        framesWritten += 1
    }

    /// Writes a whole page.
    public func writePage(_ page: [UInt8], to mfn: Mfn) {
        precondition(page.count == Self.pageBytes, "a page is 4096 bytes")
        write(page, at: 0, to: mfn)
    }

    /// The content id of frame `mfn` (`materializedId` for real pages).
    public func contentId(of mfn: Mfn) -> UInt32 {
        check(mfn)
        return ids[Int(mfn.raw)]
    }

    /// Identifies the contents of frame `mfn`; see the file comment for what it proves.
    public func digest(_ mfn: Mfn) -> UInt64 {
        check(mfn)
        let id = ids[Int(mfn.raw)]
        guard id == Self.materializedId, let page = pages[mfn.raw] else {
            return mix64(mfn.raw &* 0xD6E8_FEB8_6659_FD93 ^ UInt64(id) ^ 0x5A5A_0000_0000_0000)
        }
        return page.withUnsafeBytes { StateChecksum.hash($0) }
    }

    /// One digest for all frames of `ranges`, in order (frame numbers included).
    public func digest(of ranges: [MfnRange]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for r in ranges {
            for m in r.first.raw..<r.end {
                h = mix64(h ^ m) ^ digest(Mfn(uncheckedRaw: m))
            }
        }
        return h
    }
}

/// A 64-bit finalizer (splitmix64's): spreads every input bit over the output.
@inlinable @inline(__always) func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z &>> 31)
}
