import DeviceModel
import Foundation
import GuestConfigFile
import GuestMemory
import TOMLKit

/// A steering scenario file (TOML): the ioreq servers `vpmem steer --scenario` sets up on a
/// guest's engine instead of the built-in XenGT-like ones.
///
/// ```toml
/// ioreq_server = ["0x7d2c3-0x7d2c4", "0x7d2d0"]   # guest frames typed ioreq_server (write-protected)
/// resident = ["0x40000-0x43fff"]                  # guest RAM frames made resident before the run
///
/// [[server]]
/// name = "qemu"
/// default = true                # gets every port, MMIO and PCI access no server claims
/// device = "register-file"      # register-file | gtt-shadow | none
///
/// [[server]]
/// name = "xengt"
/// device = "gtt-shadow"
/// claim = "write"               # claims the ioreq_server type: read | write | read+write
/// mmio = ["0xc0000000-0xc0ffffff"]   # guest-physical bytes, FIRST-LAST inclusive, or one value
/// port = ["0x3c0-0x3df"]
/// pci = ["0000:00:02.0"]        # PCI functions, or FIRST-LAST
/// wp_mem = ["0x7d2c3-0x7d2c4"]  # guest frames
/// ```
/// Numbers are hex (0x...) or decimal. Unknown keys are errors. `vpmem steer --write-scenario`
/// writes the built-in set-up in this form.
public enum ScenarioFile {
    static let topKeys = ["server", "ioreq_server", "resident"]
    static let serverKeys = ["name", "default", "device", "claim"] + IoRangeKind.allCases.map(\.name)

