import GuestMemory

/// The guest memory core's p2m as HostMachine's physmap sink: one `P2M` per guest, guest RAM
/// mapped as `ram_rw` with the largest leaves alignment allows (a direct-mapped guest's 1 GiB
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

    public func map(_ domain: DomainID, gfn: Gfn, to mfn: Mfn, frames: UInt64) throws {
        try p2m(domain).set(gfn: gfn, count: frames, to: mfn, type: .ramRW)
    }

    public func unmap(_ domain: DomainID, gfn: Gfn, frames: UInt64) throws {
        try tables[domain]?.remove(gfn: gfn, count: frames)
    }

    public func translate(_ domain: DomainID, gfn: Gfn) -> Mfn? {
        tables[domain]?.translate(gfn)?.mfn
    }

    public func destroy(_ domain: DomainID) { tables[domain] = nil }
}
