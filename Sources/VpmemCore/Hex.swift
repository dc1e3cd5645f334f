/// `0x`-prefixed lowercase hex, the way addresses, frames and handles are printed everywhere.
@inlinable public func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
