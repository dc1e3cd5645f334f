import GuestMemory

// The frame table: one 8-byte `FrameRecord` per RAM-space machine frame, in one contiguous
// unsafe buffer on zeroed memory.
//
// Invariants:
//  - `records` points to exactly `count` 64-bit words in `memory` (ZeroedMemory, owned by this
//    object); nothing else keeps the pointer past a call that lends it. A word never written is
//    0, which is `FrameRecord.free`: a fresh table is all free and costs no RAM until written.
//  - Record i describes machine frame i, for 0 <= i < count (0 to the end of the highest RAM
//    bank); frames >= count have no record (host pmem, which is tracked by extents, lies there).
//  - `count <= HostMemoryConfig.maxFrames` (2^29), so every index fits in Int and every byte
//    offset (index * 8) fits in Int.
//  - The safe API (subscript, fill, records(in:)) checks bounds with a precondition: an index out
//    of range is a bug in vpmem, not bad input (input is validated before it reaches the table).
//    The rebuild loops in FrameTableRebuild.swift write through `records` after checking their
//    whole plan once against `count`.
//
// Memory: 8 bytes a frame reserved, paid for where written: 16 Mi frames (64 GiB) = 128 MiB,
// 256 Mi frames (1 TiB) = 2 GiB, of which a cold boot writes a few MiB.

/// The frame table of a modelled host: per machine frame an owner, a reference count and flags.
public final class FrameTable: @unchecked Sendable {
    /// Number of frames (machine frames 0 ..< count).
    public let count: Int
    @usableFromInline let records: UnsafeMutablePointer<UInt64>
    private let memory: ZeroedMemory

    /// A table of `frames` records, all `.free` until the caller describes the rest.
    public init(frames: UInt64) throws(HostMemoryError) {
        guard frames > 0 else { throw .noRAM }
        guard frames <= HostMemoryConfig.maxFrames else { throw .hostTooLarge(frames: frames, limit: HostMemoryConfig.maxFrames) }
        count = Int(frames)
        memory = ZeroedMemory(bytes: count * MemoryLayout<UInt64>.stride)
        records = memory.base.bindMemory(to: UInt64.self, capacity: count)
    }

    /// Bytes the table occupies.
    public var bytes: UInt64 { UInt64(count) * UInt64(MemoryLayout<UInt64>.stride) }

    @inlinable public func contains(_ mfn: Mfn) -> Bool { mfn.raw < UInt64(count) }

    @inlinable public subscript(mfn: Mfn) -> FrameRecord {
        get {
            precondition(mfn.raw < UInt64(count), "frame table: \(mfn) is past the last frame")
            return FrameRecord(raw: records[Int(mfn.raw)])
        }
        set {
            precondition(mfn.raw < UInt64(count), "frame table: \(mfn) is past the last frame")
            records[Int(mfn.raw)] = newValue.raw
        }
    }

    /// Sets every frame of `range` to `record`.
    @inlinable public func fill(_ range: MfnRange, with record: FrameRecord) {
        precondition(range.end <= UInt64(count), "frame table: \(range) is past the last frame")
        (records + Int(range.first.raw)).update(repeating: record.raw, count: Int(range.count))
    }

    /// True when every frame of `range` satisfies `predicate`.
    public func allFrames(in range: MfnRange, satisfy predicate: (FrameRecord) -> Bool) -> Bool {
        precondition(range.end <= UInt64(count), "frame table: \(range) is past the last frame")
        for i in Int(range.first.raw)..<Int(range.end) where !predicate(FrameRecord(raw: records[i])) {
            return false
        }
        return true
    }

    /// Counts frames satisfying `predicate` (for reports and tests, not hot paths).
    public func countFrames(where predicate: (FrameRecord) -> Bool) -> UInt64 {
        var n: UInt64 = 0
        for i in 0..<count where predicate(FrameRecord(raw: records[i])) { n += 1 }
        return n
    }

    /// A copy of every record (for tests comparing whole tables).
    func snapshot() -> [UInt64] { Array(UnsafeBufferPointer(start: records, count: count)) }

    /// Maximal runs of consecutive frames whose records are equal and satisfy `predicate`.
    public func runs(where predicate: (FrameRecord) -> Bool) -> [(range: MfnRange, record: FrameRecord)] {
        var out: [(MfnRange, FrameRecord)] = []
        var i = 0
        while i < count {
            let r = records[i]
            guard predicate(FrameRecord(raw: r)) else { i += 1; continue }
            var j = i + 1
            while j < count && records[j] == r { j += 1 }
            out.append((MfnRange(uncheckedFirst: UInt64(i), end: UInt64(j)), FrameRecord(raw: r)))
            i = j
        }
        return out
    }
}
