import NVDIMM

/// Which label storage operations fail on the current call. Shared by reference between the
/// scenario driver and every storage it attached, so a call can fail without re-attaching.
final class FaultSwitch {
    var failReads = false
    var failWrites = false
}

/// An `InMemoryLabelStorage` that fails on demand (a failing backing store: `hardwareError`)
/// and checks the `LabelStorage` contract: the handler bounds-checks every request before it
/// reaches the storage. A failed operation touches nothing.
struct FaultInjectingLabelStorage: LabelStorage {
    var inner: InMemoryLabelStorage
    let faults: FaultSwitch

    var size: UInt32 { inner.size }
    var bytes: [UInt8] { inner.bytes }

    func read(at offset: UInt32, into buffer: UnsafeMutableRawBufferPointer) throws(LabelStorageError) {
        invariant(UInt64(offset) + UInt64(buffer.count) <= UInt64(size),
                  "label read of \(buffer.count) bytes at \(offset) reached storage of \(size) bytes")
        if faults.failReads {
            throw LabelStorageError(operation: "read", offset: offset, length: buffer.count, reason: "injected fault")
        }
        inner.read(at: offset, into: buffer)
    }

    mutating func write(at offset: UInt32, from bytes: UnsafeRawBufferPointer) throws(LabelStorageError) {
        invariant(UInt64(offset) + UInt64(bytes.count) <= UInt64(size),
                  "label write of \(bytes.count) bytes at \(offset) reached storage of \(size) bytes")
        if faults.failWrites {
            throw LabelStorageError(operation: "write", offset: offset, length: bytes.count, reason: "injected fault")
        }
        inner.write(at: offset, from: bytes)
    }
}
