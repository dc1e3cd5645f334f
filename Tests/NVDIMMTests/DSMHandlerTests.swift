import Foundation
import Testing
import GuestMemory
import VpmemTestSupport
@testable import NVDIMM

/// A DSM input page: handle, revision, function, arg3.
func dsmPage(handle: UInt32, revision: UInt32 = 1, function: UInt32, arg3: [UInt8] = [], pageSize: Int = DSMPage.size) -> [UInt8] {
    var p: [UInt8] = []
    p.appendLE(handle)
    p.appendLE(revision)
    p.appendLE(function)
    p += arg3
    if p.count < pageSize { p.appendZeros(pageSize - p.count) }
    return p
}

func labelArgs(offset: UInt32, length: UInt32, data: [UInt8] = []) -> [UInt8] {
    var a: [UInt8] = []
    a.appendLE(offset)
    a.appendLE(length)
    return a + data
}

struct DSMOutput: Equatable {
    var length: UInt32
    var words: [UInt32]
    var bytes: [UInt8]
    init(_ out: [UInt8]) {
        length = out.readLE(UInt32.self, at: 0)
        bytes = out
        words = stride(from: 4, to: out.count - 3, by: 4).map { out.readLE(UInt32.self, at: $0) }
    }
    var status: UInt32 { words.first ?? .max }
}

@Suite struct DSMHandlerTests {
    typealias Handler = DSMHandler<InMemoryLabelStorage>
    static let labelSize: UInt32 = 128 * 1024

