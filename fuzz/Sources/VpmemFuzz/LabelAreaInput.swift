/// What one input of the label-area fuzz target means.
///
/// Byte format:
///
///     [0]  mode. bit 0 clear: raw: the rest of the input is the label area, as it is.
///          bit 0 set: sized: [1...3] the area's size (u24 LE, capped at 1 MiB + 3 bytes), the
///          rest of the input is the area's first bytes, the remainder filled with 0x00
///          (bit 1 clear) or 0xFF (bit 1 set). Sized inputs reach QEMU-sized areas (128 KiB,
///          256 KiB) in a few hundred bytes: both index blocks and the first label slots.
public struct LabelAreaInput: Sendable, Hashable {
    public static let maxSize = (1 << 20) + 3

    public enum Encoding: Sendable, Hashable {
        case raw([UInt8])
        case sized(size: Int, prefix: [UInt8], fill: UInt8)
    }

    public var encoding: Encoding

    public init(_ encoding: Encoding) { self.encoding = encoding }

    public init(decoding bytes: [UInt8]) {
        var r = FuzzBytes(bytes)
        let mode = r.u8()
        if mode & 1 == 0 {
            encoding = .raw(r.rest())
        } else {
            let size = min(r.u24(), Self.maxSize)
            encoding = .sized(size: size, prefix: r.take(size), fill: mode & 2 != 0 ? 0xFF : 0)
        }
    }

    /// The label area this input stands for.
    public var area: [UInt8] {
        switch encoding {
        case .raw(let bytes): return bytes
        case let .sized(size, prefix, fill):
            return prefix + [UInt8](repeating: fill, count: size - prefix.count)
        }
    }

    /// The input bytes; `sized` trims trailing fill bytes, so seeds of 128 KiB areas stay small.
    public func encoded() -> [UInt8] {
        switch encoding {
        case .raw(let bytes): return [0] + bytes
        case let .sized(size, prefix, fill):
            precondition(size <= Self.maxSize && prefix.count <= size, "a sized input of at most 1 MiB + 3")
            var trimmed = prefix[...]
            while trimmed.last == fill { trimmed.removeLast() }
            var b: [UInt8] = [fill == 0xFF ? 3 : 1, UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16)]
            b += trimmed
            return b
        }
    }

    /// An area given whole: sized with its trailing zeros trimmed.
    public static func area(_ bytes: [UInt8]) -> LabelAreaInput {
        LabelAreaInput(.sized(size: bytes.count, prefix: bytes, fill: 0))
    }
}
