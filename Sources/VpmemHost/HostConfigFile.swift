import DeviceModel
import Foundation
import GuestConfigFile
import GuestMemory
import HostMemory
import TOMLKit
import VpmemCore

/// The host's `host.toml`: TOML, written by `vpmem host init` and editable by hand.
///
/// ```toml
/// ram = "64G"                  # one RAM bank from address 0; or [[ram_bank]] tables (start, size)
/// liveupdate = { start = "0xfe0000000", size = "256M" }   # the liveupdate= boot region
/// # xen_heap = { start = "0x100000000", size = "1G" }     # reserved Xen heap (xen,reserved-heap)
/// # bad_pages = ["0x12345"]    # frames never handed out
/// steering_budget = "256M"     # range memory for all guests together (seed 001)
/// guest_allowance = "4M"       # each guest's share unless [allowance] names it
///
/// [allowance]
/// big-vgpu-guest = "32M"
///
/// [[static_memory]]            # xen,static-mem: host RAM only this guest may use (seed 003)
/// guest = "d1"
/// start = "0x80000000"
/// size = "1G"
///
/// [[pmem]]                     # host persistent memory, one backing each
/// path = "pmem0.pmem"          # an emulated pmem file (relative to the host directory), or
/// # namespace = "UUID"         # a real namespace found through libndctl
/// size = "16G"
/// spa = "0x10000000000"        # host-physical address (vpmem places emulated files)
/// ```
/// Addresses are hex strings or sizes; every size takes K, M, G, T. Unknown keys are errors.
public enum HostConfigFile {
    static let keys = ["ram", "ram_bank", "liveupdate", "xen_heap", "bad_pages", "steering_budget",
                       "guest_allowance", "allowance", "static_memory", "pmem"]

    public static func load(from path: String) throws(HostError) -> HostConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .cannotUse(path: path, step: "read the host config", reason: "it is missing, unreadable or not UTF-8")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(HostError) -> HostConfig {
        let table: TOMLTable
        do { table = try TOMLDocument.parse(text) } catch { throw .syntax(path: path, message: "\(error)") }
        let r = HostReader(path: path)
        for key in table.keys.sorted() where !keys.contains(key) {
            try r.checkKey(key, in: "")
            throw .config(path: path, key: key, problem: "is not a host key", fix: "use one of: " + keys.joined(separator: ", "))
        }
        var banks: [MfnRange] = []
        if let ram = table["ram"] {
            let size = try r.size(ram, key: "ram")
            guard size >= 64 * ByteSize.mib, size % 4096 == 0 else {
                throw .config(path: path, key: "ram", problem: "\(ByteSize(bytes: size)) is too small or not whole pages", fix: "give at least 64M")
            }
            banks.append(MfnRange(uncheckedFirst: 0, end: size >> 12))
        }
        for (i, t) in try r.tables(table["ram_bank"], key: "ram_bank").enumerated() {
            banks.append(try r.range(t, key: "ram_bank[\(i)]"))
        }
        guard !banks.isEmpty else { throw .config(path: path, key: "ram", problem: "is missing", fix: "give ram = \"64G\" or [[ram_bank]] tables") }
        var config = HostConfig(ramBanks: banks)
        if let v = table["liveupdate"] { config.liveUpdateRegion = try r.range(try r.table(v, key: "liveupdate"), key: "liveupdate") }
        if let v = table["xen_heap"] { config.reservedXenHeap = try r.range(try r.table(v, key: "xen_heap"), key: "xen_heap") }
        if let v = table["bad_pages"] {
            guard let a = v.array else { throw .config(path: path, key: "bad_pages", problem: "is not an array", fix: "give bad_pages = [\"0x12345\"]") }
            for i in 0..<a.count { config.badPages.append(Mfn(uncheckedRaw: try r.address(a[i], key: "bad_pages[\(i)]") >> 12)) }
        }
        var steering = HostSteeringConfig()
        if let v = table["steering_budget"] { steering.hostBudgetBytes = try r.size(v, key: "steering_budget") }
        if let v = table["guest_allowance"] { steering.guestAllowanceBytes = try r.size(v, key: "guest_allowance") }
        config.steering = steering
        if let v = table["allowance"] {
            let t = try r.table(v, key: "allowance")
            for name in t.keys.sorted() {
                try r.checkKey(name, in: "allowance.")
                guard let v = t[name] else { throw .config(path: path, key: "allowance.\(name)", problem: "cannot be read back", fix: "write the guest's name as a plain key") }
                config.allowances[name] = try r.size(v, key: "allowance.\(name)")
            }
        }
        for (i, t) in try r.tables(table["static_memory"], key: "static_memory").enumerated() {
            try r.only(t, ["guest", "start", "size"], key: "static_memory[\(i)]")
            guard let g = try t["guest"].map({ v throws(HostError) in try r.text(v, key: "static_memory[\(i)].guest") }) ?? nil else {
                throw .config(path: path, key: "static_memory[\(i)].guest", problem: "is missing", fix: "name the guest: guest = \"d1\"")
            }
            config.staticMemory.append(.init(guest: g, range: try r.range(t, key: "static_memory[\(i)]")))
        }
        for (i, t) in try r.tables(table["pmem"], key: "pmem").enumerated() {
            let key = "pmem[\(i)]"
            try r.only(t, ["path", "namespace", "size", "spa"], key: key)
            guard let size = t["size"], let spa = t["spa"] else {
                throw .config(path: path, key: key, problem: "lacks size or spa", fix: "give both (vpmem host add-pmem writes them)")
            }
            config.pmem.append(.init(path: try t["path"].flatMap { v throws(HostError) in try r.text(v, key: "\(key).path") },
                                     namespace: try t["namespace"].flatMap { v throws(HostError) in try r.text(v, key: "\(key).namespace") },
                                     size: try r.size(size, key: "\(key).size"), spa: try r.address(spa, key: "\(key).spa")))
        }
        try config.validate(path: path)
        return config
    }

