import DeviceModel
import GuestMemory
import NVDIMM

// The guest's side of a _DSM call, as the SSDT's NCAL method runs it on a vCPU: every store to
// the DSM page, the port write, and every load of the result is a guest access steered by the
// guest's steering engine (RAM accesses go straight to memory; the port write goes to the
// nvdimm ioreq server's device model). Modelled on the AML exactly:
//  - the UUID is checked against the handle's (root 0, QEMU's reserved root 0x10000, or an
//    NVDIMM); a mismatch returns Buffer {0} for function 0 and Buffer {1} otherwise, without
//    touching the page;
//  - HDLE, REVS, FUNC are stored as 32-bit fields; Arg3, when it is a package holding one
//    buffer, is stored into FARG (4084 bytes: the buffer, zero-filled to the field's size; a
//    longer buffer is refused here rather than cut as AML's Store would);
//  - the page's address is written to the DSM port;
//  - RLEN is read; outside 4...4096 the call returns Buffer {1, 0, 0, 0}; otherwise the
//    RLEN - 4 bytes of ODAT are returned.

extension Guest {
    /// Evaluates `_DSM(uuid, revision, function, arg3)` on the device with NFIT handle `handle`
    /// (0: the root, 0x10000: QEMU's reserved root, slot + 1: a vNVDIMM) the way the guest's AML
    /// does, and returns the buffer the method returns. `arg3` nil: not a package of one buffer.
    public func evaluateDSM(handle: UInt32, uuid: String, revision: UInt32, function: UInt32, arg3: [UInt8]?) throws(GuestError) -> [UInt8] {
        let expected: String
        switch handle {
        case 0: expected = SSDTBuilder.rootDeviceUUID
        case SSDTBuilder.reservedRootHandle: expected = SSDTBuilder.reservedRootUUID
        default: expected = SSDTBuilder.nvdimmDeviceUUID
        }
        guard uuid.uppercased() == expected else {
            return [UInt8(function == NVDIMMFunction.query.rawValue ? 0 : DSMStatus.notSupported.rawValue)]
        }
        if let arg3, arg3.count > DSMPage.arg3Length {
            throw .dsmArgumentTooLong(length: arg3.count, limit: DSMPage.arg3Length)
        }
        let page = dsmPage
        // HDLE, REVS, FUNC: one 32-bit store each, as the AML's field stores.
        let header = DSMRequestHeader(handle: handle, revision: revision, function: function).encode()
        for field in stride(from: 0, to: DSMRequestHeader.size, by: 4) {
            try guestStore(Gpa(page.raw + UInt64(field)), Array(header[field..<field + 4]))
        }
        if let arg3 {
            try guestStore(Gpa(page.raw + UInt64(DSMPage.arg3Offset)), arg3 + [UInt8](repeating: 0, count: DSMPage.arg3Length - arg3.count))
        }
        try guestPortWrite(Self.dsmPort, UInt32(truncatingIfNeeded: page.raw))
        let rlen = try guestLoad32(page)
        guard rlen >= UInt32(DSMPage.resultOffset), rlen <= UInt32(DSMPage.size) else {
            return LittleEndian.bytes(DSMStatus.notSupported.rawValue)
        }
        return try guestLoad(Gpa(page.raw + UInt64(DSMPage.resultOffset)), count: Int(rlen) - DSMPage.resultOffset)
    }

    /// `_DSM` on the vNVDIMM in `slot` with the Intel DSM UUID and revision 1.
    public func nvdimmDSM(slot: Int, function: UInt32, arg3: [UInt8]? = nil, revision: UInt32 = 1) throws(GuestError) -> [UInt8] {
        guard (0...VirtualNVDIMM.maxSlot).contains(slot) else { throw .noSuchSlot(slot: slot, attached: nvdimms.map(\.slot)) }
        return try evaluateDSM(handle: UInt32(slot) + 1, uuid: SSDTBuilder.nvdimmDeviceUUID, revision: revision, function: function, arg3: arg3)
    }

