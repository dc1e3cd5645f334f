import Foundation
import Testing
import DeviceModel
import DomainModel
import GuestMemory
import HostPmem
import NVDIMM

/// _DSM through the whole model: the guest's stores to its DSM page and its port write are
/// steered; the nvdimm ioreq server's device model reads the page through the p2m, runs the
/// handler over the PmemMapping-backed label area and writes the result back.
@Suite struct DSMPathTests {
    func domain(_ s: Scratch, _ list: [NVDIMMConfig] = [nvdimm(0), nvdimm(1, readOnly: true), nvdimm(2, label: 0)]) throws -> Guest {
        try Guest(config: guestConfig(nvdimms: list), baseDirectory: s.path)
    }

    func status(_ out: [UInt8]) -> UInt32 { u32(out, 0) }

    @Test func labelFunctionsAndRootWorkThroughThePortAndPersist() throws {
        let s = Scratch()
        do {
            let d = try domain(s)
            let calls = d.device.calls
            #expect(try d.nvdimmDSM(slot: 0, function: 0) == le32(0x71))
            #expect(try d.nvdimmDSM(slot: 0, function: 4) == [0, 0, 0, 0] + le32(128 * 1024) + le32(4076))
            let data: [UInt8] = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            #expect(try d.nvdimmDSM(slot: 0, function: 6, arg3: le32(1000) + le32(300) + data) == [0, 0, 0, 0])
            #expect(try d.nvdimmDSM(slot: 0, function: 5, arg3: le32(1000) + le32(300)) == [0, 0, 0, 0] + data)
            #expect(try d.evaluateDSM(handle: 0, uuid: SSDTBuilder.rootDeviceUUID, revision: 1, function: 0, arg3: nil) == le32(0))
            #expect(try d.evaluateDSM(handle: SSDTBuilder.reservedRootHandle, uuid: SSDTBuilder.reservedRootUUID, revision: 1, function: 0, arg3: nil) == le32(3))
            #expect(d.device.calls == calls + 6, "every call went through the port to the device model")
            // The bytes were written through libpmem into the backing's last 128K.
            #expect(try d.nvdimm(slot: 0)!.backing.read(at: 2 * MiB + 1000, count: 300) == data)
        }
        // The domain is gone (backings unlocked): the bytes are in the file.
        let m = try PmemMapping.open(path: s.file("n0.pmem"), access: .readOnly)
        #expect(try m.read(at: 2 * MiB + 1000, count: 300) == (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    }

    @Test func readOnlyAndLabelLessVNVDIMMs() throws {
        let s = Scratch()
        let d = try domain(s)
        #expect(status(try d.nvdimmDSM(slot: 1, function: 6, arg3: le32(0) + le32(4) + [1, 2, 3, 4])) == 1, "read-only: not supported")
        #expect(try d.nvdimmDSM(slot: 1, function: 5, arg3: le32(0) + le32(4)) == [0, 0, 0, 0, 0, 0, 0, 0], "reads still work")
        #expect(try d.nvdimmDSM(slot: 2, function: 0) == le32(0), "no label area: function 0 reports nothing")
        #expect(status(try d.nvdimmDSM(slot: 2, function: 4)) == 1)
    }

    @Test func badInputGetsItsDefinedStatusThroughThePath() throws {
        let s = Scratch()
        let d = try domain(s)
        let before = try d.nvdimm(slot: 0)!.backing.read(at: 2 * MiB, count: 128 * 1024)
        func call(_ fn: UInt32, _ arg3: [UInt8]?, slot: Int = 0, revision: UInt32 = 1) throws -> UInt32 {
            status(try d.nvdimmDSM(slot: slot, function: fn, arg3: arg3, revision: revision))
        }
        #expect(try call(5, le32(0xFFFF_FFFF) + le32(2)) == 3, "offset + length overflows 32 bits")
        #expect(try call(6, le32(0xFFFF_FFF0) + le32(0x20) + [UInt8](repeating: 9, count: 0x20)) == 3)
        #expect(try call(5, le32(128 * 1024 - 4) + le32(8)) == 3, "beyond the area")
        #expect(try call(6, le32(128 * 1024) + le32(1) + [1]) == 3)
        #expect(try call(5, le32(0) + le32(4077)) == 3, "over max transfer")
        #expect(try call(6, le32(0) + le32(4077) + [UInt8](repeating: 1, count: 4070)) == 3)
        #expect(try call(4, nil, slot: 200) == 2, "unknown handle: non-existing memory device")
        #expect(try d.nvdimmDSM(slot: 200, function: 0) == le32(0))
        #expect(try call(7, nil) == 1, "unknown function")
        #expect(try call(4, nil, revision: 2) == 1, "revision other than 1")
        // A wrong UUID: the AML answers without calling the device model.
        let calls = d.device.calls
        #expect(try d.evaluateDSM(handle: 1, uuid: SSDTBuilder.rootDeviceUUID, revision: 1, function: 4, arg3: nil) == [1])
        #expect(try d.evaluateDSM(handle: 1, uuid: "00000000-0000-0000-0000-000000000000", revision: 1, function: 0, arg3: nil) == [0])
        #expect(d.device.calls == calls)
        // A short Arg3: the field is zero-filled, so offset 3 bytes, length 0: an empty read.
        #expect(try d.nvdimmDSM(slot: 0, function: 5, arg3: [0x10, 0, 0]) == [0, 0, 0, 0])
        // Set with a length longer than the data given: the rest of the field is zeros.
        #expect(try call(6, le32(64) + le32(8) + [1, 2]) == 0)
        #expect(try d.nvdimmDSM(slot: 0, function: 5, arg3: le32(64) + le32(8)) == [0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0])
        // Not a package of one buffer: FARG is left as it was (what the AML does): the device
        // model sees whatever the page holds, here the previous call's arguments partly
        // overwritten by its output, and answers that well-formed request.
        let stale = try d.nvdimmDSM(slot: 0, function: 5, arg3: nil)
        #expect(status(stale) == 0 && stale.count == 12)
        // An Arg3 larger than the page's field is refused before any guest store.
        #expect(throws: GuestError.self) { try d.nvdimmDSM(slot: 0, function: 6, arg3: [UInt8](repeating: 0, count: 4085)) }
        var after = try d.nvdimm(slot: 0)!.backing.read(at: 2 * MiB, count: 128 * 1024)
        after.replaceSubrange(64..<72, with: [UInt8](repeating: 0, count: 8))
        #expect(after == before, "only the one valid set-label changed the area")
    }

    @Test func aDSMPageAddressOutsideGuestRAMIsRefusedAndTouchesNothing() throws {
        let s = Scratch()
        let d = try domain(s)
        let nv = d.nvdimm(slot: 0)!
        try nv.backing.write([UInt8](repeating: 0xEE, count: 4096), at: 0)
        let refused = d.device.refused
        let hole = d.physmap.regions.first { $0.kind == .pciMmio32 }!.range.first.raw
        let lastRAMPage = d.physmap.regions.first { $0.kind == .acpiNVS }!.range.last.raw - 4095
        for gpa in [hole, 0x9000_0000, 0xFFFF_F000, lastRAMPage + 8] {
            #expect(gpa <= UInt64(UInt32.max))
            let access = try GuestAccess.port(Guest.dsmPort, size: 4, direction: .write, data: gpa)
            #expect(throws: SteeringError.self, "gpa 0x\(String(gpa, radix: 16))") { try d.engine.handle(access) }
        }
        #expect(d.device.refused == refused + 4)
        #expect(try nv.backing.read(at: 0, count: 4096) == [UInt8](repeating: 0xEE, count: 4096), "pmem untouched")
        // A 2-byte port write is refused too.
        #expect(throws: SteeringError.self) { try d.engine.handle(GuestAccess.port(Guest.dsmPort, size: 2, direction: .write, data: 0x1000)) }
        // The path still works afterwards.
        #expect(try d.nvdimmDSM(slot: 0, function: 0) == le32(0x71))
    }

    @Test func aReadFITInPiecesRestartsWhenAVNVDIMMComesOrGoesMidway() throws {
        let s = Scratch()
        // 23 vNVDIMMs: 23 x 184 bytes of structures, more than one 4088-byte piece.
        let d = try Guest(config: guestConfig(aperture: 64 * GiB, nvdimms: (0..<23).map { nvdimm($0) }), baseDirectory: s.path)
        func piece(_ offset: UInt32) throws -> [UInt8] {
            try d.evaluateDSM(handle: SSDTBuilder.reservedRootHandle, uuid: SSDTBuilder.reservedRootUUID, revision: 1, function: 1, arg3: le32(offset))
        }
        let first = try piece(0)
        #expect(status(first) == 0 && first.count == 4 + 4088)
        try d.attach(nvdimm(30), createBacking: true)
        #expect(status(try piece(4088)) == 0x100, "FIT changed")
        let (fit, _) = try d.readFIT()
        #expect(fit.count == 24 * 184 && fit == d.device.handler.fit)
        _ = try piece(0)
        try d.detach(slot: 5)
        #expect(status(try piece(4088)) == 0x100)
        #expect(try d.readFIT().fit.count == 23 * 184)
        #expect(status(try piece(UInt32(23 * 184 + 1))) == 3, "an offset past the FIT")
    }
}

@Suite struct LabelPathTests {
    @Test func initLabelsThroughDSMWritesAValidEmptyAreaInMaxTransferPieces() throws {
        let s = Scratch()
        let d = try Guest(config: guestConfig(nvdimms: [nvdimm(0, label: 256 * KiB)]), baseDirectory: s.path)
        let client = NamespaceLabelClient(domain: d, slot: 0)
        let calls = d.device.calls
        let layout = try client.initLabels()
        let area = try client.readArea()
        #expect(area.count == 256 * 1024 && d.device.calls > calls)
        let decoded = LabelArea.decode(area)
        #expect(decoded.isClean && decoded.current == 0 && decoded.layout == layout && layout.labelSize == 256)
        #expect(decoded.blocks.compactMap { $0?.seq } == [3, 2])
        #expect(Array(area[0..<2 * layout.indexSize]) == Array(try LabelArea.empty(size: 256 * 1024)[0..<2 * layout.indexSize]))
        let report = LabelAreaReport(area: area)
        #expect(report.clean && report.current_block == 0 && report.blocks.map(\.valid) == [true, true])
    }

