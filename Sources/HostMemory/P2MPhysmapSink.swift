import GuestMemory

/// The guest memory core's p2m as HostMachine's physmap sink: one `P2M` per guest, guest RAM
/// mapped as `ram_rw` and host pmem as `pmem`, with the largest leaves alignment allows (a direct-mapped guest's 1 GiB
/// static region becomes 1 GiB leaves).
public final class P2MPhysmapSink: GuestPhysmapSink {
    public private(set) var tables: [DomainID: P2M] = [:]

    public init() {}

    /// The p2m of `domain`, created on first use.
    public func p2m(_ domain: DomainID) -> P2M {
        if let p = tables[domain] { return p }
        let p = P2M()
        tables[domain] = p
        return p
    }

    public func map(_ domain: DomainID, gfn: Gfn, to mfn: Mfn, frames: UInt64, type: P2MType) throws {
        try p2m(domain).set(gfn: gfn, count: frames, to: mfn, type: type)
    }

    public func unmap(_ domain: DomainID, gfn: Gfn, frames: UInt64) throws {
        try tables[domain]?.remove(gfn: gfn, count: frames)
    }

    public func translate(_ domain: DomainID, gfn: Gfn) -> (mfn: Mfn, type: P2MType)? {
        guard let t = tables[domain]?.translate(gfn), let mfn = t.mfn else { return nil }
        return (mfn, t.type)
    }

    public func destroy(_ domain: DomainID) { tables[domain] = nil }
}
