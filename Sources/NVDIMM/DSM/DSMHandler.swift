/// The _DSM function semantics of vNVDIMMs (Intel NVDIMM DSM interface revision 1, as QEMU
/// implements it) as a handler over DSM pages.
///
/// Invariants:
/// - Every byte of the guest's input page is read at most once, into a private copy, before it is
///   looked at: the guest can rewrite the page while we work, and no decision is taken on a value
///   that could change under us (no double fetch). The header (12 bytes) is copied first, then
///   only the argument bytes the function takes.
/// - The output (u32 length of the whole output, then the function's data) is written only after
///   the input has been copied, so output and input may be the same page, as they are for guests.
/// - `devices[h]` is the NVDIMM with NFIT handle h (slot + 1), for h in 1...256; index 0 (the root)
///   is always nil. Lookups are an index after a range check: no hashing on the request path.
/// - `summaries[h]` says what `devices[h]` is (present, label area size, read-only) in plain
///   values, kept in step by `attach` and `detach`: a call decides on it and touches `devices[h]`
///   only in place to move label bytes, so no request copies a device (no reference counting).
///   A label area's size does not change while it is attached.
/// - Bounds checks happen in 64-bit arithmetic before any label byte moves: offset + length must
///   not overflow 32 bits, must stay within the label area and length must not exceed
///   `DSMPage.maxTransfer`; a failed check leaves the label area unchanged.
/// - The FIT generation increases on every `setFIT`; a multi-part Read FIT that started (offset 0)
///   under an older generation gets status 0x100 "FIT changed" for every later piece until the
///   guest restarts at offset 0.
public struct DSMHandler<Storage: LabelStorage> {
    /// One vNVDIMM's _DSM-visible state.
    public struct Device {
        /// Nil: the NVDIMM has no label area (function 0 reports no functions).
        public var labelArea: Storage?
        /// Set Namespace Label Data answers "not supported".
        public var readOnly: Bool
        public init(labelArea: Storage?, readOnly: Bool = false) {
            self.labelArea = labelArea
            self.readOnly = readOnly
        }
    }

    public static var reservedRootHandle: UInt32 { SSDTBuilder.reservedRootHandle }

    @usableFromInline var devices: [Device?]
    /// What each handle's device is, without its storage (see the invariants).
    @usableFromInline struct Summary {
        @usableFromInline var present = false
        /// Nil: no label area.
        @usableFromInline var areaSize: UInt32?
        @usableFromInline var readOnly = false
        @usableFromInline init() {}
    }
    @usableFromInline var summaries: [Summary]
    public private(set) var fit: [UInt8]
    public private(set) var fitGeneration: UInt64
    /// The generation a Read FIT at offset 0 last saw; nil before any.
    @usableFromInline var fitReadGeneration: UInt64?
    /// Private copy of the input page's argument bytes.
    @usableFromInline var scratch: [UInt8]

    public init(fit: [UInt8] = []) {
        devices = Array(repeating: nil, count: VirtualNVDIMM.maxSlot + 2)
        summaries = Array(repeating: Summary(), count: VirtualNVDIMM.maxSlot + 2)
        self.fit = fit
        fitGeneration = 0
        fitReadGeneration = nil
        scratch = [UInt8](repeating: 0, count: DSMPage.size)
    }

    /// Attaches (or replaces) the device in `slot`.
    public mutating func attach(slot: Int, _ device: Device) throws(NVDIMMConfigError) {
        guard (0...VirtualNVDIMM.maxSlot).contains(slot) else { throw .slotOutOfRange(slot: slot) }
        devices[slot + 1] = device
        var summary = Summary()
        summary.present = true
        summary.areaSize = device.labelArea?.size
        summary.readOnly = device.readOnly
        summaries[slot + 1] = summary
    }

    /// Detaches the device in `slot`; later calls on its handle answer "non-existing memory device".
    public mutating func detach(slot: Int) throws(NVDIMMConfigError) {
        guard (0...VirtualNVDIMM.maxSlot).contains(slot) else { throw .slotOutOfRange(slot: slot) }
        devices[slot + 1] = nil
        summaries[slot + 1] = Summary()
    }

    /// The device in `slot`, e.g. to inspect its label area.
    public func device(slot: Int) -> Device? {
        (0...VirtualNVDIMM.maxSlot).contains(slot) ? devices[slot + 1] : nil
    }

    /// Replaces the FIT (after a hotplug) and bumps its generation.
    public mutating func setFIT(_ structures: [UInt8]) {
        fit = structures
        fitGeneration &+= 1
    }