    public static func load(from path: String) throws(ScenarioFileError) -> ScenarioSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "it is missing or unreadable")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadable(path: path, reason: "it is not UTF-8 text") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(ScenarioFileError) -> ScenarioSpec {
        let table: TOMLTable
        do { table = try TOMLDocument.parse(text) } catch { throw .syntax(path: path, message: "\(error)") }
        let r = Reader(path: path)
        try r.only(table, topKeys, key: "")
        guard let serverValue = table["server"] else {
            throw .key(path: path, key: "server", problem: "is missing", fix: "give at least one [[server]] table with a name and a device")
        }
        guard let servers = serverValue.array else {
            throw .key(path: path, key: "server", problem: "is not an array of tables", fix: "write each server as a [[server]] table")
        }
        var spec = ScenarioSpec(servers: [])
        for i in 0..<servers.count {
            let key = "server[\(i)]"
            guard let t = servers[i].table else {
                throw .key(path: path, key: key, problem: "is not a table", fix: "write each server as a [[server]] table")
            }
            try r.only(t, serverKeys, key: key + ".")
            guard let nameValue = t["name"] else { throw .key(path: path, key: key + ".name", problem: "is missing", fix: "name the server: name = \"qemu\"") }
            let name = try r.text(nameValue, key: key + ".name")
            var s = ScenarioServerSpec(name: name, device: .none)
            if let v = t["default"] {
                guard let b = v.bool else { throw .key(path: path, key: key + ".default", problem: "is not true or false", fix: "write default = true") }
                s.isDefault = b
            }
            guard let deviceValue = t["device"] else {
                throw .key(path: path, key: key + ".device", problem: "is missing",
                           fix: "give device = " + DeviceBehaviour.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") + " (none: no device model)")
            }
            let device = try r.text(deviceValue, key: key + ".device")
            guard let d = DeviceBehaviour(rawValue: device) else {
                throw .key(path: path, key: key + ".device", problem: "= \"\(device)\" is no device behaviour",
                           fix: "use one of " + DeviceBehaviour.allCases.map(\.rawValue).joined(separator: ", "))
            }
            s.device = d
            if let v = t["claim"] {
                let c = try r.text(v, key: key + ".claim")
                switch c {
                case "read": s.claim = .read
                case "write": s.claim = .write
                case "read+write", "write+read": s.claim = [.read, .write]
                default:
                    throw .key(path: path, key: key + ".claim", problem: "= \"\(c)\" is no claim", fix: "use read, write or read+write")
                }
            }
            for kind in IoRangeKind.allCases {
                guard let v = t[kind.name] else { continue }
                for (first, last) in try r.ranges(v, key: "\(key).\(kind.name)", pci: kind == .pciConfig) {
                    s.ranges.append(ScenarioRange(kind: kind, first: first, last: last))
                }
            }
            spec.servers.append(s)
        }
        for (name, keyPath) in [("ioreq_server", \ScenarioSpec.ioreqServerPages), ("resident", \ScenarioSpec.resident)] {
            guard let v = table[name] else { continue }
            for (first, last) in try r.ranges(v, key: name, pci: false) {
                guard last <= P2M.maxGfn.raw else {
                    throw .key(path: path, key: name, problem: "frame 0x\(String(last, radix: 16)) is past the p2m's last frame 0x\(String(P2M.maxGfn.raw, radix: 16))",
                               fix: "give guest frame numbers (an address >> 12)")
                }
                spec[keyPath: keyPath].append(GfnRange(uncheckedFirst: first, end: last + 1))
            }
        }
        do { try spec.validate() } catch { throw .invalid(path: path, error) }
        return spec
    }

    /// The scenario as a file `parse` reads back to the same spec; `comment` (lines) goes on top.
    public static func render(_ spec: ScenarioSpec, comment: [String] = []) -> String {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        func range(_ first: UInt64, _ last: UInt64, pci: Bool) -> String {
            let f = pci ? PciSbdf(raw: UInt32(truncatingIfNeeded: first)).description : hex(first)
            let l = pci ? PciSbdf(raw: UInt32(truncatingIfNeeded: last)).description : hex(last)
            return "\"" + (first == last ? f : f + "-" + l) + "\""
        }
        func list(_ items: [String]) -> String {
            guard items.count > 4 else { return "[" + items.joined(separator: ", ") + "]" }
            return "[\n" + stride(from: 0, to: items.count, by: 6).map { i in
                "  " + items[i..<min(i + 6, items.count)].joined(separator: ", ") + ","
            }.joined(separator: "\n") + "\n]"
        }
        var out = comment.map { "# " + $0 + "\n" }.joined()
        out += "# vpmem steering scenario (TOML): see `vpmem steer --help`. Numbers are hex or decimal;\n"
        out += "# ranges are \"FIRST-LAST\" (inclusive) or one value.\n"
        out += "# Guest frames typed ioreq_server: writes to them are steered (by claim or wp_mem range).\n"
        out += "ioreq_server = " + list(spec.ioreqServerPages.map { range($0.first.raw, $0.last.raw, pci: false) }) + "\n"
        out += "# Guest RAM frames made resident before the run (the guest's hot memory).\n"
        out += "resident = " + list(spec.resident.map { range($0.first.raw, $0.last.raw, pci: false) }) + "\n"
        for s in spec.servers {
            out += "\n[[server]]\nname = \(quoted(s.name))\n"
            if s.isDefault { out += "default = true\n" }
            out += "device = \"\(s.device.rawValue)\"\n"
            if let c = s.claim { out += "claim = \"\(c.description)\"\n" }
            for kind in IoRangeKind.allCases {
                let rs = s.ranges.filter { $0.kind == kind }
                guard !rs.isEmpty else { continue }
                out += "\(kind.name) = " + list(rs.map { range($0.first, $0.last, pci: kind == .pciConfig) }) + "\n"
            }
        }
        return out
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// Typed reads of scenario values; every error names the file and the key.
private struct Reader {
    let path: String

    func only(_ t: TOMLTable, _ allowed: [String], key prefix: String) throws(ScenarioFileError) {
        for k in t.keys.sorted() where !allowed.contains(k) {
            throw .key(path: path, key: prefix + TOMLControlCharacters.escaped(k), problem: "is not a scenario key",
                       fix: "use one of: " + allowed.joined(separator: ", "))
        }
    }

    func text(_ v: TOMLValueConvertible, key: String) throws(ScenarioFileError) -> String {
        guard let s = v.string else { throw .key(path: path, key: key, problem: "is not a string", fix: "quote it") }
        if let c = TOMLControlCharacters.controlCharacter(in: s) {
            throw .key(path: path, key: key, problem: "contains a control character (\(c.name))", fix: "remove it")
        }
        return s
    }

    /// An array of "FIRST-LAST" or "VALUE" strings (or integers); PCI values are SBDFs.
    func ranges(_ v: TOMLValueConvertible, key: String, pci: Bool) throws(ScenarioFileError) -> [(UInt64, UInt64)] {
        let example = pci ? "[\"0000:00:02.0\"]" : "[\"0x3c0-0x3df\"]"
        guard let a = v.array else { throw .key(path: path, key: key, problem: "is not an array", fix: "give \(key.split(separator: ".").last!) = \(example)") }
        var out: [(UInt64, UInt64)] = []
        for i in 0..<a.count {
            let k = "\(key)[\(i)]"
            if let n = a[i].int, !pci {
                guard n >= 0 else { throw .key(path: path, key: k, problem: "is negative", fix: "give a value from 0") }
                out.append((UInt64(n), UInt64(n)))
                continue
            }
            let s = try text(a[i], key: k)
            let parts = s.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 1 || parts.count == 2 else {
                throw .key(path: path, key: k, problem: "= \"\(s)\" is not a range", fix: "write FIRST-LAST or one value, e.g. \(example)")
            }
            func value(_ p: Substring) throws(ScenarioFileError) -> UInt64 {
                let trimmed = p.trimmingCharacters(in: .whitespaces)
                do {
                    return pci ? UInt64(try AccessTraceFormat.parseSbdf(Substring(trimmed)).raw)
                        : try AccessTraceFormat.number(Substring(trimmed), what: "value")
                } catch {
                    throw .key(path: path, key: k, problem: "= \"\(s)\": \(error)", fix: "write FIRST-LAST or one value, e.g. \(example)")
                }
            }
            let first = try value(parts[0])
            let last = parts.count == 2 ? try value(parts[1]) : first
            guard first <= last else {
                throw .key(path: path, key: k, problem: "= \"\(s)\" is backwards", fix: "write the lower value first")
            }
            out.append((first, last))
        }
        return out
    }
}

/// A scenario file that cannot be used; each case names the file (and key) and the fix.
public enum ScenarioFileError: Error, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case syntax(path: String, message: String)
    case key(path: String, key: String, problem: String, fix: String)
    case invalid(path: String, ScenarioSpecError)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "scenario \(path): cannot read it: \(reason)"
        case let .syntax(path, message): return "scenario \(path): not valid TOML: \(message)"
        case let .key(path, key, problem, fix): return "scenario \(path): \(key) \(problem): \(fix)"
        case let .invalid(path, e): return "scenario \(path): \(e)"
        }
    }
}
