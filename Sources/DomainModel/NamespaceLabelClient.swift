import NVDIMM

/// A guest kernel's namespace-label code talking to one vNVDIMM through _DSM, as Linux's
/// nvdimm driver does: Get Namespace Label Size (4) for the area size and the largest transfer,
/// then Get (5) and Set (6) Namespace Label Data calls of at most that many bytes each.
public struct NamespaceLabelClient {
    public let domain: Guest
    public let slot: Int

    public init(domain: Guest, slot: Int) {
        self.domain = domain
        self.slot = slot
    }

    /// Label area size and max transfer (function 4).
    public func labelSizeInfo() throws(GuestError) -> (size: UInt32, maxTransfer: UInt32) {
        let out = try call(function: 4, arg3: nil)
        guard out.count >= 12 else { throw .dsmStatus(handle: UInt32(slot) + 1, function: 4, status: 1) }
        return (Self.u32(out, 4), Self.u32(out, 8))
    }

    /// `length` bytes of the label area from `offset` (one function-5 call).
    public func read(offset: UInt32, length: UInt32) throws(GuestError) -> [UInt8] {
        Array(try call(function: 5, arg3: le32(offset) + le32(length)).dropFirst(4))
    }

    /// Writes `bytes` at `offset` (one function-6 call).
    public func write(offset: UInt32, _ bytes: [UInt8]) throws(GuestError) {
        guard bytes.count <= Int(UInt32.max) else { throw .dsmArgumentTooLong(length: bytes.count, limit: DSMPage.maxTransfer) }
        _ = try call(function: 6, arg3: le32(offset) + le32(UInt32(bytes.count)) + bytes)
    }

    /// The whole label area, read in pieces of at most max-transfer bytes.
    public func readArea() throws(GuestError) -> [UInt8] {
        let (size, maxTransfer) = try labelSizeInfo()
        var area: [UInt8] = []
        area.reserveCapacity(Int(size))
        var offset: UInt32 = 0
        while offset < size {
            let n = min(maxTransfer, size - offset)
            area += try read(offset: offset, length: n)
            offset += n
        }
        return area
    }

    /// Writes `bytes` at `offset` in pieces of at most max-transfer bytes.
    public func writeArea(offset: UInt32, _ bytes: [UInt8]) throws(GuestError) {
        let (_, maxTransfer) = try labelSizeInfo()
        var at = 0
        while at < bytes.count {
            let n = min(Int(maxTransfer), bytes.count - at)
            try write(offset: offset + UInt32(at), Array(bytes[at..<at + n]))
            at += n
        }
    }

    /// Initialises an empty label area (v1.2, 256-byte labels, or v1.1 with 128) as `ndctl
    /// init-labels` does: both index blocks written (block 0 current with seq 3, block 1 with
    /// seq 2), every slot free. Returns the layout written.
    @discardableResult
    public func initLabels(labelSize: Int = 256) throws(GuestError) -> LabelAreaLayout {
        let (size, _) = try labelSizeInfo()
        let layout: LabelAreaLayout
        let empty: [UInt8]
        do {
            layout = try LabelAreaLayout(areaSize: Int(size), labelSize: labelSize)
            empty = try LabelArea.empty(size: Int(size), labelSize: labelSize)
        } catch { throw .labels(error) }
        // Block 1 (the older one) first, then block 0: a tear leaves one whole block.
        let blocks = layout.indexSize
        try writeArea(offset: UInt32(blocks), Array(empty[blocks..<2 * blocks]))
        try writeArea(offset: 0, Array(empty[0..<blocks]))
        return layout
    }

    private func call(function: UInt32, arg3: [UInt8]?) throws(GuestError) -> [UInt8] {
        guard let d = domain.nvdimm(slot: slot) else { throw .noSuchSlot(slot: slot, attached: domain.nvdimms.map(\.slot)) }
        guard d.config.hasLabelArea else { throw .noLabelArea(slot: slot) }
        let out = try domain.nvdimmDSM(slot: slot, function: function, arg3: arg3)
        let status = out.count >= 4 ? Self.u32(out, 0) : 1
        guard status == 0 else { throw .dsmStatus(handle: UInt32(slot) + 1, function: function, status: status) }
        return out
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
