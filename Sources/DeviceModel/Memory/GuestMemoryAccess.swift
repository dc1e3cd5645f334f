import GuestMemory

// GuestMemoryAccess: how a device model reads and writes its guest's memory (Xen device models
// map guest frames through the p2m with privcmd; QEMU's cpu_physical_memory_rw).
//
// API (the whole of it):
//   read(_ gpa: Gpa, into: UnsafeMutableRawBufferPointer) throws(GuestMemoryFault)
//   write(_ gpa: Gpa, from: UnsafeRawBufferPointer) throws(GuestMemoryFault)
//   read(_ gpa: Gpa, count: Int) throws(GuestMemoryFault) -> [UInt8]
//   write(_ gpa: Gpa, _ bytes: [UInt8]) throws(GuestMemoryFault)
//   load(_ gpa: UInt64, size: Int) throws(GuestMemoryFault) -> UInt64       (one access, in one page)
//   store(_ gpa: UInt64, size: Int, _ value: UInt64) throws(GuestMemoryFault)
//
// Rules:
//  - Any length, any alignment: the range is walked page by page through the guest's p2m.
//  - Every page must be mapped with a type that has memory behind it: RAM (ram_rw,
//    ram_logdirty, ram_ro, ioreq_server), pmem, grant or foreign frames. MMIO (mmio_dm,
//    mmio_direct) and unmapped pages fault: a device model never reaches another device
//    through guest memory.
//  - Writes to read-only types (ram_ro, grant_map_ro) fault. Writes to ioreq_server pages go
//    to RAM: that is how a device model commits a guest write it has emulated.
//  - The p2m entry's access rights (mem_access) restrict the guest, not its device model, and
//    are not checked here.
//  - All or nothing for faults: every page is translated and checked before the first byte
//    moves. pmem writes are durable when `write` returns.
//
// Example (the _DSM transport): the guest writes the DSM page's address to port 0x0a18; the
// device model reads the 4 KiB page, handles it, and writes the output back:
//   let input = try memory.read(Gpa(ioreq.data), count: 4096)
//   ...
//   try memory.write(Gpa(ioreq.data), output)

/// A device model's view of its guest's memory: bytes at guest-physical addresses, through the
/// p2m. See the rules at the top of this file.
public final class GuestMemoryAccess {
    public let p2m: P2M
    public let machine: MachineMemory

    public init(p2m: P2M, machine: MachineMemory) {
        self.p2m = p2m
        self.machine = machine
    }

