import DeviceModel
import Foundation
import GuestMemory
import SteeringFiles
import Testing
import VpmemTestSupport

/// A scratch directory removed when the value goes.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "vpmem-steering-files-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Random valid accesses of every space, size and direction.
func randomAccesses(_ count: Int, seed: UInt64) throws -> [GuestAccess] {
    var r = SplitMix64(seed: seed)
    var out: [GuestAccess] = []
    for _ in 0..<count {
        let size = UInt8(1 << (r.next() % 4))
        let write = r.next() & 1 == 1
        let mask: UInt64 = size == 8 ? .max : (1 << (UInt64(size) * 8)) - 1
        let data = write ? r.next() & mask : 0
        let direction: AccessDirection = write ? .write : .read
        switch r.next() % 3 {
        case 0:
            let page = r.next() % (1 << 36)
            let offset = (r.next() % 4096) & ~(UInt64(size) - 1)
            out.append(try .memory(Gpa(page << 12 | offset), size: size, direction: direction, data: data))
        case 1:
            out.append(try .port(UInt16(r.next() % (0x10000 - UInt64(size) + 1)), size: size, direction: direction, data: data))
        default:
            let sbdf = PciSbdf(raw: UInt32(truncatingIfNeeded: r.next()))
            let register = UInt16((r.next() % 4096) & ~(UInt64(size) - 1))
            out.append(try .pciConfig(PciConfigAddress(sbdf: sbdf, register: register), size: size, direction: direction, data: data))
        }
    }
    return out
}

/// Writes `accesses` as a trace, then reads it back in batches of `batch`.
func roundTrip(_ accesses: [GuestAccess], format: AccessTraceFormat, batch: Int, in scratch: Scratch) throws -> [GuestAccess] {
    let path = scratch.file("trace.\(format.rawValue)")
    let writer = try AccessTraceWriter(path: path, format: format)
    try accesses.withUnsafeBufferPointer { try writer.write($0) }
    try writer.finish()
    let reader = try AccessTraceReader(path: path)
    #expect(reader.format == format)
    var back: [GuestAccess] = []
    let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: batch)
    defer { buffer.deallocate() }
    while true {
        let n = try reader.read(into: buffer)
        if n == 0 { break }
        back += buffer[0..<n]
    }
    return back
}

@Suite struct AccessTraceTests {
    @Test func everyAccessSurvivesBothFormsWhateverTheBatch() async throws {
        await checkProperty(count: 40, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let scratch = Scratch()
            let accesses = try randomAccesses(300, seed: seed)
            for format in AccessTraceFormat.allCases {
                let batch = Int(seed % 97) + 1
                #expect(try roundTrip(accesses, format: format, batch: batch, in: scratch) == accesses, "\(format), batch \(batch)")
            }
        }
    }

    /// A trace larger than the reader's buffer: lines and records cut by the buffer's end are
    /// carried into the next fill.
    @Test func aTraceLongerThanTheReadBufferIsReadWhole() throws {
        let scratch = Scratch()
        let accesses = try randomAccesses(120_000, seed: 7)
        for format in AccessTraceFormat.allCases {
            #expect(try roundTrip(accesses, format: format, batch: 4096, in: scratch) == accesses, "\(format)")
        }
        #expect((try FileManager.default.attributesOfItem(atPath: scratch.file("trace.text"))[.size] as? Int ?? 0) > 2 << 20)
    }

