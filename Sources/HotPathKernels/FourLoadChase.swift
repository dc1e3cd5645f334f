/// The floor for a 4-level table walk: four 4 KiB nodes, where every entry of node k holds the
/// address of node k+1 and node 3 holds leaf values, walked with the same index arithmetic as a
/// p2m translate. Cache-resident after the first walk. Shared by the P2MBench suite and the gate.
public struct FourLoadChase: @unchecked Sendable {
    public let nodes: UnsafeMutablePointer<UInt64>

    public init() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * 4096, alignment: 4096)
        nodes = raw.bindMemory(to: UInt64.self, capacity: 4 * 512)
        for k in 0..<3 {
            let next = UInt64(UInt(bitPattern: nodes + (k + 1) * 512))
            for i in 0..<512 { nodes[k * 512 + i] = next }
        }
        for i in 0..<512 { nodes[3 * 512 + i] = UInt64(i) << 12 | 0x887 }
    }

    /// Four dependent loads indexed by the gfn's 9-bit fields, as in a 4-level walk.
    @inline(__always) public func load(_ g: UInt64) -> UInt64 {
        var e = nodes[Int((g >> 27) & 511)]
        e = UnsafePointer<UInt64>(bitPattern: UInt(e)).unsafelyUnwrapped[Int((g >> 18) & 511)]
        e = UnsafePointer<UInt64>(bitPattern: UInt(e)).unsafelyUnwrapped[Int((g >> 9) & 511)]
        e = UnsafePointer<UInt64>(bitPattern: UInt(e)).unsafelyUnwrapped[Int(g & 511)]
        return e
    }
}
