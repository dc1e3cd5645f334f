import VpmemCore

/// The guest-physical range where grant and foreign mappings go (seed 000).
///
/// Chosen once by the toolstack when the guest is built and constant for the guest's life:
/// - placed at the first 1 GiB boundary above the highest address used by RAM, the MMIO hole,
///   the PCI apertures, the pmem aperture and everything else in the layout;
/// - sized 128 GiB by default ("large by default, as it doesn't consume resource when not being
///   used"), or as configured, and never smaller than what the guest can need: one frame per
///   grant it may map (bounded by its maptrack table, a toolstack input: 512 mappings a 4 KiB
///   maptrack frame, as Xen's 8-byte `struct grant_mapping`) plus the fixed frames of the ABI
///   (shared info, one vCPU info a vCPU);
/// - advertised in the firmware memory map (a reserved E820 entry; a reserved-memory node with
///   compatible "xen,safe-range").
///
/// Later actions that would overlap it are rejected (see `GuestPhysmap`), and grant or foreign
/// mappings outside it are rejected (`admitMapping`).
public struct SafeRange: Hashable, Sendable, CustomStringConvertible {
    public let range: GpaRange
    /// Bytes the guest's maptrack and fixed frames need (before 1 GiB rounding).
    public let requiredBytes: UInt64
    public let maxMaptrackFrames: Int
    public let fixedFrames: Int

    public static let defaultSize: UInt64 = 128 * ByteSize.gib
    /// Xen's MAPTRACK_PER_PAGE: 4096 / sizeof(struct grant_mapping) = 4096 / 8.
    public static let mappingsPerMaptrackFrame: UInt64 = 512

    /// Bytes of GPA space that `maxMaptrackFrames` of grant mappings and the fixed frames
    /// (1 shared info + `vcpus` vCPU info) occupy: one 4 KiB frame each.
    public static func requiredBytes(maxMaptrackFrames: Int, vcpus: Int) -> UInt64 {
        let grants = UInt64(clamping: max(0, maxMaptrackFrames)) * mappingsPerMaptrackFrame
        let fixed = 1 + UInt64(clamping: max(0, vcpus))
        return (grants + fixed) * PageOrder.frameBytes
    }

    /// Chooses the safe range for a guest whose layout ends at `layout.lastUsed`.
    init(config: GuestConfig, layout: GuestLayout) throws(PhysmapError) {
        let need = SafeRange.requiredBytes(maxMaptrackFrames: config.maxMaptrackFrames, vcpus: config.vcpus)
        let size: UInt64
        if let configured = config.safeRangeSize {
            size = configured.bytes  // validate() checked it is a 1 GiB multiple >= need
        } else {
            guard let needRounded = alignUp(need, to: GuestLayout.highAlignment) else {
                throw .rangeBeyondAddressSpace(start: 0, size: need)
            }
            size = max(SafeRange.defaultSize, needRounded)
        }
        guard let afterLayout = layout.lastUsed.raw.addingReportingOverflow(1).partialValue.nonZero else {
            throw .rangeBeyondAddressSpace(start: layout.lastUsed.raw, size: size)
        }
        let start = try GuestLayout.alignedAbove(afterLayout)
        self.range = try GpaRange(start: Gpa(start), size: size)
        self.requiredBytes = need
        self.maxMaptrackFrames = config.maxMaptrackFrames
        self.fixedFrames = 1 + config.vcpus
    }

    /// Admits a grant or foreign mapping at `range` only when it lies wholly inside the safe range.
    public func admitMapping(_ kind: ForeignMappingKind, at range: GpaRange) throws(PhysmapError) {
        guard self.range.contains(range) else {
            throw .outsideSafeRange(kind: kind, range: range, safeRange: self.range)
        }
    }

    public var description: String {
        "safe range \(range) (\(ByteSize(bytes: range.size)); needs \(ByteSize(bytes: requiredBytes).humanReadable))"
    }
}

/// Mappings of frames the guest does not own, which must land in the safe range.
public enum ForeignMappingKind: String, Sendable, Codable {
    /// A page granted by another domain (GNTTABOP_map_grant_ref).
    case grant
    /// A page of another domain mapped by a privileged guest (XENMEM_add_to_physmap_batch with
    /// XENMAPSPACE_gmfn_foreign, or acquire_resource).
    case foreign
}

extension UInt64 {
    /// nil for 0 (used where a sum wrapped to 0).
    var nonZero: UInt64? { self == 0 ? nil : self }
}
