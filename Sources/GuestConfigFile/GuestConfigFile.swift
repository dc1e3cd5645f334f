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
/// nvdimm_persistence = "cpu"   # or "memory-controller"; absent: no NFIT platform capabilities
/// acpi_oem_id = "VPMEM"        # also acpi_oem_table_id, acpi_oem_revision, acpi_creator_id,
///                              # acpi_creator_revision: the NFIT/SSDT header fields
/// direct_map = false           # gfn == mfn for RAM (needs static memory in the host's host.toml)
/// balloon_from_heap = false    # a static-memory guest may balloon in heap pages once its pool is empty
///
/// [[nvdimm]]                   # one table per virtual NVDIMM
/// slot = 0                     # 0 to 255: NFIT handle slot + 1, ACPI device NV00
/// backing = "g-nvdimm0.pmem"   # relative paths are relative to this file's directory
/// size = "8G"                  # what the guest sees; a multiple of 2M
/// label_size = "128K"          # label area after the data (default 128K; 0 for none)
/// node = 0                     # NUMA node (NFIT proximity domain)
/// readonly = false
/// unarmed = false
/// address = 0x140000000        # optional: pin the guest address (a 1G boundary in the pmem aperture)
/// ```
///
/// `name` and `memory` are required, and `slot`, `backing` and `size` in each `[[nvdimm]]`.
/// An unknown key is an error naming the key and the file (a typo must not be silently
/// ignored). Integers given for sizes are bytes, unlike xl's MiB.
public enum GuestConfigFile {
    /// Every key this version reads, in the order `render` writes them.
    public static let keys = [
        "name", "memory", "vcpus", "mmio_hole", "pci_mmio64", "max_grant_frames",
        "max_maptrack_frames", "pmem_aperture", "safe_range_size", "nvdimm_persistence",
        "acpi_oem_id", "acpi_oem_table_id", "acpi_oem_revision", "acpi_creator_id", "acpi_creator_revision",
        "direct_map", "balloon_from_heap", "nvdimm",
    ]
    /// Every key of a `[[nvdimm]]` table, in the order `render` writes them.
    public static let nvdimmKeys = ["slot", "backing", "size", "label_size", "node", "readonly", "unarmed", "address"]
    static let sizeKeys: Set = ["memory", "mmio_hole", "pci_mmio64", "pmem_aperture", "safe_range_size"]

    /// Reads and validates the config at `path`.
    public static func load(from path: String) throws(GuestConfigFileError) -> GuestConfig {
        try parse(AtomicFileWriter.readText(from: path), path: path)
    }

