import GuestMemory

// SteeringView: one published version of everything the decision and the delivery read, made by
// the engine's writer side (`SteeringEngine.publish`) and never changed after it is published.
// vCPUs read the current view without locks; a change builds a new view and swaps it in, and the
// old one is freed once every vCPU has passed a quiescent state (SteeringReclamation.swift).
//
// Layout: one allocation of `SteeringView` plus its arrays:
//   hot         the claim, the default server, the newest server (as HotState: invariant 2a of
//               SteeringEngine, with newestSets pointing into this view's `sets`)
//   active      the existing servers' ids, ascending (`hot.activeCount` of them)
//   sets        32 RangeSets, server-major (set (id, kind) at id * 4 + kind): bitwise copies of
//               the writer's sets at publication. They share the writer's buffers, which the
//               writer never writes while a view names them (it changes a duplicate, see
//               `SteeringEngine.writableSet`), and are never deinitialised (they own nothing).
//               Only the lookups read them.
//   routes      per server, its catch-all device and per kind its registrations, ascending and
//               disjoint (found by binary search)
//   devices     strong references to every device the routes name, so a device unregistered
//               while a vCPU still delivers through an old view lives until the view is freed.
//
// Invariants: every pointer field points into memory the view owns (or, for the sets' buffers,
// memory the reclamation keeps until the view is freed); a handler's `.device(i)` has
// i < deviceCount.

/// A device model as the delivery path calls it: the built-in models by their concrete type
/// (a direct call, no existential, no reference counting), any other through the protocol.
@usableFromInline enum DeviceHandler {
    case gttShadow(Unmanaged<GTTShadowDevice>)
    case registerFile(Unmanaged<RegisterFileDevice>)
    /// `SteeringView.devices[i]`.
    case device(Int)
}

/// A device registered for `[first, last]` of one kind (values as the set holds them: gfns for
/// wp_mem, SBDFs for PCI config).
@usableFromInline struct DeviceRoute {
    @usableFromInline let first: UInt64
    @usableFromInline let last: UInt64
    @usableFromInline let handler: DeviceHandler
}

/// One server's devices.
@usableFromInline struct ServerRoutes {
    @usableFromInline var catchAll: DeviceHandler?
    /// Per kind (by raw value): the registrations, ascending, and their count.
    @usableFromInline var tables: (UnsafeMutablePointer<DeviceRoute>?, UnsafeMutablePointer<DeviceRoute>?,
                                   UnsafeMutablePointer<DeviceRoute>?, UnsafeMutablePointer<DeviceRoute>?)
    @usableFromInline var counts: SIMD4<Int32>

    @inlinable @inline(__always)
    func table(_ kind: Int) -> (UnsafeMutablePointer<DeviceRoute>?, Int) {
        let t: UnsafeMutablePointer<DeviceRoute>?
        switch kind {
        case 0: t = tables.0
        case 1: t = tables.1
        case 2: t = tables.2
        default: t = tables.3
        }
        return (t, Int(counts[kind]))
    }
}

@usableFromInline struct SteeringView {
    @usableFromInline var hot: SteeringEngine.HotState
    @usableFromInline let active: UnsafeMutablePointer<UInt16>
    @usableFromInline let sets: UnsafeMutablePointer<RangeSet>
    @usableFromInline let routes: UnsafeMutablePointer<ServerRoutes>
    let devices: UnsafeMutablePointer<any EmulatedDevice>
    let deviceCount: Int

    /// The `kind` set of server slot `id`, in place.
    @inlinable @inline(__always)
    func set(_ id: Int, _ kind: Int) -> UnsafeMutablePointer<RangeSet> {
        sets + (id &* SteeringEngine.kinds &+ kind)
    }

    /// The device that handles an ioreq of `route` at `value` on server `id`: the registration
    /// holding `value` (binary search over the kind's table), else the catch-all, else nil.
    @inlinable @inline(__always)
    func handler(server id: Int, kind: Int?, value: UInt64) -> DeviceHandler? {
        let r = routes + id
        if let kind {
            let (table, n) = r.pointee.table(kind)
            if let table, n > 0 {
                // The last registration whose first is <= value.
                var lo = 0, hi = n
                while lo < hi {
                    let mid = (lo &+ hi) &>> 1
                    if table[mid].first <= value { lo = mid &+ 1 } else { hi = mid }
                }
                if lo > 0 && value <= table[lo &- 1].last { return table[lo &- 1].handler }
            }
        }
        return r.pointee.catchAll
    }

