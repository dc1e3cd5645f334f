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
        let out = try call(.getNamespaceLabelSize, arg3: nil)
        let info: LabelSizeInfo
        do { info = try LabelSizeInfo(decoding: out) } catch { throw error.guestError(handle) }
        return (info.size, info.maxTransfer)
    }

    /// `length` bytes of the label area from `offset` (one function-5 call).
    public func read(offset: UInt32, length: UInt32) throws(GuestError) -> [UInt8] {
        let out = try call(.getNamespaceLabelData, arg3: LabelDataRange(offset: offset, length: length).encode())
        do { return try LabelResult.data(decoding: out, length: length) } catch { throw error.guestError(handle) }
    }

    /// Writes `bytes` at `offset` (one function-6 call).
    public func write(offset: UInt32, _ bytes: [UInt8]) throws(GuestError) {
        let args: SetLabelDataArguments
        do { args = try SetLabelDataArguments(offset: offset, data: bytes) } catch {
            throw .dsmArgumentTooLong(length: bytes.count, limit: DSMPage.maxTransfer)
        }
        let out = try call(.setNamespaceLabelData, arg3: args.encode())
        do { _ = try LabelResult.status(out, function: .setNamespaceLabelData) } catch { throw error.guestError(handle) }
    }

    /// The whole label area, read in pieces of at most max-transfer bytes.
    public func readArea() throws(GuestError) -> [UInt8] {
        let (size, maxTransfer) = try labelSizeInfo()
        return try readRange(offset: 0, count: size, maxTransfer: maxTransfer)
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

    /// Initialises the label area as `ndctl init-labels --label-version 1.1|1.2` does (labelSize
    /// 128 or 256): it reads the index region (the size it has at 128-byte labels, the larger),
    /// then writes index block 0 (seq 3), then block 1 (seq 2), all slots free, their bitmaps
    /// set up to the next multiple of 64 slots and their padding as read; the label slots are not
    /// touched. Returns the layout written.
    @discardableResult
    public func initLabels(labelSize: Int = 256) throws(GuestError) -> LabelAreaLayout {
        let (size, maxTransfer) = try labelSizeInfo()
        let layout: LabelAreaLayout, probe: LabelAreaLayout
        do {
            layout = try LabelAreaLayout(areaSize: Int(size), labelSize: labelSize)
            probe = try LabelAreaLayout(areaSize: Int(size), labelSize: 128)
        } catch { throw .labels(error) }
        let readSize = UInt32(max(2 * probe.indexSize, 2 * layout.indexSize))
        let previous = try readRange(offset: 0, count: readSize, maxTransfer: maxTransfer)
        let blocks = LabelArea.initialisedIndexBlocks(layout: layout, previous: previous)
        for block in 0..<2 {
            let at = layout.indexOffset(block: block)
            try writeArea(offset: UInt32(at), Array(blocks[at..<at + layout.indexSize]))
        }
        return layout
    }

    var handle: UInt32 { UInt32(slot) + 1 }

    private func readRange(offset: UInt32, count: UInt32, maxTransfer: UInt32) throws(GuestError) -> [UInt8] {
        guard maxTransfer > 0 else {
            throw .dsmResult(handle: handle, .tooLong(what: "every transfer (Get Namespace Label Size says max transfer 0)", length: 1, limit: 0))
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(count))
        var at: UInt32 = 0
        while at < count {
            let n = min(maxTransfer, count - at)
            out += try read(offset: offset + at, length: n)
            at += n
        }
        return out
    }

    /// Evaluates the function; a status other than success is an error naming it.
    private func call(_ function: NVDIMMFunction, arg3: [UInt8]?) throws(GuestError) -> [UInt8] {
        guard let d = domain.nvdimm(slot: slot) else { throw .noSuchSlot(slot: slot, attached: domain.nvdimms.map(\.slot)) }
        guard d.config.hasLabelArea else { throw .noLabelArea(slot: slot) }
        let out = try domain.nvdimmDSM(slot: slot, function, arg3: arg3)
        let status = DSMStatus.word(of: out) ?? DSMStatus.notSupported.rawValue
        guard status == DSMStatus.success.rawValue else { throw .dsmStatus(handle: handle, function: function.rawValue, status: status) }
        return out
    }
}

extension DSMWireError {
    /// As a guest error: a status keeps its own case.
    func guestError(_ handle: UInt32) -> GuestError {
        if case let .status(function, status) = self { return .dsmStatus(handle: handle, function: function, status: status) }
        return .dsmResult(handle: handle, self)
    }
}
