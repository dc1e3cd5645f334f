/// Where an NVDIMM's label area lives. The _DSM handler reads and writes it through this
/// protocol; the in-memory implementation serves tests and benchmarks, and the integration backs
/// it with the last `label-size` bytes of a libpmem mapping.
///
/// Callers guarantee `offset + buffer.count <= size` (the handler bounds-checks every request
/// first); implementations may rely on that.
public protocol LabelStorage {
    /// Bytes in the label area.
    var size: UInt32 { get }
    /// Copies `buffer.count` bytes at `offset` into `buffer`.
    func read(at offset: UInt32, into buffer: UnsafeMutableRawBufferPointer) throws(LabelStorageError)
    /// Copies `bytes` to `offset` and makes them persistent before returning.
    mutating func write(at offset: UInt32, from bytes: UnsafeRawBufferPointer) throws(LabelStorageError)
}

/// A label area backing store that failed.
public struct LabelStorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var offset: UInt32
    public var length: Int
    public var reason: String
    public init(operation: String, offset: UInt32, length: Int, reason: String) {
        self.operation = operation
        self.offset = offset
        self.length = length
        self.reason = reason
    }
    public var description: String {
        "label area \(operation) of \(length) bytes at 0x\(String(offset, radix: 16)) failed: \(reason)"
    }
}

/// A label area in ordinary memory.
///
/// Invariant: `bytes.count == size` and fits in 32 bits (checked at init).
public struct InMemoryLabelStorage: LabelStorage, Sendable {
    @usableFromInline var storage: [UInt8]
    /// The area's contents.
    public var bytes: [UInt8] { storage }
    public var size: UInt32 { UInt32(truncatingIfNeeded: storage.count) }

    /// A zero-filled area of `size` bytes.
    public init(size: UInt32) { storage = [UInt8](repeating: 0, count: Int(size)) }

    /// An area holding `bytes`, or an error when it is longer than a 32-bit size.
    public init(bytes: [UInt8]) throws(LabelStorageError) {
        guard bytes.count <= Int(UInt32.max) else {
            throw LabelStorageError(operation: "create", offset: 0, length: bytes.count, reason: "a label area is at most 4 GiB - 1")
        }
        storage = bytes
    }

    @inlinable public func read(at offset: UInt32, into buffer: UnsafeMutableRawBufferPointer) {
        storage.withUnsafeBytes { src in
            guard let dst = buffer.baseAddress, let s = src.baseAddress, buffer.count > 0 else { return }
            dst.copyMemory(from: s + Int(offset), byteCount: buffer.count)
        }
    }

    @inlinable public mutating func write(at offset: UInt32, from source: UnsafeRawBufferPointer) {
        storage.withUnsafeMutableBytes { dst in
            guard let d = dst.baseAddress, let s = source.baseAddress, source.count > 0 else { return }
            (d + Int(offset)).copyMemory(from: s, byteCount: source.count)
        }
    }
}
