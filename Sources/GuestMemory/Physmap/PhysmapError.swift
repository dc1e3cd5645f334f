import VpmemCore

/// What a later change to a guest physmap is: the word used in errors.
public enum PhysmapAction: String, Sendable, Codable {
    case addMmio = "adding MMIO"
    case addRam = "adding RAM"
    case addPmem = "attaching pmem"
}

/// Errors from building or changing a guest physmap. Each names the ranges involved and the fix;
/// a failed change leaves the physmap as it was.
public enum PhysmapError: Error, Equatable, CustomStringConvertible, Sendable {
    case emptyRange(start: UInt64, size: UInt64)
    case rangeBeyondAddressSpace(start: UInt64, size: UInt64)
    case config(GuestConfigError)
    /// The layout, the safe range or a later region ends beyond the guest-physical address
    /// width (`GuestPhysmap.physicalAddressLimit`, what the p2m maps).
    case beyondPhysicalAddressWidth(what: String, range: GpaRange)
    /// A later action would overlap the safe range fixed at build.
    case overlapsSafeRange(action: PhysmapAction, name: String, range: GpaRange, safeRange: GpaRange)
    /// A later action would overlap an existing region.
    case overlapsRegion(action: PhysmapAction, name: String, range: GpaRange, existing: PhysmapRegion)
    /// A later MMIO or RAM region would overlap the window reserved for pmem.
    case overlapsPmemAperture(action: PhysmapAction, name: String, range: GpaRange, aperture: GpaRange)
    case misaligned(action: PhysmapAction, name: String, range: GpaRange, alignment: UInt64)
    case duplicateName(String)
    case noPmemAperture(guest: String)
    case outsidePmemAperture(name: String, range: GpaRange, aperture: GpaRange)
    case pmemApertureFull(name: String, size: UInt64, aperture: GpaRange, largestFree: UInt64)
    case noSuchPmem(name: String, attached: [String])
    case outsideSafeRange(kind: ForeignMappingKind, range: GpaRange, safeRange: GpaRange)

    public var description: String {
        switch self {
        case let .emptyRange(start, size):
            return "empty range at \(hex(start)) (size \(size)): a region has at least one byte"
        case let .rangeBeyondAddressSpace(start, size):
            return "range at \(hex(start)) of \(ByteSize(bytes: size)) runs past the end of the 64-bit address space"
        case let .config(error):
            return error.description
        case let .beyondPhysicalAddressWidth(what, range):
            return "\(what) \(range) ends beyond the \(GuestPhysmap.physicalAddressBits)-bit guest-physical address width the p2m maps (last address \(hex(GuestPhysmap.physicalAddressLimit - 1))): "
                + "shrink memory, pci_mmio64, pmem_aperture or safe_range_size, or place it lower"
        case let .overlapsSafeRange(action, name, range, safe):
            return "\(action.rawValue) '\(name)' at \(range) is rejected: it overlaps the safe range \(safe), "
                + "which is fixed for the guest's life; place it below \(hex(safe.first.raw)) or above \(hex(safe.last.raw))"
        case let .overlapsRegion(action, name, range, existing):
            return "\(action.rawValue) '\(name)' at \(range) is rejected: it overlaps \(existing); choose a free range"
        case let .overlapsPmemAperture(action, name, range, aperture):
            return "\(action.rawValue) '\(name)' at \(range) is rejected: it overlaps the pmem aperture \(aperture), which only pmem may use"
        case let .misaligned(action, name, range, alignment):
            return "\(action.rawValue) '\(name)' at \(range) is rejected: start and size must be multiples of \(ByteSize(bytes: alignment))"
        case let .duplicateName(name):
            return "a region named '\(name)' already exists: choose another name"
        case let .noPmemAperture(guest):
            return "guest '\(guest)' has no pmem aperture: set pmem_aperture (e.g. pmem_aperture = \"64G\") in its config and rebuild it"
        case let .outsidePmemAperture(name, range, aperture):
            return "attaching pmem '\(name)' at \(range) is rejected: pmem goes inside the pmem aperture \(aperture)"
        case let .pmemApertureFull(name, size, aperture, largest):
            return "attaching pmem '\(name)' of \(ByteSize(bytes: size)) is rejected: the pmem aperture \(aperture) has no free "
                + "1G-aligned range that large (largest: \(ByteSize(bytes: largest))); detach pmem or enlarge pmem_aperture and rebuild"
        case let .noSuchPmem(name, attached):
            let list = attached.isEmpty ? "none" : attached.joined(separator: ", ")
            return "no pmem region named '\(name)' (attached: \(list))"
        case let .outsideSafeRange(kind, range, safe):
            return "\(kind.rawValue) mapping at \(range) is rejected: grant and foreign mappings go inside the safe range \(safe)"
        }
    }
}
