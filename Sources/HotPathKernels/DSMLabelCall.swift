/// What a guest's _DSM AML writes into the DSM page for a label call to the first vNVDIMM
/// (NFIT handle 1, revision 1): handle, revision, function, then Arg3's offset and length.
/// Get Label Data is function 5; Set Label Data is function 6 and carries its data at byte 20.
/// One copy of the page layout for the NVDIMMBench suite and the gate.
@inline(__always)
public func fillDSMLabelCall(_ page: UnsafeMutableRawBufferPointer, function: UInt32, offset: Int, length: Int) {
    page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
    page.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 4, as: UInt32.self)
    page.storeBytes(of: function.littleEndian, toByteOffset: 8, as: UInt32.self)
    page.storeBytes(of: UInt32(truncatingIfNeeded: offset).littleEndian, toByteOffset: 12, as: UInt32.self)
    page.storeBytes(of: UInt32(truncatingIfNeeded: length).littleEndian, toByteOffset: 16, as: UInt32.self)
}
