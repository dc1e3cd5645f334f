import GuestMemory

// XenStyleIoreqSelect: the steering decision as Xen makes it, the baseline for SteeringEngine's
// benchmarks. Same decision, Xen's data structures: the servers are a singly linked list of
// heap nodes (newest, i.e. highest id, first, as the 2016 ioreq server list and today's
// FOR_EACH_IOREQ_SERVER order them), each holding one XenStyleRangeSet (rangeset.c's sorted
// linked list) per kind. Selecting a server walks the server list and, for each server, its
// rangeset from the head (hvm_select_ioreq_server); the ioreq_server type claim is checked first
// (p2m_get_ioreq_server), the default server last.
//
// Invariants: the list holds one node per server of the mirrored engine, in descending id; each
// node's sets hold exactly that server's ranges. The mirror is a snapshot: it does not follow
// later changes to the engine.

/// Xen's way of choosing a server, over a snapshot of a `SteeringEngine`'s servers.
public final class XenStyleIoreqSelect {
    @usableFromInline struct ServerNode: ~Copyable {
        @usableFromInline var next: UnsafeMutablePointer<ServerNode>?
        @usableFromInline let id: UInt16
        @usableFromInline var port: XenStyleRangeSet
        @usableFromInline var mmio: XenStyleRangeSet
        @usableFromInline var pci: XenStyleRangeSet
        @usableFromInline var wpMem: XenStyleRangeSet

        init(id: UInt16, next: UnsafeMutablePointer<ServerNode>?) throws(RangeSetError) {
            self.id = id
            self.next = next
            let port = try XenStyleRangeSet(name: "s\(id) port", limit: RangeSet.maximumLimit)
            let mmio = try XenStyleRangeSet(name: "s\(id) mmio", limit: RangeSet.maximumLimit)
            let pci = try XenStyleRangeSet(name: "s\(id) pci", limit: RangeSet.maximumLimit)
            let wpMem = try XenStyleRangeSet(name: "s\(id) wp_mem", limit: RangeSet.maximumLimit)
            self.port = port
            self.mmio = mmio
            self.pci = pci
            self.wpMem = wpMem
        }
    }

    public let p2m: P2M
    @usableFromInline let head: UnsafeMutablePointer<ServerNode>?
    @usableFromInline let claimant: Int
    @usableFromInline let claimFlags: UInt8
    @usableFromInline let defaultServer: Int

    /// A snapshot of `engine`'s servers, ranges, claim and default server.
    public init(mirroring engine: SteeringEngine) throws(SteeringError) {
        p2m = engine.p2m
        var head: UnsafeMutablePointer<ServerNode>? = nil
        // Ascending ids, each pushed at the head: the list ends up highest id first.
        for info in engine.servers {
            let node = UnsafeMutablePointer<ServerNode>.allocate(capacity: 1)
            do { node.initialize(to: try ServerNode(id: info.id.raw, next: head)) } catch {
                node.deallocate()
                Self.free(head)
                throw .rangeLimitReached(engine.domain, info.id, .port, error)
            }
            head = node
            for kind in IoRangeKind.allCases {
                // Descending order: each add lands at the list head, so building is linear.
                for r in try engine.ranges(info.id, kind).reversed() {
                    do {
                        switch kind {
                        case .port: try node.pointee.port.add(r)
                        case .mmio: try node.pointee.mmio.add(r)
                        case .pciConfig: try node.pointee.pci.add(r)
                        case .wpMem: try node.pointee.wpMem.add(r)
                        }
                    } catch {
                        Self.free(head)
                        throw .rangeLimitReached(engine.domain, info.id, kind, error)
                    }
                }
            }
        }
        self.head = head
        let claim = engine.claimant
        claimant = claim.map { Int($0.server.raw) } ?? -1
        claimFlags = claim?.flags.rawValue ?? 0
        defaultServer = engine.defaultServer.map { Int($0.raw) } ?? -1
    }

    deinit { Self.free(head) }

    private static func free(_ head: UnsafeMutablePointer<ServerNode>?) {
        var x = head
        while let n = x {
            x = n.pointee.next
            n.deinitialize(count: 1)
            n.deallocate()
        }
    }

    /// The same decision as `SteeringEngine.decide`, made Xen's way.
    @inlinable
    public func decide(_ access: GuestAccess) -> SteeringDecision {
        switch access.space {
        case .port:
            return select(.port, first: access.address, last: access.lastByte, space: .port)
        case .pciConfig:
            let sbdf = access.address &>> 32
            return select(.pciConfig, first: sbdf, last: sbdf, space: .pciConfig)
        case .memory:
            break
        }
        let gfn = Gfn(uncheckedRaw: access.address &>> PageOrder.frameShift)
        guard let t = p2m.translate(gfn) else { return .fault(.unmapped(gfn: gfn)) }
        let type = t.type
        guard t.access.rawValue & (1 &<< access.direction.rawValue) != 0 else {
            return .fault(.accessDenied(gfn: gfn, type: type, access: t.access, direction: access.direction))
        }
        switch type {
        case .ioreqServer:
            if claimant >= 0 && claimFlags & (1 &<< access.direction.rawValue) != 0 {
                return .emulate(server: IoreqServerID(UInt16(truncatingIfNeeded: claimant)), route: .typeClaim)
            }
            if access.direction == .write, let s = find(.wpMem, first: gfn.raw, last: gfn.raw) {
                return .emulate(server: s, route: .rangeset(.wpMem))
            }
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: type)
        case .mmioDM:
            return select(.mmio, first: access.address, last: access.lastByte, space: .memory)
        case .ramRO, .grantMapRO:
            if access.direction == .write { return .fault(.writeDiscarded(gfn: gfn, type: type)) }
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: type)
        case .invalid:
            return .fault(.unmapped(gfn: gfn))
        case .ramRW, .ramLogDirty, .mmioDirect, .grantMapRW, .foreign, .pmem:
            return .direct(mfn: t.mfn.unsafelyUnwrapped, type: type)
        }
    }

    @inlinable
    func select(_ kind: IoRangeKind, first: UInt64, last: UInt64, space: AccessSpace) -> SteeringDecision {
        if let s = find(kind, first: first, last: last) { return .emulate(server: s, route: .rangeset(kind)) }
        if defaultServer >= 0 { return .emulate(server: IoreqServerID(UInt16(truncatingIfNeeded: defaultServer)), route: .defaultServer) }
        return .fault(.noServer(space: space))
    }

    /// hvm_select_ioreq_server's loop: every server, its rangeset of the kind, from the head.
    @inlinable
    func find(_ kind: IoRangeKind, first: UInt64, last: UInt64) -> IoreqServerID? {
        var x = head
        let r = ClosedRange(uncheckedBounds: (lower: first, upper: last))
        while let n = x {
            let hit: Bool
            switch kind {
            case .port: hit = n.pointee.port.contains(r)
            case .mmio: hit = n.pointee.mmio.contains(r)
            case .pciConfig: hit = n.pointee.pci.contains(r)
            case .wpMem: hit = n.pointee.wpMem.contains(r)
            }
            if hit { return IoreqServerID(n.pointee.id) }
            x = n.pointee.next
        }
        return nil
    }
}
