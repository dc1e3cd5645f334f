import Foundation
import Testing
@testable import NVDIMM

/// The _DSM wire format types: what they encode is what the page layout says, and what they
/// decode they validate.
@Suite struct DSMWireTests {
    @Test func functionNumbersAreTheInterfaces() {
        #expect(NVDIMMFunction.allCases.map(\.rawValue) == [0, 4, 5, 6])
        #expect(ReservedRootFunction.allCases.map(\.rawValue) == [0, 1])
        #expect(DSMFunctionSet.nvdimm(hasLabelArea: true, readOnly: false).rawValue == 0x71)
        #expect(DSMFunctionSet.nvdimm(hasLabelArea: true, readOnly: true).rawValue == 0x31)
        #expect(DSMFunctionSet.nvdimm(hasLabelArea: false, readOnly: false).rawValue == 0)
        #expect(DSMFunctionSet.reservedRoot.rawValue == 0x3)
        #expect(DSMFunctionSet([]).rawValue == 0 && DSMFunctionSet([32, 40]).rawValue == 0)
        #expect(DSMFunctionSet(rawValue: 0x31).functions == [0, 4, 5])
        #expect(!DSMFunctionSet(rawValue: 0x31).contains(.setNamespaceLabelData))
    }

    @Test func requestPagesAreLaidOutAsTheAMLStoresThem() throws {
        let page = try DSMRequestHeader(handle: 0x10, revision: 1, function: 5).page(arg3: LabelDataRange(offset: 0x1234, length: 0x20).encode())
        #expect(page.count == DSMPage.size)
        #expect(Array(page[0..<20]) == [0x10, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0x34, 0x12, 0, 0, 0x20, 0, 0, 0])
        #expect(page[20...].allSatisfy { $0 == 0 })
        let header = page.withUnsafeBytes { DSMRequestHeader(copying: $0) }
        #expect(header == DSMRequestHeader(handle: 0x10, function: 5))
        #expect([UInt8](repeating: 0, count: 11).withUnsafeBytes { DSMRequestHeader(copying: $0) } == nil)
        #expect(throws: DSMWireError.tooLong(what: "Arg3", length: 4085, limit: 4084)) {
            try DSMRequestHeader(handle: 1, function: 6).page(arg3: [UInt8](repeating: 0, count: 4085))
        }
    }

    @Test func argumentsRoundTripAndRefuseWhatDoesNotFit() throws {
        let range = LabelDataRange(offset: 0xFFFF_FFF0, length: 0x10)
        #expect(try LabelDataRange(decoding: range.encode()) == range)
        #expect(range.encode().withUnsafeBytes { LabelDataRange(copying: $0) } == range)
        #expect(throws: DSMWireError.truncated(what: "label data arguments", expected: 8, actual: 7)) { try LabelDataRange(decoding: [0, 0, 0, 0, 0, 0, 0]) }
        // The device's checks: overflow, area end, max transfer.
        #expect(LabelDataRange(offset: 0xFFFF_FFEF, length: 0x10).isValid(areaSize: .max))
        #expect(!LabelDataRange(offset: 0xFFFF_FFF0, length: 0x10).isValid(areaSize: .max), "end 2^32 overflows 32 bits")
        #expect(LabelDataRange(offset: 0x1F014, length: 4076).isValid(areaSize: 0x20000))
        #expect(!LabelDataRange(offset: 0x1F015, length: 4076).isValid(areaSize: 0x20000))
        #expect(LabelDataRange(offset: 0, length: 4076).isValid(areaSize: 0x20000))
        #expect(!LabelDataRange(offset: 0, length: 4077).isValid(areaSize: 0x20000))

        let set = try SetLabelDataArguments(offset: 8, data: [1, 2, 3])
        #expect(set.encode() == [8, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3])
        #expect(try SetLabelDataArguments(decoding: set.encode() + [0, 0, 0]) == set, "the page's zero fill is not data")
        #expect(throws: DSMWireError.lengthMismatch(what: "Set Namespace Label Data's arg3", expected: 3, actual: 2)) {
            try SetLabelDataArguments(decoding: [8, 0, 0, 0, 3, 0, 0, 0, 1, 2])
        }
        #expect(throws: DSMWireError.tooLong(what: "Set Namespace Label Data's data", length: 4077, limit: 4076)) {
            try SetLabelDataArguments(offset: 0, data: [UInt8](repeating: 0, count: 4077))
        }
        #expect(ReadFITArguments(offset: 0x102).encode() == [2, 1, 0, 0])
    }

    @Test func resultsDecodeOnlyWhatTheirFunctionReturns() throws {
        let info = LabelSizeInfo(size: 0x20000)
        #expect(info.encode() == [0, 0, 0, 0, 0, 0, 2, 0, 0xEC, 0x0F, 0, 0])
        #expect(try LabelSizeInfo(decoding: info.encode()) == info)
        #expect(throws: DSMWireError.status(function: 4, status: 1)) { try LabelSizeInfo(decoding: [1, 0, 0, 0]) }
        #expect(throws: DSMWireError.truncated(what: "Get Namespace Label Size's result", expected: 12, actual: 8)) {
            try LabelSizeInfo(decoding: [0, 0, 0, 0, 0, 0, 2, 0])
        }
        #expect(try LabelResult.data(decoding: [0, 0, 0, 0, 9, 8], length: 2) == [9, 8])
        #expect(throws: DSMWireError.lengthMismatch(what: "Get Namespace Label Data's result", expected: 3, actual: 2)) {
            try LabelResult.data(decoding: [0, 0, 0, 0, 9, 8], length: 3)
        }
        #expect(throws: DSMWireError.status(function: 5, status: 3)) { try LabelResult.data(decoding: [3, 0, 0, 0], length: 0) }
        #expect(try DSMFunctionSet(decoding: [0x71, 0, 0, 0]).rawValue == 0x71)
        #expect(try DSMFunctionSet(decoding: [0]).rawValue == 0, "the AML's answer for a UUID the device does not implement")
        #expect(throws: DSMWireError.self) { try DSMFunctionSet(decoding: [1, 2]) }
        #expect(DSMWireError.status(function: 6, status: 1).description.contains("notSupported (1)"))
    }

    /// What the handler writes into the output page is the result the types encode, after the
    /// length word.
    @Test func theHandlerWritesTheTypesEncodings() throws {
        var h = DSMHandler<InMemoryLabelStorage>()
        try h.attach(slot: 0, .init(labelArea: InMemoryLabelStorage(size: 0x20000)))
        try h.attach(slot: 1, .init(labelArea: InMemoryLabelStorage(size: 0x20000), readOnly: true))
        func call(_ handle: UInt32, _ f: NVDIMMFunction, _ arg3: [UInt8] = []) throws -> [UInt8] {
            let out = h.handle(page: try DSMRequestHeader(handle: handle, function: f.rawValue).page(arg3: arg3))
            #expect(out.readLE(UInt32.self, at: 0) == UInt32(out.count))
            return Array(out[4...])
        }
        #expect(try LabelSizeInfo(decoding: call(1, .getNamespaceLabelSize)) == LabelSizeInfo(size: 0x20000))
        #expect(try DSMFunctionSet(decoding: call(1, .query)) == .nvdimm(hasLabelArea: true, readOnly: false))
        #expect(try DSMFunctionSet(decoding: call(2, .query)) == .nvdimm(hasLabelArea: true, readOnly: true))
        #expect(try DSMStatus.word(of: call(2, .setNamespaceLabelData, SetLabelDataArguments(offset: 0, data: [1]).encode())) == 1)
        #expect(try LabelResult.data(decoding: call(2, .getNamespaceLabelData, LabelDataRange(offset: 4, length: 4).encode()), length: 4) == [0, 0, 0, 0])
    }
}
