import Foundation
import Testing

/// `vpmem qemu` as a script uses it: the command printed or as JSON, and --exec running QEMU
/// (here a stand-in that records what it was given) with the backings locked while it runs.
@Suite struct QemuCLITests {
    func guest(_ host: TempHostDir) throws -> String {
        let path = host.file("g.toml")
        try """
            name = "g"
            memory = "1G"
            pmem_aperture = "8G"
            [[nvdimm]]
            slot = 1
            backing = "g1.pmem"
            size = "16M"
            address = "40G"
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try host.run(["guest", "create", path, "--create-backings"])
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    @Test func printsThePinnedCommandAndItsJSON() throws {
        let host = try TempHostDir()
        _ = try guest(host)
        let text = try host.run(["qemu", "g", "--accel", "tcg", "--kernel", "/k", "--", "-no-reboot"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("qemu-system-x86_64 -accel tcg -machine pc,nvdimm=on,"))
        #expect(text.stdout.contains("-device nvdimm,id=nvdimm1,memdev=nvmem1,slot=1,node=0,addr=0xa00000000,label-size=131072"))
        #expect(text.stdout.hasSuffix("-kernel /k -no-reboot\n"))
        let o = try json(host.run(["qemu", "g", "--accel", "tcg", "--json"]).stdout)
        let devices = o["nvdimms"] as? [[String: Any]] ?? []
        #expect(devices.count == 1 && devices.first?["address"] as? Int == 40 << 30)
        #expect(devices.first?["backend_size"] as? Int == 16 << 20 | 128 << 10)
        #expect((o["argv"] as? [String])?.first == "qemu-system-x86_64")
        #expect(o["device_memory_base"] as? Int == 4 << 30)
    }

    @Test func execRunsQEMUWithTheBackingLockedAndPassesItsStatus() throws {
        let host = try TempHostDir()
        _ = try guest(host)
        let fake = host.file("fake-qemu")
        let record = host.file("record")
        let script = """
            #!/bin/sh
            printf '%s\\n' "$@" > '\(record)'
            '\(VpmemProcess.binary.path)' pmem info '\(host.file("g1.pmem"))' --json >> '\(record)'
            exit 7
            """
        // Written by a child process: a descriptor of ours open for writing would be inherited by
        // the children other tests fork meanwhile, and exec of the script would fail (ETXTBSY).
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "cat > \"$0\" && chmod 755 \"$0\"", fake]
        let input = Pipe()
        writer.standardInput = input
        try writer.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0)
        let r = try host.run(["qemu", "g", "--accel", "tcg", "--qemu", fake, "--exec"])
        #expect(r.status == 7, "QEMU's status is vpmem's: \(r.stderr)")
        let recorded = try String(contentsOfFile: record, encoding: .utf8)
        #expect(recorded.contains("nvdimm,id=nvdimm1,memdev=nvmem1,slot=1,node=0,addr=0xa00000000,label-size=131072\n"))
        #expect(recorded.contains("\"locked\" : true") || recorded.contains("\"locked\":true"), "\(recorded)")
    }

    @Test func aGuestQEMUCannotBootIsRefusedWithTheFix() throws {
        let host = try TempHostDir()
        let path = host.file("ro.toml")
        try "name = \"ro\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"ro.pmem\"\nsize = \"2M\"\nreadonly = true\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try host.run(["guest", "create", path, "--create-backings"]).status == 0)
        let r = try host.run(["qemu", "ro"])
        #expect(r.status != 0 && r.stderr.contains("set unarmed = true"), "\(r.stderr)")
        let bare = host.file("bare.toml")
        try "name = \"bare\"\nmemory = \"1G\"\n".write(toFile: bare, atomically: true, encoding: .utf8)
        #expect(try host.run(["guest", "create", bare]).status == 0)
        let none = try host.run(["qemu", "bare"])
        #expect(none.status != 0 && none.stderr.contains("has no vNVDIMMs"), "\(none.stderr)")
    }
}