    /// A new host.toml: the values of `config` with a comment on each key.
    public static func render(_ config: HostConfig) -> String {
        var out = "# vpmem host (TOML): this machine's memory, its pmem and its steering budget.\n"
        out += "# Sizes take K, M, G, T; addresses are hex. See `vpmem host init --help`.\n"
        if config.ramBanks.count == 1, config.ramBanks[0].first.raw == 0 {
            out += "ram = \"\(ByteSize(bytes: config.ramBanks[0].count << 12))\"\n"
        }
        if let l = config.liveUpdateRegion { out += "liveupdate = \(inline(l))   # the region a live update boots on\n" }
        if let h = config.reservedXenHeap { out += "xen_heap = \(inline(h))\n" }
        if !config.badPages.isEmpty { out += "bad_pages = [" + config.badPages.map { "\"\(hex($0.raw << 12))\"" }.joined(separator: ", ") + "]\n" }
        out += "steering_budget = \"\(ByteSize(bytes: config.steering.hostBudgetBytes))\"   # range memory for all guests (seed 001)\n"
        out += "guest_allowance = \"\(ByteSize(bytes: config.steering.guestAllowanceBytes))\"     # each guest's share unless [allowance] names it\n"
        if !config.allowances.isEmpty {
            out += "\n[allowance]\n"
            for (n, b) in config.allowances.sorted(by: { $0.key < $1.key }) { out += "\(n) = \"\(ByteSize(bytes: b))\"\n" }
        }
        if !(config.ramBanks.count == 1 && config.ramBanks[0].first.raw == 0) {
            for b in config.ramBanks { out += "\n[[ram_bank]]\nstart = \"\(hex(b.first.raw << 12))\"\nsize = \"\(ByteSize(bytes: b.count << 12))\"\n" }
        }
        for s in config.staticMemory {
            out += "\n[[static_memory]]\nguest = \"\(s.guest)\"\nstart = \"\(hex(s.range.first.raw << 12))\"\nsize = \"\(ByteSize(bytes: s.range.count << 12))\"\n"
        }
        for p in config.pmem { out += "\n" + pmemTable(p) }
        return out
    }

    /// One `[[pmem]]` table, as appended to an existing host.toml.
    public static func pmemTable(_ p: HostConfig.Pmem) -> String {
        var out = "[[pmem]]\n"
        if let path = p.path { out += "path = \(quoted(path))\n" }
        if let ns = p.namespace { out += "namespace = \"\(ns)\"\n" }
        out += "size = \"\(ByteSize(bytes: p.size))\"\nspa = \"\(hex(p.spa))\"\n"
        return out
    }

