import NVDIMM
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fuzz target: the _DSM handler (DSMHandler over a fault-injecting in-memory label storage).
///
/// The input is a `DSMScenario`: a starting state and a sequence of guest calls and host-side
/// changes. Each call goes to the real handler (through `handle(page:)`, or in place with input
/// and output the same memory, as a guest's page is) and to `DSMModel`. After every call:
/// - the output length field equals the bytes written and lies in 4...4096;
/// - its status word is a defined `DSMStatus` (function 0 answers with a bitmap instead);
/// - the output equals the model's byte for byte: every status, the function bitmaps, Get
///   Namespace Label Size, Get Namespace Label Data returning exactly the area's bytes, Read FIT
///   pieces and the FIT-changed status after a hotplug;
/// - every attached label area equals the model's: a failed call changed nothing, a successful
///   Set Namespace Label Data changed exactly the bytes asked for;
/// - label storage is only ever asked for bytes inside the area (checked in the storage).
public enum DSMFuzzTarget {
    public static func run(_ data: UnsafeRawBufferPointer) {
        run(DSMScenario(decoding: Array(data)))
    }

    public static func run(_ scenario: DSMScenario) {
        let faults = FaultSwitch()
        var handler = DSMHandler<FaultInjectingLabelStorage>(fit: DSMScenario.fit(units: scenario.fitUnits, generation: 0))
        var model = DSMModel(fit: handler.fit)

        func attach(_ slotIndex: Int, _ config: DSMScenario.SlotConfig) {
            let slot = DSMScenario.slots[slotIndex]
            guard config.attached else {
                try! handler.detach(slot: slot)
                model.devices[slot] = nil
                return
            }
            let bytes = DSMScenario.initialArea(size: config.area, content: scenario.content)
            let storage = bytes.map { FaultInjectingLabelStorage(inner: try! InMemoryLabelStorage(bytes: $0), faults: faults) }
            try! handler.attach(slot: slot, .init(labelArea: storage, readOnly: config.readOnly))
            model.devices[slot] = DSMModel.Device(area: bytes, readOnly: config.readOnly)
        }

        for (i, config) in scenario.slots.enumerated() { attach(i, config) }
        var output = [UInt8](repeating: 0, count: DSMPage.size)

        for (n, step) in scenario.steps.enumerated() {
            switch step {
            case let .call(page, inPlace, failReads, failWrites):
                faults.failReads = failReads
                faults.failWrites = failWrites
                let got = inPlace ? handleInPlace(&handler, page, &output) : handler.handle(page: page)
                faults.failReads = false
                faults.failWrites = false
                let expected = model.call(page, failReads: failReads, failWrites: failWrites)
                check(call: n, page: page, got: got, expected: expected)
                checkAreas(handler, model, after: n)
            case .setFIT(let units):
                let fit = DSMScenario.fit(units: units, generation: model.fitGeneration + 1)
                handler.setFIT(fit)
                model.setFIT(fit)
                invariant(handler.fitGeneration == model.fitGeneration, "step \(n): FIT generation \(handler.fitGeneration), expected \(model.fitGeneration)")
            case .detach(let i):
                attach(i, .detached)
            case let .attach(i, config):
                attach(i, config)
            }
        }
    }

    /// The guest's way: the page is both input and output. Bytes past a short input are left
    /// from earlier calls on purpose (a real page has stale bytes too).
    static func handleInPlace(_ handler: inout DSMHandler<FaultInjectingLabelStorage>, _ page: [UInt8], _ buffer: inout [UInt8]) -> [UInt8] {
        guard page.count <= DSMPage.size else { return handler.handle(page: page) }
        buffer.replaceSubrange(0..<page.count, with: page)
        let n = buffer.withUnsafeMutableBytes { memory in
            handler.handle(input: UnsafeRawBufferPointer(rebasing: memory[0..<page.count]), output: memory)
        }
        invariant((0...DSMPage.size).contains(n), "in-place call wrote \(n) bytes")
        return Array(buffer[0..<n])
    }

    static func check(call n: Int, page: [UInt8], got: [UInt8], expected: [UInt8]) {
        func describe() -> String {
            "call \(n) (page of \(page.count) bytes, header \(Array(page.prefix(20))))"
        }
        invariant(got.count >= 8 && got.count <= DSMPage.size, "\(describe()): output of \(got.count) bytes")
        let length = got.le32(at: 0)
        invariant(length >= 4 && length <= 4096, "\(describe()): output length field \(length) outside 4...4096")
        invariant(Int(length) == got.count, "\(describe()): length field \(length) but \(got.count) bytes written")
        let isFunctionZero = page.count >= 12 && page.count <= 4096 && page.le32(at: 4) == 1 && page.le32(at: 8) == 0
        if !isFunctionZero {
            let status = got.le32(at: 4)
            invariant(DSMStatus(rawValue: status) != nil, "\(describe()): status 0x\(String(status, radix: 16)) is not a defined status")
        }
        invariant(got == expected, "\(describe()): output \(Array(got.prefix(24)))... (\(got.count) bytes), model says \(Array(expected.prefix(24)))... (\(expected.count) bytes)")
    }

    static func checkAreas(_ handler: DSMHandler<FaultInjectingLabelStorage>, _ model: DSMModel, after n: Int) {
        for slot in DSMScenario.slots {
            let real = handler.device(slot: slot)
            let naive = model.devices[slot]
            invariant((real == nil) == (naive == nil), "after call \(n): slot \(slot) attached \(real != nil), model \(naive != nil)")
            guard let real, let naive else { continue }
            let bytes = real.labelArea?.bytes
            invariant(sameBytes(bytes, naive.area), "after call \(n): slot \(slot)'s label area differs from the model (first difference at \(firstDifference(bytes, naive.area)))")
        }
    }

    /// Byte equality at memcmp speed (the areas are up to 256 KiB, compared after every call).
    static func sameBytes(_ a: [UInt8]?, _ b: [UInt8]?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    static func firstDifference(_ a: [UInt8]?, _ b: [UInt8]?) -> String {
        guard let a, let b else { return "presence: \(a != nil) vs \(b != nil)" }
        if a.count != b.count { return "size \(a.count) vs \(b.count)" }
        return zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }.map { "offset \($0.offset)" } ?? "none"
    }
}
