import DeviceModel
import GuestMemory
import HostMemory
import VpmemCore

/// A modelled host as its `host.toml` describes it: the machine (RAM banks, reserved regions,
/// the live-update region, bad pages), its persistent memory, static memory reserved for named
/// guests, and the steering budget. Both sides of a live update read the same file: it is the
/// machine, not state. What vpmem decides at run time (domids, guests) is in `HostState`.
///
/// Rules (`validate`): at least one RAM bank; banks, pmem, the reserved Xen heap, the live-update
/// region and static memory pairwise disjoint where HostMemoryConfig says so; every pmem entry
/// names exactly one of an emulated file or a namespace, has a size and an SPA on a 1 GiB
/// boundary above every RAM bank; guest names in static memory and allowances are valid names.
public struct HostConfig: Equatable, Sendable {
    /// One `[[pmem]]` entry: host persistent memory the host can give to guests, one backing each.
    public struct Pmem: Equatable, Sendable {
        /// An emulated pmem file (libpmem-backed) or a file on an fsdax mount / a devdax device;
        /// relative paths are relative to the host directory.
        public var path: String?
        /// A real namespace, by uuid, found through libndctl (its device is the backing).
        public var namespace: String?
        /// Bytes of the backing (data part and label area of a vNVDIMM that uses it).
        public var size: UInt64
        /// Host-physical address of the first byte: an emulated file's is chosen when it is
        /// registered and fixed from then on; a namespace's is its SPA from the NFIT.
        public var spa: UInt64

        public init(path: String? = nil, namespace: String? = nil, size: UInt64, spa: UInt64) {
            self.path = path; self.namespace = namespace; self.size = size; self.spa = spa
        }

        /// The host frames the entry covers.
        public var frames: MfnRange { MfnRange(uncheckedFirst: spa >> 12, end: (spa >> 12) + (size + 4095) / 4096) }
    }

    /// Static memory (`xen,static-mem`) reserved for the guest named `guest`.
    public struct StaticMemory: Equatable, Sendable {
        public var guest: String
        public var range: MfnRange
        public init(guest: String, range: MfnRange) { self.guest = guest; self.range = range }
    }

    public var ramBanks: [MfnRange]
    public var pmem: [Pmem]
    public var staticMemory: [StaticMemory]
    public var reservedXenHeap: MfnRange?
    public var liveUpdateRegion: MfnRange?
    public var badPages: [Mfn]
    /// The host-wide range-memory budget and the default guest allowance (seed 001).
    public var steering: HostSteeringConfig
    /// Per-guest allowances by guest name, overriding the default.
    public var allowances: [String: UInt64]

    public init(ramBanks: [MfnRange], pmem: [Pmem] = [], staticMemory: [StaticMemory] = [],
                reservedXenHeap: MfnRange? = nil, liveUpdateRegion: MfnRange? = nil, badPages: [Mfn] = [],
                steering: HostSteeringConfig = HostSteeringConfig(), allowances: [String: UInt64] = [:]) {
        self.ramBanks = ramBanks
        self.pmem = pmem
        self.staticMemory = staticMemory
        self.reservedXenHeap = reservedXenHeap
        self.liveUpdateRegion = liveUpdateRegion
        self.badPages = badPages
        self.steering = steering
        self.allowances = allowances
    }

    /// Emulated pmem goes on 1 GiB boundaries (so gfn and mfn agree modulo 1 GiB and guests
    /// get 1 GiB pages), from the first boundary above RAM and above 4 GiB (the 32-bit hole).
    public static let pmemAlignment: UInt64 = ByteSize.gib
    public static let pmemFloor: UInt64 = 4 * ByteSize.gib

    /// One past the last byte of RAM.
    public var ramEnd: UInt64 { (ramBanks.map(\.end).max() ?? 0) << 12 }

