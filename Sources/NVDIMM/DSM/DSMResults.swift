// The results of the label functions and Read FIT, as the device writes them into the output
// page (u32 length, then the result) and as `_DSM` returns them to the caller (the result
// alone: u32 status first). Decoding validates the status and the length.

/// Get Namespace Label Size's result: u32 status, u32 label area size, u32 max transfer.
public struct LabelSizeInfo: Sendable, Hashable {
    public static let resultSize = 12

    public var size: UInt32
    public var maxTransfer: UInt32

    public init(size: UInt32, maxTransfer: UInt32 = UInt32(DSMPage.maxTransfer)) {
        self.size = size
        self.maxTransfer = maxTransfer
    }

    /// The `_DSM` result: status 0, size, max transfer.
    public func encode() -> [UInt8] {
        LittleEndian.bytes(DSMStatus.success.rawValue) + LittleEndian.bytes(size) + LittleEndian.bytes(maxTransfer)
    }

    /// Decodes a `_DSM` result; a non-zero status is an error naming it.
    public init(decoding result: [UInt8]) throws(DSMWireError) {
        _ = try LabelResult.status(result, function: .getNamespaceLabelSize)
        guard let size = LittleEndian.read(UInt32.self, from: result, at: 4), let max = LittleEndian.read(UInt32.self, from: result, at: 8) else {
            throw .truncated(what: "Get Namespace Label Size's result", expected: Self.resultSize, actual: result.count)
        }
        self.size = size
        maxTransfer = max
    }

    /// The output page. Returns the bytes written.
    @inlinable
    public func write(into output: UnsafeMutableRawBufferPointer) -> Int {
        LittleEndian.store(UInt32(4 + Self.resultSize), into: output, at: 0)
        LittleEndian.store(DSMStatus.success.rawValue, into: output, at: 4)
        LittleEndian.store(size, into: output, at: 8)
        LittleEndian.store(maxTransfer, into: output, at: 12)
        return 4 + Self.resultSize
    }
}

/// Get Namespace Label Data's result (u32 status, then the bytes read) and Read FIT's (u32
/// status, then a piece of the FIT): a status and data.
public enum LabelResult {
    /// Where the data starts in the output page: after the u32 length and the u32 status.
    public static let dataOffset = 8

    /// The status word of a result; throws when it is missing or not success.
    public static func status(_ result: [UInt8], function: NVDIMMFunction) throws(DSMWireError) -> DSMStatus {
        guard let word = DSMStatus.word(of: result) else {
            throw .truncated(what: "the result of _DSM function \(function.rawValue)", expected: 4, actual: result.count)
        }
        guard word == DSMStatus.success.rawValue else { throw .status(function: function.rawValue, status: word) }
        return .success
    }

    /// The data of a successful Get Namespace Label Data result that asked for `length` bytes.
    public static func data(decoding result: [UInt8], length: UInt32) throws(DSMWireError) -> [UInt8] {
        _ = try status(result, function: .getNamespaceLabelData)
        let data = Array(result.dropFirst(4))
        guard data.count == Int(length) else {
            throw .lengthMismatch(what: "Get Namespace Label Data's result", expected: Int(length), actual: data.count)
        }
        return data
    }

    /// Completes an output page whose data (`dataLength` bytes) is already at `dataOffset`:
    /// the length word and status 0. Returns the bytes written.
    @inlinable
    public static func writeHeader(dataLength: Int, into output: UnsafeMutableRawBufferPointer) -> Int {
        LittleEndian.store(UInt32(dataOffset + dataLength), into: output, at: 0)
        LittleEndian.store(DSMStatus.success.rawValue, into: output, at: 4)
        return dataOffset + dataLength
    }
}
