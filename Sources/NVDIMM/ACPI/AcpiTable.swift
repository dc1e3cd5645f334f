/// ACPI table framing: the 36-byte System Description Table header and its checksum.
///
/// Layout (all little-endian): signature[4] @0, length u32 @4, revision u8 @8, checksum u8 @9,
/// OEM ID[6] @10, OEM table ID[8] @16, OEM revision u32 @24, creator ID[4] @28,
/// creator revision u32 @32. The checksum makes every byte of the table sum to 0 mod 256.

/// The header fields a toolstack chooses. ASCII fields shorter than their width are padded with
/// spaces; longer ones are an error, never cut.
public struct AcpiOemFields: Sendable, Hashable {
    public var oemID: String
    /// Nil: "VPMM" followed by the table signature (QEMU uses "BXPC" the same way).
    public var oemTableID: String?
    public var oemRevision: UInt32
    public var creatorID: String
    public var creatorRevision: UInt32

    public init(oemID: String = "VPMEM", oemTableID: String? = nil, oemRevision: UInt32 = 1,
                creatorID: String = "VPMM", creatorRevision: UInt32 = 1) {
        self.oemID = oemID
        self.oemTableID = oemTableID
        self.oemRevision = oemRevision
        self.creatorID = creatorID
        self.creatorRevision = creatorRevision
    }
}

/// A complete ACPI table: header plus body.
public struct AcpiTable: Sendable, Hashable {
    public static let headerLength = 36

    public var signature: String
    public var revision: UInt8
    public var oem: AcpiOemFields
    /// Everything after the 36-byte header.
    public var body: [UInt8]

    public init(signature: String, revision: UInt8, oem: AcpiOemFields = .init(), body: [UInt8]) {
        self.signature = signature
        self.revision = revision
        self.oem = oem
        self.body = body
    }

    /// The table's bytes with length and checksum filled in.
    public func bytes() throws(AcpiTableError) -> [UInt8] {
        let length = Self.headerLength + body.count
        guard length <= Int(UInt32.max) else { throw .tableTooLong(signature: signature, length: length) }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        try Self.appendASCII(signature, field: "signature", width: 4, pad: false, into: &out)
        LittleEndian.append(UInt32(length), to: &out)
        out.append(revision)
        out.append(0)  // checksum, patched below
        try Self.appendASCII(oem.oemID, field: "OEM ID", width: 6, pad: true, into: &out)
        try Self.appendASCII(oem.oemTableID ?? "VPMM" + signature, field: "OEM table ID", width: 8, pad: true, into: &out)
        LittleEndian.append(oem.oemRevision, to: &out)
        try Self.appendASCII(oem.creatorID, field: "creator ID", width: 4, pad: true, into: &out)
        LittleEndian.append(oem.creatorRevision, to: &out)
        out.append(contentsOf: body)
        out[9] = Self.checksum(of: out)
        return out
    }

    /// The byte that makes `bytes` sum to zero when stored in the checksum field (which must be 0
    /// in `bytes`).
    public static func checksum(of bytes: [UInt8]) -> UInt8 {
        var sum: UInt8 = 0
        for b in bytes { sum &+= b }
        return 0 &- sum
    }

    /// Parses and verifies a table: length within the bytes, checksum zero. Trailing bytes past
    /// the header's length are ignored.
    public init(parsing bytes: [UInt8]) throws(AcpiTableError) {
        guard bytes.count >= Self.headerLength else { throw .truncated(expected: Self.headerLength, actual: bytes.count) }
        let length = Int(bytes.readLE(UInt32.self, at: 4))
        let sig = String(decoding: bytes[0..<4], as: UTF8.self)
        guard length >= Self.headerLength, length <= bytes.count else { throw .truncated(expected: length, actual: bytes.count) }
        var sum: UInt8 = 0
        for b in bytes[0..<length] { sum &+= b }
        guard sum == 0 else { throw .badChecksum(signature: sig, sum: sum) }
        func text(_ r: Range<Int>) -> String {
            String(decoding: bytes[r], as: UTF8.self).trimmingTrailing(" ")
        }
        signature = sig
        revision = bytes[8]
        oem = AcpiOemFields(oemID: text(10..<16), oemTableID: text(16..<24), oemRevision: bytes.readLE(UInt32.self, at: 24),
                            creatorID: text(28..<32), creatorRevision: bytes.readLE(UInt32.self, at: 32))
        body = Array(bytes[Self.headerLength..<length])
    }

    static func appendASCII(_ s: String, field: String, width: Int, pad: Bool, into out: inout [UInt8]) throws(AcpiTableError) {
        let u = Array(s.utf8)
        guard u.count <= width, pad || u.count == width else {
            throw .fieldTooLong(field: field, value: s, maxLength: width)
        }
        guard u.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw .notPrintableASCII(field: field, value: s) }
        out.append(contentsOf: u)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: width - u.count))
    }

}

extension String {
    func trimmingTrailing(_ c: Character) -> String {
        var s = Substring(self)
        while s.last == c { s = s.dropLast() }
        return String(s)
    }
}
