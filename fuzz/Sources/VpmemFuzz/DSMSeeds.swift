import NVDIMM

/// Seed inputs for the _DSM target: one per function and status the handler can answer, in a
/// state like QEMU's (slot 0: 128 KiB label area; slot 1: 256 KiB, read-only; slot 255: no
/// label area; a FIT of two Read FIT pieces).
public enum DSMSeeds {
    static let standard = [
        DSMScenario.SlotConfig(attached: true, area: .kib128),
        DSMScenario.SlotConfig(attached: true, area: .kib256, readOnly: true),
        DSMScenario.SlotConfig(attached: true, area: .none),
    ]
    /// 70 * 67 = 4690 bytes: two pieces (4088 + 602).
    static let fitUnits: UInt8 = 70
    static let area128 = UInt32(128 * 1024)

    static func call(_ handle: UInt32, _ function: UInt32, _ arg3: [UInt8] = [], revision: UInt32 = 1,
                     inPlace: Bool = false, failReads: Bool = false, failWrites: Bool = false) -> DSMScenario.Step {
        .call(page: dsmInputPage(handle: handle, revision: revision, function: function, arg3: arg3),
              inPlace: inPlace, failReads: failReads, failWrites: failWrites)
    }
    static func get(_ handle: UInt32, _ offset: UInt32, _ length: UInt32, failReads: Bool = false) -> DSMScenario.Step {
        call(handle, 5, labelTransferArgs(offset: offset, length: length), failReads: failReads)
    }
    static func set(_ handle: UInt32, _ offset: UInt32, _ length: UInt32, data: [UInt8]? = nil,
                    inPlace: Bool = false, failWrites: Bool = false) -> DSMScenario.Step {
        let bytes = data ?? (0..<Int(length)).map { UInt8(truncatingIfNeeded: 0xA5 ^ $0) }
        return call(handle, 6, labelTransferArgs(offset: offset, length: length, data: bytes), inPlace: inPlace, failWrites: failWrites)
    }
    static func readFIT(_ offset: UInt32) -> DSMScenario.Step {
        var a: [UInt8] = []
        a.appendLE(offset)
        return call(DSMHandler<InMemoryLabelStorage>.reservedRootHandle, 1, a)
    }
    static func scenario(_ steps: [DSMScenario.Step], content: DSMScenario.InitialContent = .pattern) -> [UInt8] {
        DSMScenario(slots: standard, content: content, fitUnits: fitUnits, steps: steps).encoded()
    }

    /// (name, input bytes), names without the "seed-" prefix.
    public static func all() -> [(String, [UInt8])] {
        let root = DSMHandler<InMemoryLabelStorage>.reservedRootHandle
        let max = UInt32(DSMPage.maxTransfer)
        var seeds: [(String, [UInt8])] = [
            // Function 0 everywhere: the reserved root, the ACPI root (handle 0), an NVDIMM with
            // and without a label area, an absent one.
            ("fn0-reserved-root", scenario([call(root, 0)])),
            ("fn0-root-handle0", scenario([call(0, 0)])),
            ("fn0-nvdimms", scenario([call(1, 0), call(2, 0), call(256, 0), call(9, 0)])),
            ("fn4-label-size", scenario([call(1, 4), call(2, 4)])),
            ("fn5-get-label-data", scenario([get(1, 0, max), get(1, area128 - max, max), get(1, 1000, 0), get(2, 4096, 100)])),
            ("fn6-set-label-data", scenario([set(1, 4096, 256), get(1, 4096, 256), set(1, area128 - max, max)])),
            ("fn6-set-in-place", scenario([set(1, 0, 64, inPlace: true), call(1, 5, labelTransferArgs(offset: 0, length: 64), inPlace: true)])),
            ("fn6-read-only", scenario([set(2, 0, 16)])),
            ("read-fit-pieces", scenario([readFIT(0), readFIT(4088), readFIT(4690)])),
            ("read-fit-changed", scenario([readFIT(0), .setFIT(units: 80), readFIT(4088), readFIT(0), readFIT(4088)])),
            ("read-fit-offset-beyond", scenario([readFIT(4691), readFIT(0xFFFF_FFFF)])),
            ("read-fit-empty", DSMScenario(slots: standard, fitUnits: 0, steps: [readFIT(0), readFIT(1)]).encoded()),
            // Every invalid-input class.
            ("invalid-offset-length-overflow", scenario([get(1, 0xFFFF_FFF0, 0x20), set(1, 0xFFFF_FFF0, 0x20, data: [])])),
            ("invalid-beyond-area", scenario([get(1, area128 - 10, 20), set(1, area128, 1), get(2, 256 * 1024, 1)])),
            ("invalid-over-max-transfer", scenario([get(1, 0, max + 1), set(1, 0, max + 1, data: []), get(1, 0, 0xFFFF_FFFF)])),
            ("invalid-unknown-handle", scenario([call(9, 4), call(257, 5, labelTransferArgs(offset: 0, length: 1)), call(0xFFFF_FFFF, 4)])),
            ("invalid-unknown-function", scenario([call(1, 7), call(1, 3), call(1, 1), call(root, 2), call(0, 4), call(256, 4)])),
            ("invalid-revision", scenario([call(1, 4, revision: 2), call(root, 0, revision: 0), call(0, 0, revision: 0xFFFF_FFFF)])),
            ("invalid-short-arg3", scenario([
                call(1, 5, [0, 0, 0, 0]), call(1, 6, labelTransferArgs(offset: 0, length: 16, data: [1, 2, 3])),
                call(root, 1, [0, 0]),
                .call(page: [1, 0, 0, 0, 1, 0, 0], inPlace: false, failReads: false, failWrites: false),
                .call(page: dsmInputPage(handle: 1, function: 4) + [UInt8](repeating: 0, count: 4085), inPlace: false, failReads: false, failWrites: false),
            ])),
            ("hardware-error", scenario([get(1, 0, 16, failReads: true), set(1, 0, 16, failWrites: true), get(1, 0, 16)])),
        ]
        // Linux probing a DIMM: function 0, the label size, then the whole area in max-size reads.
        var probe: [DSMScenario.Step] = [call(1, 0), call(1, 4)]
        var offset: UInt32 = 0
        while offset < area128 {
            let n = min(max, area128 - offset)
            probe.append(get(1, offset, n))
            offset += n
        }
        seeds.append(("linux-probe-label-area", scenario(probe, content: .emptyLabelArea)))
        // Hotplug: a DIMM detached, then one with an odd-sized area in its place; full pages.
        seeds.append(("hotplug-detach-attach", scenario([
            .detach(slotIndex: 0), call(1, 4), get(1, 0, 1),
            .attach(slotIndex: 0, .init(attached: true, area: .odd4100)), call(1, 4), get(1, 24, max), set(1, 4, max),
            .setFIT(units: 3), readFIT(0),
        ])))
        seeds.append(("full-pages", scenario([
            .call(page: dsmInputPage(handle: 1, function: 5, arg3: labelTransferArgs(offset: 8, length: 32)) + [UInt8](repeating: 0xEE, count: 4096 - 20),
                  inPlace: true, failReads: false, failWrites: false),
            .call(page: dsmInputPage(handle: 1, function: 6, arg3: labelTransferArgs(offset: 8, length: max, data: [UInt8](repeating: 0x5A, count: Int(max)))),
                  inPlace: true, failReads: false, failWrites: false),
        ])))
        return seeds
    }
}
