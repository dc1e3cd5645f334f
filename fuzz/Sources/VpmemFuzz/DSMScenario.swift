import NVDIMM

/// What one input of the _DSM fuzz target means: the handler's starting state, then a sequence
/// of steps (guest calls and host-side changes between them).
///
/// Byte format (every input decodes; missing bytes read as zero):
///
///     [0]  slot 0 config (low nibble), slot 1 config (high nibble)
///     [1]  slot 255 config (low nibble); bit 4: label areas start filled with a byte pattern
///          (else zero); bit 5: they start as an initialised empty label area (LabelArea.empty)
///     [2]  FIT size: byte * 67 bytes (0 ... 17085; > 4088 needs several Read FIT pieces)
///     then steps until the input ends, each an op byte:
///       op & 7 in 0...3: a guest call. u16 LE length, then that many page bytes (fewer if the
///            input ends). op & 2: the page is handled in place (input and output are the same
///            memory, as for a guest), else through handle(page:). op & 8: label reads fail;
///            op & 16: label writes fail (injected storage faults, this call only).
///       op & 7 == 4: setFIT (a hotplug): next byte * 67 is the new FIT size.
///       op & 7 == 5: detach the slot chosen by the next byte (% 3 -> slot 0, 1, 255).
///       op & 7 == 6: attach a fresh device: next byte, low 2 bits choose the slot (% 3), high
///            nibble is its config.
///       op & 7 == 7: nothing (a filler the fuzzer may use).
///
/// A slot config nibble: bit 2 = attached; bits 0-1 = label area: 0 none, 1 128 KiB (QEMU's
/// minimum), 2 256 KiB, 3 4100 bytes (just over one transfer); bit 3 = read-only.
public struct DSMScenario: Sendable, Hashable {
    public static let slots = [0, 1, VirtualNVDIMM.maxSlot]
    public static let fitUnit = 67

    public enum AreaSize: UInt8, Sendable, Hashable, CaseIterable {
        case none = 0, kib128 = 1, kib256 = 2, odd4100 = 3
        public var bytes: Int? {
            switch self {
            case .none: nil
            case .kib128: 128 * 1024
            case .kib256: 256 * 1024
            case .odd4100: 4100
            }
        }
    }

    public struct SlotConfig: Sendable, Hashable {
        public var attached: Bool
        public var area: AreaSize
        public var readOnly: Bool
        public init(attached: Bool, area: AreaSize, readOnly: Bool = false) {
            self.attached = attached
            self.area = area
            self.readOnly = readOnly
        }
        public static let detached = SlotConfig(attached: false, area: .none)
        init(nibble: UInt8) {
            attached = nibble & 4 != 0
            area = AreaSize(rawValue: nibble & 3)!
            readOnly = nibble & 8 != 0
        }
        var nibble: UInt8 { (attached ? 4 : 0) | area.rawValue | (readOnly ? 8 : 0) }
    }

    public enum InitialContent: Sendable, Hashable { case zero, pattern, emptyLabelArea }

    public enum Step: Sendable, Hashable {
        case call(page: [UInt8], inPlace: Bool, failReads: Bool, failWrites: Bool)
        case setFIT(units: UInt8)
        case detach(slotIndex: Int)
        case attach(slotIndex: Int, SlotConfig)
    }

    /// Configs of slots 0, 1 and 255.
    public var slots: [SlotConfig]
    public var content: InitialContent
    public var fitUnits: UInt8
    public var steps: [Step]

    public init(slots: [SlotConfig], content: InitialContent = .pattern, fitUnits: UInt8 = 0, steps: [Step]) {
        precondition(slots.count == 3, "configs for slots 0, 1 and 255")
        self.slots = slots
        self.content = content
        self.fitUnits = fitUnits
        self.steps = steps
    }

