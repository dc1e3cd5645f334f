import Foundation
import GuestMemory
import TOMLKit
import VpmemCore

/// The guest config file: TOML with xl.cfg-like `key = value` lines.
///
/// ```toml
/// name = "small"
/// memory = "2G"          # sizes: "2G", "512M", "0x80000000", or an integer of bytes
/// vcpus = 2
/// mmio_hole = "256M"
/// pci_mmio64 = "32G"
/// max_grant_frames = 64
/// max_maptrack_frames = 1024
/// pmem_aperture = "64G"
/// # safe_range_size = "128G"   (default: 128G, or more if the maptrack frames need it)
/// ```
///
/// `name` and `memory` are required. An unknown key is an error naming the key and the file
/// (a typo must not be silently ignored). Integers given for sizes are bytes, unlike xl's MiB.
/// `nvdimm` is reserved for the `[[nvdimm]]` tables of a later version.
public enum GuestConfigFile {
    /// Every key this version reads, in the order `render` writes them.
    public static let keys = [
        "name", "memory", "vcpus", "mmio_hole", "pci_mmio64", "max_grant_frames",
        "max_maptrack_frames", "pmem_aperture", "safe_range_size",
    ]
    static let reservedKeys = ["nvdimm"]
    static let sizeKeys: Set = ["memory", "mmio_hole", "pci_mmio64", "pmem_aperture", "safe_range_size"]

    /// Reads and validates the config at `path`.
    public static func load(from path: String) throws(GuestConfigFileError) -> GuestConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .cannotRead(path: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(text, path: path)
    }

    /// Parses and validates config text; `path` is used in errors.
    public static func parse(_ text: String, path: String) throws(GuestConfigFileError) -> GuestConfig {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw .syntax(path: path, line: error.source.begin.line, column: error.source.begin.column, message: error.description)
        } catch {
            throw .syntax(path: path, line: 0, column: 0, message: String(describing: error))
        }
        for key in table.keys.sorted() where !keys.contains(key) {
            if reservedKeys.contains(key) { throw .notYetSupported(path: path, key: key) }
            throw .unknownKey(path: path, key: key, suggestion: closestKey(to: key))
        }
        let reader = Reader(table: table, path: path)
        var config = GuestConfig(name: try reader.string("name"), memory: try reader.size("memory"))
        if let v = try reader.optionalInt("vcpus") { config.vcpus = v }
        if let v = try reader.optionalSize("mmio_hole") { config.mmioHole = v }
        if let v = try reader.optionalSize("pci_mmio64") { config.pciMmio64 = v }
        if let v = try reader.optionalInt("max_grant_frames") { config.maxGrantFrames = v }
        if let v = try reader.optionalInt("max_maptrack_frames") { config.maxMaptrackFrames = v }
        if let v = try reader.optionalSize("pmem_aperture") { config.pmemAperture = v }
        config.safeRangeSize = try reader.optionalSize("safe_range_size")
        do { try config.validate() } catch {
            var hint: String?
            if case let .invalid(key, _, _) = error, sizeKeys.contains(key), table[key]?.type == .int {
                hint = "integers are bytes here, unlike xl's MiB: write e.g. \"2048M\""
            }
            throw .invalid(path: path, error: error, hint: hint)
        }
        return config
    }

    /// The config as TOML text, keys in `keys` order; sizes in their shortest exact form.
    /// `parse(render(c))` gives `c` back for every valid config.
    public static func render(_ config: GuestConfig) -> String {
        var out = "# vpmem guest config (TOML). Sizes take K, M, G, T suffixes (powers of 1024).\n"
        out += "name = \(tomlString(config.name))\n"
        out += "memory = \"\(config.memory)\"\n"
        out += "vcpus = \(config.vcpus)\n"
        out += "mmio_hole = \"\(config.mmioHole)\"\n"
        out += "pci_mmio64 = \"\(config.pciMmio64)\"\n"
        out += "max_grant_frames = \(config.maxGrantFrames)\n"
        out += "max_maptrack_frames = \(config.maxMaptrackFrames)\n"
        out += "pmem_aperture = \"\(config.pmemAperture)\"\n"
        if let safe = config.safeRangeSize { out += "safe_range_size = \"\(safe)\"\n" }
        return out
    }

    /// A sample value for `key`, used in error messages.
    static func example(for key: String) -> String {
        switch key {
        case "name": return "name = \"small\""
        case "memory": return "memory = \"2G\""
        case "vcpus": return "vcpus = 2"
        case "mmio_hole": return "mmio_hole = \"256M\""
        case "pci_mmio64": return "pci_mmio64 = \"32G\""
        case "max_grant_frames": return "max_grant_frames = 64"
        case "max_maptrack_frames": return "max_maptrack_frames = 1024"
        case "pmem_aperture": return "pmem_aperture = \"64G\""
        case "safe_range_size": return "safe_range_size = \"128G\""
        default: return "\(key) = ..."
        }
    }

    /// A TOML basic string: quotes, backslashes and control characters escaped.
    static func tomlString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The known key closest to `key` by edit distance, when close enough to be a typo.
    static func closestKey(to key: String) -> String? {
        let scored = keys.map { ($0, editDistance(Array(key.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, key.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Typed reads of top-level keys, each error naming the file and the key.
private struct Reader {
    let table: TOMLTable
    let path: String

    func string(_ key: String) throws(GuestConfigFileError) -> String {
        guard let value = table[key] else { throw .missingKey(path: path, key: key) }
        guard let s = value.string else { throw .wrongType(path: path, key: key, expected: "a string", found: value.type.rawValue) }
        return s
    }

    func size(_ key: String) throws(GuestConfigFileError) -> ByteSize {
        guard let size = try optionalSize(key) else { throw .missingKey(path: path, key: key) }
        return size
    }

    func optionalSize(_ key: String) throws(GuestConfigFileError) -> ByteSize? {
        guard let value = table[key] else { return nil }
        if let n = value.int {
            guard n >= 0 else { throw .outOfRange(path: path, key: key, value: n, rule: "a size of 0 or more bytes") }
            return ByteSize(bytes: UInt64(n))
        }
        guard let s = value.string else {
            throw .wrongType(path: path, key: key, expected: "a size string or an integer of bytes", found: value.type.rawValue)
        }
        do { return try ByteSize(parsing: s) } catch { throw .badSize(path: path, key: key, error: error) }
    }

    func optionalInt(_ key: String) throws(GuestConfigFileError) -> Int? {
        guard let value = table[key] else { return nil }
        guard let n = value.int else { throw .wrongType(path: path, key: key, expected: "an integer", found: value.type.rawValue) }
        return n
    }
}
