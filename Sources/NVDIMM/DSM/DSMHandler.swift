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
    /// Functions 0, 4, 5, 6.
    public static var labelFunctions: UInt32 { 0x71 }

    @usableFromInline var devices: [Device?]
    public private(set) var fit: [UInt8]
    public private(set) var fitGeneration: UInt64
    /// The generation a Read FIT at offset 0 last saw; nil before any.
    @usableFromInline var fitReadGeneration: UInt64?
    /// Private copy of the input page's argument bytes.
    @usableFromInline var scratch: [UInt8]

    public init(fit: [UInt8] = []) {
        devices = Array(repeating: nil, count: VirtualNVDIMM.maxSlot + 2)
        self.fit = fit
        fitGeneration = 0
        fitReadGeneration = nil
        scratch = [UInt8](repeating: 0, count: DSMPage.size)
    }

    /// Attaches (or replaces) the device in `slot`.
    public mutating func attach(slot: Int, _ device: Device) throws(NVDIMMConfigError) {
        guard (0...VirtualNVDIMM.maxSlot).contains(slot) else { throw .slotOutOfRange(slot: slot) }
        devices[slot + 1] = device
    }

    /// Detaches the device in `slot`; later calls on its handle answer "non-existing memory device".
    public mutating func detach(slot: Int) throws(NVDIMMConfigError) {
        guard (0...VirtualNVDIMM.maxSlot).contains(slot) else { throw .slotOutOfRange(slot: slot) }
        devices[slot + 1] = nil
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
        guard input.count >= DSMPage.arg3Offset, input.count <= DSMPage.size else {
            return Self.status(.invalidInput, output)
        }
        // Copy the header once; decide on the copy only.
        let handle = Self.le32(input, 0), revision = Self.le32(input, 4), function = Self.le32(input, 8)
        let arg3Available = input.count - DSMPage.arg3Offset
        guard revision == 1 else { return Self.status(.notSupported, output) }
        if handle == Self.reservedRootHandle { return reservedRoot(function, input, arg3Available, output) }
        if handle == 0 {
            return function == 0 ? Self.functionBitmap(0, output) : Self.status(.notSupported, output)
        }
        let device: Device? = handle < UInt32(devices.count) ? devices[Int(handle)] : nil
        if function == 0 {
            return Self.functionBitmap(device?.labelArea != nil ? Self.labelFunctions : 0, output)
        }
        guard let device else { return Self.status(.nonExistingMemoryDevice, output) }
        guard let area = device.labelArea else { return Self.status(.notSupported, output) }
        switch function {
        case 4:
            Self.put32(16, output, 0)
            Self.put32(DSMStatus.success.rawValue, output, 4)
            Self.put32(area.size, output, 8)
            Self.put32(UInt32(DSMPage.maxTransfer), output, 12)
            return 16
        case 5:
            guard arg3Available >= 8 else { return Self.status(.invalidInput, output) }
            let offset = Self.le32(input, DSMPage.arg3Offset), length = Self.le32(input, DSMPage.arg3Offset + 4)
            guard Self.inBounds(offset, length, area.size) else { return Self.status(.invalidInput, output) }
            do {
                try area.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: output[8..<8 + Int(length)]))
            } catch {
                return Self.status(.hardwareError, output)
            }
            Self.put32(UInt32(8 + Int(length)), output, 0)
            Self.put32(DSMStatus.success.rawValue, output, 4)
            return 8 + Int(length)
        case 6:
            guard arg3Available >= 8 else { return Self.status(.invalidInput, output) }
            let offset = Self.le32(input, DSMPage.arg3Offset), length = Self.le32(input, DSMPage.arg3Offset + 4)
            guard Self.inBounds(offset, length, area.size), arg3Available - 8 >= Int(length) else {
                return Self.status(.invalidInput, output)
            }
            guard !device.readOnly else { return Self.status(.notSupported, output) }
            // Copy the data out of the guest page before writing it anywhere.
            let dataStart = DSMPage.arg3Offset + 8
            scratch.withUnsafeMutableBytes { dst in
                dst.baseAddress!.copyMemory(from: input.baseAddress! + dataStart, byteCount: Int(length))
            }
            let data = scratch  // a reference, so `devices` can be mutated below
            let result: DSMStatus = data.withUnsafeBytes { src in
                do {
                    // In place: a value-typed label area is not copied.
                    try devices[Int(handle)]!.labelArea!.write(at: offset, from: UnsafeRawBufferPointer(rebasing: src[0..<Int(length)]))
                    return .success
                } catch {
                    return .hardwareError
                }
            }
            return Self.status(result, output)
        default:
            return Self.status(.notSupported, output)
        }
    }

    /// QEMU's reserved root device: function 0 and Read FIT (1).
    @usableFromInline
    mutating func reservedRoot(_ function: UInt32, _ input: UnsafeRawBufferPointer, _ arg3Available: Int,
                               _ output: UnsafeMutableRawBufferPointer) -> Int {
        switch function {
        case 0:
            return Self.functionBitmap(0x3, output)
        case 1:
            guard arg3Available >= 4 else { return Self.status(.invalidInput, output) }
            let offset = Self.le32(input, DSMPage.arg3Offset)
            guard Int(offset) <= fit.count else { return Self.status(.invalidInput, output) }
            if offset == 0 {
                fitReadGeneration = fitGeneration
            } else if fitReadGeneration != fitGeneration {
                return Self.status(.fitChanged, output)
            }
            let length = min(fit.count - Int(offset), DSMPage.maxFITPiece)
            fit.withUnsafeBytes { src in
                if length > 0 { (output.baseAddress! + 8).copyMemory(from: src.baseAddress! + Int(offset), byteCount: length) }
            }
            Self.put32(UInt32(8 + length), output, 0)
            Self.put32(DSMStatus.success.rawValue, output, 4)
            return 8 + length
        default:
            return Self.status(.notSupported, output)
        }
    }

    @inlinable static func inBounds(_ offset: UInt32, _ length: UInt32, _ size: UInt32) -> Bool {
        let end = UInt64(offset) + UInt64(length)
        return end <= UInt64(UInt32.max) && end <= UInt64(size) && length <= UInt32(DSMPage.maxTransfer)
    }

    @inlinable static func status(_ s: DSMStatus, _ output: UnsafeMutableRawBufferPointer) -> Int {
        put32(8, output, 0)
        put32(s.rawValue, output, 4)
        return 8
    }

    @inlinable static func functionBitmap(_ bits: UInt32, _ output: UnsafeMutableRawBufferPointer) -> Int {
        put32(8, output, 0)
        put32(bits, output, 4)
        return 8
    }

    @inlinable static func le32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    @inlinable static func put32(_ v: UInt32, _ b: UnsafeMutableRawBufferPointer, _ at: Int) {
        b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self)
    }
}
