import Foundation
import Testing
import HostPmem

/// One host, several guests, as users meet them: separate `vpmem` processes on a host directory.
@Suite struct HostCLITests {
    func admit(_ host: TempHostDir, _ name: String, extra: String = "") throws -> String {
        let path = host.file("\(name).toml")
        try "name = \"\(name)\"\nmemory = \"1G\"\npmem_aperture = \"64G\"\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try host.run(["guest", "create", path])
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    @Test func initShowAndGuestsOnOneHost() throws {
        let h = try TempHostDir(ram: "16G")
        let pmem = h.file("p0.pmem")
        #expect(try h.run(["host", "add-pmem", pmem, "--size", "4G"]).status == 0)
        _ = try admit(h, "a")
        _ = try admit(h, "b")
        let show = try json(h.run(["host", "show", "--json"]).stdout)
        #expect(show["ram_bytes"] as? Int == 16 << 30)
        let guests = show["guests"] as? [[String: Any]] ?? []
        #expect(guests.map { $0["name"] as? String } == ["a", "b"] && guests.map { $0["domid"] as? Int } == [1, 2])
        // Each guest's RAM is its own: the memory map's runs never overlap and name their owner.
        let map = (show["memory_map"] as? [[String: Any]] ?? []).map { ($0["start"] as! Int, $0["last"] as! Int, $0["owner"] as? String) }
        for (x, y) in zip(map, map.dropFirst()) { #expect(x.1 < y.0, "runs overlap: \(x) \(y)") }
        let owned = map.filter { $0.2 == "a" }.reduce(0) { $0 + $1.1 - $1.0 + 1 }
        #expect(owned >= 1 << 30, "a's RAM (and its p2m root) is in the map")
        // Destroying a frees its RAM; the domid goes back.
        #expect(try h.run(["guest", "destroy", "a"]).status == 0)
        let list = try h.run(["guest", "list", "--json"]).stdout
        #expect(list.contains("\"b\"") && !list.contains("\"a\""))
        #expect(try h.run(["guest", "create", h.file("a.toml")]).status == 0)
        let again = try json(h.run(["host", "show", "--json"]).stdout)
        #expect((again["guests"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "a" }?["domid"] as? Int == 1)
    }

    /// The report that opened issue 14: a backing attached to two guests, labels written through
    /// one and clobbered through the other. Now the second attach is refused, by path, through a
    /// symlink and by a relative path, naming the owner; the first guest's labels stay clean.
    @Test func aBackingAnotherGuestOwnsIsRefusedNamingIt() throws {
        let host = try TempHostDir()
        _ = try admit(host, "a")
        _ = try admit(host, "b")
        let backing = host.file("shared.pmem")
        #expect(try host.run(["nvdimm", "attach", "a", "--backing", backing, "--size", "2M", "--create"]).status == 0)
        #expect(try host.run(["nvdimm", "init-labels", "a", "--slot", "0"]).status == 0)
        let link = host.file("link.pmem")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: backing)
        let bBefore = try Data(contentsOf: URL(fileURLWithPath: host.file("b.toml")))
        for path in [backing, link] {
            let r = try host.run(["nvdimm", "attach", "b", "--backing", path, "--size", "2M"])
            #expect(r.status != 0 && r.stderr.contains("belongs to guest 'a' (vNVDIMM slot 0)"), "\(path): \(r.stderr)")
        }
        // Relative to the config's directory, written by hand and admitted: refused too.
        let c = host.file("c.toml")
        try "name = \"c\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"shared.pmem\"\nsize = \"2M\"\n".write(toFile: c, atomically: true, encoding: .utf8)
        let r = try host.run(["guest", "create", c])
        #expect(r.status != 0 && r.stderr.contains("belongs to guest 'a'"), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.file("b.toml"))) == bBefore)
        #expect(!(try host.run(["guest", "list"]).stdout.contains("c.toml")))
        let labels = try json(host.run(["nvdimm", "labels", "a", "--slot", "0", "--json"]).stdout)
        #expect(labels["clean"] as? Bool == true)
        // Once a lets go, b may have it.
        #expect(try host.run(["nvdimm", "detach", "a", "--slot", "0"]).status == 0)
        let now = try host.run(["nvdimm", "attach", "b", "--backing", link, "--size", "2M"])
        #expect(now.status == 0, "\(now.stderr)")
    }

    /// Configs edited by hand: a backing named by two guests' configs is refused to both (neither
    /// can write the other's labels) until one lets go; a backing whose file is missing cannot
    /// be made again by another guest.
    @Test func handEditsCannotShareABackingOrRecreateAMissingOne() throws {
        let host = try TempHostDir()
        let aPath = try admit(host, "a")
        _ = try admit(host, "b")
        let b0 = host.file("b0.pmem")
        #expect(try host.run(["nvdimm", "attach", "b", "--backing", b0, "--size", "2M", "--create"]).status == 0)
        #expect(try host.run(["nvdimm", "init-labels", "b", "--slot", "0"]).status == 0)
        let aBefore = try String(contentsOfFile: aPath, encoding: .utf8)
        try (aBefore + "\n[[nvdimm]]\nslot = 1\nbacking = \"b0.pmem\"\nsize = \"2M\"\n").write(toFile: aPath, atomically: true, encoding: .utf8)
        let write = try host.run(["dsm", "a", "--nvdimm", "1", "set-label", "--offset", "0", "--data", "00000000"])
        #expect(write.status != 0 && write.stderr.contains("named by the configs of guests 'a' and 'b'"), "\(write.stderr)")
        try aBefore.write(toFile: aPath, atomically: true, encoding: .utf8)
        let labels = try json(host.run(["nvdimm", "labels", "b", "--slot", "0", "--json"]).stdout)
        #expect(labels["clean"] as? Bool == true)
        // Missing: a's backing moved away; b may not create a new file at its path.
        let x = host.file("x.pmem")
        #expect(try host.run(["nvdimm", "attach", "a", "--backing", x, "--size", "2M", "--create"]).status == 0)
        try FileManager.default.moveItem(atPath: x, toPath: host.file("x.moved"))
        let steal = try host.run(["nvdimm", "attach", "b", "--backing", x, "--size", "2M", "--slot", "1", "--create"])
        #expect(steal.status != 0 && steal.stderr.contains("whose file is missing"), "\(steal.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    /// Issue 14's trial: two attaches to one config at the same moment lost one update in 27 of
    /// 50. Under the host lock both land, every time.
    @Test func fiftyConcurrentAttachPairsKeepBothUpdates() throws {
        let host = try TempHostDir()
        let cfg = try admit(host, "g")
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var failures: [String] = []
            func add(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
        }
        let results = Results()
        let env = host.env
        for trial in 0..<50 {
            let backings = (0..<2).map { host.file("t\(trial)-\($0).pmem") }
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do {
                    let r = try VpmemProcess.run(["nvdimm", "attach", "g", "--backing", backings[i], "--size", "2M", "--slot", "\(i)", "--create"], environment: env)
                    if r.status != 0 { results.add("trial \(trial) slot \(i): \(r.stderr)") }
                } catch { results.add("trial \(trial): \(error)") }
            }
            let text = try String(contentsOfFile: cfg, encoding: .utf8)
            let kept = backings.filter { text.contains($0) }.count
            if kept != 2 { results.add("trial \(trial): config keeps \(kept) of 2 attaches") }
            for slot in 0..<2 { _ = try host.run(["nvdimm", "detach", "g", "--slot", "\(slot)"]) }
        }
        let lost = results.failures.count
        #expect(lost == 0, "\(lost) failures in 50 trials: \(results.failures.prefix(3))")
    }

    @Test func attachAndDetachKeepCommentsKeyOrderAndMode() throws {
        let host = try TempHostDir()
        let cfg = host.file("commented.toml")
        let original = """
            # A guest with comments, as people write them.
            vcpus = 2          # two vCPUs
            name = "commented"
            # RAM and the pmem window
            memory = "1G"
            pmem_aperture = "8G"   # room for vNVDIMMs

            """
        try original.write(toFile: cfg, atomically: true, encoding: .utf8)
        chmod(cfg, 0o600)
        #expect(try host.run(["guest", "create", cfg]).status == 0)
        let attach = try host.run(["nvdimm", "attach", "commented", "--backing", host.file("c.pmem"), "--size", "2M", "--create"])
        #expect(attach.status == 0, "\(attach.stderr)")
        let attached = try String(contentsOfFile: cfg, encoding: .utf8)
        #expect(attached.hasPrefix(original) && attached.contains("[[nvdimm]]"))
        #expect(try host.run(["nvdimm", "detach", "commented", "--slot", "0"]).status == 0)
        #expect(try String(contentsOfFile: cfg, encoding: .utf8) == original)
        let mode = (try FileManager.default.attributesOfItem(atPath: cfg)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        // Through a symlink: the link stays a link, its target is rewritten.
        let link = host.file("link.toml")
        let target = host.file("target.toml")
        try original.replacingOccurrences(of: "commented", with: "linked").write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(try host.run(["guest", "create", link]).status == 0)
        #expect(try host.run(["nvdimm", "attach", "linked", "--backing", host.file("l.pmem"), "--size", "2M", "--create"]).status == 0)
        #expect((try FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(try String(contentsOfFile: target, encoding: .utf8).contains("[[nvdimm]]"))
    }

    /// kill -9 at random moments of an attach: the config is the old one or the new one, and
    /// the next command that changes the host removes any temporary file the killed one left.
    @Test func aKilledAttachLeavesNoTemporaryFileAfterTheNextCommand() throws {
        let host = try TempHostDir()
        let cfg = try admit(host, "g")
        // A temporary file as a killed writer leaves it, beside the config and the host's files.
        let planted = [host.file(".g.toml.tmp.AbC123"), host.path + "/.state.json.tmp.XyZ789"]
        for p in planted { FileManager.default.createFile(atPath: p, contents: Data("half".utf8)) }
        // The next command, even one that only looks, removes them (nobody else holds the host).
        #expect(try host.run(["guest", "list"]).status == 0)
        #expect(planted.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        for p in planted { FileManager.default.createFile(atPath: p, contents: Data("half".utf8)) }
        _ = try host.run(["nvdimm", "detach", "g", "--slot", "7"])  // fails (no slot 7) after opening the host to change it
        #expect(planted.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        var generator = SystemRandomNumberGenerator()
        for round in 0..<12 {
            let (p, _) = try VpmemProcess.start(["nvdimm", "attach", "g", "--backing", host.file("k\(round).pmem"), "--size", "2M", "--slot", "0", "--create"], environment: host.env)
            usleep(UInt32.random(in: 0...250_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            _ = try host.run(["nvdimm", "detach", "g", "--slot", "0"])
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: host.dir.path).filter { $0.contains(".tmp.") }
                + FileManager.default.contentsOfDirectory(atPath: host.path).filter { $0.contains(".tmp.") }
            #expect(leftovers.isEmpty, "round \(round): \(leftovers)")
            let text = try String(contentsOfFile: cfg, encoding: .utf8)
            #expect(!text.contains("[[nvdimm]]"), "round \(round): detach ran after the kill")
            #expect(try host.run(["guest", "show", "g"]).status == 0, "round \(round): the config loads")
        }
    }

    /// Inspection creates nothing and takes no write lock: it works while another process holds
    /// a backing for writing, and a missing backing is an error naming it, not a new file.
    @Test func inspectionCreatesNothingAndTakesNoWriteLock() throws {
        let host = try TempHostDir()
        let cfg = try admit(host, "g")
        let backing = host.file("g0.pmem")
        #expect(try host.run(["nvdimm", "attach", "g", "--backing", backing, "--size", "2M", "--create"]).status == 0)
        let (holder, line) = try VpmemProcess.start(["pmem", "hold", backing, "--seconds", "30"])
        defer { holder.terminate(); holder.waitUntilExit() }
        #expect(line.contains("holding"))
        func snapshot() throws -> [String: Data] {
            var out: [String: Data] = [:]
            for dir in [host.dir.path, host.path] {
                for f in try FileManager.default.contentsOfDirectory(atPath: dir) {
                    var isDir: ObjCBool = false
                    let p = dir + "/" + f
                    if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue, !f.hasSuffix(".pmem") {
                        out[p] = try Data(contentsOf: URL(fileURLWithPath: p))
                    }
                }
            }
            return out
        }
        let before = try snapshot()
        for args in [["nvdimm", "list", "g"], ["nvdimm", "labels", "g", "--slot", "0"], ["guest", "keys", "g"], ["dsm", "g", "--nvdimm", "0", "label-size"], ["host", "show"]] {
            let r = try host.run(args)
            // The label area was never initialised: `labels` reports that with status 1.
            #expect(r.status == (args[1] == "labels" ? 1 : 0), "\(args): \(r.stderr)")
        }
        // A config naming a backing that does not exist: the error names it, nothing is made.
        let ghost = host.file("ghost.toml")
        try "name = \"ghost\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"nowhere.pmem\"\nsize = \"2M\"\n".write(toFile: ghost, atomically: true, encoding: .utf8)
        let r = try host.run(["nvdimm", "list", ghost])
        #expect(r.status != 0 && r.stderr.contains("nowhere.pmem") && r.stderr.contains("does not exist"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: host.file("nowhere.pmem")))
        try FileManager.default.removeItem(atPath: ghost)
        #expect(try snapshot() == before)
        _ = cfg
    }
}
