/// Get Namespace Label Data's arg3, and the start of Set Namespace Label Data's: u32 offset,
/// u32 length.
public struct LabelDataRange: Sendable, Hashable {
    public static let size = 8

    public var offset: UInt32
    public var length: UInt32

    public init(offset: UInt32, length: UInt32) {
        self.offset = offset
        self.length = length
    }

    public func encode() -> [UInt8] { LittleEndian.bytes(offset) + LittleEndian.bytes(length) }

    /// Copies the range out of arg3 memory; nil when arg3 is shorter than 8 bytes.
    @inlinable
    public init?(copying arg3: UnsafeRawBufferPointer) {
        guard arg3.count >= Self.size else { return nil }
        offset = LittleEndian.load(UInt32.self, from: arg3, at: 0)
        length = LittleEndian.load(UInt32.self, from: arg3, at: 4)
    }

    public init(decoding arg3: [UInt8]) throws(DSMWireError) {
        guard let o = LittleEndian.read(UInt32.self, from: arg3, at: 0), let l = LittleEndian.read(UInt32.self, from: arg3, at: 4) else {
            throw .truncated(what: "label data arguments", expected: Self.size, actual: arg3.count)
        }
        offset = o
        length = l
    }

    /// What the device checks before a byte moves, in 64-bit arithmetic: offset + length does not
    /// overflow 32 bits, stays within an area of `areaSize` bytes, and length is at most
    /// `DSMPage.maxTransfer`. Otherwise the status is "invalid input parameters".
    @inlinable
    public func isValid(areaSize: UInt32) -> Bool {
        let end = UInt64(offset) + UInt64(length)
        return end <= UInt64(UInt32.max) && end <= UInt64(areaSize) && length <= UInt32(DSMPage.maxTransfer)
    }
}

/// Set Namespace Label Data's arg3: u32 offset, u32 length, then `length` bytes of data.
public struct SetLabelDataArguments: Sendable, Hashable {
    public var offset: UInt32
    public var data: [UInt8]

    /// Throws when `data` cannot go in one call (more than `DSMPage.maxTransfer` bytes).
    public init(offset: UInt32, data: [UInt8]) throws(DSMWireError) {
        guard data.count <= DSMPage.maxTransfer else {
            throw .tooLong(what: "Set Namespace Label Data's data", length: data.count, limit: DSMPage.maxTransfer)
        }
        self.offset = offset
        self.data = data
    }

    public var range: LabelDataRange { LabelDataRange(offset: offset, length: UInt32(data.count)) }

    public func encode() -> [UInt8] { range.encode() + data }

    /// Decodes arg3: the range, then exactly as many data bytes as its length says (more bytes
    /// are the page's zero fill and are ignored).
    public init(decoding arg3: [UInt8]) throws(DSMWireError) {
        let range = try LabelDataRange(decoding: arg3)
        let available = arg3.count - LabelDataRange.size
        guard Int(range.length) <= available else {
            throw .lengthMismatch(what: "Set Namespace Label Data's arg3", expected: Int(range.length), actual: available)
        }
        try self.init(offset: range.offset, data: Array(arg3[LabelDataRange.size..<LabelDataRange.size + Int(range.length)]))
    }
}

/// Read FIT's arg3 (QEMU's reserved root, function 1): u32 offset into the FIT.
public struct ReadFITArguments: Sendable, Hashable {
    public static let size = 4

    public var offset: UInt32

    public init(offset: UInt32) { self.offset = offset }

    public func encode() -> [UInt8] { LittleEndian.bytes(offset) }

    @inlinable
    public init?(copying arg3: UnsafeRawBufferPointer) {
        guard arg3.count >= Self.size else { return nil }
        offset = LittleEndian.load(UInt32.self, from: arg3, at: 0)
    }
}
