import DomainModel
import Foundation
import HostPmem

/// What `vpmem bench` measured, as printed with --json and written with --save: the host, and
/// every figure beside its same-run baseline as a ratio. `--compare` reads ratios only, so a
/// baseline saved on a quiet machine still judges a run on a busy one.
struct BenchReport: Codable {
    enum Kind: String, Codable { case pmem, hotpaths }
    enum Better: String, Codable { case higher, lower }

    struct Figure: Codable, Equatable {
        /// Unique within a report; --compare matches figures by it.
        var name: String
        /// write, read, latency, hotpath.
        var group: String
        var method: String?
        var pattern: String?
        var size: Int?
        var threads: Int?
        var value: Double
        /// GB/s, ns, ns/op.
        var unit: String
        var baseline: String
        var baselineValue: Double
        /// value / baseline_value.
        var ratio: Double
        /// Which way the ratio improves.
        var better: Better
        /// For writes: whether the method makes data durable on this backing.
        var durable: Bool?

        enum CodingKeys: String, CodingKey {
            case name, group, method, pattern, size, threads, value, unit, baseline, ratio, better, durable
            case baselineValue = "baseline_value"
        }
    }

    /// fio beside vpmem: one row per matched method, pattern, size and thread count; each side
    /// the median of its alternating rounds.
    struct FioRow: Codable, Equatable {
        var method: String
        var fioSettings: String
        var pattern: String
        var size: Int
        var threads: Int
        var rounds: Int
        var vpmemGBps: Double
        var fioGBps: Double
        /// (max - min) / median of each side's rounds.
        var vpmemSpread: Double
        var fioSpread: Double
        /// vpmem / fio, of the medians.
        var ratio: Double

        enum CodingKeys: String, CodingKey {
            case method, pattern, size, threads, rounds, ratio
            case fioSettings = "fio_settings", vpmemGBps = "vpmem_median_gbps", fioGBps = "fio_median_gbps"
            case vpmemSpread = "vpmem_spread", fioSpread = "fio_spread"
        }

        /// The keys of reports saved before rows had rounds (one sequential pass each).
        enum OneRoundKeys: String, CodingKey {
            case vpmemGBps = "vpmem_gbps", fioGBps = "fio_gbps"
        }

        init(method: String, fioSettings: String, pattern: String, size: Int, threads: Int, rounds: Int, vpmemGBps: Double,
             fioGBps: Double, vpmemSpread: Double, fioSpread: Double, ratio: Double) {
            self.method = method
            self.fioSettings = fioSettings
            self.pattern = pattern
            self.size = size
            self.threads = threads
            self.rounds = rounds
            self.vpmemGBps = vpmemGBps
            self.fioGBps = fioGBps
            self.vpmemSpread = vpmemSpread
            self.fioSpread = fioSpread
            self.ratio = ratio
        }

        /// Reads this form, and the one-round form earlier versions saved, so an old baseline
        /// still loads for --compare.
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            method = try c.decode(String.self, forKey: .method)
            fioSettings = try c.decode(String.self, forKey: .fioSettings)
            size = try c.decode(Int.self, forKey: .size)
            threads = try c.decode(Int.self, forKey: .threads)
            ratio = try c.decode(Double.self, forKey: .ratio)
            if c.contains(.vpmemGBps) {
                pattern = try c.decode(String.self, forKey: .pattern)
                rounds = try c.decode(Int.self, forKey: .rounds)
                vpmemGBps = try c.decode(Double.self, forKey: .vpmemGBps)
                fioGBps = try c.decode(Double.self, forKey: .fioGBps)
                vpmemSpread = try c.decode(Double.self, forKey: .vpmemSpread)
                fioSpread = try c.decode(Double.self, forKey: .fioSpread)
            } else {
                let old = try decoder.container(keyedBy: OneRoundKeys.self)
                pattern = "seq"
                rounds = 1
                vpmemGBps = try old.decode(Double.self, forKey: .vpmemGBps)
                fioGBps = try old.decode(Double.self, forKey: .fioGBps)
                vpmemSpread = 0
                fioSpread = 0
            }
        }
    }

    /// A vpmem figure fio has no equivalent of, and why.
    struct FioUnmatched: Codable, Equatable {
        var method: String
        var reason: String
    }

    struct Host: Codable, Equatable {
        var hostname: String
        var cpu: String
        var cores: Int
        var kernel: String
        /// "release" or "debug": a debug build's figures say little.
        var build: String

        static func current() -> Host {
            var u = utsname()
            uname(&u)
            let kernel = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            return Host(hostname: ProcessInfo.processInfo.hostName, cpu: model,
                        cores: ProcessInfo.processInfo.activeProcessorCount, kernel: kernel, build: build)
        }
    }

    var kind: Kind
    var host: Host
    var backing: BackingFacts?
    var libpmem: LibpmemChoice?
    var quick: Bool
    var figures: [Figure]
    var fio: [FioRow]?
    /// vpmem's figures fio cannot be matched to, when fio ran.
    var fioUnmatched: [FioUnmatched]?
    /// Why fio was not run, when --compare-fio was asked for and could not be.
    var fioSkipped: String?
    /// How fio was run, when that differs from a plain run.
    var fioNote: String?
    /// The label areas found in an existing backing before the sweep (nil for a temporary one).
    var labelArea: LabelAreaCheckReport?
    /// Bytes of an existing backing the sweep wrote, from offset 0, and zeroed again after.
    var sweptBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case kind, host, backing, libpmem, quick, figures, fio
        case fioSkipped = "fio_skipped", fioNote = "fio_note", fioUnmatched = "fio_unmatched", labelArea = "label_area", sweptBytes = "swept_bytes"
    }

    static func load(_ path: String) throws -> BenchReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = access(path, R_OK) != 0 ? String(cString: strerror(errno)) : "not a readable file"
            throw BenchError.unreadableBaseline(path: path, reason: "cannot read it (\(reason.lowercased()))")
        }
        do { return try JSONDecoder().decode(BenchReport.self, from: data) } catch {
            throw BenchError.unreadableBaseline(path: path, reason: "not a vpmem bench report (\(Self.why(error)))")
        }
    }

    /// A decoding failure in a few words, without Foundation's debug text.
    static func why(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "no '\(key.stringValue)'"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case .dataCorrupted(let c)?:
            return c.codingPath.isEmpty ? "not JSON" : "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' is not valid"
        default: return "unreadable"
        }
    }

    func save(_ path: String, force: Bool) throws {
        let text = try JSONOutput.encode(self) + "\n"
        // Created exclusively, or replaced atomically with --force; never through a symbolic link.
        try OutputFiles.write([(path, Array(text.utf8))], force: force)
    }
}

import VpmemCore
