extension PmemMapping {
    /// The offset of the first non-zero byte in `[offset, offset+count)`, nil when all are zero:
    /// whether a region a caller is about to write holds anything (a label area about to be
    /// given to a guest, the region a benchmark overwrites). Reads in place, 8 bytes at a time;
    /// on a sparse file the holes read as zero without allocating blocks.
    public func firstNonZero(offset: UInt64, count: UInt64) throws(HostPmemError) -> UInt64? {
        try firstNonZero(offset: offset, count: count, chunk: 64 << 20)
    }

    /// In chunks of `chunk` bytes (each one bounds-checked access), so a region of any size is
    /// scanned without one huge buffer view.
    func firstNonZero(offset: UInt64, count: UInt64, chunk: UInt64) throws(HostPmemError) -> UInt64? {
        var done: UInt64 = 0
        while done < count {
            let n = min(chunk, count - done)
            let found = try withUnsafeBytes(offset: offset + done, count: Int(n)) { buf -> Int? in
                Self.firstNonZero(buf)
            }.get()
            if let found { return offset + done + UInt64(found) }
            done += n
        }
        return nil
    }

    static func firstNonZero(_ buf: UnsafeRawBufferPointer) -> Int? {
        guard let base = buf.baseAddress else { return nil }
        let count = buf.count
        var i = 0
        // Up to 8-byte alignment, then words, then the tail.
        while i < count && (Int(bitPattern: base + i) & 7) != 0 {
            if buf[i] != 0 { return i }
            i += 1
        }
        while i + 8 <= count {
            if base.load(fromByteOffset: i, as: UInt64.self) != 0 {
                for j in i..<i + 8 where buf[j] != 0 { return j }
            }
            i += 8
        }
        while i < count {
            if buf[i] != 0 { return i }
            i += 1
        }
        return nil
    }
}
