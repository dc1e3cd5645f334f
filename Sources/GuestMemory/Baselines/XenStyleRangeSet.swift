// XenStyleRangeSet: what xen/common/rangeset.c does, as the baseline for RangeSet's benchmarks
// (and for issue 4's steering benchmarks). A doubly linked list of heap-allocated nodes
// {prev, next, s, e} (32 bytes, like Xen's struct range with its list_head), kept in ascending
// order; every operation starts with find_range, a walk from the head to the highest range whose
// start is <= the value. Lookups are O(n) pointer chases.
//
// Invariants: the nodes from `head` along `next` hold ranges in ascending order with
// e + 1 < next.s (disjoint, never touching); `count` is the number of nodes and never exceeds
// `limit`; `prev`/`next` are consistent (prev of head is nil).
//
// Semantics are RangeSet's (and Xen's), with two deliberate differences from rangeset.c, so that
// both types can be checked against one model:
//  - Limit by net effect: Xen allocates the new node before merging it with an adjacent following
//    range, so at the limit `add [5,9]` to `{[10,20]}` fails in Xen although the set would still
//    hold one range. Here it extends the following range instead and succeeds.
//  - Removing [s, e] when find_range(s) ends before s and another range starts inside [s, e]:
//    rangeset.c sets that first range's end to s - 1 unconditionally, which would extend it; here
//    it is left alone.

/// The linked-list rangeset of Xen's `rangeset.c`, with the same API as ``RangeSet``.
public struct XenStyleRangeSet: ~Copyable {
    @usableFromInline struct Node {
        @usableFromInline var prev: UnsafeMutablePointer<Node>?
        @usableFromInline var next: UnsafeMutablePointer<Node>?
        @usableFromInline var s: UInt64
        @usableFromInline var e: UInt64
    }

    public let name: String
    public internal(set) var limit: UInt64
    @usableFromInline var head: UnsafeMutablePointer<Node>?
    @usableFromInline var _count: Int

    public init(name: String, limit: UInt64 = RangeSet.defaultLimit) throws(RangeSetError) {
        guard limit <= RangeSet.maximumLimit else {
            throw .limitAboveMaximum(set: name, limit: limit, maximum: RangeSet.maximumLimit)
        }
        self.name = name
        self.limit = limit
        head = nil
        _count = 0
    }

    deinit {
        var x = head
        while let n = x {
            x = n.pointee.next
            n.deallocate()
        }
    }

    public var count: Int { _count }
    public var isEmpty: Bool { head == nil }

    // MARK: find_range and friends

    /// Highest range whose start is <= s, or nil (Xen's find_range).
    @inlinable
    func findRange(_ s: UInt64) -> UnsafeMutablePointer<Node>? {
        var x: UnsafeMutablePointer<Node>? = nil
        var y = head
        while let n = y {
            if n.pointee.s > s { break }
            x = n
            y = n.pointee.next
        }
        return x
    }

    /// Inserts a new node [s, e] after x (at the head when x is nil). Caller checked the limit.
    mutating func insertRange(after x: UnsafeMutablePointer<Node>?, _ s: UInt64, _ e: UInt64) {
        let y = UnsafeMutablePointer<Node>.allocate(capacity: 1)
        let next = x == nil ? head : x!.pointee.next
        y.initialize(to: Node(prev: x, next: next, s: s, e: e))
        next?.pointee.prev = y
        if let x { x.pointee.next = y } else { head = y }
        _count += 1
    }

    mutating func destroyRange(_ x: UnsafeMutablePointer<Node>) {
        let prev = x.pointee.prev, next = x.pointee.next
        if let prev { prev.pointee.next = next } else { head = next }
        next?.pointee.prev = prev
        x.deallocate()
        _count -= 1
    }

    // MARK: Queries

    @inlinable
    public func contains(_ point: UInt64) -> Bool {
        guard let x = findRange(point) else { return false }
        return x.pointee.e >= point
    }

    public func contains(_ range: ClosedRange<UInt64>) -> Bool {
        guard let x = findRange(range.lowerBound) else { return false }
        return x.pointee.e >= range.upperBound
    }

    public func overlaps(_ range: ClosedRange<UInt64>) -> Bool {
        guard let x = findRange(range.upperBound) else { return false }
        return range.lowerBound <= x.pointee.e
    }

    public var first: ClosedRange<UInt64>? { head.map { $0.pointee.s...$0.pointee.e } }

    public func next(after value: UInt64) -> ClosedRange<UInt64>? {
        var y = head
        while let n = y {
            if n.pointee.s > value { return n.pointee.s...n.pointee.e }
            y = n.pointee.next
        }
        return nil
    }