    /// Parses and validates config text; `path` is used in errors.
    public static func parse(_ text: String, path: String) throws(GuestConfigFileError) -> GuestConfig {
        let table: TOMLTable
        do { table = try TOMLDocument.parse(text) } catch {
            throw .syntax(path: path, line: error.line, column: error.column, message: error.message)
        }
        for key in table.keys.sorted() where !keys.contains(key) {
            if let c = TOMLControlCharacters.controlCharacter(in: key) {
                throw .controlCharacter(path: path, key: TOMLControlCharacters.escaped(key), character: c.name)
            }
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
        if let p = try reader.optionalString("nvdimm_persistence") {
            guard let persistence = NVDIMMPersistence(rawValue: p) else {
                throw .invalid(path: path, error: .invalid(key: "nvdimm_persistence", value: "\"\(p)\"",
                                                            rule: "\"cpu\" or \"memory-controller\" (or leave it out: no platform capabilities)"), hint: nil)
            }
            config.nvdimmPersistence = persistence
        }
        config.acpiOem = AcpiOemConfig(
            oemID: try reader.optionalString("acpi_oem_id"), oemTableID: try reader.optionalString("acpi_oem_table_id"),
            oemRevision: try reader.optionalUInt32("acpi_oem_revision"), creatorID: try reader.optionalString("acpi_creator_id"),
            creatorRevision: try reader.optionalUInt32("acpi_creator_revision"))
        if let v = try reader.optionalBool("direct_map") { config.directMap = v }
        if let v = try reader.optionalBool("balloon_from_heap") { config.balloonFromHeap = v }
        config.nvdimms = try parseNVDIMMs(table, path: path).sorted { $0.slot < $1.slot }
        do { try config.validate() } catch {
            var hint: String?
            if case let .invalid(key, _, _) = error, sizeKeys.contains(key), table[key]?.type == .int {
                hint = "integers are bytes here, unlike xl's MiB: write e.g. \"2048M\""
            }
            throw .invalid(path: path, error: error, hint: hint)
        }
        return config
    }

    /// The `[[nvdimm]]` tables, checked for unknown keys and types; their rules are checked by
    /// `GuestConfig.validate`.
    static func parseNVDIMMs(_ table: TOMLTable, path: String) throws(GuestConfigFileError) -> [NVDIMMConfig] {
        guard let value = table["nvdimm"] else { return [] }
        guard let array = value.array else {
            throw .wrongType(path: path, key: "nvdimm", expected: "an array of tables ([[nvdimm]])", found: value.type.rawValue)
        }
        var out: [NVDIMMConfig] = []
        for index in 0..<array.count {
            let item = array[index]
            guard let t = item.table else {
                throw .wrongType(path: path, key: "nvdimm[\(index)]", expected: "a table ([[nvdimm]])", found: item.type.rawValue)
            }
            for key in t.keys.sorted() where !nvdimmKeys.contains(key) {
                if let c = TOMLControlCharacters.controlCharacter(in: key) {
                    throw .controlCharacter(path: path, key: "nvdimm[\(index)]." + TOMLControlCharacters.escaped(key), character: c.name)
                }
                throw .unknownNVDIMMKey(path: path, index: index, key: key, suggestion: closest(to: key, in: nvdimmKeys))
            }
            let r = Reader(table: t, path: path, prefix: "nvdimm[\(index)].")
            guard let slot = try r.optionalInt("slot") else { throw .missingKey(path: path, key: "nvdimm[\(index)].slot") }
            var d = NVDIMMConfig(slot: slot, backing: try r.string("backing"), size: try r.size("size"))
            if let v = try r.optionalSize("label_size") { d.labelSize = v }
            if let v = try r.optionalInt("node") {
                guard v >= 0, v <= Int(UInt32.max) else {
                    throw .outOfRange(path: path, key: "nvdimm[\(index)].node", value: v, rule: "a NUMA node number, 0 or more")
                }
                d.node = UInt32(v)
            }
            if let v = try r.optionalBool("readonly") { d.readOnly = v }
            if let v = try r.optionalBool("unarmed") { d.unarmed = v }
            if let v = try r.optionalAddress("address") { d.address = v }
            out.append(d)
        }
        return out
    }

    /// The config as TOML text, keys in `keys` order; sizes in their shortest exact form.
    /// `parse(render(c))` gives `c` back for every valid config.
    public static func render(_ config: GuestConfig) -> String {
        var out = "# vpmem guest config (TOML). Sizes take K, M, G, T suffixes (powers of 1024).\n"
        for (key, value) in topLevelEntries(config) {
            if let value { out += "\(key) = \(value)\n" }
        }
        for d in config.nvdimms {
            out += "\n[[nvdimm]]\n"
            for (key, value) in nvdimmEntries(d) { out += "\(key) = \(value)\n" }
        }
        return out
    }

    /// Every top-level key with its value as TOML, in `keys` order, as `render` writes them; nil
    /// for a key `render` leaves out (an unset optional, a false flag). `render` and
    /// `edit(_:to:path:)` both write values from here, so a changed field is one changed entry.
    static func topLevelEntries(_ c: GuestConfig) -> [(key: String, value: String?)] {
        let oem = c.acpiOem
        return [
            ("name", tomlString(c.name)),
            ("memory", "\"\(c.memory)\""),
            ("vcpus", "\(c.vcpus)"),
            ("mmio_hole", "\"\(c.mmioHole)\""),
            ("pci_mmio64", "\"\(c.pciMmio64)\""),
            ("max_grant_frames", "\(c.maxGrantFrames)"),
            ("max_maptrack_frames", "\(c.maxMaptrackFrames)"),
            ("pmem_aperture", "\"\(c.pmemAperture)\""),
            ("safe_range_size", c.safeRangeSize.map { "\"\($0)\"" }),
            ("nvdimm_persistence", c.nvdimmPersistence.map { "\"\($0.rawValue)\"" }),
            ("acpi_oem_id", oem.oemID.map(tomlString)),
            ("acpi_oem_table_id", oem.oemTableID.map(tomlString)),
            ("acpi_oem_revision", oem.oemRevision.map { "\($0)" }),
            ("acpi_creator_id", oem.creatorID.map(tomlString)),
            ("acpi_creator_revision", oem.creatorRevision.map { "\($0)" }),
            ("direct_map", c.directMap ? "true" : nil),
            ("balloon_from_heap", c.balloonFromHeap ? "true" : nil),
        ]
    }

    /// Every key of a `[[nvdimm]]` table with its value as TOML, in `nvdimmKeys` order; an unset
    /// `address` (placed by vpmem) is left out.
    static func nvdimmEntries(_ d: NVDIMMConfig) -> [(key: String, value: String)] {
        var entries = [
            ("slot", "\(d.slot)"),
            ("backing", tomlString(d.backing)),
            ("size", "\"\(d.size)\""),
            ("label_size", "\"\(d.labelSize)\""),
            ("node", "\(d.node)"),
            ("readonly", "\(d.readOnly)"),
            ("unarmed", "\(d.unarmed)"),
        ]
        if let a = d.address { entries.append(("address", "0x" + String(a.raw, radix: 16, uppercase: true))) }
        return entries
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
        case "nvdimm_persistence": return "nvdimm_persistence = \"cpu\""
        case "acpi_oem_id": return "acpi_oem_id = \"VPMEM\""
        case "acpi_oem_table_id": return "acpi_oem_table_id = \"VPMMNFIT\""
        case "acpi_oem_revision": return "acpi_oem_revision = 1"
        case "acpi_creator_id": return "acpi_creator_id = \"VPMM\""
        case "acpi_creator_revision": return "acpi_creator_revision = 1"
        case "direct_map": return "direct_map = true"
        case "balloon_from_heap": return "balloon_from_heap = true"
        case "nvdimm": return "[[nvdimm]] tables"
        case _ where key.hasPrefix("nvdimm["):
            switch key.split(separator: ".").last ?? "" {
            case "slot": return "slot = 0"
            case "backing": return "backing = \"guest-nvdimm0.pmem\""
            case "size", "label_size": return "size = \"8G\""
            case "node": return "node = 0"
            case "readonly", "unarmed": return "readonly = true"
            case "address": return "address = 0x140000000"
            default: return "\(key) = ..."
            }
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
    static func closestKey(to key: String) -> String? { closest(to: key, in: keys) }

    static func closest(to key: String, in keys: [String]) -> String? {
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
    /// Prepended to keys in errors ("nvdimm[1]." inside a `[[nvdimm]]` table).
    var prefix = ""

    func string(_ key: String) throws(GuestConfigFileError) -> String {
        guard let s = try optionalString(key) else { throw .missingKey(path: path, key: prefix + key) }
        return s
    }

    func optionalString(_ key: String) throws(GuestConfigFileError) -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { throw .wrongType(path: path, key: prefix + key, expected: "a string", found: value.type.rawValue) }
        if let c = TOMLControlCharacters.controlCharacter(in: s) { throw .controlCharacter(path: path, key: prefix + key, character: c.name) }
        return s
    }

    func size(_ key: String) throws(GuestConfigFileError) -> ByteSize {
        guard let size = try optionalSize(key) else { throw .missingKey(path: path, key: prefix + key) }
        return size
    }

    func optionalSize(_ key: String) throws(GuestConfigFileError) -> ByteSize? {
        guard let value = table[key] else { return nil }
        if let n = value.int {
            guard n >= 0 else { throw .outOfRange(path: path, key: prefix + key, value: n, rule: "a size of 0 or more bytes") }
            return ByteSize(bytes: UInt64(n))
        }
        guard let s = value.string else {
            throw .wrongType(path: path, key: prefix + key, expected: "a size string or an integer of bytes", found: value.type.rawValue)
        }
        if let c = TOMLControlCharacters.controlCharacter(in: s) { throw .controlCharacter(path: path, key: prefix + key, character: c.name) }
        do { return try ByteSize(parsing: s) } catch { throw .badSize(path: path, key: prefix + key, error: error) }
    }

    /// A guest-physical address: a TOML integer (`0x140000000`) or a size string (`"5G"`).
    func optionalAddress(_ key: String) throws(GuestConfigFileError) -> Gpa? {
        guard let value = table[key] else { return nil }
        if let n = value.int {
            guard n >= 0 else { throw .outOfRange(path: path, key: prefix + key, value: n, rule: "a guest-physical address, 0 or more") }
            return Gpa(UInt64(n))
        }
        guard let s = value.string else {
            throw .wrongType(path: path, key: prefix + key, expected: "an integer address (0x140000000) or a size string (\"5G\")", found: value.type.rawValue)
        }
        if let c = TOMLControlCharacters.controlCharacter(in: s) { throw .controlCharacter(path: path, key: prefix + key, character: c.name) }
        do { return Gpa(try ByteSize(parsing: s).bytes) } catch { throw .badSize(path: path, key: prefix + key, error: error) }
    }

    func optionalInt(_ key: String) throws(GuestConfigFileError) -> Int? {
        guard let value = table[key] else { return nil }
        guard let n = value.int else { throw .wrongType(path: path, key: prefix + key, expected: "an integer", found: value.type.rawValue) }
        return n
    }

    func optionalUInt32(_ key: String) throws(GuestConfigFileError) -> UInt32? {
        guard let n = try optionalInt(key) else { return nil }
        guard let v = UInt32(exactly: n) else {
            throw .outOfRange(path: path, key: prefix + key, value: n, rule: "0 to 4294967295 (a 32-bit header field)")
        }
        return v
    }

    func optionalBool(_ key: String) throws(GuestConfigFileError) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let b = value.bool else { throw .wrongType(path: path, key: prefix + key, expected: "true or false", found: value.type.rawValue) }
        return b
    }
}
