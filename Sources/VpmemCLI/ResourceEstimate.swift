import Foundation
import GuestMemory
import VpmemCore

/// The memory this process may use: the kernel's MemAvailable (/proc/meminfo), lowered by a
/// cgroup memory limit when one is set (cgroup v2 memory.max, v1 memory.limit_in_bytes).
enum MachineMemory {
    struct Reading {
        let bytes: UInt64
        /// Where the number comes from, for messages.
        let source: String
    }

    static func available() -> Reading? {
        var best: Reading?
        if let kb = meminfo("MemAvailable") {
            best = Reading(bytes: kb * 1024, source: "MemAvailable in /proc/meminfo")
        }
        for (limit, usage) in [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                               ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")] {
            guard let l = number(limit) else { continue }
            let free = l - min(l, number(usage) ?? 0)
            if best.map({ free < $0.bytes }) ?? true { best = Reading(bytes: free, source: "the cgroup limit \(limit)") }
        }
        return best
    }

    /// A `Key:   N kB` line of /proc/meminfo.
    static func meminfo(_ key: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.split(separator: " ")
            return fields.count >= 2 ? UInt64(fields[1]) : nil
        }
        return nil
    }

    /// A file holding one decimal number ("max" and anything else: nil).
    static func number(_ path: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Up-front memory estimates for the commands whose work grows with their arguments. Each is an
/// upper bound for the run (VpmemCLITests/ResourceEstimateTests measures it against the peak
/// RSS); `require` refuses a run the machine cannot hold unless forced.
enum MemoryEstimate {
    /// What the process needs before the work starts (runtime, libraries, the parsed host).
    static let baseline: UInt64 = 64 << 20

    /// `p2m populate`: exactly the table nodes `P2M.set` reserves for the range, the root
    /// included (the run's P2M is created with this node limit, so it cannot grow past it).
    static func p2mNodes(gfn: UInt64, count: UInt64, delta: UInt64, frameless: Bool) -> Int {
        let start = gfn, end = gfn + count
        func slots(_ level: Int) -> Int { Int(((end - 1) >> (9 * UInt64(level))) - (start >> (9 * UInt64(level))) + 1) }
        func partialEnds(_ level: Int) -> Int {
            let shift = 9 * UInt64(level)
            let mask = (UInt64(1) << shift) - 1
            let head = start & mask != 0, tail = end & mask != 0
            if head && tail && start >> shift == (end - 1) >> shift { return 1 }
            return (head ? 1 : 0) + (tail ? 1 : 0)
        }
        let l2 = frameless || delta & ((1 << 18) - 1) == 0 ? partialEnds(2) : slots(2)
        let l1 = frameless || delta & ((1 << 9) - 1) == 0 ? partialEnds(1) : slots(1)
        return 1 + slots(3) + l2 + l1
    }

    /// `liveupdate simulate`: two frame tables, the content model and the p2ms grow with the
    /// host's frames (measured at about 33 bytes a frame with every page fragmented, 22 at the
    /// default 0.3); 40 a frame leaves room. The pmem backing is mapped and read whole.
    static func liveUpdateSimulation(hostBytes: UInt64, guests: Int, pmemBytes: UInt64) -> UInt64 {
        let frames = hostBytes >> 12
        let (perFrame, o1) = frames.multipliedReportingOverflow(by: 40)
        let (total, o2) = (baseline + perFrame + UInt64(guests) * (64 << 10)).addingReportingOverflow(pmemBytes)
        return o1 || o2 ? UInt64.max : total
    }

    /// Refuses `estimate` bytes for `what` when the machine has less available, unless `force`.
    static func require(_ estimate: UInt64, for what: String, fix: String, force: Bool) throws(RequestFailure) {
        guard !force, let machine = MachineMemory.available(), estimate > machine.bytes else { return }
        throw RequestFailure(
            problem: "\(what) needs about \(ByteSize(bytes: estimate).humanReadable) of memory, more than the \(ByteSize(bytes: machine.bytes).humanReadable) this machine has available (\(machine.source))",
            fix: "\(fix), or give --force to try anyway")
    }
}