    static func handler(readOnlySlot1: Bool = false) throws -> Handler {
        var h = Handler()
        var area = InMemoryLabelStorage(size: labelSize)
        let pattern = (0..<Int(labelSize)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        area = try InMemoryLabelStorage(bytes: pattern)
        try h.attach(slot: 0, .init(labelArea: area))
        try h.attach(slot: 1, .init(labelArea: area, readOnly: readOnlySlot1))
        try h.attach(slot: 2, .init(labelArea: nil))
        return h
    }

    @Test func functionZeroReportsWhatEachHandleSupports() throws {
        var h = try Self.handler()
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 0))).words == [0x71])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 3, function: 0))).words == [0])  // no label area
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 9, function: 0))).words == [0])  // no such device
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0, function: 0))).words == [0])  // root
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0x10000, function: 0))).words == [0x3])  // reserved root
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 0))).length == 8)
        // A read-only device does not report Set Namespace Label Data (function 6).
        var ro = try Self.handler(readOnlySlot1: true)
        #expect(DSMOutput(ro.handle(page: dsmPage(handle: 2, function: 0))).words == [0x31])
        #expect(DSMOutput(ro.handle(page: dsmPage(handle: 1, function: 0))).words == [0x71])
    }

    @Test func statusCodesForUnsupportedAndUnknown() throws {
        var h = try Self.handler()
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, revision: 2, function: 4))).words == [1])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, revision: 0, function: 0))).words == [1])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 9, function: 4))).words == [2])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0xFFFF_FFFF, function: 5))).words == [2])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 7))).words == [1])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 1))).words == [1])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 3, function: 4))).words == [1])  // no label area
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0, function: 4))).words == [1])  // root: only function 0
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0x10000, function: 2))).words == [1])
    }

    @Test func getLabelSize() throws {
        var h = try Self.handler()
        let out = DSMOutput(h.handle(page: dsmPage(handle: 2, function: 4)))
        #expect(out.length == 16)
        #expect(out.words == [0, Self.labelSize, 4076])
    }

    @Test func getLabelDataReturnsTheBytesAndChecksBounds() throws {
        var h = try Self.handler()
        let area = h.device(slot: 0)!.labelArea!.bytes
        let ok = h.handle(page: dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: 0x100, length: 4076)))
        #expect(DSMOutput(ok).length == 8 + 4076)
        #expect(DSMOutput(ok).status == 0)
        #expect(Array(ok[8...]) == Array(area[0x100..<0x100 + 4076]))
        // The last byte of the area, and a zero-length read at the very end.
        let last = h.handle(page: dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: Self.labelSize - 1, length: 1)))
        #expect(Array(last[8...]) == [area.last!])
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: Self.labelSize, length: 0)))).words == [0])
        // Invalid input: over max transfer, beyond the area, 32-bit overflow.
        for (o, l) in [(0, 4077), (Self.labelSize - 4, 5), (Self.labelSize + 1, 0), (0xFFFF_FFFF, 2), (0xFFFF_F000, 0x1000)] as [(UInt32, UInt32)] {
            let out = DSMOutput(h.handle(page: dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: o, length: l))))
            #expect(out.length == 8 && out.words == [3], "offset \(o) length \(l)")
        }
    }

    @Test func setLabelDataWritesAndIsRefusedOnReadOnlyDevices() throws {
        var h = try Self.handler(readOnlySlot1: true)
        let data = (0..<100).map { UInt8($0) }
        let out = DSMOutput(h.handle(page: dsmPage(handle: 1, function: 6, arg3: labelArgs(offset: 0x2000, length: 100, data: data))))
        #expect(out.length == 8 && out.words == [0])
        #expect(Array(h.device(slot: 0)!.labelArea!.bytes[0x2000..<0x2064]) == data)
        // Read back through function 5.
        let back = h.handle(page: dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: 0x2000, length: 100)))
        #expect(Array(back[8...]) == data)
        // Read-only device: not supported, area unchanged.
        let before = h.device(slot: 1)!.labelArea!.bytes
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 2, function: 6, arg3: labelArgs(offset: 0, length: 4, data: [1, 2, 3, 4])))).words == [1])
        #expect(h.device(slot: 1)!.labelArea!.bytes == before)
        // Bounds failures leave the area unchanged too.
        let before0 = h.device(slot: 0)!.labelArea!.bytes
        for (o, l) in [(0, 4077), (Self.labelSize - 2, 4), (0xFFFF_FFFE, 4)] as [(UInt32, UInt32)] {
            let r = DSMOutput(h.handle(page: dsmPage(handle: 1, function: 6, arg3: labelArgs(offset: o, length: l, data: [9, 9, 9, 9]))))
            #expect(r.words == [3])
        }
        #expect(h.device(slot: 0)!.labelArea!.bytes == before0)
        // The largest write: 4076 bytes fill the page exactly.
        let big = [UInt8](repeating: 0xAB, count: 4076)
        let page = dsmPage(handle: 1, function: 6, arg3: labelArgs(offset: 0, length: 4076, data: big))
        #expect(page.count == DSMPage.size)
        #expect(DSMOutput(h.handle(page: page)).words == [0])
        #expect(Array(h.device(slot: 0)!.labelArea!.bytes[0..<4076]) == big)
    }

    @Test func shortOrMalformedPagesAreInvalidInput() throws {
        var h = try Self.handler()
        // Fewer than 12 bytes: not even a header.
        #expect(DSMOutput(h.handle(page: [1, 0, 0, 0, 1, 0])).words == [3])
        // Arg3 shorter than offset + length.
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 1, function: 5, arg3: [0, 0, 0, 0], pageSize: 16))).words == [3])
        // Set with fewer data bytes than its length says.
        let short = dsmPage(handle: 1, function: 6, arg3: labelArgs(offset: 0, length: 64, data: [1, 2]), pageSize: 22)
        #expect(DSMOutput(h.handle(page: short)).words == [3])
        // Read FIT without an offset.
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 0x10000, function: 1, pageSize: 14))).words == [3])
        // More than a page.
        #expect(DSMOutput(h.handle(page: [UInt8](repeating: 0, count: 4097))).words == [3])
    }

    /// The guest's page is input and output at once: the data of a Set must be taken before the
    /// output overwrites the page.
    @Test func inputAndOutputMayBeTheSamePage() throws {
        var h = try Self.handler()
        let data = (0..<64).map { UInt8(0x80 | $0) }
        var page = dsmPage(handle: 1, function: 6, arg3: labelArgs(offset: 0x40, length: 64, data: data))
        let n = page.withUnsafeMutableBytes { p in h.handle(input: UnsafeRawBufferPointer(p), output: p) }
        #expect(n == 8)
        #expect(page.readLE(UInt32.self, at: 0) == 8 && page.readLE(UInt32.self, at: 4) == 0)
        #expect(Array(h.device(slot: 0)!.labelArea!.bytes[0x40..<0x80]) == data)
        var get = dsmPage(handle: 1, function: 5, arg3: labelArgs(offset: 0x40, length: 64))
        let m = get.withUnsafeMutableBytes { p in h.handle(input: UnsafeRawBufferPointer(p), output: p) }
        #expect(m == 72 && Array(get[8..<72]) == data)
    }

    @Test func readFITInPiecesAndRestartWhenItChanges() throws {
        let dimms = (0..<32).map { VirtualNVDIMM(slot: $0, base: Gpa(UInt64($0 + 4) << 30), size: 1 << 30) }
        let fit = try NFITBuilder(nvdimms: dimms, persistenceDomain: .cpu).structures()
        #expect(fit.count > 4088)
        var h = Handler(fit: fit)
        func read(_ offset: UInt32) -> [UInt8] { h.handle(page: dsmPage(handle: 0x10000, function: 1, arg3: labelArgs(offset: offset, length: 0))) }
        // Before any read from 0, a later piece is stale.
        #expect(DSMOutput(read(4088)).status == 0x100)
        var got: [UInt8] = []
        while true {
            let out = read(UInt32(got.count))
            #expect(DSMOutput(out).status == 0)
            #expect(Int(DSMOutput(out).length) == out.count)
            if out.count == 8 { break }
            #expect(out.count <= 4096)
            got += out[8...]
        }
        #expect(got == fit)
        // Offset past the end: invalid.
        #expect(DSMOutput(read(UInt32(fit.count + 1))).status == 3)
        // A hotplug in the middle of a read: the next piece says "FIT changed" until offset 0.
        _ = read(0)
        let fewer = try NFITBuilder(nvdimms: Array(dimms.prefix(3))).structures()
        h.setFIT(fewer)
        #expect(DSMOutput(read(100)).status == 0x100)
        #expect(DSMOutput(read(50)).status == 0x100)
        let again = read(0)
        #expect(Array(again[8...]) == fewer)
        #expect(DSMOutput(read(UInt32(fewer.count))).length == 8)
    }

    @Test func slotsOutsideTheRangeAreErrors() throws {
        var h = Handler()
        #expect(throws: NVDIMMConfigError.slotOutOfRange(slot: 256)) { try h.attach(slot: 256, .init(labelArea: nil)) }
        try h.attach(slot: 255, .init(labelArea: InMemoryLabelStorage(size: 4096)))
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 256, function: 4))).words == [0, 4096, 4076])
        try h.detach(slot: 255)
        #expect(DSMOutput(h.handle(page: dsmPage(handle: 256, function: 4))).words == [2])
    }

    /// Random Get/Set sequences against a plain byte array: same statuses, same bytes.
    @Test func randomLabelTrafficMatchesANaiveModel() async throws {
        await checkProperty(count: 40, input: Gen.int(in: 0...Int.max)) { seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let size = UInt32(rng.next() % 8 + 1) * 4096 + UInt32(rng.next() % 2) * 100
            var h = Handler()
            try h.attach(slot: 3, .init(labelArea: InMemoryLabelStorage(size: size)))
            var model = [UInt8](repeating: 0, count: Int(size))
            for _ in 0..<60 {
                let near = rng.next() % 4 == 0
                let offset = near ? UInt32.max - UInt32(rng.next() % 8) : UInt32(rng.next() % UInt64(size + 200))
                let length = UInt32(rng.next() % 4200)
                let end = UInt64(offset) + UInt64(length)
                let valid = end <= UInt64(size) && length <= 4076
                if rng.next() % 2 == 0 {
                    let out = h.handle(page: dsmPage(handle: 4, function: 5, arg3: labelArgs(offset: offset, length: length)))
                    if valid {
                        #expect(DSMOutput(out).status == 0)
                        #expect(Array(out[8...]) == Array(model[Int(offset)..<Int(end)]))
                    } else {
                        #expect(DSMOutput(out).status == 3 && out.count == 8)
                    }
                } else {
                    let n = Int(min(length, 4076))
                    let data = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    let out = h.handle(page: dsmPage(handle: 4, function: 6, arg3: labelArgs(offset: offset, length: length, data: data)))
                    if valid {
                        #expect(DSMOutput(out).status == 0)
                        model.replaceSubrange(Int(offset)..<Int(end), with: data)
                    } else {
                        #expect(DSMOutput(out).status == 3)
                    }
                }
                #expect(h.device(slot: 3)!.labelArea!.bytes == model)
            }
        }
    }
}

/// Deterministic generator for property tests (seeded by PropertyBased).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
