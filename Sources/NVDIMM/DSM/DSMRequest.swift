/// The input page's header: u32 handle @0, u32 revision @4, u32 function @8; arg3 follows at 12.
///
/// Decoding copies the fields out of the page: the guest may rewrite its page while the call is
/// handled, and every decision is taken on the copy.
public struct DSMRequestHeader: Sendable, Hashable {
    public static let size = DSMPage.arg3Offset
    /// The DSM interface revision vNVDIMMs implement; any other gets status "not supported".
    public static let interfaceRevision: UInt32 = 1

    /// The NFIT device handle: 0 the root, slot + 1 an NVDIMM, 0x10000 QEMU's reserved root.
    public var handle: UInt32
    /// Arg1 of `_DSM`.
    public var revision: UInt32
    /// Arg2 of `_DSM`.
    public var function: UInt32

    public init(handle: UInt32, revision: UInt32 = DSMRequestHeader.interfaceRevision, function: UInt32) {
        self.handle = handle
        self.revision = revision
        self.function = function
    }

    /// Copies the header out of `page`; nil when the page is shorter than a header.
    @inlinable
    public init?(copying page: UnsafeRawBufferPointer) {
        guard page.count >= Self.size else { return nil }
        handle = LittleEndian.load(UInt32.self, from: page, at: 0)
        revision = LittleEndian.load(UInt32.self, from: page, at: 4)
        function = LittleEndian.load(UInt32.self, from: page, at: 8)
    }

    /// The header's 12 bytes.
    public func encode() -> [UInt8] {
        LittleEndian.bytes(handle) + LittleEndian.bytes(revision) + LittleEndian.bytes(function)
    }

    /// A whole input page: this header, then `arg3` zero-filled to the page's end (as the AML's
    /// store into FARG does). Throws when `arg3` does not fit.
    public func page(arg3: [UInt8]) throws(DSMWireError) -> [UInt8] {
        guard arg3.count <= DSMPage.arg3Length else { throw .tooLong(what: "Arg3", length: arg3.count, limit: DSMPage.arg3Length) }
        return encode() + arg3 + [UInt8](repeating: 0, count: DSMPage.arg3Length - arg3.count)
    }
}
