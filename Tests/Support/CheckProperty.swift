@_exported import PropertyBased
import Testing

// swift-property-based 2.0.1 runs a property's body under `try?` (IssueCounting.swift), so an
// error the body throws is dropped and the property passes. Every property test in vpmem goes
// through `checkProperty` instead: same arguments, but a thrown error is recorded as an issue,
// so a property that throws fails.

public func checkProperty<InA, A>(
    count: Int = 100,
    input g0: Generator<A, some Sequence<InA>>,
    perform body: (A) async throws -> Void,
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    await propertyCheck(count: count, input: g0, perform: { a in
        do { try await body(a) } catch { Issue.record(error, "property threw for input \(a)", sourceLocation: sourceLocation) }
    }, isolation: isolation, sourceLocation: sourceLocation)
}

public func checkProperty<InA, InB, A, B>(
    count: Int = 100,
    input g0: Generator<A, some Sequence<InA>>,
    _ g1: Generator<B, some Sequence<InB>>,
    perform body: (A, B) async throws -> Void,
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    await propertyCheck(count: count, input: g0, g1, perform: { a, b in
        do { try await body(a, b) } catch { Issue.record(error, "property threw for input (\(a), \(b))", sourceLocation: sourceLocation) }
    }, isolation: isolation, sourceLocation: sourceLocation)
}

public func checkProperty<InA, InB, InC, A, B, C>(
    count: Int = 100,
    input g0: Generator<A, some Sequence<InA>>,
    _ g1: Generator<B, some Sequence<InB>>,
    _ g2: Generator<C, some Sequence<InC>>,
    perform body: (A, B, C) async throws -> Void,
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    await propertyCheck(count: count, input: g0, g1, g2, perform: { a, b, c in
        do { try await body(a, b, c) } catch { Issue.record(error, "property threw for input (\(a), \(b), \(c))", sourceLocation: sourceLocation) }
    }, isolation: isolation, sourceLocation: sourceLocation)
}

public func checkProperty<InA, InB, InC, InD, A, B, C, D>(
    count: Int = 100,
    input g0: Generator<A, some Sequence<InA>>,
    _ g1: Generator<B, some Sequence<InB>>,
    _ g2: Generator<C, some Sequence<InC>>,
    _ g3: Generator<D, some Sequence<InD>>,
    perform body: (A, B, C, D) async throws -> Void,
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    await propertyCheck(count: count, input: g0, g1, g2, g3, perform: { a, b, c, d in
        do { try await body(a, b, c, d) } catch { Issue.record(error, "property threw for input (\(a), \(b), \(c), \(d))", sourceLocation: sourceLocation) }
    }, isolation: isolation, sourceLocation: sourceLocation)
}