    /// `_DSM` on the vNVDIMM in `slot` with one of its functions.
    public func nvdimmDSM(slot: Int, _ function: NVDIMMFunction, arg3: [UInt8]? = nil) throws(GuestError) -> [UInt8] {
        try nvdimmDSM(slot: slot, function: function.rawValue, arg3: arg3)
    }

    /// The FIT as the root's `_FIT` method reads it: Read FIT pieces through QEMU's reserved
    /// root _DSM, restarting from offset 0 when the status says the FIT changed.
    public func readFIT(restartLimit: Int = 16) throws(GuestError) -> (fit: [UInt8], restarts: Int) {
        var fit: [UInt8] = [], offset: UInt32 = 0, restarts = 0
        while true {
            let readFIT = ReservedRootFunction.readFIT.rawValue
            let out = try evaluateDSM(handle: SSDTBuilder.reservedRootHandle, uuid: SSDTBuilder.reservedRootUUID,
                                      revision: 1, function: readFIT, arg3: ReadFITArguments(offset: offset).encode())
            let status = DSMStatus.word(of: out) ?? DSMStatus.notSupported.rawValue
            if status == DSMStatus.fitChanged.rawValue {
                restarts += 1
                guard restarts <= restartLimit else { throw .dsmStatus(handle: SSDTBuilder.reservedRootHandle, function: readFIT, status: status) }
                fit = []
                offset = 0
                continue
            }
            guard status == DSMStatus.success.rawValue else { throw .dsmStatus(handle: SSDTBuilder.reservedRootHandle, function: readFIT, status: status) }
            let piece = out.dropFirst(4)
            if piece.isEmpty { return (fit, restarts) }
            fit += piece
            offset += UInt32(piece.count)
        }
    }

    // MARK: Guest accesses (a vCPU's loads and stores, steered)

    /// Stores `bytes` at `gpa` with naturally aligned accesses of up to 8 bytes, each steered.
    public func guestStore(_ gpa: Gpa, _ bytes: [UInt8]) throws(GuestError) {
        var at = 0
        while at < bytes.count {
            let addr = gpa.raw + UInt64(at)
            let size = Self.accessSize(addr, bytes.count - at)
            var v: UInt64 = 0
            for i in 0..<size { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            try perform(try access { () throws(GuestAccessError) in try GuestAccess.write(Gpa(addr), size: UInt8(size), data: v) })
            at += size
        }
    }

    /// Loads `count` bytes from `gpa` with naturally aligned accesses of up to 8 bytes.
    public func guestLoad(_ gpa: Gpa, count: Int) throws(GuestError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var at = 0
        while at < count {
            let addr = gpa.raw + UInt64(at)
            let size = Self.accessSize(addr, count - at)
            let v = try perform(try access { () throws(GuestAccessError) in try GuestAccess.read(Gpa(addr), size: UInt8(size)) })
            for i in 0..<size { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
            at += size
        }
        return out
    }

    func guestLoad32(_ gpa: Gpa) throws(GuestError) -> UInt32 {
        LittleEndian.read(UInt32.self, from: try guestLoad(gpa, count: 4), at: 0)!
    }

    /// An OUT of 4 bytes (the AML's store to NTFI).
    public func guestPortWrite(_ port: UInt16, _ value: UInt32) throws(GuestError) {
        _ = try perform(try access { () throws(GuestAccessError) in try GuestAccess.port(port, size: 4, direction: .write, data: UInt64(value)) })
    }

    static func accessSize(_ addr: UInt64, _ remaining: Int) -> Int {
        for s in [8, 4, 2] where remaining >= s && addr % UInt64(s) == 0 { return s }
        return 1
    }

    private func access(_ make: () throws(GuestAccessError) -> GuestAccess) throws(GuestError) -> GuestAccess {
        do { return try make() } catch { throw .guestMemory(error.description) }
    }

    @discardableResult
    private func perform(_ a: GuestAccess) throws(GuestError) -> UInt64 {
        let result: AccessResult
        do { result = try engine.handle(a) } catch { throw .deviceModel(error.description) }
        switch result {
        case .completed(let data): return data
        case .unhandled(_, let data): return data
        case .discarded: return 0
        case .fault(let f): throw .guestFault(access: a.description, fault: "\(f)")
        }
    }
}
