import DeviceModel
import SystemPackage

/// Reads an access trace (text or binary, told apart by the binary magic) a batch at a time,
/// so a trace of any length takes one fixed buffer. Errors name the file and the line (text)
/// or record and byte offset (binary).
///
/// Invariants: `buffer[start..<end]` holds bytes read but not yet parsed; a text line never
/// spans more than the buffer (a longer line is an error, not a silent cut).
public final class AccessTraceReader {
    public let path: String
    public private(set) var format: AccessTraceFormat = .text
    private let fd: FileDescriptor
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    private var atEOF = false
    /// Text: lines consumed so far. Binary: records consumed so far.
    private var position: UInt64 = 0
    /// The error met after the accesses last returned; thrown by every later call.
    private var pendingError: AccessTraceError?
    /// Accesses returned so far.
    public private(set) var accessesRead: UInt64 = 0
    /// At most this many accesses are in the file as it was when opened: exact for a binary
    /// trace, its bytes over the shortest line's (`mem 0 1 r` and a newline) for text; nil when
    /// the trace is a pipe, whose length is not known ahead.
    public private(set) var accessBound: UInt64?

    public static let defaultBufferBytes = 1 << 20
    let bufferBytes: Int

    /// Opens the trace at `path`. `bufferBytes` (at least 32) bounds a text line's length; the
    /// default suits any trace vpmem writes.
    public init(path: String, bufferBytes: Int = AccessTraceReader.defaultBufferBytes) throws(AccessTraceError) {
        self.path = path
        self.bufferBytes = max(32, bufferBytes)
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly) } catch {
            throw .io(path: path, step: "open the trace", reason: "\(error)")
        }
        buffer = .allocate(byteCount: self.bufferBytes, alignment: 8)
        // A pipe cannot seek: its length is not known.
        var bytes: Int64?
        if let n = try? fd.seek(offset: 0, from: .end) {
            do { _ = try fd.seek(offset: 0, from: .start) } catch {
                throw .io(path: path, step: "go back to the trace's start", reason: "\(error)")
            }
            bytes = n
        }
        do {
            try fill()
            let head = Array(UnsafeRawBufferPointer(rebasing: buffer[start..<end]).prefix(AccessTraceFormat.headerBytes))
            if head.starts(with: AccessTraceFormat.magic) {
                guard head.count == AccessTraceFormat.headerBytes else {
                    throw AccessTraceError.header(path: path, problem: "the 16-byte header is cut short at \(head.count) bytes")
                }
                let version = head[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let record = head[12..<16].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard version == AccessTraceFormat.version, record == UInt32(AccessTraceFormat.recordBytes) else {
                    throw AccessTraceError.header(path: path, problem: "version \(version) with \(record)-byte records; this vpmem reads version 1 with 24-byte records")
                }
                start += AccessTraceFormat.headerBytes
                format = .binary
            }
            accessBound = bytes.map { b in
                let n = UInt64(max(0, b))
                return format == .binary ? (n - UInt64(AccessTraceFormat.headerBytes)) / UInt64(AccessTraceFormat.recordBytes)
                    : (n + 1) / UInt64(AccessTraceFormat.shortestLineBytes)
            }
        } catch let e as AccessTraceError {
            // Every stored property is set: deinit runs and frees the buffer and the descriptor.
            throw e
        } catch {
            throw .io(path: path, step: "read the trace", reason: "\(error)")
        }
    }

    deinit {
        buffer.deallocate()
        try? fd.close()
    }

    /// Reads the next accesses into `out`; returns how many (0 at the end of the trace). A bad
    /// line or record is thrown once every access before it has been returned: the call that
    /// meets it returns those first, and the next call throws.
    public func read(into out: UnsafeMutableBufferPointer<GuestAccess>) throws(AccessTraceError) -> Int {
        if let e = pendingError { throw e }
        var n = 0
        while n < out.count {
            let access: GuestAccess?
            do { access = try next() } catch {
                guard n > 0 else {
                    pendingError = error
                    throw error
                }
                pendingError = error
                break
            }
            guard let access else { break }
            out[n] = access
            n += 1
        }
        accessesRead += UInt64(n)
        return n
    }

    private func next() throws(AccessTraceError) -> GuestAccess? {
        format == .binary ? try nextRecord() : try nextLine()
    }

    private func nextRecord() throws(AccessTraceError) -> GuestAccess? {
        let size = AccessTraceFormat.recordBytes
        if end - start < size {
            try fill()
            if end - start < size {
                guard end == start else {
                    throw .truncated(path: path, record: position + 1, bytes: end - start)
                }
                return nil
            }
        }
        let p = UnsafeRawPointer(buffer.baseAddress! + start)
        position += 1
        do {
            let a = try AccessTraceFormat.decode(p)
            start += size
            return a
        } catch {
            throw .record(path: path, record: position,
                          offset: UInt64(AccessTraceFormat.headerBytes) + (position - 1) * UInt64(size), problem: error.description)
        }
    }

    private func nextLine() throws(AccessTraceError) -> GuestAccess? {
        while true {
            var newline = indexOfNewline()
            if newline == nil {
                try fill()
                newline = indexOfNewline()
                if newline == nil {
                    guard end > start else { return nil }
                    guard atEOF else {
                        throw .syntax(path: path, line: position + 1, problem: "the line is longer than \(bufferBytes) bytes: a trace line is one access")
                    }
                    newline = end  // the last line, without a newline
                }
            }
            let lineEnd = newline!
            position += 1
            let bytes = UnsafeBufferPointer(start: (buffer.baseAddress! + start).assumingMemoryBound(to: UInt8.self), count: lineEnd - start)
            start = min(lineEnd + 1, end)
            do {
                if let a = try AccessTraceFormat.parse(line: bytes) { return a }
            } catch {
                throw .syntax(path: path, line: position, problem: error.description)
            }
        }
    }

    private func indexOfNewline() -> Int? {
        var i = start
        while i < end {
            if buffer[i] == 0x0A { return i }
            i += 1
        }
        return nil
    }

    /// Moves the unparsed bytes to the front and reads until the buffer is full or the file ends.
    private func fill() throws(AccessTraceError) {
        if start > 0 {
            let left = end - start
            if left > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: left) }
            start = 0
            end = left
        }
        while !atEOF && end < buffer.count {
            let got: Int
            do { got = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...])) } catch {
                throw .io(path: path, step: "read the trace", reason: "\(error)")
            }
            if got == 0 { atEOF = true } else { end += got }
        }
    }
}

/// A trace that cannot be read; each case says where.
public enum AccessTraceError: Error, Sendable, CustomStringConvertible {
    case io(path: String, step: String, reason: String)
    case header(path: String, problem: String)
    case syntax(path: String, line: UInt64, problem: String)
    case record(path: String, record: UInt64, offset: UInt64, problem: String)
    case truncated(path: String, record: UInt64, bytes: Int)

    public var description: String {
        switch self {
        case let .io(path, step, reason):
            return "\(path): cannot \(step): \(reason)"
        case let .header(path, problem):
            return "\(path): not a vpmem binary trace: \(problem)"
        case let .syntax(path, line, problem):
            return "\(path):\(line): \(problem)"
        case let .record(path, record, offset, problem):
            return "\(path): record \(record) (byte offset \(offset)): \(problem)"
        case let .truncated(path, record, bytes):
            return "\(path): record \(record) is cut short (\(bytes) of 24 bytes): the file ends inside it; cut the file back to whole records"
        }
    }
}
