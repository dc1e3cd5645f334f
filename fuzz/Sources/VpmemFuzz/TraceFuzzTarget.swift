#if canImport(Glibc)
import Glibc
#endif
import DeviceModel
import GuestMemory
import SteeringFiles

/// Fuzz target: the access-trace reader (`AccessTraceReader`), text and binary, on arbitrary
/// file contents. Input: byte 0 picks the reader's buffer size (32 + 4 * b bytes, so lines and
/// records cross buffer ends), byte 1 the batch size (1 + b % 64), the rest is the file. It must
/// never trap, and:
/// - every access it returns is one `GuestAccess`'s checked constructors accept (size 1, 2, 4 or
///   8; a memory access inside one page and below 2^48... as `GuestAccess` says; data fitting its
///   size; no data on a read), so the engine's assumptions hold for any trace;
/// - each access survives its own form: a text line renders and parses back to it, a binary
///   record encodes and decodes back to it;
/// - the buffer size changes nothing but the longest line it takes: reading the same file with
///   the default buffer gives the same accesses and, unless the small buffer met a line longer
///   than itself, the same error or end.
public enum TraceFuzzTarget {
    nonisolated(unsafe) static var path: String = {
        "/tmp/vpmem-fuzz-trace-\(getpid())"
    }()

    public static func run(_ data: UnsafeRawBufferPointer) {
        guard data.count >= 2 else { return }
        let bufferBytes = 32 + 4 * Int(data[0])
        let batch = 1 + Int(data[1]) % 64
        let contents = UnsafeRawBufferPointer(rebasing: data[2...])
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        invariant(fd >= 0, "cannot create \(path)")
        var written = 0
        while written < contents.count {
            let n = write(fd, contents.baseAddress! + written, contents.count - written)
            invariant(n > 0, "cannot write \(path)")
            written += n
        }
        close(fd)
        defer { unlink(path) }

        let small = read(bufferBytes: bufferBytes, batch: batch)
        let large = read(bufferBytes: AccessTraceReader.defaultBufferBytes, batch: 4096)
        for a in small.accesses { check(a) }
        let tooLong = small.error?.contains("is longer than") ?? false
        if tooLong {
            invariant(large.accesses.starts(with: small.accesses), "a larger buffer read other accesses before the long line")
        } else {
            invariant(small.accesses == large.accesses, "the buffer size changed the accesses: \(small.accesses.count) vs \(large.accesses.count)")
            invariant(small.error == large.error, "the buffer size changed the outcome: \(small.error ?? "end") vs \(large.error ?? "end")")
        }
        if let e = small.error { invariant(e.hasPrefix(path), "an error that does not name the file: \(e)") }
    }

    static func read(bufferBytes: Int, batch: Int) -> (accesses: [GuestAccess], error: String?) {
        var out: [GuestAccess] = []
        let buffer = UnsafeMutableBufferPointer<GuestAccess>.allocate(capacity: batch)
        defer { buffer.deallocate() }
        do {
            let reader = try AccessTraceReader(path: path, bufferBytes: bufferBytes)
            while true {
                let n = try reader.read(into: buffer)
                invariant(n <= batch, "read \(n) into a batch of \(batch)")
                if n == 0 { break }
                out += buffer[0..<n]
                invariant(reader.accessesRead == UInt64(out.count), "accessesRead \(reader.accessesRead) after \(out.count)")
            }
            return (out, nil)
        } catch {
            return (out, "\(error)")
        }
    }

    static func check(_ a: GuestAccess) {
        let again: GuestAccess?
        do {
            switch a.space {
            case .memory: again = try .memory(Gpa(a.address), size: a.size, direction: a.direction, data: a.data)
            case .port:
                invariant(a.address <= 0xFFFF, "port \(a.address)")
                again = try .port(UInt16(a.address), size: a.size, direction: a.direction, data: a.data)
            case .pciConfig:
                let at = try PciConfigAddress(sbdf: PciSbdf(raw: UInt32(truncatingIfNeeded: a.address >> 32)),
                                              register: UInt16(truncatingIfNeeded: a.address))
                invariant(at.encoded == a.address, "PCI address 0x\(String(a.address, radix: 16)) is not an encoding")
                again = try .pciConfig(at, size: a.size, direction: a.direction, data: a.data)
            }
        } catch {
            again = nil
            invariant(false, "the reader returned an access the constructors refuse: \(a): \(error)")
        }
        invariant(again == a, "\(a) is not what its constructor makes")
        let line = AccessTraceFormat.line(a)
        let parsed = Array(line.utf8).withUnsafeBufferPointer { try? AccessTraceFormat.parse(line: $0) }
        invariant(parsed == a, "\(a) renders as '\(line)', which parses to \(String(describing: parsed))")
        var record = [UInt8](repeating: 0xAA, count: 24)
        record.withUnsafeMutableBytes { AccessTraceFormat.encode(a, to: $0.baseAddress!) }
        let decoded = record.withUnsafeBytes { try? AccessTraceFormat.decode($0.baseAddress!) }
        invariant(decoded == a, "\(a) encodes to a record that decodes to \(String(describing: decoded))")
    }
}
