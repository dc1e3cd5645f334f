import Foundation
import Testing
import HostPmem

@Suite struct PmemCLITests {
    @Test func aSecondProcessIsRefusedWithTheHolderNamedUntilTheHolderDies() throws {
        let dir = TempDir()
        let path = dir.file("guest.pmem")
        #expect(try VpmemProcess.run(["pmem", "create", path, "--size", "16M"]).status == 0)

        let (holder, line) = try VpmemProcess.start(["pmem", "hold", path])
        #expect(line.hasPrefix("holding \(path)"))
        let pid = holder.processIdentifier
        #expect(throws: HostPmemError.locked(path: path, holderPid: pid)) { try PmemMapping.open(path: path) }

        let info = try json(VpmemProcess.run(["pmem", "info", path, "--json"]).stdout)
        #expect(info["locked"] as? Bool == true)
        #expect((info["lock_holder_pid"] as? NSNumber)?.int32Value == pid)

        let refused = try VpmemProcess.run(["pmem", "create", path, "--size", "16M"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("process \(pid) has it mapped for writing"))

        // A crashed holder's lock goes away with it.
        kill(pid, SIGKILL)
        holder.waitUntilExit()
        let m = try PmemMapping.open(path: path)
        #expect(m.length == 16 << 20)
    }

    @Test func infoReportsThePersistenceMethodLibpmemChose() throws {
        let dir = TempDir()
        let path = dir.file("b.pmem")
        #expect(try VpmemProcess.run(["pmem", "create", path, "--size", "4M"]).status == 0)
        let plain = try json(VpmemProcess.run(["pmem", "info", path, "--json"]).stdout)
        #expect(plain["is_pmem"] as? Bool == false)
        #expect(plain["persistence"] as? String == "msync")
        #expect((plain["size"] as? NSNumber)?.uint64Value == 4 << 20)
        // libpmem's own override makes it treat the mapping as pmem: the flush path is chosen.
        let forced = try json(VpmemProcess.run(["pmem", "info", path, "--json"], environment: ["PMEM_IS_PMEM_FORCE": "1"]).stdout)
        #expect(forced["is_pmem"] as? Bool == true)
        #expect(forced["persistence"] as? String == "cpu-cache-flush")
    }

    @Test func badSizesAndPathsGiveOneLineErrorsAndAFailingExit() throws {
        let dir = TempDir()
        for (args, needle) in [
            (["pmem", "create", dir.file("a"), "--size", "4X"], "unknown size suffix 'X'"),
            (["pmem", "create", dir.file("a"), "--size", "16384P"], "does not fit in 64 bits"),
            (["pmem", "create", dir.file("no/dir/a"), "--size", "4M"], "does not exist"),
            (["pmem", "info", dir.file("missing")], "no such file"),
        ] {
            let r = try VpmemProcess.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("vpmem: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("a")))
    }

    @Test func hostListIsWellFormedJSONEvenWithoutNVDIMMs() throws {
        let r = try VpmemProcess.run(["host", "list", "--json"])
        #expect(r.status == 0)
        #expect(try json(r.stdout)["buses"] is [Any])
    }

    @Test func theDemoRunsAndVerifies() throws {
        let dir = TempDir()
        let r = try VpmemProcess.run(["demo", "--dir", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("verified"))
        #expect(r.stdout.contains("a second writer is refused"))
        // The vNVDIMM part: NFIT disassembled by iasl, labels read back by a second process.
        #expect(r.stdout.contains("Subtable Type : 0000 [System Physical Address Range]"), "iasl -d output (acpica-tools must be installed)")
        #expect(r.stdout.contains("/local/domain/1/hvmloader/dm-acpi/address = "))
        #expect(r.stdout.contains("$ vpmem nvdimm labels") && r.stdout.contains("index block 0: valid, seq 3"))
    }
}