    /// Copies `buffer.count` bytes of guest memory from `gpa` into `buffer`.
    public func read(_ gpa: Gpa, into buffer: UnsafeMutableRawBufferPointer) throws(GuestMemoryFault) {
        try check(gpa, buffer.count, write: false)
        try walk(gpa, buffer.count) { (mfn, offset, at, n) throws(MachineMemoryError) in
            try machine.read(mfn, offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[at..<(at + n)]))
        }
    }

    /// Copies `bytes` into guest memory at `gpa`.
    public func write(_ gpa: Gpa, from bytes: UnsafeRawBufferPointer) throws(GuestMemoryFault) {
        try check(gpa, bytes.count, write: true)
        try walk(gpa, bytes.count) { (mfn, offset, at, n) throws(MachineMemoryError) in
            try machine.write(mfn, offset: offset, from: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]))
        }
    }

    /// `count` bytes of guest memory from `gpa`.
    public func read(_ gpa: Gpa, count: Int) throws(GuestMemoryFault) -> [UInt8] {
        guard count >= 0 else { throw .negativeLength(count) }
        var out = [UInt8](repeating: 0, count: count)
        let result = out.withUnsafeMutableBytes { buf in
            Result { () throws(GuestMemoryFault) in try read(gpa, into: buf) }
        }
        try result.get()
        return out
    }

    /// Writes `bytes` to guest memory at `gpa`.
    public func write(_ gpa: Gpa, _ bytes: [UInt8]) throws(GuestMemoryFault) {
        let result = bytes.withUnsafeBytes { buf in
            Result { () throws(GuestMemoryFault) in try write(gpa, from: buf) }
        }
        try result.get()
    }

    // MARK: One access (the delivery path)

    /// The little-endian value of the `size` (1, 2, 4 or 8) bytes at `gpa`, which lie in one
    /// page: what a device model reads when it emulates one guest access. RAM is read in place
    /// (one p2m walk, no copy through buffers); pmem and faults take the general path.
    @inlinable @inline(__always)
    public func load(_ gpa: UInt64, size: Int) throws(GuestMemoryFault) -> UInt64 {
        if let p = ramBytes(gpa, write: false) { return Self.load(p, size: size) }
        var v: UInt64 = 0
        try withUnsafeMutableBytes(of: &v) { (raw) throws(GuestMemoryFault) in
            try read(Gpa(gpa), into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]))
        }
        return UInt64(littleEndian: v)
    }

    /// Stores the low `size` (1, 2, 4 or 8) bytes of `value`, little-endian, at `gpa`, in one
    /// page: how a device model commits one guest write it has emulated.
    @inlinable @inline(__always)
    public func store(_ gpa: UInt64, size: Int, _ value: UInt64) throws(GuestMemoryFault) {
        if let p = ramBytes(gpa, write: true) { return Self.store(p, size: size, value) }
        var v = value.littleEndian
        try withUnsafeBytes(of: &v) { (raw) throws(GuestMemoryFault) in
            try write(Gpa(gpa), from: UnsafeRawBufferPointer(rebasing: raw[0..<size]))
        }
    }

    /// The bytes at `gpa` when its page is RAM the rules let a device model reach in this
    /// direction; nil sends the access down the general path (which reports why, or reaches pmem).
    @inlinable @inline(__always)
    func ramBytes(_ gpa: UInt64, write: Bool) -> UnsafeMutableRawPointer? {
        guard gpa <= IoRangeKind.mmio.maxValue,
              let t = p2m.translate(Gfn(uncheckedRaw: gpa &>> PageOrder.frameShift)),
              t.isType(.ramRW) || t.isType(.ioreqServer) || (!write && t.isType(.ramRO)),
              let page = machine.ramBytes(of: t.mfn.unsafelyUnwrapped) else { return nil }
        return page + Int(truncatingIfNeeded: gpa & (PageOrder.frameBytes &- 1))
    }

    /// Loads `size` bytes at `p`, little-endian, any alignment.
    @inlinable @inline(__always)
    static func load(_ p: UnsafeRawPointer, size: Int) -> UInt64 {
        // Page-table entries and most RAM traffic are 8 bytes: that case is tested first.
        if _fastPath(size == 8) { return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }
        switch size {
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        default: return UInt64(p.load(as: UInt8.self))
        }
    }

    /// Stores the low `size` bytes of `value` at `p`, little-endian, any alignment.
    @inlinable @inline(__always)
    static func store(_ p: UnsafeMutableRawPointer, size: Int, _ value: UInt64) {
        if _fastPath(size == 8) { return p.storeBytes(of: value.littleEndian, as: UInt64.self) }
        switch size {
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        default: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        }
    }

    // MARK: Internals

    /// Translates every page of `[gpa, gpa + count)` and checks its type, before anything moves.
    private func check(_ gpa: Gpa, _ count: Int, write: Bool) throws(GuestMemoryFault) {
        guard count > 0 else { return }
        let (last, overflow) = gpa.raw.addingReportingOverflow(UInt64(count) - 1)
        guard !overflow, last <= IoRangeKind.mmio.maxValue else {
            throw .beyondGuestPhysical(gpa: gpa, count: count)
        }
        var g = gpa.raw >> PageOrder.frameShift
        let lastGfn = last >> PageOrder.frameShift
        while g <= lastGfn {
            let gfn = Gfn(uncheckedRaw: g)
            guard let t = p2m.translate(gfn) else { throw .unmapped(gfn: gfn) }
            try Self.admit(t.type, gfn: gfn, write: write)
            g += 1
        }
    }

    static func admit(_ type: P2MType, gfn: Gfn, write: Bool) throws(GuestMemoryFault) {
        switch type {
        case .ramRW, .ramLogDirty, .ioreqServer, .pmem, .grantMapRW, .foreign:
            return
        case .ramRO, .grantMapRO:
            if write { throw .readOnly(gfn: gfn, type: type) }
        case .mmioDM, .mmioDirect, .invalid:
            throw .notMemory(gfn: gfn, type: type)
        }
    }

    /// Calls `body(mfn, offsetInFrame, offsetInBuffer, length)` per page piece.
    private func walk(_ gpa: Gpa, _ count: Int,
                      _ body: (Mfn, Int, Int, Int) throws(MachineMemoryError) -> Void) throws(GuestMemoryFault) {
        var at = 0
        var address = gpa.raw
        while at < count {
            let offset = Int(address & (PageOrder.frameBytes - 1))
            let n = min(count - at, Int(PageOrder.frameBytes) - offset)
            let gfn = Gfn(uncheckedRaw: address >> PageOrder.frameShift)
            // check() translated this page; the p2m cannot change in between (not thread-safe,
            // as the p2m itself documents).
            guard let mfn = p2m.translate(gfn)?.mfn else { throw .unmapped(gfn: gfn) }
            do { try body(mfn, offset, at, n) } catch { throw .backing(gfn: gfn, error) }
            at += n
            address += UInt64(n)
        }
    }
}

/// Why a device model's guest-memory access was refused. Nothing was read or written, except
/// for `.backing`, where the host memory itself failed part way.
public enum GuestMemoryFault: Error, CustomStringConvertible, Sendable {
    case unmapped(gfn: Gfn)
    case notMemory(gfn: Gfn, type: P2MType)
    case readOnly(gfn: Gfn, type: P2MType)
    case beyondGuestPhysical(gpa: Gpa, count: Int)
    case negativeLength(Int)
    case backing(gfn: Gfn, MachineMemoryError)

    public var description: String {
        switch self {
        case let .unmapped(gfn):
            return "guest memory: nothing is mapped at \(gfn)"
        case let .notMemory(gfn, type):
            return "guest memory: \(gfn) is \(type.name), not memory: device models reach only RAM, pmem, grant and foreign frames"
        case let .readOnly(gfn, type):
            return "guest memory: \(gfn) is \(type.name), read-only: it cannot be written"
        case let .beyondGuestPhysical(gpa, count):
            return "guest memory: \(count) bytes from \(gpa) run past the last guest-physical address"
        case let .negativeLength(n):
            return "guest memory: length \(n) is negative"
        case let .backing(gfn, e):
            return "guest memory at \(gfn): \(e)"
        }
    }
}
