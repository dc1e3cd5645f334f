#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// RegisterSpace: the bytes behind a device's registers, addressed by ioreq type and address, as
// a sparse two-level table of 4 KiB pages: key = type << 48 | address (ports, guest-physical
// addresses and `sbdf << 32 | register` all fit in 48 bits), page = key >> 12.
//
// Invariants:
//  1. `top` maps 2^topBits words reserved without commitment (MAP_NORESERVE), each nil or a
//     second-level table of 2^lowBits words mapped the same way, each nil or one zeroed page.
//  2. A byte never written reads as 0; writing allocates its page (and table) on first touch.
//     So memory grows with the registers touched, never with the accesses made.
//  3. Pages and tables are freed only in `deinit`.

/// Device registers: any address of any ioreq type, reads returning what was last written.
final class RegisterSpace {
    static let lowBits = 19
    static let topBits = 50 - 12 - lowBits
    private let top: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutableRawPointer?>?>
    private(set) var pages = 0
    private var tables: [UnsafeMutableRawPointer] = []

    init() {
        top = Self.reserve(words: 1 << Self.topBits).assumingMemoryBound(to: UnsafeMutablePointer<UnsafeMutableRawPointer?>?.self)
    }

    deinit {
        for t in 0..<(1 << Self.topBits) {
            guard let table = top[t] else { continue }
            for i in 0..<(1 << Self.lowBits) { table[i]?.deallocate() }
        }
        for t in tables { munmap(t, (1 << Self.lowBits) * 8) }
        munmap(top, (1 << Self.topBits) * 8)
    }

    /// Words of zeroed address space, committed by the kernel page by page as they are written.
    private static func reserve(words: Int) -> UnsafeMutableRawPointer {
        let p = mmap(nil, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("RegisterSpace: the host refused \(words * 8) bytes of address space") }
        return p
    }

    @inline(__always)
    private func page(_ key: UInt64, allocate: Bool) -> UnsafeMutableRawPointer? {
        let n = key &>> 12
        let t = Int(truncatingIfNeeded: n &>> UInt64(Self.lowBits)) & ((1 << Self.topBits) - 1)
        let i = Int(truncatingIfNeeded: n) & ((1 << Self.lowBits) - 1)
        if let table = top[t], let p = table[i] { return p }
        guard allocate else { return nil }
        return allocatePage(t, i)
    }

    @inline(never)
    private func allocatePage(_ t: Int, _ i: Int) -> UnsafeMutableRawPointer {
        let table: UnsafeMutablePointer<UnsafeMutableRawPointer?>
        if let existing = top[t] {
            table = existing
        } else {
            let raw = Self.reserve(words: 1 << Self.lowBits)
            tables.append(raw)
            table = raw.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            top[t] = table
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        table[i] = p
        pages += 1
        return p
    }

    /// Backs every page holding a key from `first` through `last` now (their registers still
    /// read 0), as the first write to each would.
    func makeResident(_ first: UInt64, through last: UInt64) {
        guard first <= last else { return }
        var k = first & ~0xFFF
        while true {
            _ = page(k, allocate: true)
            guard k < last & ~0xFFF else { return }
            k &+= 4096
        }
    }

    /// The `size` (1, 2, 4 or 8) bytes at `key`, little-endian.
    @inline(__always)
    func load(_ key: UInt64, size: Int) -> UInt64 {
        let at = Int(truncatingIfNeeded: key & 0xFFF)
        guard at &+ size <= 4096 else { return loadBytes(key, size: size) }
        guard let p = page(key, allocate: false) else { return 0 }
        return GuestMemoryAccess.load(p + at, size: size)
    }

    /// Stores the low `size` bytes of `value` at `key`, little-endian.
    @inline(__always)
    func store(_ key: UInt64, size: Int, _ value: UInt64) {
        let at = Int(truncatingIfNeeded: key & 0xFFF)
        guard at &+ size <= 4096 else { return storeBytes(key, size: size, value) }
        GuestMemoryAccess.store(page(key, allocate: true).unsafelyUnwrapped + at, size: size, value)
    }

    /// A register that crosses a page boundary, a byte at a time.
    @inline(never)
    private func loadBytes(_ key: UInt64, size: Int) -> UInt64 {
        var v: UInt64 = 0
        for b in 0..<size { v |= load(key &+ UInt64(b), size: 1) << (8 * UInt64(b)) }
        return v
    }

    @inline(never)
    private func storeBytes(_ key: UInt64, size: Int, _ value: UInt64) {
        for b in 0..<size { store(key &+ UInt64(b), size: 1, value >> (8 * UInt64(b))) }
    }
}
