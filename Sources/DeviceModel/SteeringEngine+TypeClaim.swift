import GuestMemory

/// The directions a server claims the `ioreq_server` p2m type for
/// (`XEN_DMOP_IOREQ_MEM_ACCESS_READ` / `_WRITE`).
public struct IoreqClaimFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Bit positions are `AccessDirection` raw values, so the decision tests one bit.
    public static let read = IoreqClaimFlags(rawValue: 1 << AccessDirection.read.rawValue)
    public static let write = IoreqClaimFlags(rawValue: 1 << AccessDirection.write.rawValue)

    public var description: String {
        [contains(.read) ? "read" : nil, contains(.write) ? "write" : nil].compactMap { $0 }.joined(separator: "+")
    }
}

extension SteeringEngine {
    // MARK: Type steering (HVMOP_map_mem_type_to_ioreq_server)

    /// `server` claims the `ioreq_server` p2m type: accesses of the flagged directions to pages of
    /// that type go to it. One claimant at a time: while any server holds the claim, another
    /// claim (by any server, as in Xen) fails with `.claimBusy`.
    public func claimIoreqServerType(_ id: IoreqServerID, flags: IoreqClaimFlags) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        guard !flags.isEmpty, flags.rawValue & ~(IoreqClaimFlags.read.rawValue | IoreqClaimFlags.write.rawValue) == 0 else {
            throw .emptyClaimFlags(domain, id)
        }
        let holder = hot.pointee.claimant
        guard holder < 0 else {
            logger.warning("ioreq_server type claim refused: busy", metadata: [
                "domain": "\(domain)", "holder": "\(holder)", "requester": "\(id.raw)",
            ])
            throw .claimBusy(domain, holder: IoreqServerID(UInt16(holder)), requester: id)
        }
        hot.pointee.claimant = slot
        hot.pointee.claimFlags = flags.rawValue
        unpublished = true
    }

    /// The claimant releases the type. Pages keep their `ioreq_server` type and behave as RAM
    /// until a server claims it again (the behaviour reverts, not the types).
    public func releaseIoreqServerType(_ id: IoreqServerID) throws(SteeringError) {
        defer { publish() }
        let slot = try existing(id)
        guard hot.pointee.claimant == slot else { throw .notClaimant(domain, id, holder: claimant?.server) }
        hot.pointee.claimant = -1
        hot.pointee.claimFlags = 0
        unpublished = true
    }

    /// The server claiming the `ioreq_server` type, and for which directions.
    public var claimant: (server: IoreqServerID, flags: IoreqClaimFlags)? {
        let h = hot.pointee
        guard h.claimant >= 0 else { return nil }
        return (IoreqServerID(UInt16(h.claimant)), IoreqClaimFlags(rawValue: h.claimFlags))
    }

    /// Changes `count` frames from `gfn` to `type`, which must be `ioreq_server` or `ram_rw`
    /// (XEN_DMOP_set_mem_type as steering uses it). Only `ram_rw <-> ioreq_server` is allowed:
    /// every frame must already be mapped as `ram_rw` or `ioreq_server`; frames already of
    /// `type` are left alone. All or nothing: the frames are checked before any changes.
    /// Returns the number of frames changed.
    @discardableResult
    public func setMemoryType(gfn: Gfn, count: UInt64, to type: P2MType) throws(SteeringError) -> UInt64 {
        let from: P2MType
        switch type {
        case .ioreqServer: from = .ramRW
        case .ramRW: from = .ioreqServer
        default: throw .typeTransitionRefused(domain, gfn: gfn, from: nil, to: type)
        }
        let mappings: [P2MMapping]
        do { mappings = try p2m.mappings(gfn: gfn, count: count) } catch { throw .p2m(error) }
        var expect = gfn.raw
        for m in mappings {
            guard m.gfn.raw == expect else { throw .typeTransitionRefused(domain, gfn: Gfn(uncheckedRaw: expect), from: nil, to: type) }
            guard m.type == from || m.type == type else { throw .typeTransitionRefused(domain, gfn: m.gfn, from: m.type, to: type) }
            expect = m.gfn.raw + m.count
        }
        guard expect == gfn.raw &+ count else {
            throw .typeTransitionRefused(domain, gfn: Gfn(uncheckedRaw: expect), from: nil, to: type)
        }
        do { return try p2m.changeType(gfn: gfn, count: count, from: from, to: type) } catch { throw .p2m(error) }
    }
}
