/// Errors from address arithmetic and conversion. Every case names the value that did not fit.
public enum AddressError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `base + offset` (or a frame-to-address shift) does not fit in 64 bits.
    case overflow(what: String, base: UInt64, offset: UInt64)
    /// A frame number whose byte address would not fit in 64 bits (frames are < 2^52).
    case frameOutOfRange(what: String, frame: UInt64)
    /// An address or frame that is not aligned to the page order it was asked for.
    case misaligned(what: String, value: UInt64, order: PageOrder)
    /// A subtraction that would go below zero.
    case underflow(what: String, base: UInt64, offset: UInt64)

    public var description: String {
        switch self {
        case let .overflow(what, base, offset):
            return "\(what): 0x\(String(base, radix: 16)) + 0x\(String(offset, radix: 16)) overflows 64 bits"
        case let .frameOutOfRange(what, frame):
            return "\(what): frame 0x\(String(frame, radix: 16)) is beyond the 52-bit frame space (largest is 0xfffffffffffff)"
        case let .misaligned(what, value, order):
            return "\(what): 0x\(String(value, radix: 16)) is not aligned to \(order) pages"
        case let .underflow(what, base, offset):
            return "\(what): 0x\(String(base, radix: 16)) - 0x\(String(offset, radix: 16)) goes below zero"
        }
    }
}
