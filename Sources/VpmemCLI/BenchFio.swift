import Foundation
import HostPmem

/// fio's libpmem engine on the same backing and sizes, beside vpmem's figures. fio's settings
/// pick libpmem's flags (engines/libpmem.c): direct=1 non-temporal stores, direct=0 temporal;
/// sync=1 drains after every write. scramble_buffers=1 changes the source between writes, so a
/// source that stays in cache flatters nothing. Matched methods:
///   memcpy_nontemporal  direct=1 sync=1
///   memcpy_temporal     direct=0 sync=1
///   memcpy_persist      the one of the two libpmem picks at that size (non-temporal at or
///                       above its threshold)
///   read                rw=read
/// memcpy_nodrain+drain, store+persist and store+msync have no fio equivalent (fio's fsync
/// option drains only for page-multiple blocks) and are not compared.
enum BenchFio {
    struct Setting: Hashable {
        var read: Bool
        var direct: Bool
        var description: String {
            read ? "rw=read" : "rw=write direct=\(direct ? 1 : 0) sync=1"
        }
    }

    /// GB/s of one fio job group.
    /// fio's libpmem engine refuses a mapping libpmem does not call pmem; on such a backing fio
    /// runs with PMEM_IS_PMEM_FORCE=1, which makes it issue the same flush-based calls vpmem's
    /// methods make there (durable on neither).
    static func run(fio: String, path: String, regionBytes: Int, size: Int, threads: Int, setting: Setting, random: Bool, seconds: Double,
                    forcePmem: Bool) throws -> Double {
        let ms = max(100, Int(seconds * 1000))
        var args = [
            "--name=vpmem-compare", "--ioengine=libpmem", "--filename=\(path)", "--size=\(regionBytes)",
            "--bs=\(size)", "--rw=\(random ? (setting.read ? "randread" : "randwrite") : (setting.read ? "read" : "write"))",
            "--time_based", "--runtime=\(ms)ms", "--numjobs=\(threads)", "--group_reporting", "--thread",
            "--scramble_buffers=1", "--norandommap", "--randrepeat=0", "--output-format=json",
        ]
        if !setting.read { args += ["--direct=\(setting.direct ? 1 : 0)", "--sync=1"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: fio)
        p.arguments = args
        if forcePmem { p.environment = ProcessInfo.processInfo.environment.merging(["PMEM_IS_PMEM_FORCE": "1"]) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: o, as: UTF8.self)
        guard p.terminationStatus == 0,
              let start = text.firstIndex(of: "{"),  // fio may print notes before the JSON
              let json = try? JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any],
              let job = (json["jobs"] as? [[String: Any]])?.first,
              let dir = job[setting.read ? "read" : "write"] as? [String: Any],
              let bw = (dir["bw_bytes"] as? NSNumber)?.doubleValue
        else {
            throw BenchError.fioFailed(status: p.terminationStatus, output: String(decoding: e, as: UTF8.self) + text.prefix(300))
        }
        return bw / 1e9
    }

    /// fio beside every matched vpmem figure (sequential), at each size and thread count of the run.
    static func compare(report: BenchReport, fio: String, path: String, regionBytes: Int, threshold: Int,
                        seconds: Double, forcePmem: Bool, progress: (String) -> Void) throws -> [BenchReport.FioRow] {
        var cache: [String: Double] = [:]
        var rows: [BenchReport.FioRow] = []
        for f in report.figures where (f.group == "write" || f.group == "read") && f.pattern == "seq" {
            guard let size = f.size, let threads = f.threads else { continue }
            let setting: Setting
            switch f.group == "read" ? "read" : f.method ?? "" {
            case "read": setting = Setting(read: true, direct: false)
            case PmemWriteMethod.nonTemporal.rawValue: setting = Setting(read: false, direct: true)
            case PmemWriteMethod.temporal.rawValue: setting = Setting(read: false, direct: false)
            case PmemWriteMethod.memcpyPersist.rawValue: setting = Setting(read: false, direct: size >= threshold)
            default: continue
            }
            let key = "\(setting.description) \(size) \(threads)"
            if cache[key] == nil {
                progress("fio \(setting.description) bs=\(sizeLabel(size)) numjobs=\(threads)")
                cache[key] = try run(fio: fio, path: path, regionBytes: regionBytes, size: size, threads: threads,
                                     setting: setting, random: false, seconds: seconds, forcePmem: forcePmem)
            }
            let v = cache[key]!
            rows.append(.init(method: f.group == "read" ? "read" : f.method!, fioSettings: setting.description, size: size,
                              threads: threads, vpmemGBps: f.value, fioGBps: v, ratio: f.value / max(v, 1e-12)))
        }
        return rows
    }
}
