import HostPmem
import NVDIMM

/// A vNVDIMM's label area in its backing: the last `size` bytes, as QEMU keeps it, read and
/// written through the backing's libpmem mapping. Writes go through `PmemMapping.write`, so they
/// are durable (cache flush on real pmem, msync otherwise) before the _DSM call returns, and
/// survive the process.
///
/// Invariants: `offset + size <= mapping.length` (checked at init); the handler bounds-checks
/// every request against `size` first, and `PmemMapping` checks again before a byte moves.
public struct PmemLabelStorage: LabelStorage {
    public let mapping: PmemMapping
    /// Where the label area starts in the backing.
    public let offset: UInt64
    public let size: UInt32

    public init(mapping: PmemMapping, offset: UInt64, size: UInt32) throws(GuestError) {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(size))
        guard size > 0, !overflow, end <= mapping.length else {
            throw .labelAreaOutsideBacking(path: mapping.path, offset: offset, size: UInt64(size), backingSize: mapping.length)
        }
        self.mapping = mapping
        self.offset = offset
        self.size = size
    }

    public func read(at offset: UInt32, into buffer: UnsafeMutableRawBufferPointer) throws(LabelStorageError) {
        do { try mapping.read(at: self.offset + UInt64(offset), into: buffer) } catch {
            throw LabelStorageError(operation: "read", offset: offset, length: buffer.count, reason: error.description)
        }
    }

    public mutating func write(at offset: UInt32, from bytes: UnsafeRawBufferPointer) throws(LabelStorageError) {
        do { try mapping.write(bytes, at: self.offset + UInt64(offset)) } catch {
            throw LabelStorageError(operation: "write", offset: offset, length: bytes.count, reason: error.description)
        }
    }
}
