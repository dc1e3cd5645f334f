import DeviceModel
import GuestMemory
import HostPmem
import Testing

/// A device model in the shape of the vNVDIMM _DSM transport: the guest writes a page address
/// to a port; the device reads the page through guest memory and writes a reply into it.
final class PageEchoDevice: EmulatedDevice {
    let name = "page echo"
    func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        guard ioreq.direction == .write else { return 0 }
        let page = Gpa(ioreq.data)
        var input = try guestMemory.read(page, count: 4096)
        let sum = input.reduce(UInt32(0)) { $0 &+ UInt32($1) }
        input.reverse()
        try guestMemory.write(page, input)
        try guestMemory.write(page, [UInt8(sum & 0xFF), UInt8(sum >> 8 & 0xFF)])
        return 0
    }
}

@Suite struct DeliveryTests {
    @Test func aDeviceModelOnAPortReadsAndWritesGuestMemory() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "qemu", isDefault: true)
        let dsm = PageEchoDevice()
        try e.register(dsm, server: s, kind: .port, first: 0x0A18, last: 0x0A1B)
        #expect(try e.ranges(s, .port) == [0x0A18...0x0A1B])
        let page = gpa(0x80)
        let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try e.memory.write(page, bytes)
        #expect(try e.handle(.port(0x0A18, size: 4, direction: .write, data: page.raw)) == .completed(data: 0))
        let out = try e.memory.read(page, count: 4096)
        let sum = bytes.reduce(UInt32(0)) { $0 &+ UInt32($1) }
        #expect(out[0] == UInt8(sum & 0xFF) && out[1] == UInt8(sum >> 8 & 0xFF))
        #expect(Array(out[2...]) == Array(bytes.reversed()[2...]))
        // Another port goes to the server but matches no device: reads all ones.
        #expect(try e.handle(.port(0x0CF8, size: 2, direction: .read)) == .unhandled(server: s, data: 0xFFFF))
        // Unregistering unmaps the device's range.
        try e.unregister(dsm, server: s)
        #expect(try e.ranges(s, .port).isEmpty)
        #expect(throws: SteeringError.self) { try e.unregister(dsm, server: s) }
    }

    /// A registered range that mapRange has merged with ranges on both sides splits the merged
    /// range when it is unmapped; at the limit that is refused, and unregistering then changes
    /// nothing: the device keeps its range and still gets its ioreqs.
    @Test func unregisteringIsAllOrNothingWhenTheUnmapWouldSplitPastTheLimit() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, ramFrames: 4096, wpLimit: 1)
        let s = try e.createServer(name: "xengt")
        let other = RecordingDevice(name: "other")
        let gpu = RecordingDevice(name: "gpu")
        try e.register(other, server: s, kind: .port, first: 0x3C0, last: 0x3DF)
        // The port range first, so the refused unmap comes second and the first is undone.
        try e.register(gpu, server: s, kind: .port, first: 0x1CE, last: 0x1CF)
        try e.mapRange(s, .wpMem, first: 0, last: 9)
        try e.register(gpu, server: s, kind: .wpMem, first: 10, last: 19)
        try e.mapRange(s, .wpMem, first: 20, last: 29)
        #expect(try e.ranges(s, .wpMem) == [0...29])
        let charged = e.rangeMemory.charged
        var refusal: SteeringError?
        do { try e.unregister(gpu, server: s) } catch { refusal = error }
        guard case .rangeLimitReached? = refusal else {
            Issue.record("expected rangeLimitReached, got \(String(describing: refusal))")
            return
        }
        #expect(try e.ranges(s, .wpMem) == [0...29])
        #expect(try e.ranges(s, .port) == [0x1CE...0x1CF, 0x3C0...0x3DF])
        #expect(e.rangeMemory.charged == charged)
        // Still registered: its page-table writes and its port still reach it.
        try e.setMemoryType(gfn: Gfn(uncheckedRaw: 15), count: 1, to: .ioreqServer)
        _ = try e.handle(.memory(gpa(15, 8), size: 8, direction: .write, data: 1))
        _ = try e.handle(.port(0x1CE, size: 2, direction: .write, data: 1))
        #expect(gpu.seen.count == 2 && other.seen.isEmpty)
        // With room for the split it goes through.
        try host.setWpMemRangeLimit(e.domain, 2)
        try e.unregister(gpu, server: s)
        #expect(try e.ranges(s, .wpMem) == [0...9, 20...29])
        #expect(try e.ranges(s, .port) == [0x3C0...0x3DF])
    }

    @Test func deviceRangesMustNotOverlapAndDeviceFailuresNameTheDevice() throws {
        final class Failing: EmulatedDevice {
            struct Broken: Error {}
            let name = "broken"
            func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 { throw Broken() }
        }
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        let s = try e.createServer(name: "qemu")
        try e.register(Failing(), server: s, kind: .port, first: 0x60, last: 0x64)
        #expect(throws: SteeringError.self) { try e.register(RecordingDevice(name: "kbd"), server: s, kind: .port, first: 0x64, last: 0x64) }
        do {
            _ = try e.handle(.port(0x60, size: 1, direction: .read))
            Issue.record("a failing device succeeded")
        } catch {
            #expect("\(error)".contains("device 'broken' failed"))
        }
        let d = RecordingDevice(name: "catch-all", readValue: 0xABCD_EF01)
        try e.registerCatchAll(d, server: s)
        try e.mapRange(s, .port, first: 0x70, last: 0x71)
        #expect(try e.handle(.port(0x70, size: 2, direction: .read)) == .completed(data: 0xEF01))  // masked to 2 bytes
        #expect(throws: SteeringError.self) { try e.registerCatchAll(d, server: s) }
    }

    @Test func faultsAndDiscardedWritesAreResultsNotErrors() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 0x30), count: 1, to: Mfn(uncheckedRaw: testMfnBase + 0x30), type: .ramRO)
        #expect(try e.handle(.write(gpa(0x30), size: 4, data: 1)) == .discarded)
        #expect(try e.handle(.read(gpa(0x30), size: 4)) == .completed(data: 0))
        #expect(try e.handle(.read(gpa(0x5000), size: 4)) == .fault(.unmapped(gfn: Gfn(uncheckedRaw: 0x5000))))
    }

    @Test func guestMemoryAccessWalksPagesAndRefusesAllOrNothing() throws {
        let host = try SteeringHost()
        let e = try makeGuest(host, domain: 1, ramFrames: 16)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 16), count: 1, to: nil, type: .mmioDM)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 3), count: 1, to: Mfn(uncheckedRaw: testMfnBase + 3), type: .ramRO)
        try e.p2m.set(gfn: Gfn(uncheckedRaw: 4), count: 1, to: Mfn(uncheckedRaw: testMfnBase + 4), type: .ioreqServer)
        // Across a page boundary, at an odd offset.
        let data = (0..<6000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        try e.memory.write(gpa(5, 0x123), data)
        #expect(try e.memory.read(gpa(5, 0x123), count: 6000) == data)
        // The last page is mmio_dm: refused, and the RAM pages before it are untouched.
        let before = try e.memory.read(gpa(14), count: 8192)
        #expect(throws: GuestMemoryFault.self) { try e.memory.write(gpa(14, 0x10), [UInt8](repeating: 0xEE, count: 8192)) }
        #expect(try e.memory.read(gpa(14), count: 8192) == before)
        #expect(throws: GuestMemoryFault.self) { try e.memory.read(gpa(15), count: 4097) }
        #expect(throws: GuestMemoryFault.self) { try e.memory.write(gpa(3), [1]) }  // ram_ro
        #expect(try e.memory.read(gpa(3), count: 1) == [0])
        try e.memory.write(gpa(4), [9])  // ioreq_server: the device model commits to RAM
        #expect(try e.memory.read(gpa(4), count: 1) == [9])
        #expect(throws: GuestMemoryFault.self) { try e.memory.read(gpa(100), count: 1) }  // unmapped
        #expect(throws: GuestMemoryFault.self) { try e.memory.read(Gpa(UInt64.max - 2), count: 8) }
    }

    @Test func pmemWritesAreDurableThroughTheHostPmemAPI() throws {
        let dir = TempDirectory()
        defer { dir.remove(["nvdimm0"]) }
        let path = dir.path + "/nvdimm0"
        let pmemGfn: UInt64 = 0x4_0000  // 1 GiB
        let pmemMfn = Mfn(uncheckedRaw: 1 << 32)
        do {
            let mapping = try PmemMapping.create(path: path, size: 2 << 20)
            let host = try SteeringHost()
            let e = try makeGuest(host, domain: 1)
            try e.memory.machine.addPmem(mapping, firstMfn: pmemMfn, frames: 512)
            try e.p2m.set(gfn: Gfn(uncheckedRaw: pmemGfn), count: 512, to: pmemMfn, type: .pmem)
            #expect(e.decide(try .write(gpa(pmemGfn + 3, 8), size: 8, data: 0x0123_4567_89AB_CDEF))
                    == .direct(mfn: Mfn(uncheckedRaw: pmemMfn.raw + 3), type: .pmem))
            #expect(try e.handle(.write(gpa(pmemGfn + 3, 8), size: 8, data: 0x0123_4567_89AB_CDEF)) == .completed(data: 0))
            try e.memory.write(gpa(pmemGfn + 511, 4090), [1, 2, 3, 4, 5, 6])
        }
        // The mapping is gone (and the lock released): the bytes are in the file.
        let reopened = try PmemMapping.open(path: path, access: .readOnly)
        #expect(try reopened.read(at: 3 * 4096 + 8, count: 8) == [0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01])
        #expect(try reopened.read(at: 511 * 4096 + 4090, count: 6) == [1, 2, 3, 4, 5, 6])
    }
}
