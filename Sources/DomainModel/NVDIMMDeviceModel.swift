import DeviceModel
import GuestMemory
import NVDIMM

// NVDIMMDeviceModel: the vNVDIMM _DSM transport on the device-model side, as QEMU's
// nvdimm_dsm_write does it. The guest's AML stores the call into its DSM page and writes the
// page's guest-physical address to the 4-byte DSM IO port; the steering engine delivers that
// port write here (this device is registered for the port on the guest's nvdimm ioreq server).
//
// Invariants:
//  - `input` and `output` are two private 4096-byte buffers owned by this object, allocated
//    once; a call copies the guest's page into `input` before anything is decided (the guest
//    may rewrite its page meanwhile: no value is fetched twice from guest memory), the handler
//    reads only `input` and writes only `output`, and only then is the output copied back to
//    the same guest page.
//  - The page must be guest RAM (ram_rw or ram_logdirty) in all its bytes; any other address
//    (unmapped, MMIO, pmem, the safe range, a page running past RAM) is refused without a byte
//    of guest memory read or written, counted in `refused`, and reported as the thrown error.
//  - Port reads return 0 (the AML never reads the port).

/// Why a DSM port write was not carried out.
public enum DSMTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case pageNotGuestRAM(gpa: UInt64, gfn: UInt64, type: String)
    case accessSize(UInt8)
    case guestMemory(String)

    public var description: String {
        switch self {
        case let .pageNotGuestRAM(gpa, gfn, type):
            return "DSM page at gpa 0x\(String(gpa, radix: 16)) refused: gfn 0x\(String(gfn, radix: 16)) is \(type), not guest RAM; nothing was read or written"
        case .accessSize(let s):
            return "DSM port written with \(s) bytes: the port takes a 4-byte page address"
        case .guestMemory(let s):
            return "DSM page access failed: \(s)"
        }
    }
}

/// The device model behind the DSM IO port: reads the DSM page from guest memory, runs the
/// _DSM handler over the vNVDIMMs' label areas, writes the result back.
public final class NVDIMMDeviceModel: EmulatedDevice {
    public let name = "nvdimm-dsm"
    public let port: UInt16
    /// The _DSM semantics over the attached vNVDIMMs' label areas.
    public var handler: DSMHandler<PmemLabelStorage>
    /// Calls carried out and calls refused.
    public private(set) var calls: UInt64 = 0
    public private(set) var refused: UInt64 = 0

    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer

    public init(port: UInt16 = SSDTBuilder.defaultIOPort) {
        self.port = port
        handler = DSMHandler()
        input = .allocate(byteCount: DSMPage.size, alignment: 16)
        output = .allocate(byteCount: DSMPage.size, alignment: 16)
        input.initializeMemory(as: UInt8.self, repeating: 0)
        output.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        input.deallocate()
        output.deallocate()
    }

    public func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        guard ioreq.direction == .write else { return 0 }
        guard ioreq.size == 4 else {
            refused += 1
            throw DSMTransportError.accessSize(ioreq.size)
        }
        let gpa = ioreq.data & 0xFFFF_FFFF
        do {
            try Self.checkRAM(gpa, guestMemory.p2m)
            try guestMemory.read(Gpa(gpa), into: input)
        } catch let e as DSMTransportError {
            refused += 1
            throw e
        } catch {
            refused += 1
            throw DSMTransportError.guestMemory("\(error)")
        }
        let n = handler.handle(input: UnsafeRawBufferPointer(input), output: output)
        do { try guestMemory.write(Gpa(gpa), from: UnsafeRawBufferPointer(rebasing: output[0..<n])) } catch {
            refused += 1
            throw DSMTransportError.guestMemory("\(error)")
        }
        calls += 1
        return 0
    }

    /// Every frame of the 4096 bytes from `gpa` must be guest RAM.
    static func checkRAM(_ gpa: UInt64, _ p2m: P2M) throws(DSMTransportError) {
        let first = gpa >> PageOrder.frameShift, last = (gpa + UInt64(DSMPage.size) - 1) >> PageOrder.frameShift
        for g in first...last {
            guard let t = p2m.translate(Gfn(uncheckedRaw: g)) else {
                throw .pageNotGuestRAM(gpa: gpa, gfn: g, type: "unmapped")
            }
            guard t.type == .ramRW || t.type == .ramLogDirty else {
                throw .pageNotGuestRAM(gpa: gpa, gfn: g, type: t.type.name)
            }
        }
    }
}
