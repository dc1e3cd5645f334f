import GuestMemory
import VpmemCore

/// Where a backing's label area is found against where a vNVDIMM's configuration puts it, and
/// whether giving the backing to a guest that way loses data without saying so. These are the
/// recurring complaints in QEMU's and ndctl's trackers:
///
/// - (a) a backing whose label area was in use is given no label area (label size 0, or size =
///   the whole backing): the guest sees the old labels as the last bytes of its data and none of
///   its namespaces;
/// - (b) a backing that held a guest's data with no label area is given one: the last
///   label-size bytes of that data become the label area, and the guest's first label write
///   (init-labels) overwrites them;
/// - (c) the label size changed: the old index blocks sit at another offset, so the guest finds
///   no namespaces, and the new area may cover old data or old labels.
///
/// Only (b), and (c) where the new area holds non-zero bytes, destroy bytes by themselves
/// (`overwritesData`); the others hide data from the guest, which a later write in the guest
/// may then destroy.
public struct LabelAreaCheck: Sendable, Hashable {
    public enum Verdict: String, Sendable, Hashable, CaseIterable {
        /// Nothing configured (a backing looked at alone) and no label area found.
        case noneFound = "none-found"
        /// Nothing configured, and label areas found.
        case found
        /// No label area configured and none found.
        case noLabelArea = "no-label-area"
        /// A label area configured where the backing holds only zeros: a fresh area.
        case fresh
        /// A valid label area exactly where the configuration puts it.
        case matches
        /// (a) No label area configured, but the backing holds one.
        case labelsIgnored = "labels-ignored"
        /// (b) The configured label area holds non-zero bytes and no label area is found.
        case dataInLabelArea = "data-in-label-area"
        /// (c) A label area found at another offset than the configured one.
        case labelSizeChanged = "label-size-changed"
        /// Block 0's signature where the configured area starts, but no block passes its checks.
        case damaged
    }

    public let backingLength: UInt64
    /// The label size configured; 0 for none; nil when the backing is looked at alone.
    public let configuredSize: UInt64?
    /// Every label area found, nearest the end of the backing first (valid, then damaged).
    public let found: [FoundLabelArea]
    public let verdict: Verdict
    /// The first non-zero byte of the configured label area, as an offset in the backing.
    public let firstNonZero: UInt64?

    /// Where the configured label area starts (the data size); nil when none is configured.
    public var configuredOffset: UInt64? {
        guard let c = configuredSize, c > 0, c <= backingLength else { return nil }
        return backingLength - c
    }

    /// A valid label area was found somewhere.
    public var labelAreaFound: Bool { found.contains { $0.isValid } }

    /// The guest's label writes would overwrite non-zero bytes that are not a label area:
    /// refuse unless forced.
    public var overwritesData: Bool {
        (verdict == .dataInLabelArea || verdict == .labelSizeChanged) && firstNonZero != nil
    }

    /// Judges what was found. `firstNonZero`: the first non-zero byte in the configured label
    /// area (nil when it is all zero or none is configured).
    public init(backingLength: UInt64, configuredSize: UInt64?, found: [FoundLabelArea], firstNonZero: UInt64?) {
        self.backingLength = backingLength
        self.configuredSize = configuredSize
        self.found = found
        self.firstNonZero = firstNonZero
        let valid = found.filter(\.isValid)
        guard let configured = configuredSize else {
            verdict = found.isEmpty ? .noneFound : .found
            return
        }
        guard configured > 0 else {
            verdict = valid.isEmpty ? .noLabelArea : .labelsIgnored
            return
        }
        let offset = backingLength &- configured
        if valid.contains(where: { $0.offset == offset }) {
            verdict = .matches
        } else if found.contains(where: { $0.offset == offset }) {
            verdict = .damaged
        } else if !valid.isEmpty {
            verdict = .labelSizeChanged
        } else if firstNonZero != nil {
            verdict = .dataInLabelArea
        } else {
            verdict = .fresh
        }
    }