    public var ranges: [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        var y = head
        while let n = y {
            out.append(n.pointee.s...n.pointee.e)
            y = n.pointee.next
        }
        return out
    }

    /// Node payload: 32 bytes a range, as in Xen. The allocator's own rounding and headers come
    /// on top (glibc hands out 48-byte chunks for them; Xen's xmalloc about 56 per range).
    public var memory: RangeSetMemory {
        RangeSetMemory(
            ranges: _count, capacity: _count, rangeStorageBytes: _count * MemoryLayout<Node>.stride,
            indexBytes: 0, setBytes: MemoryLayout<XenStyleRangeSet>.size)
    }

    // MARK: Changes (rangeset_add_range / rangeset_remove_range)

    public mutating func add(first: UInt64, last: UInt64) throws(RangeSetError) {
        guard first <= last else { throw .invertedRange(set: name, first: first, last: last) }
        try add(first...last)
    }

    public mutating func add(_ range: ClosedRange<UInt64>) throws(RangeSetError) {
        let s = range.lowerBound, e = range.upperBound
        var x = findRange(s)
        let y = findRange(e)
        if x == y {
            if x == nil || (x!.pointee.e < s && x!.pointee.e + 1 != s) {
                let following = x == nil ? head : x!.pointee.next
                if let f = following, e != .max, e + 1 == f.pointee.s {
                    f.pointee.s = s
                    x = f
                } else {
                    guard UInt64(_count) < limit else {
                        throw .limitReached(
                            set: name, limit: limit, needed: UInt64(_count) + 1, operation: "adding", first: s, last: e)
                    }
                    insertRange(after: y, s, e)
                    x = y == nil ? head : y!.pointee.next
                }
            } else if x!.pointee.e < e {
                x!.pointee.e = e
            }
        } else {
            var t: UnsafeMutablePointer<Node>
            if let x0 = x {
                t = x0
                if t.pointee.e < s && t.pointee.e + 1 != s {
                    t = t.pointee.next!
                    t.pointee.s = s
                }
            } else {
                t = head!
                t.pointee.s = s
            }
            t.pointee.e = max(y!.pointee.e, e)
            while let n = t.pointee.next, n.pointee.e <= t.pointee.e {
                destroyRange(n)
            }
            x = t
        }
        if let x0 = x, x0.pointee.e != .max, let n = x0.pointee.next, x0.pointee.e + 1 == n.pointee.s {
            x0.pointee.e = n.pointee.e
            destroyRange(n)
        }
    }

    public mutating func remove(first: UInt64, last: UInt64) throws(RangeSetError) {
        guard first <= last else { throw .invertedRange(set: name, first: first, last: last) }
        try remove(first...last)
    }

    public mutating func remove(_ range: ClosedRange<UInt64>) throws(RangeSetError) {
        let s = range.lowerBound, e = range.upperBound
        var x = findRange(s)
        let y = findRange(e)
        if x == y {
            guard let x0 = x, x0.pointee.e >= s else { return }
            if x0.pointee.s < s && x0.pointee.e > e {
                guard UInt64(_count) < limit else {
                    throw .limitReached(
                        set: name, limit: limit, needed: UInt64(_count) + 1, operation: "removing", first: s, last: e)
                }
                let oldEnd = x0.pointee.e
                x0.pointee.e = s - 1
                insertRange(after: x0, e + 1, oldEnd)
            } else if x0.pointee.s == s && x0.pointee.e <= e {
                destroyRange(x0)
            } else if x0.pointee.s == s {
                x0.pointee.s = e + 1
            } else if x0.pointee.e <= e {
                x0.pointee.e = s - 1
            }
        } else {
            if x == nil { x = head }
            if x!.pointee.s < s {
                if x!.pointee.e >= s { x!.pointee.e = s - 1 }
                x = x!.pointee.next
            }
            while x != y {
                let t = x!
                x = t.pointee.next
                destroyRange(t)
            }
            let last = y!
            if last.pointee.e <= e {
                destroyRange(last)
            } else {
                last.pointee.s = e + 1
            }
        }
    }

    public mutating func setLimit(_ newLimit: UInt64) throws(RangeSetError) {
        guard newLimit <= RangeSet.maximumLimit else {
            throw .limitAboveMaximum(set: name, limit: newLimit, maximum: RangeSet.maximumLimit)
        }
        guard newLimit >= UInt64(_count) else {
            throw .limitBelowCount(set: name, limit: newLimit, count: UInt64(_count))
        }
        limit = newLimit
    }
}

extension XenStyleRangeSet: @unchecked Sendable {}
