#if canImport(Glibc)
import Glibc
#endif

/// Which instructions libpmem uses on this host. libpmem decides once, at load time, from CPUID
/// and its environment variables, and has no call that tells the result (its log says it only
/// in the debug build). So this applies libpmem 1.12's rules (src/libpmem2/x86_64/init.c,
/// src/libpmem/pmem.c) to the CPU flags the kernel reports and to the same variables; the two
/// facts libpmem does answer (hardware drain, eADR) come from libpmem itself.
public struct LibpmemChoice: Codable, Equatable, Sendable {
    /// clwb, clflushopt or clflush: how pmem_persist and pmem_flush write lines back; "none"
    /// when PMEM_NO_FLUSH=1 or eADR makes flushing unnecessary.
    public var flush: String
    /// The stores pmem_memcpy uses: "movdir64b", "avx512f", "avx", "sse2" (each non-temporal at or
    /// above the threshold, temporal below it), or "generic" when PMEM_NO_MOVNT=1.
    public var copy: String
    /// Copies of at least this many bytes use non-temporal stores (PMEM_MOVNT_THRESHOLD, 256).
    public var nonTemporalThreshold: Int
    /// pmem_has_hw_drain.
    public var hardwareDrain: Bool
    /// pmem_has_auto_flush: true (eADR), false, or nil when libpmem could not tell.
    public var autoFlush: Bool?
    /// PMEM_IS_PMEM_FORCE as set in the environment (nil when unset): "1" makes libpmem call
    /// every mapping pmem, "0" none.
    public var pmemIsPmemForce: String?
    /// The libpmem variables set in the environment that change the choice, name=value.
    public var overrides: [String]

    enum CodingKeys: String, CodingKey {
        case flush, copy, overrides
        case nonTemporalThreshold = "non_temporal_threshold", hardwareDrain = "hardware_drain"
        case autoFlush = "auto_flush", pmemIsPmemForce = "pmem_is_pmem_force"
    }

    static let variables = [
        "PMEM_NO_CLWB", "PMEM_NO_CLFLUSHOPT", "PMEM_NO_FLUSH", "PMEM_NO_MOVNT", "PMEM_AVX", "PMEM_AVX512F",
        "PMEM_MOVDIR64B", "PMEM_MOVNT_THRESHOLD", "PMEM_NO_GENERIC_MEMCPY", "PMEM_WC_WORKAROUND", "PMEM_IS_PMEM_FORCE",
    ]

    /// The choice for this process's CPU and environment.
    public static func current() -> LibpmemChoice {
        let flags = cpuFlags()
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        let auto = Libpmem.autoFlush
        return decide(cpuFlags: flags, environment: env, autoFlush: auto == 1 ? true : auto == 0 ? false : nil,
                      hardwareDrain: Libpmem.hasHardwareDrain)
    }

    /// libpmem 1.12's rules, given the CPU flags and a lookup of the environment.
    static func decide(cpuFlags flags: Set<String>, environment env: (String) -> String?, autoFlush: Bool?, hardwareDrain: Bool) -> LibpmemChoice {
        var flush = flags.contains("clflush") ? "clflush" : "none"
        if flags.contains("clflushopt"), env("PMEM_NO_CLFLUSHOPT") != "1" { flush = "clflushopt" }
        if flags.contains("clwb"), env("PMEM_NO_CLWB") != "1" { flush = "clwb" }
        switch env("PMEM_NO_FLUSH") {
        case "1": flush = "none (PMEM_NO_FLUSH=1)"
        case "0": break
        default: if autoFlush == true { flush = "none (eADR)" }
        }
        var copy = "generic"
        if env("PMEM_NO_MOVNT") != "1" {
            if flags.contains("sse2") { copy = "sse2" }
            if flags.contains("avx"), env("PMEM_AVX") != "0" { copy = "avx" }
            if flags.contains("avx512f"), env("PMEM_AVX512F") != "0" { copy = "avx512f" }
            if flags.contains("movdir64b"), let v = env("PMEM_MOVDIR64B"), v != "0" { copy = "movdir64b" }
        }
        let threshold = env("PMEM_MOVNT_THRESHOLD").flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil } ?? 256
        let overrides = variables.compactMap { name in env(name).map { "\(name)=\($0)" } }
        return LibpmemChoice(flush: flush, copy: copy, nonTemporalThreshold: threshold, hardwareDrain: hardwareDrain,
                             autoFlush: autoFlush, pmemIsPmemForce: env("PMEM_IS_PMEM_FORCE"), overrides: overrides)
    }

    /// The first processor's flags from /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<String> {
        guard let text = SysfsText.read("/proc/cpuinfo") else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}

/// Small text files of /proc and /sys, read whole. nil when absent or unreadable.
enum SysfsText {
    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The trimmed contents of a one-value attribute.
    static func value(_ path: String) -> String? {
        read(path).map { $0.trimmingCharacters(in: " \n\t") }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
