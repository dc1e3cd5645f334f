import GuestMemory
import HostPmem
import NVDIMM

/// A vNVDIMM attached to a modelled guest: its config, its open backing and where it landed.
///
/// Invariants: `guestRange.size == config.size.bytes == hostFrames.count * 4096`;
/// `backing.length == config.backingSize`; the p2m maps `guestRange` to `hostFrames` with
/// type pmem through the checked mapping; the label area is `backing[config.labelOffset...]`.
public struct AttachedNVDIMM: Sendable {
    public let config: NVDIMMConfig
    /// The backing's path as opened (relative config paths resolved).
    public let path: String
    /// The open backing: read-write and locked, or read-only (no lock) for a read-only vNVDIMM.
    public let backing: PmemMapping
    /// Whether attaching created the backing file.
    public let createdBacking: Bool
    /// The SPA range the guest sees.
    public let guestRange: GpaRange
    /// The host frames behind it (registered host pmem while attached).
    public let hostFrames: MfnRange
    /// The p2m mapping the checked path made.
    public let extent: MappedExtent
    /// What attaching found of the backing's label area against `config.labelSize`; nil when
    /// it was not looked at (`LabelAreaPolicy.unchecked`: a guest rebuilt from its config).
    public let labelAreaCheck: LabelAreaCheck?

    public var slot: Int { config.slot }

    /// The vNVDIMM as the NFIT and SSDT describe it.
    public var virtualNVDIMM: VirtualNVDIMM {
        VirtualNVDIMM(slot: config.slot, base: guestRange.first, size: config.size.bytes,
                      proximityDomain: config.node, unarmed: config.unarmed,
                      labelAccess: LabelAreaAccess(hasLabelArea: config.hasLabelArea, readOnly: config.readOnly))
    }
}