    /// A view of the writer's state. The sets are copied bit for bit (see the file comment).
    static func make(hot: SteeringEngine.HotState, active: UnsafePointer<UInt16>, sets: UnsafePointer<RangeSet>,
                     records: [SteeringEngine.ServerRecord?]) -> UnsafeMutablePointer<SteeringView> {
        let n = SteeringEngine.maxServers * SteeringEngine.kinds
        let a = UnsafeMutablePointer<UInt16>.allocate(capacity: SteeringEngine.maxServers)
        a.initialize(from: active, count: SteeringEngine.maxServers)
        let s = UnsafeMutablePointer<RangeSet>.allocate(capacity: n)
        UnsafeMutableRawPointer(s).copyMemory(from: UnsafeRawPointer(sets), byteCount: n * MemoryLayout<RangeSet>.stride)
        var devices: [any EmulatedDevice] = []
        func handler(_ d: any EmulatedDevice) -> DeviceHandler {
            if let g = d as? GTTShadowDevice {
                devices.append(d)
                return .gttShadow(Unmanaged.passUnretained(g))
            }
            if let r = d as? RegisterFileDevice {
                devices.append(d)
                return .registerFile(Unmanaged.passUnretained(r))
            }
            devices.append(d)
            return .device(devices.count - 1)
        }
        let routes = UnsafeMutablePointer<ServerRoutes>.allocate(capacity: SteeringEngine.maxServers)
        for id in 0..<SteeringEngine.maxServers {
            var r = ServerRoutes(catchAll: nil, tables: (nil, nil, nil, nil), counts: .zero)
            if let rec = records[id] {
                r.catchAll = rec.catchAll.map(handler)
                for kind in IoRangeKind.allCases {
                    let mine = rec.devices.filter { $0.kind == kind }.sorted { $0.first < $1.first }
                    guard !mine.isEmpty else { continue }
                    let t = UnsafeMutablePointer<DeviceRoute>.allocate(capacity: mine.count)
                    for (i, m) in mine.enumerated() {
                        (t + i).initialize(to: DeviceRoute(first: m.first, last: m.last, handler: handler(m.device)))
                    }
                    let k = Int(kind.rawValue)
                    switch k {
                    case 0: r.tables.0 = t
                    case 1: r.tables.1 = t
                    case 2: r.tables.2 = t
                    default: r.tables.3 = t
                    }
                    r.counts[k] = Int32(mine.count)
                }
            }
            (routes + id).initialize(to: r)
        }
        let d = UnsafeMutablePointer<any EmulatedDevice>.allocate(capacity: max(devices.count, 1))
        d.initialize(from: devices, count: devices.count)
        var h = hot
        h.newestSets = h.activeCount == 0 ? nil : s + Int(a[h.activeCount - 1]) * SteeringEngine.kinds
        let v = UnsafeMutablePointer<SteeringView>.allocate(capacity: 1)
        v.initialize(to: SteeringView(hot: h, active: a, sets: s, routes: routes, devices: d, deviceCount: devices.count))
        return v
    }

    /// Frees a view made by `make` (its set copies own nothing and are not deinitialised).
    static func free(_ v: UnsafeMutablePointer<SteeringView>) {
        let view = v.pointee
        view.active.deallocate()
        view.sets.deallocate()
        for id in 0..<SteeringEngine.maxServers {
            let r = view.routes[id]
            r.tables.0?.deallocate()
            r.tables.1?.deallocate()
            r.tables.2?.deallocate()
            r.tables.3?.deallocate()
        }
        view.routes.deallocate()
        view.devices.deinitialize(count: view.deviceCount)
        view.devices.deallocate()
        v.deinitialize(count: 1)
        v.deallocate()
    }
}
