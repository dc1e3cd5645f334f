import HostPmem
import NVDIMM

/// Looks for namespace label areas in a backing through its libpmem mapping and judges them
/// against a configured label size (`LabelAreaSearch`, `LabelAreaCheck`): what `pmem info`,
/// `bench pmem`, `nvdimm attach` and `guest create` say about a backing's label area.
public enum BackingLabelProbe {
    /// Probes an open mapping. `configuredLabelSize`: the label size a vNVDIMM gives the backing
    /// (0 for none), or nil for a backing looked at alone.
    public static func check(_ mapping: PmemMapping, configuredLabelSize: UInt64?) throws(HostPmemError) -> LabelAreaCheck {
        let length = mapping.length
        let found = LabelAreaSearch.find(backingLength: length, including: configuredLabelSize.map { [$0] } ?? []) { offset, count in
            try? mapping.read(at: offset, count: count)
        }
        var firstNonZero: UInt64?
        if let c = configuredLabelSize, c > 0, c <= length {
            firstNonZero = try mapping.firstNonZero(offset: length - c, count: c)
        }
        return LabelAreaCheck(backingLength: length, configuredSize: configuredLabelSize, found: found, firstNonZero: firstNonZero)
    }

    /// Opens `path` read-only (no lock taken, nothing written) and probes it.
    public static func check(path: String, configuredLabelSize: UInt64?) throws(HostPmemError) -> LabelAreaCheck {
        let m = try PmemMapping.open(path: path, access: .readOnly)
        return try check(m, configuredLabelSize: configuredLabelSize)
    }
}

/// When a vNVDIMM is attached, how its backing's label area is checked (`LabelAreaCheck`).
public enum LabelAreaPolicy: Sendable, Equatable {
    /// Not looked at: a guest rebuilt from its config, whose label area is its own by now.
    case unchecked
    /// Looked at; a problem is reported on the attached vNVDIMM (`AttachedNVDIMM.labelAreaCheck`)
    /// and the attach goes ahead (`--force`).
    case warn
    /// Looked at; an attach whose label area holds data the guest's label writes would
    /// overwrite is refused (`GuestError.labelAreaHoldsData`), other problems are reported.
    case refuseOverwrite
}
