import GuestMemory

/// The workloads the generator knows.
public enum WorkloadKind: String, Sendable, CaseIterable, Codable {
    /// XenGT-like: GPU page-table writes (write-protected, emulated by the vGPU), ordinary RAM,
    /// GPU BAR registers and VGA ports.
    case xengt
    /// MMIO BAR traffic only: the GPU's BAR and another device's (the default server's).
    case mmio
    /// Port IO only: VGA ports (the GPU's) and others (the default server's).
    case port
    /// GPU page-table writes only: every access is a steering decision about write-protected
    /// RAM (what the steering benchmarks measure).
    case ptwrite

    /// The mix of this workload.
    public var mix: WorkloadMix {
        switch self {
        case .xengt: return WorkloadMix(pageTable: 0.6, ram: 0.25, mmio: 0.1, port: 0.05, pageTableWrites: 0.7)
        case .mmio: return WorkloadMix(pageTable: 0, ram: 0, mmio: 1, port: 0, pageTableWrites: 0)
        case .port: return WorkloadMix(pageTable: 0, ram: 0, mmio: 0, port: 1, pageTableWrites: 0)
        case .ptwrite: return WorkloadMix(pageTable: 1, ram: 0, mmio: 0, port: 0, pageTableWrites: 1)
        }
    }
}

/// Fractions of each kind of access (they sum to 1), and of page-table accesses that write.
public struct WorkloadMix: Sendable, Equatable, Codable {
    public var pageTable: Double
    public var ram: Double
    public var mmio: Double
    public var port: Double
    public var pageTableWrites: Double

    public init(pageTable: Double, ram: Double, mmio: Double, port: Double, pageTableWrites: Double) {
        self.pageTable = pageTable
        self.ram = ram
        self.mmio = mmio
        self.port = port
        self.pageTableWrites = pageTableWrites
    }
}

/// Where the workload's accesses land: the page tables, RAM, and the devices' BARs and ports.
public struct WorkloadTargets: Sendable {
    public var pageTables: PageTableLayout
    public var ram: [GfnRange]
    /// Ordinary RAM accesses fall in `ramWorkingSetFrames` frames from `ramWorkingSetStart`
    /// (an index into the RAM regions taken end to end): a guest's hot memory, not its whole
    /// RAM. It also keeps the model's lazily backed RAM small, so a run measures steering rather
    /// than first-touch page allocation.
    public var ramWorkingSetStart: UInt64
    public var ramWorkingSetFrames: UInt64
    /// The GPU's BAR (claimed by the GPU's server) and another device's (left to the default).
    public var gpuBar: GpaRange
    public var otherBar: GpaRange
    /// VGA ports (the GPU's) and others (the default server's).
    public var gpuPorts: ClosedRange<UInt16>
    public var otherPorts: [UInt16]

    /// The default working set: 64 MiB.
    public static let defaultWorkingSetFrames: UInt64 = 16384

    public init(pageTables: PageTableLayout, ram: [GfnRange], gpuBar: GpaRange, otherBar: GpaRange,
                gpuPorts: ClosedRange<UInt16>, otherPorts: [UInt16],
                ramWorkingSetStart: UInt64 = 0, ramWorkingSetFrames: UInt64 = WorkloadTargets.defaultWorkingSetFrames) {
        self.pageTables = pageTables
        self.ram = ram
        self.ramWorkingSetStart = ramWorkingSetStart
        self.ramWorkingSetFrames = ramWorkingSetFrames
        self.gpuBar = gpuBar
        self.otherBar = otherBar
        self.gpuPorts = gpuPorts
        self.otherPorts = otherPorts
    }
}

/// A deterministic stream of guest accesses: the same seed, mix and targets give the same
/// accesses, on every machine. Every access is valid by construction (aligned, inside one
/// page, data fitting its size).
public struct AccessStream: Sendable {
    public let mix: WorkloadMix
    public let targets: WorkloadTargets
    private var random: WyRand
    private let workingSetStart: UInt64
    private let workingSetFrames: UInt64
    /// The working set's first gfn when it lies inside one RAM region (the usual case), so a
    /// RAM access is one add; nil when it spans regions (a walk over them per access).
    private let workingSetGfn: UInt64?
    /// `targets.pageTables.pages`, where the generator reads them with no bounds check.
    private let pageTable: PageTableCopy
    /// `tRAM` when the page-table-or-RAM pick below it takes the fast path (the working set
    /// inside one region, and page-table pages to pick from), else 0: one compare decides it.
    private let tPageTableOrRAM: UInt64
    // Cumulative thresholds, scaled to 2^32.
    private let tPageTable: UInt64, tRAM: UInt64, tMMIO: UInt64, tPTWrite: UInt64

