import DeviceModel
import GuestMemory

/// The two forms of an access trace.
///
/// Text, one access a line; `#` starts a comment, blank lines are skipped:
/// ```
/// mem  0x7d2c3008 8 w 0x1234      # guest-physical address, size, r|w, data (writes only)
/// mem  0xc0000010 4 r
/// port 0x3c4 1 w 0x12              # IO port
/// pci  0000:00:02.0 0x10 4 r       # PCI function, register, size, r|w [data]
/// ```
/// Numbers are hex (0x...) or decimal; sizes 1, 2, 4 or 8.
///
/// Binary: a 16-byte header, the magic `VPMTRACE`, version (u32, 1) and record size (u32, 24),
/// then one 24-byte record an access, little-endian: address (u64; a port number, or
/// `sbdf << 32 | register` for PCI), data (u64), space (u8: 0 memory, 1 port, 2 PCI config),
/// direction (u8: 0 read, 1 write), size (u8), five zero bytes.
///
/// Every access read is checked as `GuestAccess`'s throwing constructors check it (sizes,
/// alignment inside a page, data fitting its size, nothing on a read), so the engine only ever
/// sees valid accesses.
public enum AccessTraceFormat: String, Sendable, CaseIterable {
    case text
    case binary

    static let magic: [UInt8] = Array("VPMTRACE".utf8)
    static let version: UInt32 = 1
    static let recordBytes = 24
    static let headerBytes = 16
    /// The shortest text line, `mem 0 1 r`, with its newline.
    static let shortestLineBytes = 10

    static var header: [UInt8] {
        var h = magic
        for v in [version, UInt32(recordBytes)] { withUnsafeBytes(of: v.littleEndian) { h += $0 } }
        return h
    }

    // MARK: Text

    /// One access as a text line (without the newline).
    public static func line(_ a: GuestAccess) -> String {
        let dir = a.direction == .write ? "w" : "r"
        let data = a.direction == .write ? " 0x" + String(a.data, radix: 16) : ""
        switch a.space {
        case .memory: return "mem 0x\(String(a.address, radix: 16)) \(a.size) \(dir)\(data)"
        case .port: return "port 0x\(String(a.address, radix: 16)) \(a.size) \(dir)\(data)"
        case .pciConfig:
            let sbdf = PciSbdf(raw: UInt32(truncatingIfNeeded: a.address >> 32))
            return "pci \(sbdf) 0x\(String(a.address & 0xFFFF, radix: 16)) \(a.size) \(dir)\(data)"
        }
    }

    /// The access on a text line, nil for a blank or comment line. Errors are one sentence:
    /// what is wrong and what to write instead.
    public static func parse(line bytes: UnsafeBufferPointer<UInt8>) throws(TraceLineError) -> GuestAccess? {
        var tokens: [Substring] = []
        var text = String(decoding: bytes, as: UTF8.self)
        if let hash = text.firstIndex(of: "#") { text = String(text[..<hash]) }
        tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard let kind = tokens.first else { return nil }
        let rest = Array(tokens.dropFirst())
        switch kind {
        case "mem":
            let (size, dir, data) = try common(rest, from: 1, usage: "mem ADDRESS SIZE r|w [DATA]")
            let address = try number(rest[0], what: "address")
            do { return try GuestAccess.memory(Gpa(address), size: size, direction: dir, data: data) } catch {
                throw TraceLineError("\(error)")
            }
        case "port":
            let (size, dir, data) = try common(rest, from: 1, usage: "port PORT SIZE r|w [DATA]")
            let port = try number(rest[0], what: "port")
            guard port <= 0xFFFF else { throw TraceLineError("port 0x\(String(port, radix: 16)) is past 0xffff: give a port from 0 to 0xffff") }
            do { return try GuestAccess.port(UInt16(port), size: size, direction: dir, data: data) } catch {
                throw TraceLineError("\(error)")
            }
        case "pci":
            let (size, dir, data) = try common(rest, from: 2, usage: "pci SSSS:BB:DD.F REGISTER SIZE r|w [DATA]")
            let sbdf = try parseSbdf(rest[0])
            let register = try number(rest[1], what: "register")
            guard register < PciConfigAddress.configSpaceBytes else {
                throw TraceLineError("register 0x\(String(register, radix: 16)) is past the 4 KiB configuration space: give 0 to 0xfff")
            }
            do {
                let address = try PciConfigAddress(sbdf: sbdf, register: UInt16(register))
                return try GuestAccess.pciConfig(address, size: size, direction: dir, data: data)
            } catch { throw TraceLineError("\(error)") }
        default:
            throw TraceLineError("'\(kind)' is no access kind: begin the line with mem, port or pci")
        }
    }