    public init(decoding bytes: [UInt8]) {
        var r = FuzzBytes(bytes)
        let b0 = r.u8(), b1 = r.u8()
        slots = [SlotConfig(nibble: b0 & 0xF), SlotConfig(nibble: b0 >> 4), SlotConfig(nibble: b1 & 0xF)]
        content = b1 & 0x20 != 0 ? .emptyLabelArea : b1 & 0x10 != 0 ? .pattern : .zero
        fitUnits = r.u8()
        steps = []
        while !r.isAtEnd {
            let op = r.u8()
            switch op & 7 {
            case 0...3:
                let length = Int(r.u16())
                steps.append(.call(page: r.take(length), inPlace: op & 2 != 0, failReads: op & 8 != 0, failWrites: op & 16 != 0))
            case 4: steps.append(.setFIT(units: r.u8()))
            case 5: steps.append(.detach(slotIndex: Int(r.u8() % 3)))
            case 6:
                let b = r.u8()
                steps.append(.attach(slotIndex: Int(b & 3) % 3, SlotConfig(nibble: b >> 4)))
            default: continue
            }
        }
    }

    /// The input bytes that decode to this scenario (seeds are written this way).
    public func encoded() -> [UInt8] {
        var b: [UInt8] = [slots[0].nibble | slots[1].nibble << 4]
        b.append(slots[2].nibble | (content == .pattern ? 0x10 : 0) | (content == .emptyLabelArea ? 0x20 : 0))
        b.append(fitUnits)
        for step in steps {
            switch step {
            case let .call(page, inPlace, failReads, failWrites):
                precondition(page.count <= Int(UInt16.max), "a page of at most 65535 bytes")
                b.append((inPlace ? 2 : 0) | (failReads ? 8 : 0) | (failWrites ? 16 : 0))
                b.appendLE(UInt16(page.count))
                b += page
            case .setFIT(let units): b += [4, units]
            case .detach(let i): b += [5, UInt8(i)]
            case let .attach(i, config): b += [6, UInt8(i) | config.nibble << 4]
            }
        }
        return b
    }

    /// The FIT after `generation` setFITs: `units * 67` bytes of a pattern that differs by
    /// generation, so a stale piece is told from a fresh one.
    static func fit(units: UInt8, generation: UInt64) -> [UInt8] {
        (0..<Int(units) * fitUnit).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(truncatingIfNeeded: generation) &* 7 &+ 1) }
    }

    /// A label area's starting bytes. Built once per size and content and shared (copy on
    /// write) by the handler's storage and the model, so a scenario starts in microseconds.
    static func initialArea(size: AreaSize, content: InitialContent) -> [UInt8]? {
        initialAreas[Int(size.rawValue) * 3 + content.index]
    }

    private static let initialAreas: [[UInt8]?] = AreaSize.allCases.flatMap { size in
        [InitialContent.zero, .pattern, .emptyLabelArea].map { content in
            size.bytes.map { n in
                switch content {
                case .zero: return [UInt8](repeating: 0, count: n)
                case .pattern: return (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
                case .emptyLabelArea: return (try? LabelArea.empty(size: n)) ?? [UInt8](repeating: 0, count: n)
                }
            }
        }
    }
}

extension DSMScenario.InitialContent {
    var index: Int {
        switch self {
        case .zero: 0
        case .pattern: 1
        case .emptyLabelArea: 2
        }
    }
}

/// A guest's DSM input page: handle, revision, function, then arg3.
public func dsmInputPage(handle: UInt32, revision: UInt32 = 1, function: UInt32, arg3: [UInt8] = []) -> [UInt8] {
    var p: [UInt8] = []
    p.appendLE(handle)
    p.appendLE(revision)
    p.appendLE(function)
    return p + arg3
}

/// Arg3 of Get/Set Namespace Label Data: offset, length, then (set) the data.
public func labelTransferArgs(offset: UInt32, length: UInt32, data: [UInt8] = []) -> [UInt8] {
    var a: [UInt8] = []
    a.appendLE(offset)
    a.appendLE(length)
    return a + data
}
