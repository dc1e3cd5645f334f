import Foundation
import Testing
import DomainModel
import GuestMemory
import VpmemCore

/// `vpmem qemu`'s command line, read back the way QEMU parses it.
@Suite struct QEMUCommandLineTests {
    /// The `key=value` options of the argument after each `flag`, in order.
    func options(_ argv: [String], _ flag: String) -> [[String: String]] {
        argv.indices.filter { argv[$0] == flag && $0 + 1 < argv.count }.map { i in
            var out: [String: String] = [:]
            for (n, part) in argv[i + 1].split(separator: ",").enumerated() {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { out[kv[0]] = kv[1] } else if n == 0 { out["_"] = kv[0] } else { out[kv[0]] = "on" }
            }
            return out
        }
    }

    @Test func eachVNVDIMMIsABackendAndAPinnedDevice() throws {
        let scratch = Scratch()
        let config = guestConfig(nvdimms: [nvdimm(0, size: 64 * MiB), nvdimm(2, size: 4 * MiB, label: 256 * KiB, node: 0, unarmed: true)],
                                 persistence: .memoryController)
        let guest = try Guest(config: config, baseDirectory: scratch.path)
        defer { guest.release() }
        let line = try QEMUCommandLine(guest: guest, options: .init())
        let argv = line.argv
        #expect(argv.first == "qemu-system-x86_64")
        let machine = try #require(options(argv, "-machine").first)
        #expect(machine["_"] == "pc" && machine["nvdimm"] == "on" && machine["nvdimm-persistence"] == "mem-ctrl")
        #expect(machine["max-ram-below-4g"] == String(guest.physmap.holeStart.raw))
        let m = try #require(options(argv, "-m").first)
        #expect(m["size"] == "2G" && m["slots"] == "3", "-m takes MiB without a unit: every size carries one")
        let backends = options(argv, "-object"), devices = options(argv, "-device")
        #expect(backends.count == 2 && devices.count == 2)
        for (d, (backend, device)) in zip(guest.nvdimms, zip(backends, devices)) {
            #expect(backend["_"] == "memory-backend-file" && backend["share"] == "on")
            #expect(backend["mem-path"] == d.path && backend["size"] == String(d.config.backingSize!))
            #expect(backend["pmem"] == nil, "an emulated file is not real pmem")
            #expect(device["_"] == "nvdimm" && device["memdev"] == backend["id"] && device["slot"] == String(d.slot))
            #expect(device["addr"] == "0x" + String(d.guestRange.first.raw, radix: 16))
            #expect(device["label-size"] == String(d.config.labelSize.bytes))
            #expect((device["unarmed"] == "on") == d.config.unarmed)
        }
        // The window reaches the last vNVDIMM.
        let maxmemText = try #require(m["maxmem"])
        let units: [Character: UInt64] = ["G": GiB, "M": MiB, "K": KiB, "B": 1]
        let maxmem = try #require(UInt64(maxmemText.dropLast())) * (try #require(maxmemText.last.flatMap { units[$0] }))
        let last = try #require(guest.nvdimms.map { $0.guestRange.last.raw }.max())
        #expect(line.machine.deviceMemoryBase + (maxmem - 2 * GiB) > last)
        #expect(!argv.contains("-numa"))
    }

    @Test func aVNVDIMMOnAnotherNodeBringsTheNodes() throws {
        let scratch = Scratch()
        let guest = try Guest(config: guestConfig(nvdimms: [nvdimm(0, node: 2)]), baseDirectory: scratch.path)
        defer { guest.release() }
        let argv = try QEMUCommandLine(guest: guest, options: .init()).argv
        let nodes = options(argv, "-numa").compactMap { $0["nodeid"] }
        #expect(nodes == ["0", "1", "2"])
        #expect(options(argv, "-numa").first?["memdev"] == "ram-node0")
        #expect(options(argv, "-device").first?["node"] == "2")
    }

    @Test func aReadOnlyVNVDIMMMustBeUnarmedForQEMU() throws {
        let scratch = Scratch()
        let armed = try Guest(config: guestConfig(nvdimms: [nvdimm(0, readOnly: true)]), baseDirectory: scratch.path)
        let error = try #require(throws: QEMUCommandError.self) { try QEMUCommandLine(guest: armed, options: .init()) }
        #expect(error.description.contains("set unarmed = true"))
        armed.release()
        let unarmed = try Guest(config: guestConfig(nvdimms: [nvdimm(1, readOnly: true, unarmed: true)]), baseDirectory: scratch.path)
        defer { unarmed.release() }
        let argv = try QEMUCommandLine(guest: unarmed, options: .init()).argv
        #expect(options(argv, "-object").first?["readonly"] == "on" && options(argv, "-device").first?["unarmed"] == "on")
    }

    @Test func kernelAndExtraArgumentsAndQuoting() throws {
        let scratch = Scratch()
        let guest = try Guest(config: guestConfig(nvdimms: [nvdimm(0)]), baseDirectory: scratch.path)
        defer { guest.release() }
        var o = QEMUCommandLine.Options()
        o.kernel = "/boot/vmlinuz"
        o.append = "console=ttyS0 rdinit=/init"
        o.extra = ["-no-reboot"]
        let line = try QEMUCommandLine(guest: guest, options: o)
        #expect(Array(line.argv.suffix(5)) == ["-kernel", "/boot/vmlinuz", "-append", "console=ttyS0 rdinit=/init", "-no-reboot"])
        #expect(line.shellCommand.hasSuffix("-kernel /boot/vmlinuz -append 'console=ttyS0 rdinit=/init' -no-reboot"))
    }
}