    /// Handles one call: `page` is the guest's input page (taken by value: a snapshot). Returns
    /// the output page's bytes (the first `length` bytes of the page the guest reads back).
    public mutating func handle(page: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: DSMPage.size)
        let n = page.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in handle(input: input, output: output) }
        }
        return Array(out[0..<n])
    }

    /// Handles one call from the guest's page `input` (up to 4096 bytes; a shorter page is a short
    /// arg3) into `output` (at least 4096 bytes; may be the same memory as `input`). Returns the
    /// number of output bytes written, which is also the u32 length at its start.
    @inlinable
    public mutating func handle(input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= DSMPage.size, "the output page is 4096 bytes")
        guard input.count <= DSMPage.size, let header = DSMRequestHeader(copying: input) else {
            return DSMStatus.invalidInput.write(into: output)
        }
        let arg3 = UnsafeRawBufferPointer(rebasing: input[DSMPage.arg3Offset...])
        guard header.revision == DSMRequestHeader.interfaceRevision else { return DSMStatus.notSupported.write(into: output) }
        if header.handle == Self.reservedRootHandle { return reservedRoot(header.function, arg3, output) }
        if header.handle == 0 {
            return header.function == NVDIMMFunction.query.rawValue ? DSMFunctionSet(rawValue: 0).write(into: output) : DSMStatus.notSupported.write(into: output)
        }
        let index = Int(header.handle)
        let summary = index < summaries.count ? summaries[index] : Summary()
        let supported = DSMFunctionSet.nvdimm(hasLabelArea: summary.areaSize != nil, readOnly: summary.readOnly)
        if header.function == NVDIMMFunction.query.rawValue { return supported.write(into: output) }
        guard summary.present else { return DSMStatus.nonExistingMemoryDevice.write(into: output) }
        guard let areaSize = summary.areaSize, let function = NVDIMMFunction(rawValue: header.function) else {
            return DSMStatus.notSupported.write(into: output)
        }
        switch function {
        case .query:
            return supported.write(into: output)
        case .getNamespaceLabelSize:
            return LabelSizeInfo(size: areaSize).write(into: output)
        case .getNamespaceLabelData:
            guard let range = LabelDataRange(copying: arg3), range.isValid(areaSize: areaSize) else {
                return DSMStatus.invalidInput.write(into: output)
            }
            let data = LabelResult.dataOffset
            do {
                // In place: the device is not copied.
                try devices[index]!.labelArea!.read(at: range.offset, into: UnsafeMutableRawBufferPointer(rebasing: output[data..<data + Int(range.length)]))
            } catch {
                return DSMStatus.hardwareError.write(into: output)
            }
            return LabelResult.writeHeader(dataLength: Int(range.length), into: output)
        case .setNamespaceLabelData:
            guard let range = LabelDataRange(copying: arg3), range.isValid(areaSize: areaSize),
                  arg3.count - LabelDataRange.size >= Int(range.length) else {
                return DSMStatus.invalidInput.write(into: output)
            }
            // A read-only device does not report function 6 and refuses it.
            guard supported.contains(.setNamespaceLabelData) else { return DSMStatus.notSupported.write(into: output) }
            // Copy the data out of the guest page before writing it anywhere.
            let length = Int(range.length)
            scratch.withUnsafeMutableBytes { dst in
                dst.baseAddress!.copyMemory(from: arg3.baseAddress! + LabelDataRange.size, byteCount: length)
            }
            let data = scratch  // a reference, so `devices` can be mutated below
            let result: DSMStatus = data.withUnsafeBytes { src in
                do {
                    // In place: a value-typed label area is not copied.
                    try devices[index]!.labelArea!.write(at: range.offset, from: UnsafeRawBufferPointer(rebasing: src[0..<length]))
                    return .success
                } catch {
                    return .hardwareError
                }
            }
            return result.write(into: output)
        }
    }

    /// QEMU's reserved root device: function 0 and Read FIT (1).
    @usableFromInline
    mutating func reservedRoot(_ function: UInt32, _ arg3: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer) -> Int {
        switch ReservedRootFunction(rawValue: function) {
        case .query:
            return DSMFunctionSet.reservedRoot.write(into: output)
        case .readFIT:
            guard let args = ReadFITArguments(copying: arg3), Int(args.offset) <= fit.count else {
                return DSMStatus.invalidInput.write(into: output)
            }
            if args.offset == 0 {
                fitReadGeneration = fitGeneration
            } else if fitReadGeneration != fitGeneration {
                return DSMStatus.fitChanged.write(into: output)
            }
            let length = min(fit.count - Int(args.offset), DSMPage.maxFITPiece)
            fit.withUnsafeBytes { src in
                if length > 0 { (output.baseAddress! + LabelResult.dataOffset).copyMemory(from: src.baseAddress! + Int(args.offset), byteCount: length) }
            }
            return LabelResult.writeHeader(dataLength: length, into: output)
        case nil:
            return DSMStatus.notSupported.write(into: output)
        }
    }
}
