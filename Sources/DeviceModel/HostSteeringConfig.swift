import GuestMemory

/// The host administrator's settings for steering: the only way to raise a guest's wp_mem
/// limit or to size range memory. Guests and device models see a `SteeringEngine`, which has no
/// way to change any of these (seed 001: "host admin consent", and "the hypervisor shouldn't
/// rely on any tool side checking").
///
/// Every value is a 64-bit number checked against its maximum; nothing is truncated.
public struct HostSteeringConfig: Sendable, Equatable {
    /// Bytes of range memory the host gives to all guests together. Each guest's allowance is
    /// reserved from it when the guest is created, so one guest can never make another's range
    /// allocation fail later (seed 001 failure mode 3).
    public var hostBudgetBytes: UInt64
    /// The allowance a guest gets unless created with its own.
    public var guestAllowanceBytes: UInt64

    /// 256 MiB: room for 64 guests at the default allowance.
    public static let defaultHostBudgetBytes: UInt64 = 256 << 20
    /// 4 MiB a guest: 8 servers x 4 sets x 256 ranges take about 0.3 MiB; a wp_mem set of
    /// 100,000 ranges about 1.6 MiB (16 bytes a range plus a 0.6-byte search index).
    public static let defaultGuestAllowanceBytes: UInt64 = 4 << 20
    /// A host budget above 1 TiB is a typo, not a configuration.
    public static let maximumHostBudgetBytes: UInt64 = 1 << 40

    /// Ranges a set of any kind may hold unless the admin raises the wp_mem limit
    /// (Xen's MAX_NR_IO_RANGES).
    public static let defaultRangeLimit: UInt64 = RangeSet.defaultLimit

    public init(hostBudgetBytes: UInt64 = HostSteeringConfig.defaultHostBudgetBytes,
                guestAllowanceBytes: UInt64 = HostSteeringConfig.defaultGuestAllowanceBytes) {
        self.hostBudgetBytes = hostBudgetBytes
        self.guestAllowanceBytes = guestAllowanceBytes
    }

    /// Checks the values; the first broken rule is thrown.
    public func validate() throws(SteeringError) {
        guard hostBudgetBytes <= Self.maximumHostBudgetBytes else {
            throw .valueAboveMaximum(setting: "host range budget", value: hostBudgetBytes,
                                     maximum: Self.maximumHostBudgetBytes, why: "1 TiB")
        }
        guard guestAllowanceBytes > 0 else {
            throw .valueBelowMinimum(setting: "guest range allowance", value: 0, minimum: 1,
                                     why: "a guest with no allowance cannot map a single range")
        }
        guard guestAllowanceBytes <= hostBudgetBytes else {
            throw .valueAboveMaximum(setting: "guest range allowance", value: guestAllowanceBytes,
                                     maximum: hostBudgetBytes, why: "the host budget")
        }
    }

    /// The most wp_mem ranges a guest with `ramFrames` frames of RAM may be given:
    /// `min(ramFrames / 2, 2^32 - 1)`, and never below the default 256.
    ///
    /// Why: ranges never touch (adjacent pages merge into one range), so `ramFrames` frames hold
    /// at most `ceil(ramFrames / 2)` disjoint ranges; xl rejected values above `nr_pages / 2`
    /// for the same reason, and above `UINT32_MAX` because Xen's rangeset limit is an unsigned
    /// int (`RangeSet.maximumLimit`). A larger limit could only be reached by a guest mapping
    /// pages it does not have.
    public static func maximumWpMemRanges(ramFrames: UInt64) -> UInt64 {
        max(defaultRangeLimit, min(ramFrames / 2, RangeSet.maximumLimit))
    }
}

/// What the admin decides for one guest when it is created.
public struct GuestSteeringSettings: Sendable, Equatable {
    /// Frames of guest RAM: bounds the wp_mem limit (see `maximumWpMemRanges`).
    public var ramFrames: UInt64
    /// This guest's range-memory allowance; nil for the host default.
    public var allowanceBytes: UInt64?
    /// This guest's wp_mem limit; nil for the default 256.
    public var wpMemRangeLimit: UInt64?

    public init(ramFrames: UInt64, allowanceBytes: UInt64? = nil, wpMemRangeLimit: UInt64? = nil) {
        self.ramFrames = ramFrames
        self.allowanceBytes = allowanceBytes
        self.wpMemRangeLimit = wpMemRangeLimit
    }
}
