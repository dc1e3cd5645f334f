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
        #expect(try d.nvdimmDSM(slot: 1, function: 0) == le32(0x31), "read-only: function 6 is not reported")
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

    /// Like ndctl, init-labels keeps what the area held after each block's bitmap and does not
    /// touch the label slots; the layout is the one Linux computes for the size.
    @Test func initLabelsOverAnOldAreaWritesWhatNdctlWrites() throws {
        let s = Scratch()
        let d = try Guest(config: guestConfig(nvdimms: [nvdimm(0, label: 1396 * KiB)]), baseDirectory: s.path)
        let client = NamespaceLabelClient(domain: d, slot: 0)
        let old = (0..<1396 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try client.writeArea(offset: 0, old)
        for labelSize in [128, 256] {
            let before = try client.readArea()
            let layout = try client.initLabels(labelSize: labelSize)
            let (index, nslot) = labelSize == 256 ? (1024, 5576) : (1536, 11144)
            #expect(layout.indexSize == index && layout.nslot == nslot)
            let area = try client.readArea()
            let expected = LabelArea.initialisedIndexBlocks(layout: layout, previous: before)
            #expect(Array(area[0..<2 * layout.indexSize]) == expected)
            let decoded = LabelArea.decode(area)
            #expect(decoded.isClean && decoded.layout == layout && decoded.current == 0, "\(decoded.issues)")
            let slotsStart: Int = 2 * layout.indexSize
            let slotsNow: [UInt8] = Array(area[slotsStart...]), slotsBefore: [UInt8] = Array(old[slotsStart...])
            if labelSize == 128 { #expect(slotsNow == slotsBefore, "slots untouched") }
        }
    }

    /// `labels --json`: every field of both index blocks and of every in-use label, valid or not.
    @Test func theLabelReportShowsEveryField() throws {
        let layout = try LabelAreaLayout(areaSize: 128 * 1024, labelSize: 256)
        let pfn = Aml.guidBytes("266400ba-fb9f-4677-bcb0-968f11d0d225")!
        let good = NamespaceLabel(uuid: Array(0..<16), name: "ns0", flags: 0x8, nlabel: 1, position: 0, isetcookie: 0x1122_3344_5566_7788,
                                  lbasize: 0, dpa: 0x1000, rawsize: 0x20_0000, slot: 3, abstractionGUID: pfn)
        var area = try LabelArea.encode(layout: layout, labels: [good, NamespaceLabel(uuid: Array(repeating: 9, count: 16), dpa: 0, rawsize: 0x1000, slot: 7)])
        area[layout.labelOffset(slot: 7) + 20] ^= 0xFF  // the name of slot 7 changes under its checksum
        let r = LabelAreaReport(area: area)
        #expect(!r.clean && r.index_size == 256 && r.nslot == 510 && r.label_size == 256)
        let b0 = r.blocks[0]
        #expect(b0.signature == "NAMESPACE_INDEX" && b0.seq == 3 && b0.myoff == 0 && b0.mysize == 256 && b0.otheroff == 256)
        #expect(b0.labeloff == 512 && b0.nslot == 510 && b0.major == 1 && b0.minor == 2 && b0.labelsize == 256 && b0.flags == 0)
        #expect(b0.checksum_valid == true && b0.free_slots == 508 && r.blocks[1].seq == 2)
        #expect(r.labels.map(\.slot) == [3, 7])
        let l = r.labels[0]
        #expect(l.valid && l.uuid == "00010203-0405-0607-0809-0a0b0c0d0e0f" && l.name == "ns0" && l.flags == 8 && l.nlabel == 1)
        #expect(l.position == 0 && l.isetcookie == 0x1122_3344_5566_7788 && l.lbasize == 0 && l.dpa == 0x1000 && l.rawsize == 0x20_0000)
        #expect(l.label_slot == 3 && l.align == 0 && l.checksum_valid == true)
        #expect(l.type_guid == "79d3f066-f3b4-7440-ac43-0d3318b78cdb", "ndctl prints the stored bytes in order")
        #expect(l.abstraction_guid == "ba006426-9ffb-7746-bcb0-968f11d0d225")
        #expect(!r.labels[1].valid && r.labels[1].checksum_valid == false)
        #expect(r.issues.contains { $0.slot == 7 && $0.field == "checksum" })
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        for key in ["\"isetcookie\"", "\"lbasize\"", "\"type_guid\"", "\"abstraction_guid\"", "\"labeloff\"", "\"otheroff\"", "\"checksum_valid\""] {
            #expect(json.contains(key), "\(key)")
        }
        // v1.1 labels have no v1.2 fields.
        let v11 = LabelAreaReport(area: try LabelArea.encode(layout: LabelAreaLayout(areaSize: 128 * 1024, labelSize: 128),
                                                             labels: [NamespaceLabel(uuid: Array(0..<16), dpa: 0, rawsize: 0x1000, slot: 0,
                                                                                     typeGUID: Array(repeating: 0, count: 16))]))
        #expect(v11.clean && v11.labels.first?.type_guid == nil && v11.labels.first?.checksum_valid == nil && v11.nslot == 1020)
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