    /// SIZE r|w [DATA] after `from` leading operands.
    private static func common(_ t: [Substring], from: Int, usage: String) throws(TraceLineError) -> (UInt8, AccessDirection, UInt64) {
        guard t.count == from + 2 || t.count == from + 3 else {
            throw TraceLineError("\(t.count + 1) fields where \(from + 3) or \(from + 4) are needed: write \(usage)")
        }
        let size = try number(t[from], what: "size")
        guard size == 1 || size == 2 || size == 4 || size == 8 else {
            throw TraceLineError("access size \(size) is not allowed: use 1, 2, 4 or 8 bytes")
        }
        let dir: AccessDirection
        switch t[from + 1] {
        case "r", "read": dir = .read
        case "w", "write": dir = .write
        default: throw TraceLineError("direction '\(t[from + 1])': write r (read) or w (write)")
        }
        var data: UInt64 = 0
        if t.count == from + 3 {
            guard dir == .write else { throw TraceLineError("a read carries no data, but '\(t[from + 2])' was given: remove it") }
            data = try number(t[from + 2], what: "data")
        } else if dir == .write {
            throw TraceLineError("a write needs its data: write \(usage)")
        }
        return (UInt8(size), dir, data)
    }

    /// Hex (0x...) or decimal, checked to fit 64 bits.
    static func number(_ s: Substring, what: String) throws(TraceLineError) -> UInt64 {
        let hex = s.hasPrefix("0x") || s.hasPrefix("0X")
        let digits = hex ? s.dropFirst(2) : s
        guard !digits.isEmpty, let v = UInt64(digits, radix: hex ? 16 : 10) else {
            let allDigits = !digits.isEmpty && digits.allSatisfy { hex ? $0.isHexDigit : $0.isNumber }
            throw TraceLineError(allDigits ? "\(what) \(s) does not fit in 64 bits"
                : "\(what) '\(s)' is not a number: give hex (0x1f) or decimal")
        }
        return v
    }

    /// `ssss:bb:dd.f` or `bb:dd.f` (segment 0), as lspci prints it.
    static func parseSbdf(_ s: Substring) throws(TraceLineError) -> PciSbdf {
        let bad = TraceLineError("PCI function '\(s)': write SSSS:BB:DD.F in hex, e.g. 0000:00:02.0")
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { throw bad }
        let df = parts[parts.count - 1].split(separator: ".", omittingEmptySubsequences: false)
        guard df.count == 2,
              let segment = parts.count == 3 ? UInt16(parts[0], radix: 16) : 0,
              let bus = UInt8(parts[parts.count - 2], radix: 16),
              let device = UInt8(df[0], radix: 16), let function = UInt8(df[1], radix: 16)
        else { throw bad }
        do { return try PciSbdf(segment: segment, bus: bus, device: device, function: function) } catch {
            throw TraceLineError("PCI function '\(s)': \(error)")
        }
    }

    // MARK: Binary

    /// Writes `a` as a 24-byte record at `p`.
    public static func encode(_ a: GuestAccess, to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: a.address.littleEndian, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: a.data.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: a.space.rawValue, toByteOffset: 16, as: UInt8.self)
        p.storeBytes(of: a.direction.rawValue, toByteOffset: 17, as: UInt8.self)
        p.storeBytes(of: a.size, toByteOffset: 18, as: UInt8.self)
        (p + 19).initializeMemory(as: UInt8.self, repeating: 0, count: 5)
    }

    /// The access in the 24-byte record at `p`, checked.
    public static func decode(_ p: UnsafeRawPointer) throws(TraceLineError) -> GuestAccess {
        let address = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let data = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let spaceRaw = p.load(fromByteOffset: 16, as: UInt8.self)
        let dirRaw = p.load(fromByteOffset: 17, as: UInt8.self)
        let size = p.load(fromByteOffset: 18, as: UInt8.self)
        for i in 19..<24 where p.load(fromByteOffset: i, as: UInt8.self) != 0 {
            throw TraceLineError("reserved byte \(i) is 0x\(String(p.load(fromByteOffset: i, as: UInt8.self), radix: 16)), not 0: the record is damaged or of a later version")
        }
        guard let space = AccessSpace(rawValue: spaceRaw) else {
            throw TraceLineError("space \(spaceRaw) is unknown: 0 memory, 1 port, 2 PCI config")
        }
        guard let dir = AccessDirection(rawValue: dirRaw) else {
            throw TraceLineError("direction \(dirRaw) is unknown: 0 read, 1 write")
        }
        do {
            switch space {
            case .memory:
                return try GuestAccess.memory(Gpa(address), size: size, direction: dir, data: data)
            case .port:
                guard address <= 0xFFFF else { throw TraceLineError("port 0x\(String(address, radix: 16)) is past 0xffff") }
                return try GuestAccess.port(UInt16(address), size: size, direction: dir, data: data)
            case .pciConfig:
                guard address & 0xFFFF_0000 == 0 else {
                    throw TraceLineError("PCI address 0x\(String(address, radix: 16)) has bits set between the register and the function")
                }
                let register = UInt16(truncatingIfNeeded: address)
                let at = try PciConfigAddress(sbdf: PciSbdf(raw: UInt32(truncatingIfNeeded: address >> 32)), register: register)
                return try GuestAccess.pciConfig(at, size: size, direction: dir, data: data)
            }
        } catch let e as TraceLineError {
            throw e
        } catch {
            throw TraceLineError("\(error)")
        }
    }
}

/// What is wrong with one line or record of a trace (the reader adds where).
public struct TraceLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
