/// The 4096-byte DSM page shared by the guest's AML and the device model, and the _DSM status
/// codes (Intel NVDIMM DSM interface, revision 1, plus QEMU's FIT-changed status).
///
/// Input: u32 handle @0, u32 revision @4, u32 function @8, arg3[4084] @12.
/// Output: u32 length @0 (of the whole output, this field included), then the result the
/// `_DSM` method returns (status first, for every function but 0).
public enum DSMPage {
    public static let size = 4096
    public static let arg3Offset = 12
    public static let arg3Length = size - arg3Offset
    /// Where the result starts in the output page (after the u32 length).
    public static let resultOffset = 4
    /// Largest label transfer: min(4096 - 8 (get: length + status), 4096 - 12 - 8 (set: header + offset + length)).
    public static let maxTransfer = min(size - 8, size - arg3Offset - 8)
    /// Largest piece of FIT one Read FIT call returns (4096 - length - status).
    public static let maxFITPiece = size - 8
}

/// A _DSM function's status word.
public enum DSMStatus: UInt32, Sendable, Hashable {
    case success = 0
    case notSupported = 1
    case nonExistingMemoryDevice = 2
    case invalidInput = 3
    /// The label area's backing store failed (Intel DSM interface: "HW error").
    case hardwareError = 4
    /// The FIT changed while it was read in pieces: restart from offset 0.
    case fitChanged = 0x100

    /// The output page of a call that returns only its status: u32 length (8), u32 status.
    /// Returns the bytes written.
    @inlinable
    public func write(into output: UnsafeMutableRawBufferPointer) -> Int {
        LittleEndian.store(UInt32(8), into: output, at: 0)
        LittleEndian.store(rawValue, into: output, at: 4)
        return 8
    }

    /// The status word at the start of a `_DSM` result; nil when the result is shorter.
    public static func word(of result: [UInt8]) -> UInt32? { LittleEndian.read(UInt32.self, from: result, at: 0) }
}

/// A _DSM argument or result that is not what its function's encoding says.
public enum DSMWireError: Error, Sendable, Hashable, CustomStringConvertible {
    case truncated(what: String, expected: Int, actual: Int)
    case status(function: UInt32, status: UInt32)
    case tooLong(what: String, length: Int, limit: Int)
    case lengthMismatch(what: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .truncated(what, expected, actual):
            return "\(what) is \(actual) bytes, shorter than the \(expected) its encoding needs"
        case let .status(function, status):
            return "_DSM function \(function) returned status \(DSMStatus(rawValue: status).map { "\($0) (\(status))" } ?? "0x\(String(status, radix: 16))")"
        case let .tooLong(what, length, limit):
            return "\(what) is \(length) bytes; at most \(limit) fit in one _DSM call: split it"
        case let .lengthMismatch(what, expected, actual):
            return "\(what) holds \(actual) bytes where its length field says \(expected)"
        }
    }
}