    /// The SPA for a new emulated pmem entry of `size` bytes: the lowest 1 GiB boundary above
    /// RAM (at least `pmemFloor`) where it overlaps no other entry.
    public func nextPmemSPA(size: UInt64) -> UInt64? {
        let align = Self.pmemAlignment
        var candidate = max(Self.pmemFloor, (ramEnd + align - 1) / align * align)
        for p in pmem.sorted(by: { $0.spa < $1.spa }) {
            let end = p.spa + p.size
            if candidate + size <= p.spa { break }
            if end > candidate { candidate = (end + align - 1) / align * align }
        }
        let (last, overflow) = candidate.addingReportingOverflow(size)
        guard !overflow, last >> 12 <= maxFrameNumber else { return nil }
        return candidate
    }

    /// The memory layout HostMemory boots from; `domid(of:)` names the owner of each static
    /// region.
    public func memoryConfig(domid: (String) -> DomainID) -> HostMemoryConfig {
        HostMemoryConfig(banks: ramBanks, pmem: pmem.map(\.frames),
                         staticMemory: staticMemory.map { StaticMemoryRegion(domain: domid($0.guest), range: $0.range) },
                         reservedXenHeap: reservedXenHeap, liveUpdateRegion: liveUpdateRegion, badPages: badPages)
    }

    /// Checks the rules above; the first broken one is thrown, naming the entry and the fix.
    public func validate(path: String) throws(HostError) {
        for (i, p) in pmem.enumerated() {
            let what = "pmem[\(i)]"
            guard (p.path == nil) != (p.namespace == nil) else {
                throw .config(path: path, key: what, problem: "names \(p.path == nil ? "neither" : "both") a path and a namespace", fix: "give exactly one: path = \"FILE\" or namespace = \"UUID\"")
            }
            guard p.size >= 4096, p.size % 4096 == 0 else {
                throw .config(path: path, key: "\(what).size", problem: "\(p.size) bytes is not a whole number of 4K pages", fix: "give a multiple of 4K")
            }
            // A namespace's SPA is the firmware's: 4K-aligned, wherever it is. An emulated file's
            // is vpmem's choice: 1G-aligned, so guests map it with 1 GiB pages. Overlap with RAM
            // is the memory layout's check below, for both.
            guard p.spa % (p.namespace != nil ? 4096 : Self.pmemAlignment) == 0 else {
                throw .config(path: path, key: "\(what).spa", problem: "\(hex(p.spa)) is not on a \(p.namespace != nil ? "4K" : "1G") boundary", fix: p.namespace != nil ? "give the namespace's SPA as libndctl reports it" : "place it on a 1G boundary (vpmem host add-pmem places it)")
            }
            if let ns = p.namespace, ns.isEmpty || ns.contains(where: { !$0.isHexDigit && $0 != "-" }) {
                throw .config(path: path, key: "\(what).namespace", problem: "\"\(ns)\" is not a uuid", fix: "give the namespace's uuid as `vpmem host list` shows it")
            }
        }
        for s in staticMemory {
            do { try GuestConfig(name: s.guest, memory: ByteSize(bytes: 1 << 30)).validate() } catch {
                throw .config(path: path, key: "static_memory.guest", problem: "\"\(s.guest)\" is not a guest name", fix: "use the guest config's name")
            }
        }
        do { try steering.validate() } catch { throw .config(path: path, key: "steering", problem: "\(error)", fix: "lower the allowance or raise steering_budget") }
        for (name, bytes) in allowances where bytes > steering.hostBudgetBytes || bytes == 0 {
            throw .config(path: path, key: "allowance.\(name)", problem: "\(ByteSize(bytes: bytes)) is \(bytes == 0 ? "zero" : "above the host budget \(ByteSize(bytes: steering.hostBudgetBytes))")", fix: "give 1 byte to the host budget")
        }
        do { try memoryConfig { _ in DomainID.provisional }.validate() } catch {
            throw .config(path: path, key: "memory layout", problem: "\(error)", fix: "correct the ranges in host.toml")
        }
    }
}

extension DomainID {
    /// The owner static memory is recorded under before its guest exists: the highest guest
    /// domid, which `HostState` never hands out.
    static var provisional: DomainID { DomainID(uncheckedRaw: 0x7FEF) }
}
