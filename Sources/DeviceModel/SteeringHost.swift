import GuestMemory
import Logging

/// The host side of steering: the administrator's configuration, the host-wide range budget,
/// and the guests' steering engines. This is the only object that creates engines, reserves
/// their range-memory allowances and raises their wp_mem limits (the admin's consent).
///
/// Accounting: a guest's allowance is reserved from the host budget when the guest is created
/// and returned when it is removed. Range memory is then charged against the allowance alone,
/// so a guest that exhausts its allowance fails only its own operation; no other guest's
/// allocation can fail because of it, now or later (seed 001 failure mode 3).
///
/// Invariant: `reserved` is the sum of the allowances of `guests` and never exceeds
/// `config.hostBudgetBytes`.
public final class SteeringHost {
    public let config: HostSteeringConfig
    public private(set) var reserved: UInt64 = 0
    private var guests: [DomainID: SteeringEngine] = [:]
    private let logger: Logger

    public init(config: HostSteeringConfig = HostSteeringConfig(),
                logger: Logger = Logger(label: "vpmem.steering")) throws(SteeringError) {
        try config.validate()
        self.config = config
        self.logger = logger
    }

    /// Creates the steering engine of `domain` over its p2m and machine memory, reserving its
    /// allowance from the host budget and applying its wp_mem limit. Each value is checked as a
    /// 64-bit number against its maximum.
    public func createGuest(_ domain: DomainID, p2m: P2M, machine: MachineMemory,
                            settings: GuestSteeringSettings) throws(SteeringError) -> SteeringEngine {
        guard guests[domain] == nil else { throw .guestExists(domain) }
        let allowance = settings.allowanceBytes ?? config.guestAllowanceBytes
        guard allowance > 0 else {
            throw .valueBelowMinimum(setting: "range allowance of \(domain)", value: 0, minimum: 1,
                                     why: "a guest with no allowance cannot map a single range")
        }
        guard allowance <= config.hostBudgetBytes else {
            throw .valueAboveMaximum(setting: "range allowance of \(domain)", value: allowance,
                                     maximum: config.hostBudgetBytes, why: "the host budget")
        }
        guard allowance <= config.hostBudgetBytes - reserved else {
            logger.warning("guest refused: host-wide range budget exhausted", metadata: [
                "domain": "\(domain)", "budget": "\(config.hostBudgetBytes)", "reserved": "\(reserved)",
                "requested": "\(allowance)",
            ])
            throw .hostBudgetExhausted(domain, budget: config.hostBudgetBytes, reserved: reserved, requested: allowance)
        }
        let wp = settings.wpMemRangeLimit ?? HostSteeringConfig.defaultRangeLimit
        let maximum = HostSteeringConfig.maximumWpMemRanges(ramFrames: settings.ramFrames)
        guard wp <= maximum else {
            logger.warning("guest refused: wp_mem limit above maximum", metadata: [
                "domain": "\(domain)", "requested": "\(wp)", "maximum": "\(maximum)",
            ])
            throw .valueAboveMaximum(setting: "wp_mem range limit of \(domain)", value: wp, maximum: maximum,
                                     why: "min(RAM frames / 2, 2^32 - 1) for \(settings.ramFrames) frames of RAM")
        }
        guard wp >= 1 else {
            throw .valueBelowMinimum(setting: "wp_mem range limit of \(domain)", value: wp, minimum: 1,
                                     why: "a limit of 0 would refuse every range")
        }
        var guestLogger = logger
        guestLogger[metadataKey: "domain"] = "\(domain)"
        let engine = SteeringEngine(domain: domain, p2m: p2m, machine: machine, ramFrames: settings.ramFrames,
                                    allowance: allowance, wpMemLimit: wp, logger: guestLogger)
        guests[domain] = engine
        reserved += allowance
        return engine
    }

    /// Removes a guest, returning its allowance to the host budget.
    public func removeGuest(_ domain: DomainID) throws(SteeringError) {
        guard let engine = guests.removeValue(forKey: domain) else { throw .unknownGuest(domain) }
        reserved -= engine.rangeMemory.allowance
    }

    public func engine(_ domain: DomainID) throws(SteeringError) -> SteeringEngine {
        guard let e = guests[domain] else { throw .unknownGuest(domain) }
        return e
    }

    /// The admin raises (or lowers) a guest's wp_mem limit. Checked as a 64-bit number against
    /// `HostSteeringConfig.maximumWpMemRanges`; a value above it is refused, never truncated.
    /// All or nothing.
    public func setWpMemRangeLimit(_ domain: DomainID, _ value: UInt64) throws(SteeringError) {
        try engine(domain).setWpMemLimit(value)
    }
}
