import GuestMemory
import VpmemCore

let KiB: UInt64 = 1 << 10
let MiB: UInt64 = 1 << 20
let GiB: UInt64 = 1 << 30
let TiB: UInt64 = 1 << 40

func range(_ first: UInt64, _ last: UInt64) throws -> GpaRange { try GpaRange(first: Gpa(first), last: Gpa(last)) }
func sized(_ start: UInt64, _ size: UInt64) throws -> GpaRange { try GpaRange(start: Gpa(start), size: size) }
func bytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n) }

/// (kind, name, first, last) of every region, for exact layout comparisons.
func regionTuples(_ physmap: GuestPhysmap) -> [String] {
    physmap.regions.map { "\($0.kind.rawValue) \($0.name) \($0.range)" }
}
