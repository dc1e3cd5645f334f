import Foundation
import Testing
import DomainModel
import GuestMemory
import HostPmem
import NVDIMM
import VpmemCore

/// Attaching a backing whose label area is not what the vNVDIMM's configuration says: the
/// cases QEMU's and ndctl's users lose data to, checked where the backing is opened.
@Suite struct LabelAreaAttachTests {
    /// An existing backing of `size` bytes with `bytes` written at each offset.
    static func backing(_ path: String, size: UInt64, _ writes: [(UInt64, [UInt8])] = []) throws {
        let m = try PmemMapping.create(path: path, size: size)
        for (offset, bytes) in writes { try m.write(bytes, at: offset) }
    }

    static func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func aCreatedBackingIsFreshAndAnUncheckedAttachLooksAtNothing() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        let a = try domain.attach(nvdimm(0), createBacking: true, labelAreas: .refuseOverwrite)
        #expect(a.labelAreaCheck?.verdict == .fresh && a.labelAreaCheck?.overwritesData == false)
        let b = try domain.attach(nvdimm(1), createBacking: true)
        #expect(b.labelAreaCheck == nil)
    }

    /// (b): the backing held a guest's data with no label area; giving it one would let the
    /// guest's label writes overwrite the data's last bytes. Refused, nothing changed; --force
    /// (`.warn`) attaches and says so; a read-only vNVDIMM cannot write labels, so it attaches.
    @Test func dataWhereTheLabelAreaWouldBeIsRefusedUnlessForced() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        try Self.backing(s.file("n0.pmem"), size: 4 * MiB, [(0, [1, 2, 3]), (4 * MiB - 4, [9, 9, 9, 9])])
        let before = DomainSnapshot(domain)
        let bytes = try Self.contents(s.file("n0.pmem"))
        let d = nvdimm(0, size: 2 * MiB, label: 2 * MiB)
        #expect {
            try domain.attach(d, createBacking: false, labelAreas: .refuseOverwrite)
        } throws: { e in
            guard case let .labelAreaHoldsData(0, _, check) = e as? GuestError else { return false }
            return check.verdict == .dataInLabelArea && check.firstNonZero == 4 * MiB - 4
                && "\(e)".contains("label-size 0 and size 4M") && "\(e)".contains("--force")
        }
        #expect(DomainSnapshot(domain) == before)
        #expect(try Self.contents(s.file("n0.pmem")) == bytes, "the backing is untouched")
        // Forced: attached, the check on it.
        let forced = try domain.attach(d, createBacking: false, labelAreas: .warn)
        #expect(forced.labelAreaCheck?.overwritesData == true)
        #expect(forced.labelAreaCheck?.problem(slot: 0, path: forced.path, readOnly: false, forced: true)?.contains("--force:") == true)
        // Read-only: nothing the guest can overwrite.
        try Self.backing(s.file("n1.pmem"), size: 4 * MiB, [(4 * MiB - 1, [7])])
        let ro = try domain.attach(nvdimm(1, size: 2 * MiB, label: 2 * MiB, readOnly: true), createBacking: false, labelAreas: .refuseOverwrite)
        #expect(ro.labelAreaCheck?.verdict == .dataInLabelArea)
        #expect(ro.labelAreaCheck?.problem(slot: 1, path: ro.path, readOnly: true)?.contains("corrupt label area") == true)
    }

    /// A label area written by the guest (init-labels through _DSM), then the backing reused:
    /// the same way it matches; with no label area (a) or another label size (c) it is named.
    @Test func aGuestsLabelAreaIsRecognisedWhenTheBackingIsReused() throws {
        let s = Scratch()
        let domain = try Guest(config: guestConfig(), baseDirectory: s.path)
        let d = nvdimm(0, size: 2 * MiB, label: 2 * MiB)
        try domain.attach(d, createBacking: true, labelAreas: .refuseOverwrite)
        _ = try NamespaceLabelClient(domain: domain, slot: 0).initLabels(labelSize: 256)
        _ = try domain.detach(slot: 0)

        // Each attached value is dropped before the next attach: it holds the backing's lock.
        do {
            let same = try domain.attach(d, createBacking: false, labelAreas: .refuseOverwrite)
            #expect(same.labelAreaCheck?.verdict == .matches)
            let area = try #require(same.labelAreaCheck?.found.first)
            #expect(area.offset == 2 * MiB && area.size == 2 * MiB && area.layout?.labelSize == 256)
        }
        _ = try domain.detach(slot: 0)

        // (a) No label area: attached (nothing is overwritten), the labels named.
        let bytes = try Self.contents(s.file("n0.pmem"))
        do {
            let none = try domain.attach(nvdimm(0, size: 4 * MiB, label: 0), createBacking: false, labelAreas: .refuseOverwrite)
            #expect(none.labelAreaCheck?.verdict == .labelsIgnored)
            #expect(none.labelAreaCheck?.problem(slot: 0, path: none.path, readOnly: false)?.contains("size 2M and label-size 2M") == true)
        }
        _ = try domain.detach(slot: 0)
        #expect(try Self.contents(s.file("n0.pmem")) == bytes)

        // (c) A bigger label area would cover the old index blocks' bytes: refused.
        try Self.backing(s.file("big.pmem"), size: 6 * MiB)
        do {
            let m = try PmemMapping.open(path: s.file("big.pmem"))
            try m.write(Array(bytes.suffix(Int(2 * MiB))), at: 4 * MiB)  // the area at the end of a 6M backing
        }
        var c = nvdimm(1, size: 2 * MiB, label: 4 * MiB)
        c.backing = "big.pmem"
        #expect {
            try domain.attach(c, createBacking: false, labelAreas: .refuseOverwrite)
        } throws: { e in
            guard case let .labelAreaHoldsData(1, _, check) = e as? GuestError else { return false }
            return check.verdict == .labelSizeChanged && "\(e)".contains("size 4M and label-size 2M")
        }
    }
}
