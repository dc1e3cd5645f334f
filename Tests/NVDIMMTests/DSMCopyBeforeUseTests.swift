import Foundation
import Testing
@testable import NVDIMM

/// The guest owns the DSM page and may rewrite it while the device handles a call. These tests
/// rewrite it in the middle of the call, from inside the label storage, and check that the
/// handler acted on what it copied before the call started.
@Suite struct DSMCopyBeforeUseTests {
    /// A label area that, the moment the handler reads or writes it, scribbles over the guest's
    /// page (handle, function, offset, length and data) before doing its job.
    struct ScribblingStorage: LabelStorage {
        var area: InMemoryLabelStorage
        let page: UnsafeMutableRawBufferPointer
        var size: UInt32 { area.size }

        func scribble() {
            for i in 0..<page.count { page[i] = 0xEE }
        }

        func read(at offset: UInt32, into buffer: UnsafeMutableRawBufferPointer) throws(LabelStorageError) {
            scribble()
            area.read(at: offset, into: buffer)
        }

        mutating func write(at offset: UInt32, from bytes: UnsafeRawBufferPointer) throws(LabelStorageError) {
            scribble()
            area.write(at: offset, from: bytes)
        }
    }

    static let areaSize: UInt32 = 128 * 1024
    static let pattern = (0..<Int(areaSize)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }

    /// A handler whose slot 0 label area scribbles over `page`.
    static func handler(_ page: UnsafeMutableRawBufferPointer) throws -> DSMHandler<ScribblingStorage> {
        var h = DSMHandler<ScribblingStorage>()
        try h.attach(slot: 0, .init(labelArea: ScribblingStorage(area: try InMemoryLabelStorage(bytes: pattern), page: page)))
        return h
    }

    static func withPage<R>(_ bytes: [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 16)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0)
        page.copyBytes(from: bytes)
        return try body(page)
    }

    /// Set Namespace Label Data: the data the guest rewrites during the write is not what lands
    /// in the label area; the data it sent is.
    @Test func aSetWritesTheDataAsItWasWhenTheCallStarted() throws {
        let data = (0..<200).map { UInt8($0) }
        let request = try DSMRequestHeader(handle: 1, function: NVDIMMFunction.setNamespaceLabelData.rawValue)
            .page(arg3: SetLabelDataArguments(offset: 0x300, data: data).encode())
        try Self.withPage(request) { page in
            var h = try Self.handler(page)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 16)
            defer { output.deallocate() }
            let n = h.handle(input: UnsafeRawBufferPointer(page), output: output)
            #expect(page.allSatisfy { $0 == 0xEE }, "the storage did rewrite the page mid-call")
            #expect(n == 8 && LittleEndian.load(UInt32.self, from: UnsafeRawBufferPointer(output), at: 0) == 8)
            #expect(LittleEndian.load(UInt32.self, from: UnsafeRawBufferPointer(output), at: 4) == DSMStatus.success.rawValue)
            let area = h.device(slot: 0)!.labelArea!.area.bytes
            #expect(Array(area[0x300..<0x300 + 200]) == data)
            #expect(Array(area[0x300 + 200..<0x300 + 400]) == Array(Self.pattern[0x300 + 200..<0x300 + 400]), "no more than the length it was sent")
        }
    }

    /// Get Namespace Label Data: the guest rewrites offset and length during the read; the output
    /// has the length and bytes of the request as it was sent.
    @Test func aGetAnswersTheRequestAsItWasWhenTheCallStarted() throws {
        let request = try DSMRequestHeader(handle: 1, function: NVDIMMFunction.getNamespaceLabelData.rawValue)
            .page(arg3: LabelDataRange(offset: 0x1000, length: 100).encode())
        try Self.withPage(request) { page in
            var h = try Self.handler(page)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: DSMPage.size, alignment: 16)
            defer { output.deallocate() }
            let n = h.handle(input: UnsafeRawBufferPointer(page), output: output)
            #expect(page.allSatisfy { $0 == 0xEE })
            #expect(n == 108 && LittleEndian.load(UInt32.self, from: UnsafeRawBufferPointer(output), at: 0) == 108)
            #expect(LittleEndian.load(UInt32.self, from: UnsafeRawBufferPointer(output), at: 4) == 0)
            #expect(Array(output[8..<108]) == Array(Self.pattern[0x1000..<0x1000 + 100]))
        }
    }

    /// Input and output are one page, as for a guest: the bytes read land over the request's
    /// offset and length fields (the area holds 0xAABBCCDD where the length field was). The
    /// output length word must still be 8 + the length asked for.
    @Test func theOutputLengthWordIsTheRequestsWhenInputAndOutputShareAPage() throws {
        var h = DSMHandler<InMemoryLabelStorage>()
        var area = Self.pattern
        // Output data starts at page byte 8; the request's length field is at byte 16, so area
        // byte offset + 8 lands on it.
        let offset = 0x2000
        for (i, b) in LittleEndian.bytes(UInt32(0xAABB_CCDD)).enumerated() { area[offset + 8 + i] = b }
        try h.attach(slot: 0, .init(labelArea: InMemoryLabelStorage(bytes: area)))
        for length in [UInt32(12), 64, 4076] {
            var page = try DSMRequestHeader(handle: 1, function: NVDIMMFunction.getNamespaceLabelData.rawValue)
                .page(arg3: LabelDataRange(offset: UInt32(offset), length: length).encode())
            let n = page.withUnsafeMutableBytes { p in h.handle(input: UnsafeRawBufferPointer(p), output: p) }
            #expect(n == 8 + Int(length))
            #expect(page.readLE(UInt32.self, at: 0) == 8 + length, "the length word, length \(length)")
            #expect(page.readLE(UInt32.self, at: 4) == 0)
            #expect(Array(page[8..<8 + Int(length)]) == Array(area[offset..<offset + Int(length)]))
            #expect(page.readLE(UInt32.self, at: 16) == 0xAABB_CCDD, "the request's length field was overwritten by data")
        }
        // A Set on one page: the status replaces the header, the data went in whole.
        let data = [UInt8](repeating: 0x5A, count: 4076)
        var set = try DSMRequestHeader(handle: 1, function: NVDIMMFunction.setNamespaceLabelData.rawValue)
            .page(arg3: SetLabelDataArguments(offset: 0, data: data).encode())
        let n = set.withUnsafeMutableBytes { p in h.handle(input: UnsafeRawBufferPointer(p), output: p) }
        #expect(n == 8 && set.readLE(UInt32.self, at: 0) == 8 && set.readLE(UInt32.self, at: 4) == 0)
        #expect(Array(h.device(slot: 0)!.labelArea!.bytes[0..<4076]) == data)
    }
}
