/// The size of a page as a power of two of 4 KiB frames: order 0 is 4 KiB, 9 is 2 MiB, 18 is 1 GiB.
///
/// Only the three orders an x86 EPT / Arm stage-2 table can map as a leaf exist, so an order can
/// always be used as a shift without checking.
public enum PageOrder: UInt8, Sendable, CaseIterable, Comparable, CustomStringConvertible, Codable {
    case size4K = 0
    case size2M = 9
    case size1G = 18

    /// Bits of a byte address below one 4 KiB frame.
    public static let frameShift: UInt64 = 12
    /// Bytes in one 4 KiB frame.
    public static let frameBytes: UInt64 = 1 << frameShift

    /// Frames covered by one page of this order.
    @inlinable public var frames: UInt64 { 1 &<< UInt64(rawValue) }
    /// Bytes covered by one page of this order.
    @inlinable public var bytes: UInt64 { PageOrder.frameBytes &<< UInt64(rawValue) }
    /// Mask of the frame-number bits inside one page of this order.
    @inlinable public var frameMask: UInt64 { frames &- 1 }

    public static func < (a: PageOrder, b: PageOrder) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .size4K: return "4K"
        case .size2M: return "2M"
        case .size1G: return "1G"
        }
    }
}
