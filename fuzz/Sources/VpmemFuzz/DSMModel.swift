import NVDIMM

/// A naive model of the _DSM handler: the documented semantics written out case by case over
/// plain arrays and Int arithmetic (no 32-bit wrap to get wrong), for the fuzz target to
/// compare the real handler with, byte for byte, after every call.
struct DSMModel {
    struct Device {
        var area: [UInt8]?
        var readOnly: Bool
    }

    /// Attached devices by slot.
    var devices: [Int: Device] = [:]
    var fit: [UInt8]
    var fitGeneration: UInt64 = 0
    var fitReadGeneration: UInt64? = nil

    init(fit: [UInt8]) { self.fit = fit }

    /// The exact output bytes the handler must produce for `page`, applying a successful
    /// Set Namespace Label Data to the model's area.
    mutating func call(_ page: [UInt8], failReads: Bool, failWrites: Bool) -> [UInt8] {
        func status(_ s: DSMStatus) -> [UInt8] { word(8) + word(s.rawValue) }
        func word(_ v: UInt32) -> [UInt8] { var b: [UInt8] = []; b.appendLE(v); return b }
        func arg(_ i: Int) -> Int { Int(page.le32(at: 12 + 4 * i)) }

        guard page.count >= 12, page.count <= 4096 else { return status(.invalidInput) }
        let handle = Int(page.le32(at: 0)), revision = page.le32(at: 4), function = page.le32(at: 8)
        let arg3 = page.count - 12
        guard revision == 1 else { return status(.notSupported) }

        if handle == 0x10000 {  // QEMU's reserved root device
            switch function {
            case 0: return word(8) + word(0b11)
            case 1:
                guard arg3 >= 4 else { return status(.invalidInput) }
                let offset = arg(0)
                guard offset <= fit.count else { return status(.invalidInput) }
                if offset == 0 {
                    fitReadGeneration = fitGeneration
                } else if fitReadGeneration != fitGeneration {
                    return status(.fitChanged)
                }
                let piece = Array(fit[offset..<min(fit.count, offset + 4088)])
                return word(UInt32(8 + piece.count)) + word(0) + piece
            default: return status(.notSupported)
            }
        }
        if handle == 0 { return function == 0 ? word(8) + word(0) : status(.notSupported) }

        let slot = handle - 1
        let device = (0...255).contains(slot) ? devices[slot] : nil
        if function == 0 { return word(8) + word(device?.area == nil ? 0 : device!.readOnly ? 0x31 : 0x71) }  // no function 6 when read-only
        guard let device else { return status(.nonExistingMemoryDevice) }
        guard let area = device.area else { return status(.notSupported) }
        switch function {
        case 4:
            return word(16) + word(0) + word(UInt32(area.count)) + word(4076)
        case 5:
            guard arg3 >= 8 else { return status(.invalidInput) }
            let offset = arg(0), length = arg(1)
            guard offset + length <= area.count, length <= 4076 else { return status(.invalidInput) }
            if failReads { return status(.hardwareError) }
            return word(UInt32(8 + length)) + word(0) + Array(area[offset..<offset + length])
        case 6:
            guard arg3 >= 8 else { return status(.invalidInput) }
            let offset = arg(0), length = arg(1)
            guard offset + length <= area.count, length <= 4076, arg3 - 8 >= length else { return status(.invalidInput) }
            if device.readOnly { return status(.notSupported) }
            if failWrites { return status(.hardwareError) }
            devices[slot]!.area!.replaceSubrange(offset..<offset + length, with: page[20..<20 + length])
            return status(.success)
        default:
            return status(.notSupported)
        }
    }

    mutating func setFIT(_ structures: [UInt8]) {
        fit = structures
        fitGeneration += 1
    }
}
