/// The _DSM functions of an NVDIMM device (Intel NVDIMM DSM interface, revision 1, UUID
/// 4309AC30-0D11-11E4-9191-0800200C9A66) that vNVDIMMs implement, as QEMU does.
public enum NVDIMMFunction: UInt32, Sendable, Hashable, CaseIterable {
    /// Function 0: the bitmap of supported functions.
    case query = 0
    /// Label area size and largest transfer.
    case getNamespaceLabelSize = 4
    /// `length` bytes of the label area from `offset`.
    case getNamespaceLabelData = 5
    /// Writes bytes at `offset` of the label area.
    case setNamespaceLabelData = 6
}

/// The _DSM functions of QEMU's reserved root device (handle 0x10000, UUID
/// 648B9CF2-CDA1-4312-8AD9-49C4AF32BD62), which the root's `_FIT` uses.
public enum ReservedRootFunction: UInt32, Sendable, Hashable, CaseIterable {
    case query = 0
    /// One piece of the FIT from `offset`.
    case readFIT = 1
}

/// The bitmap function 0 returns: bit n set when function n is supported, and bit 0 set when
/// any other function is (an empty set means "nothing but function 0").
public struct DSMFunctionSet: Sendable, Hashable {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The set of `functions` (numbers below 32), bit 0 included when there are any.
    public init(_ functions: [UInt32]) {
        var bits: UInt32 = 0
        for f in functions where f < 32 { bits |= 1 << f }
        rawValue = bits == 0 ? 0 : bits | 1
    }

    /// What an NVDIMM device answers: the label functions when it has a label area, without Set
    /// Namespace Label Data when the area is read-only; nothing without a label area.
    /// On every call's path: folds to a constant, no allocation.
    @inlinable
    public static func nvdimm(hasLabelArea: Bool, readOnly: Bool) -> DSMFunctionSet {
        guard hasLabelArea else { return DSMFunctionSet(rawValue: 0) }
        let read = bit(.query) | bit(.getNamespaceLabelSize) | bit(.getNamespaceLabelData)
        return DSMFunctionSet(rawValue: readOnly ? read : read | bit(.setNamespaceLabelData))
    }

    @inlinable static func bit(_ f: NVDIMMFunction) -> UInt32 { 1 << f.rawValue }

    /// QEMU's reserved root: Read FIT.
    public static let reservedRoot = DSMFunctionSet([ReservedRootFunction.readFIT.rawValue])

    public func contains(_ function: UInt32) -> Bool { function < 32 && rawValue & (1 << function) != 0 }
    public func contains(_ function: NVDIMMFunction) -> Bool { contains(function.rawValue) }

    /// The function numbers in the set, ascending.
    public var functions: [UInt32] { (0..<32).filter { contains($0) } }

    /// Decodes what `_DSM` function 0 returned: a u32 bitmap, or the single byte the AML returns
    /// for a UUID the device does not implement.
    public init(decoding result: [UInt8]) throws(DSMWireError) {
        if let word = LittleEndian.read(UInt32.self, from: result, at: 0) { rawValue = word; return }
        guard result.count == 1 else { throw .truncated(what: "function 0's bitmap", expected: 4, actual: result.count) }
        rawValue = UInt32(result[0])
    }

    /// The output page: u32 length (8), u32 bitmap. Returns the bytes written.
    @inlinable
    public func write(into output: UnsafeMutableRawBufferPointer) -> Int {
        LittleEndian.store(UInt32(8), into: output, at: 0)
        LittleEndian.store(rawValue, into: output, at: 4)
        return 8
    }
}
