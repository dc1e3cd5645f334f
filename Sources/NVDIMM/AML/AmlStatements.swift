/// Statements and expressions: control flow, Store, arithmetic, logic, method calls.
extension Aml {
    // MARK: control flow

    /// `If (predicate) { body }`.
    public static func ifThen(_ predicate: AmlTerm, @AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.if], what: "If", contents: [predicate] + body()))
    }

    /// `If (predicate) { then } Else { otherwise }`.
    public static func ifThen(_ predicate: AmlTerm, @AmlBuilder _ then: () -> [AmlTerm],
                              @AmlBuilder otherwise: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.sequence([ifThen(predicate, then), elseDo(otherwise)]))
    }

    /// `Else { body }` (must follow an If).
    public static func elseDo(@AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.else], what: "Else", contents: body()))
    }

    /// `While (predicate) { body }`.
    public static func whileLoop(_ predicate: AmlTerm, @AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.while], what: "While", contents: [predicate] + body()))
    }

    /// `Return (value)`.
    public static func `return`(_ value: AmlTerm) -> AmlTerm { op(AmlOpcode.return, value) }
    /// `Break`.
    public static let `break` = AmlTerm(.bytes([AmlOpcode.break]))
    /// `Noop`.
    public static let noop = AmlTerm(.bytes([AmlOpcode.noop]))

    // MARK: data movement

    /// `Store (source, destination)`.
    public static func store(_ source: AmlTerm, _ destination: AmlTerm) -> AmlTerm { op(AmlOpcode.store, source, destination) }
    /// `Increment (target)`.
    public static func increment(_ target: AmlTerm) -> AmlTerm { op(AmlOpcode.increment, target) }
    /// `Decrement (target)`.
    public static func decrement(_ target: AmlTerm) -> AmlTerm { op(AmlOpcode.decrement, target) }

    // MARK: arithmetic (target defaults to none: the result is only the expression's value)

    public static func add(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.add, a, b, target) }
    public static func subtract(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.subtract, a, b, target) }
    public static func multiply(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.multiply, a, b, target) }
    /// `Divide (dividend, divisor, remainder, quotient)`.
    public static func divide(_ a: AmlTerm, _ b: AmlTerm, remainder: AmlTerm = noTarget, quotient: AmlTerm = noTarget) -> AmlTerm {
        op(AmlOpcode.divide, a, b, remainder, quotient)
    }
    public static func mod(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.mod, a, b, target) }
    public static func shiftLeft(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.shiftLeft, a, b, target) }
    public static func shiftRight(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.shiftRight, a, b, target) }
    public static func and(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.and, a, b, target) }
    public static func or(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.or, a, b, target) }
    public static func xor(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.xor, a, b, target) }
    public static func not(_ a: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.not, a, target) }
    /// `Concatenate (a, b, target)`.
    public static func concatenate(_ a: AmlTerm, _ b: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.concat, a, b, target) }

    // MARK: logic

    public static func lEqual(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { op(AmlOpcode.lEqual, a, b) }
    public static func lGreater(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { op(AmlOpcode.lGreater, a, b) }
    public static func lLess(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { op(AmlOpcode.lLess, a, b) }
    /// `LNotEqual`, encoded as LNot LEqual.
    public static func lNotEqual(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { lNot(lEqual(a, b)) }
    /// `LGreaterEqual`, encoded as LNot LLess.
    public static func lGreaterEqual(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { lNot(lLess(a, b)) }
    /// `LLessEqual`, encoded as LNot LGreater.
    public static func lLessEqual(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { lNot(lGreater(a, b)) }
    public static func lAnd(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { op(AmlOpcode.lAnd, a, b) }
    public static func lOr(_ a: AmlTerm, _ b: AmlTerm) -> AmlTerm { op(AmlOpcode.lOr, a, b) }
    public static func lNot(_ a: AmlTerm) -> AmlTerm { op(AmlOpcode.lNot, a) }

    // MARK: objects

    public static func sizeOf(_ a: AmlTerm) -> AmlTerm { op(AmlOpcode.sizeOf, a) }
    public static func objectType(_ a: AmlTerm) -> AmlTerm { op(AmlOpcode.objectType, a) }
    public static func derefOf(_ a: AmlTerm) -> AmlTerm { op(AmlOpcode.derefOf, a) }
    public static func refOf(_ a: AmlTerm) -> AmlTerm { op(AmlOpcode.refOf, a) }
    /// `Index (source, index, target)`.
    public static func index(_ source: AmlTerm, _ index: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm {
        op(AmlOpcode.index, source, index, target)
    }
    public static func toBuffer(_ a: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.toBuffer, a, target) }
    public static func toInteger(_ a: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm { op(AmlOpcode.toInteger, a, target) }
    /// `Mid (source, index, length, target)`: `length` bytes (or characters) from `index`.
    public static func mid(_ source: AmlTerm, _ index: AmlTerm, _ length: AmlTerm, _ target: AmlTerm = noTarget) -> AmlTerm {
        op(AmlOpcode.mid, source, index, length, target)
    }
    /// `Notify (object, value)`.
    public static func notify(_ object: AmlTerm, _ value: AmlTerm) -> AmlTerm { op(AmlOpcode.notify, object, value) }
    /// `Acquire (mutex, timeout)`: the timeout is a raw word, 0xFFFF waits forever.
    public static func acquire(_ mutex: AmlName, timeout: UInt16) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extAcquire])), path(mutex),
                           AmlTerm(.bytes([UInt8(timeout & 0xFF), UInt8(timeout >> 8)]))]))
    }
    /// `Release (mutex)`.
    public static func release(_ mutex: AmlName) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extRelease])), path(mutex)]))
    }

    /// A method invocation: the method's name followed by its arguments.
    public static func call(_ method: AmlName, _ arguments: AmlTerm...) -> AmlTerm { call(method, arguments) }
    public static func call(_ method: AmlName, _ arguments: [AmlTerm]) -> AmlTerm {
        guard arguments.count <= 7 else {
            return AmlTerm(.invalid(.invalidMethod(method.text, reason: "called with \(arguments.count) arguments; a method takes 0 to 7")))
        }
        return AmlTerm(.sequence([path(method)] + arguments))
    }

    static func op(_ opcode: UInt8, _ operands: AmlTerm...) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([opcode]))] + operands))
    }
}