    @Test func commentsBlankLinesAndSpellingsAreAccepted() throws {
        let scratch = Scratch()
        let path = scratch.file("t.txt")
        try """
            # a hand-written trace
            mem 0x1000 8 w 0xff   # a PTE

            \tport 0x3c4 1 write 18
            pci 00:02.0 0x10 4 read
            mem 4096 8 r
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try AccessTraceReader(path: path)
        let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 10)
        defer { buffer.deallocate() }
        #expect(try reader.read(into: buffer) == 4)
        #expect(buffer[0] == (try .write(Gpa(0x1000), size: 8, data: 0xFF)))
        #expect(buffer[1] == (try .port(0x3C4, size: 1, direction: .write, data: 18)))
        #expect(buffer[2] == (try .pciConfig(PciConfigAddress(sbdf: PciSbdf(bus: 0, device: 2, function: 0), register: 0x10), size: 4, direction: .read)))
        #expect(buffer[3] == (try .read(Gpa(0x1000), size: 8)))
        #expect(try reader.read(into: buffer) == 0)
    }

    /// Each bad line is refused with the file, its line number, and what to write instead.
    static let badLines: [(String, String)] = [
        ("mem 0x1000 3 r", "size 3"),
        ("mem 0x1ffc 8 r", "crosses a 4 KiB page"),
        ("mem 0x1000 8 r 0x5", "a read carries no data"),
        ("mem 0x1000 8 w", "a write needs its data"),
        ("mem 0x1000 1 w 0x100", "does not fit in 1 bytes"),
        ("mem 0x1000 8 x 1", "direction 'x'"),
        ("mem 0xzz 8 r", "address '0xzz' is not a number"),
        ("mem 0x10000000000000000 8 r", "does not fit in 64 bits"),
        ("mem 0x1000000000000 8 r", "ends past"),
        ("port 0x10000 1 r", "past 0xffff"),
        ("port 0xffff 2 r", "ends past port 0xffff"),
        ("pci 0000:00:20.0 0 4 r", "device"),
        ("pci 0000:00:02 0 4 r", "SSSS:BB:DD.F"),
        ("pci 0000:00:02.0 0x1000 4 r", "past the 4 KiB configuration space"),
        ("dma 0x1000 8 r", "'dma' is no access kind"),
        ("mem 0x1000", "fields"),
    ]

    @Test(arguments: badLines) func aBadLineIsRefusedWithItsLineNumber(_ line: String, _ mentions: String) throws {
        let scratch = Scratch()
        let path = scratch.file("bad.txt")
        try "mem 0x1000 8 r\n# fine so far\n\(line)\nmem 0x2000 8 r\n".write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try AccessTraceReader(path: path)
        let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 10)
        defer { buffer.deallocate() }
        // The access before the bad line comes first; the next read throws, and so does every
        // read after it.
        #expect(try reader.read(into: buffer) == 1)
        for _ in 0..<2 {
            do {
                _ = try reader.read(into: buffer)
                Issue.record("\(line) was accepted")
            } catch {
                #expect("\(error)".hasPrefix("\(path):3: "), "\(error)")
                #expect("\(error)".contains(mentions), "\(error)")
            }
        }
    }

    @Test func aDamagedBinaryTraceIsRefusedNamingTheRecord() throws {
        let scratch = Scratch()
        let good = scratch.file("good.bin")
        let writer = try AccessTraceWriter(path: good, format: .binary)
        try randomAccesses(10, seed: 3).withUnsafeBufferPointer { try writer.write($0) }
        try writer.finish()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        #expect(bytes.count == 16 + 10 * 24)
        func refusal(_ data: Data) throws -> String {
            let path = scratch.file("bad.bin")
            try data.write(to: URL(fileURLWithPath: path))
            do {
                let reader = try AccessTraceReader(path: path)
                let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: 64)
                defer { buffer.deallocate() }
                while try reader.read(into: buffer) > 0 {}
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(try refusal(bytes.prefix(16 + 3 * 24 + 10)).contains("record 4 is cut short (10 of 24 bytes)"))
        var reserved = bytes
        reserved[16 + 24 * 5 + 20] = 1
        #expect(try refusal(reserved).contains("record 6 (byte offset 136): reserved byte 20"))
        var size = bytes
        size[16 + 24 * 2 + 18] = 3
        #expect(try refusal(size).contains("record 3 (byte offset 64): access size 3"))
        var space = bytes
        space[16 + 16] = 9
        #expect(try refusal(space).contains("record 1 (byte offset 16): space 9"))
        var version = bytes
        version[8] = 2
        #expect(try refusal(version).contains("version 2"))
        #expect(try refusal(bytes.prefix(12)).contains("header is cut short"))
        #expect(try refusal(bytes) == "accepted")
    }

    /// A run that fails before `finish` leaves the file that was there, and no temporary file.
    @Test func anUnfinishedTraceLeavesTheOldFileUntouched() throws {
        let scratch = Scratch()
        let path = scratch.file("keep.txt")
        try "mem 0x1000 8 r\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            let writer = try AccessTraceWriter(path: path, format: .text)
            try randomAccesses(50_000, seed: 1).withUnsafeBufferPointer { try writer.write($0) }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "mem 0x1000 8 r\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["keep.txt"])
        #expect(throws: AccessTraceError.self) { try AccessTraceWriter(path: scratch.file("no/such/dir/t.txt"), format: .text) }
    }
}
