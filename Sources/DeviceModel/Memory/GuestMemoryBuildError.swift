import GuestMemory

/// Why a guest's memory could not be laid into its p2m and machine memory. Each case names the
/// guest and says what to change.
public enum GuestMemoryBuildError: Error, CustomStringConvertible, Sendable {
    /// The machine runs do not hold exactly the frames of the guest's RAM-like regions.
    case ramRunsMismatch(guest: String, ramFrames: UInt64, runFrames: UInt64)
    /// Two machine runs share frames.
    case overlappingRuns(guest: String, MfnRange, MfnRange)
    /// A RAM extent the host gave lies outside the guest's RAM-like regions, or overlaps another.
    case extentOutsideRAM(guest: String, gfns: GfnRange)
    /// The single run from a base frame does not fit in the machine frame space.
    case ramRunBeyondFrameSpace(guest: String, base: Mfn, frames: UInt64)
    /// Guest frames the layout maps are already mapped in the p2m.
    case alreadyMapped(guest: String, region: String, existing: P2MMapping)
    /// Machine memory refused a run (it overlaps a backing already there).
    case machineMemory(guest: String, run: MfnRange, MachineMemoryError)
    /// The p2m refused a region (its node limit, or machine frames beyond what it encodes).
    case p2m(guest: String, region: String, P2MError)

    public var description: String {
        switch self {
        case let .ramRunsMismatch(guest, ram, runs):
            return "guest '\(guest)': its RAM-like regions (ram, acpi_tables, acpi_nvs) hold \(ram) frames but the machine runs given hold \(runs): give runs totalling exactly \(ram) frames"
        case let .extentOutsideRAM(guest, gfns):
            return "guest '\(guest)': RAM at \(gfns) lies outside its RAM regions or overlaps other RAM: give extents inside the physmap's RAM regions, each once"
        case let .overlappingRuns(guest, a, b):
            return "guest '\(guest)': machine runs \(a) and \(b) overlap: give each frame of RAM once"
        case let .ramRunBeyondFrameSpace(guest, base, frames):
            return "guest '\(guest)': \(frames) frames of RAM from \(base) run past the last machine frame: choose a lower base"
        case let .alreadyMapped(guest, region, existing):
            return "guest '\(guest)': region '\(region)' is already mapped in the p2m (\(existing)): lay a guest's memory once, into a p2m that does not map it yet"
        case let .machineMemory(guest, run, e):
            return "guest '\(guest)': cannot back RAM run \(run): \(e)"
        case let .p2m(guest, region, e):
            return "guest '\(guest)': cannot map region '\(region)': \(e)"
        }
    }
}
