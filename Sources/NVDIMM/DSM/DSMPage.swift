/// The 4096-byte DSM page shared by the guest's AML and the device model, and the _DSM status
/// codes (Intel NVDIMM DSM interface, revision 1, plus QEMU's FIT-changed status).
///
/// Input: u32 handle @0, u32 revision @4, u32 function @8, arg3[4084] @12.
/// Output: u32 length @0 (of the whole output, this field included), then data.
public enum DSMPage {
    public static let size = 4096
    public static let arg3Offset = 12
    public static let arg3Length = size - arg3Offset
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
}