    public init(mix: WorkloadMix, targets: WorkloadTargets, seed: UInt64) throws(WorkloadError) {
        let parts = [mix.pageTable, mix.ram, mix.mmio, mix.port, mix.pageTableWrites]
        guard parts.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
            throw .invalid(option: "mix", value: "\(parts)", rule: "fractions from 0 to 1")
        }
        let sum = mix.pageTable + mix.ram + mix.mmio + mix.port
        guard abs(sum - 1) < 1e-9 else {
            throw .invalid(option: "mix", value: "\(sum)", rule: "page-table, RAM, MMIO and port fractions that sum to 1")
        }
        guard !targets.ram.isEmpty || mix.ram == 0 else { throw .invalid(option: "ram", value: "none", rule: "a guest with RAM") }
        guard !targets.pageTables.pages.isEmpty || mix.pageTable == 0 else {
            throw .invalid(option: "pages", value: "0", rule: "at least one page-table page for a mix with page-table accesses")
        }
        guard !targets.otherPorts.isEmpty else { throw .invalid(option: "ports", value: "none", rule: "at least one port") }
        let ramFrames = targets.ram.reduce(UInt64(0)) { $0 + $1.count }
        let ws = min(targets.ramWorkingSetFrames, ramFrames)
        guard mix.ram == 0 || (ws > 0 && targets.ramWorkingSetStart <= ramFrames - ws) else {
            throw .invalid(option: "working set", value: "\(targets.ramWorkingSetFrames) frames from \(targets.ramWorkingSetStart)",
                           rule: "at least one frame, inside the guest's \(ramFrames) frames of RAM")
        }
        // A page or frame is drawn from 32 random bits, scaled.
        guard ws <= UInt64(UInt32.max), targets.pageTables.pages.count <= Int(UInt32.max) else {
            throw .invalid(option: "working set", value: "\(ws) frames, \(targets.pageTables.pages.count) page-table pages",
                           rule: "at most 2^32 - 1 of each")
        }
        self.mix = mix
        self.targets = targets
        // The seed through SplitMix64 first, so nearby seeds give unrelated streams.
        var seeder = SplitMix64(seed: seed)
        random = WyRand(seed: seeder.next())
        workingSetStart = targets.ramWorkingSetStart
        workingSetFrames = ws
        var skip = targets.ramWorkingSetStart
        var within: UInt64?
        for r in targets.ram {
            if skip < r.count {
                if r.count - skip >= ws { within = r.first.raw + skip }
                break
            }
            skip -= r.count
        }
        workingSetGfn = mix.ram == 0 ? nil : within
        let scale = Double(UInt64(1) << 32)
        tPageTable = UInt64(mix.pageTable * scale)
        tRAM = UInt64((mix.pageTable + mix.ram) * scale)
        tMMIO = UInt64((mix.pageTable + mix.ram + mix.mmio) * scale)
        tPTWrite = UInt64(mix.pageTableWrites * scale)
        pageTable = PageTableCopy(targets.pageTables.pages)
        tPageTableOrRAM = workingSetGfn != nil && !targets.pageTables.pages.isEmpty ? tRAM : 0
    }

    /// The next access. Two draws of the generator: one picks the kind (its high half) and the
    /// page or frame (its low half, scaled), the other gives the offset, direction and data.
    public mutating func next() -> GuestAccess { generate(pageTable.pages) }

    /// `next`, inlined into `fill`, whose loop then keeps the generator's constants in registers.
    /// `pages` is `targets.pageTables.pages`.
    @inline(always)
    mutating func generate(_ pages: UnsafeBufferPointer<Gfn>) -> GuestAccess {
        let r = random.next()
        let pick = r >> 32
        let low = r & 0xFFFF_FFFF
        let bits = random.next()
        let write = bits & 1 == 1
        // Page-table writes and RAM accesses, most of the stream, in random order: both
        // addresses are computed and one chosen with a mask, since a branch on which it is would
        // be mispredicted about a third of the time.
        if pick < tPageTableOrRAM {
            // An index below the count (a 32-bit fraction of it), so the read needs no check.
            let pte = pages[Int(truncatingIfNeeded: (low &* UInt64(truncatingIfNeeded: pages.count)) >> 32)].raw
            let ram = workingSetGfn.unsafelyUnwrapped &+ ((low &* workingSetFrames) >> 32)
            let isPTE = 0 &- UInt64(pick < tPageTable ? 1 : 0)
            let frame = (pte & isPTE) | (ram & ~isPTE)
            let pteWrite = UInt64((bits >> 32) < tPTWrite ? 1 : 0)
            let w = ((pteWrite & isPTE) | (bits & 1 & ~isPTE)) == 1
            return access(frame << 12 | (bits >> 8) & 0xFF8, size: 8, write: w, bits: bits)
        }
        if pick < tPageTable {
            // A PTE: 8 bytes, 8-aligned, in a random page-table page.
            let page = pages[Int(truncatingIfNeeded: (low &* UInt64(truncatingIfNeeded: pages.count)) >> 32)]
            let pteWrite = (bits >> 32) < tPTWrite
            let offset = (bits >> 8) & 0xFF8
            return access(page.raw << 12 | offset, size: 8, write: pteWrite, bits: bits)
        }
        if pick < tRAM {
            let offset = (bits >> 8) & 0xFF8
            if let base = workingSetGfn {
                return access((base &+ ((low &* workingSetFrames) >> 32)) << 12 | offset, size: 8, write: write, bits: bits)
            }
            var x = workingSetStart + ((low &* workingSetFrames) >> 32)
            var i = 0
            while x >= targets.ram[i].count {
                x -= targets.ram[i].count
                i += 1
            }
            return access((targets.ram[i].first.raw + x) << 12 | offset, size: 8, write: write, bits: bits)
        }
        if pick < tMMIO {
            // A 32-bit register, three quarters of them the GPU's.
            let bar = (bits >> 1) & 3 == 0 ? targets.otherBar : targets.gpuBar
            let offset = random.next(below: bar.size) & ~3
            return access(bar.first.raw + offset, size: 4, write: write, bits: bits)
        }
        let port: UInt16
        if (bits >> 1) & 1 == 0 {
            port = targets.gpuPorts.lowerBound + UInt16(random.next(below: UInt64(targets.gpuPorts.count)))
        } else {
            port = targets.otherPorts[Int(random.next(below: UInt64(targets.otherPorts.count)))]
        }
        return GuestAccess(unchecked: UInt64(port), data: write ? (bits >> 24) & 0xFF : 0, space: .port,
                           direction: write ? .write : .read, size: 1)
    }

    private func access(_ address: UInt64, size: UInt8, write: Bool, bits: UInt64) -> GuestAccess {
        let mask: UInt64 = size == 8 ? .max : (1 << (UInt64(size) * 8)) - 1
        return GuestAccess(unchecked: address, data: write ? bits & mask : 0, space: .memory,
                           direction: write ? .write : .read, size: size)
    }

    /// Fills `buffer` with the next accesses.
    public mutating func fill(_ buffer: UnsafeMutableBufferPointer<GuestAccess>) {
        let pages = pageTable.pages
        for i in buffer.indices { buffer[i] = generate(pages) }
    }
}

/// A copy of a page-table layout's pages that the generator indexes without a bounds check (its
/// index is a 32-bit fraction of the count, so always below it). Immutable once made.
private final class PageTableCopy: @unchecked Sendable {
    let pages: UnsafeBufferPointer<Gfn>

    init(_ pages: [Gfn]) {
        let copy = UnsafeMutableBufferPointer<Gfn>.allocate(capacity: pages.count)
        _ = copy.initialize(from: pages)
        self.pages = UnsafeBufferPointer(copy)
    }

    deinit { pages.deallocate() }
}