    /// The label area a guest should be given: the only valid one found, else the one nearest
    /// the end. Nil when none is.
    public var suggested: FoundLabelArea? { found.first { $0.isValid } }

    /// One line on what a backing looked at alone holds and how to give it to a guest.
    public var advice: String {
        let valid = found.filter(\.isValid)
        guard let first = valid.first else {
            if let d = found.first { return "holds a \(d.summary): no namespaces can be read from it" }
            return "no namespace label area found (a fresh backing, or one used with no label area)"
        }
        var line = "holds a \(first.summary): give the guest size \(ByteSize(bytes: first.offset)) "
            + "(the backing less the label area) and label-size \(ByteSize(bytes: first.size))"
        if valid.count > 1 {
            line += "; also " + valid.dropFirst().map { "a \(ByteSize(bytes: $0.size)) one at offset 0x\(String($0.offset, radix: 16))" }.joined(separator: ", ")
                + " (an older label size: the area the guest last used is the one to keep)"
        }
        return line
    }

    /// One line naming the problem and the fix when the configuration loses or hides data;
    /// nil when there is nothing to say. `readOnly`: the guest cannot write labels. `forced`:
    /// the attach went ahead with --force, so the line says what was given up instead of
    /// offering --force.
    public func problem(slot: Int, path: String, readOnly: Bool, forced: Bool = false) -> String? {
        let who = "vNVDIMM slot \(slot): backing \(path)"
        let configured = configuredSize ?? 0
        let given = forced && overwritesData && !readOnly ? " (--force: those bytes are the label area's now)" : ""
        switch verdict {
        case .noneFound, .found, .noLabelArea, .fresh, .matches:
            return nil
        case .labelsIgnored:
            let a = suggested!
            return "\(who) holds a \(a.summary), but the vNVDIMM has no label area: the guest would see those labels as the last "
                + "\(ByteSize(bytes: a.size)) of its data and none of its namespaces; give it size \(ByteSize(bytes: a.offset)) "
                + "and label-size \(ByteSize(bytes: a.size)) (attach --size/--label-size, or size/label_size in its [[nvdimm]])"
        case .dataInLabelArea:
            let at = configuredOffset ?? 0
            let what = readOnly ? "the guest would read them as a corrupt label area" : "the guest's first label write (init-labels) would overwrite them"
            // A backing used with no label area was all data: its length is a data size.
            let keep = backingLength % NVDIMMConfig.sizeAlignment == 0
                ? "if the backing held a guest's data with no label area, give it label-size 0 and size \(ByteSize(bytes: backingLength)) to keep that data"
                : "give the vNVDIMM a backing of its own"
            let fix = readOnly || forced ? keep : keep + ", or --force to give those bytes to the label area"
            return "\(who): its last \(ByteSize(bytes: configured)) (the label area, from offset 0x\(String(at, radix: 16))) hold data "
                + "(non-zero at 0x\(String(firstNonZero ?? at, radix: 16))), not a namespace label area: \(what)\(given); \(fix)"
        case .labelSizeChanged:
            let a = suggested!
            let loss = overwritesData && !readOnly ? " and its label writes would overwrite the non-zero bytes there" : ""
            return "\(who) holds a \(a.summary), not the \(ByteSize(bytes: configured)) label area at offset "
                + "0x\(String(configuredOffset ?? 0, radix: 16)) the vNVDIMM is given: the guest would find none of its namespaces\(loss)\(given); "
                + "give it size \(ByteSize(bytes: a.offset)) and label-size \(ByteSize(bytes: a.size))"
                + (overwritesData && !readOnly && !forced ? ", or --force to give those bytes to the new label area" : "")
        case .damaged:
            return "\(who): its label area at offset 0x\(String(configuredOffset ?? 0, radix: 16)) holds a damaged namespace index "
                + "(the signature, but no index block passes its checks): the guest will find no namespaces; "
                + "`vpmem nvdimm labels` shows what is wrong, `vpmem nvdimm init-labels` starts it afresh"
        }
    }
}