    @Test func aTornIndexUpdateLeavesTheOtherBlockAndTheReportSaysWhich() throws {
        let s = Scratch()
        let d = try Guest(config: guestConfig(nvdimms: [nvdimm(0)]), baseDirectory: s.path)
        let client = NamespaceLabelClient(domain: d, slot: 0)
        let layout = try client.initLabels()
        // An update writes the non-current block (1) with the next seq; tear it after 40 bytes
        // (new seq, old checksum).
        var block = LabelIndexBlock(layout: layout, block: 1, seq: LabelSequence.next(3))
        block.free[0] = false
        let bytes = block.encode(size: layout.indexSize)
        try client.write(offset: UInt32(layout.indexOffset(block: 1)), Array(bytes[0..<40]))
        let report = LabelAreaReport(area: try client.readArea())
        #expect(!report.clean && report.current_block == 0)
        #expect(report.blocks[0].valid && report.blocks[0].current && !report.blocks[1].valid)
        #expect(report.blocks[1].issues.contains { $0.field == "checksum" && $0.block == 1 })
        // Finish the write: block 1 becomes current.
        try client.write(offset: UInt32(layout.indexOffset(block: 1)), bytes)
        let done = LabelAreaReport(area: try client.readArea())
        #expect(done.clean && done.current_block == 1 && done.blocks[1].free_slots == layout.nslot - 1)
    }

    @Test func labelCallsOnAVNVDIMMWithoutALabelAreaAreAClearError() throws {
        let s = Scratch()
        let d = try Guest(config: guestConfig(nvdimms: [nvdimm(0, label: 0)]), baseDirectory: s.path)
        #expect {
            try NamespaceLabelClient(domain: d, slot: 0).readArea()
        } throws: { e in
            guard case .noLabelArea(0)? = e as? GuestError else { return false }
            return true
        }
        #expect(throws: GuestError.self) { try NamespaceLabelClient(domain: d, slot: 4).readArea() }
    }
}