    static func inline(_ r: MfnRange) -> String {
        "{ start = \"\(hex(r.first.raw << 12))\", size = \"\(ByteSize(bytes: r.count << 12))\" }"
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// Typed reads of host.toml values; every error names the file and the key.
private struct HostReader {
    let path: String

    func size(_ v: TOMLValueConvertible, key: String) throws(HostError) -> UInt64 {
        if let n = v.int {
            guard n >= 0 else { throw .config(path: path, key: key, problem: "is negative", fix: "give a size like \"16G\"") }
            return UInt64(n)
        }
        guard let s = try text(v, key: key) else { throw .config(path: path, key: key, problem: "is not a size", fix: "give a size like \"16G\"") }
        do { return try ByteSize(parsing: s).bytes } catch {
            throw .config(path: path, key: key, problem: "= \"\(s)\" is not a size (\(error))", fix: "give a size like \"16G\"")
        }
    }

    /// A byte address: hex ("0x..."), or a size ("4G").
    func address(_ v: TOMLValueConvertible, key: String) throws(HostError) -> UInt64 {
        if let s = try text(v, key: key), s.hasPrefix("0x") || s.hasPrefix("0X") {
            guard let a = UInt64(s.dropFirst(2), radix: 16) else {
                throw .config(path: path, key: key, problem: "= \"\(s)\" is not a 64-bit hex address", fix: "give e.g. \"0x100000000\"")
            }
            return a
        }
        return try size(v, key: key)
    }

    /// A string value (nil when `v` is no string) with no control character in it.
    func text(_ v: TOMLValueConvertible, key: String) throws(HostError) -> String? {
        guard let s = v.string else { return nil }
        if let c = TOMLControlCharacters.controlCharacter(in: s) {
            throw .config(path: path, key: key, problem: "contains a control character (\(c.name))", fix: "remove it")
        }
        return s
    }

    /// A key with no control character in it (`prefix` places it in messages).
    func checkKey(_ k: String, in prefix: String) throws(HostError) {
        if let c = TOMLControlCharacters.controlCharacter(in: k) {
            throw .config(path: path, key: prefix + TOMLControlCharacters.escaped(k), problem: "contains a control character (\(c.name))", fix: "remove it")
        }
    }

    func table(_ v: TOMLValueConvertible, key: String) throws(HostError) -> TOMLTable {
        guard let t = v.table else { throw .config(path: path, key: key, problem: "is not a table", fix: "give { start = \"0x...\", size = \"...\" }") }
        return t
    }

    func tables(_ v: TOMLValueConvertible?, key: String) throws(HostError) -> [TOMLTable] {
        guard let v else { return [] }
        guard let a = v.array else { throw .config(path: path, key: key, problem: "is not an array of tables", fix: "write [[\(key)]] tables") }
        var out: [TOMLTable] = []
        for i in 0..<a.count {
            guard let t = a[i].table else { throw .config(path: path, key: "\(key)[\(i)]", problem: "is not a table", fix: "write [[\(key)]] tables") }
            out.append(t)
        }
        return out
    }

    func only(_ t: TOMLTable, _ allowed: [String], key: String) throws(HostError) {
        for k in t.keys.sorted() where !allowed.contains(k) {
            try checkKey(k, in: "\(key).")
            throw .config(path: path, key: "\(key).\(k)", problem: "is not a key here", fix: "use " + allowed.joined(separator: ", "))
        }
    }

    /// `start` and `size` of a table, whole 4 KiB pages, as frames.
    func range(_ t: TOMLTable, key: String) throws(HostError) -> MfnRange {
        guard let s = t["start"], let z = t["size"] else {
            throw .config(path: path, key: key, problem: "lacks start or size", fix: "give start = \"0x...\" and size = \"...\"")
        }
        let start = try address(s, key: "\(key).start"), size = try size(z, key: "\(key).size")
        guard start % 4096 == 0, size % 4096 == 0, size > 0 else {
            throw .config(path: path, key: key, problem: "is not whole 4K pages", fix: "align start and size to 4K")
        }
        guard let r = try? MfnRange(first: Mfn(uncheckedRaw: start >> 12), count: size >> 12) else {
            throw .config(path: path, key: key, problem: "runs past the 52-bit frame space", fix: "lower start or size")
        }
        return r
    }
}
