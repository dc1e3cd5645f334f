import Foundation
import Testing
@testable import HostPmem

/// `PmemMapping.firstNonZero`: what `bench pmem` and an attach ask before they overwrite a
/// region of a backing.
@Suite struct PmemMappingScanTests {
    /// Against a naive model (the offsets written): a sparse file (holes read as zero) with a
    /// few bytes set, over windows of every alignment, inside and across the chunks.
    @Test func firstNonZeroAgreesWithANaiveScan() throws {
        let dir = TempDir()
        let size: UInt64 = (1 << 20) + 3 * 4096
        let m = try PmemMapping.create(path: dir.file("s.pmem"), size: size)
        #expect(try m.firstNonZero(offset: 0, count: size) == nil)
        let marks: [UInt64] = [5, 4095, 4096 + 7, 1 << 19, (1 << 20) + 1, size - 1]
        for p in marks { try m.write([UInt8(p & 0x7F) | 1], at: p) }
        var x: UInt64 = 0x9e37_79b9_7f4a_7c15
        for _ in 0..<150 {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            let offset = x % size
            let count = (x >> 24) % (size - offset + 1)
            let naive = marks.filter { $0 >= offset && $0 < offset + count }.min()
            #expect(try m.firstNonZero(offset: offset, count: count) == naive, "[\(offset), +\(count))")
            #expect(try m.firstNonZero(offset: offset, count: count, chunk: 4096 + 3) == naive, "[\(offset), +\(count)) in small chunks")
        }
        for p in marks { #expect(try m.firstNonZero(offset: p, count: 1) == p) }
        #expect(try m.firstNonZero(offset: 6, count: 4089) == nil)
        // Out of bounds: refused, never read.
        #expect(throws: HostPmemError.self) { try m.firstNonZero(offset: size - 1, count: 2) }
        #expect(throws: HostPmemError.self) { try m.firstNonZero(offset: UInt64.max, count: 2) }
    }
}
