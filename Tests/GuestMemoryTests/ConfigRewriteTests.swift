import Foundation
import VpmemTestSupport
import Testing
import GuestConfigFile
import GuestMemory
import VpmemCore

/// In-place edits of config files (`TOMLTextEdit`, `GuestConfigFile.edit`/`rewrite`) and the
/// atomic writer's care for the file it replaces (mode, owner, symbolic link, stale temporaries).
@Suite struct ConfigRewriteTests {
    /// A hand-written config: comments everywhere, odd spacing, a header with spaces, multi-line
    /// strings (one holding a line that looks like a header), a footer.
    static let commented = #"""
        # Guest "web": comments, key order and spacing here survive every edit.
        # A second line of the header comment.

        name = """\
               web"""               # a multi-line string with a line-ending backslash
        memory   =   "2048M"        # odd spacing and a non-shortest size stay as written
        # between two keys
        vcpus = 2
        pmem_aperture = "64G"

        # The first vNVDIMM: its comment block.
        [[ nvdimm ]]                # a spaced header
        slot = 2
        backing = '''
        [[nvdimm]] is not a header here.pmem'''
        size = "8G"   # trailing comment

        # Slot 0, above its header.
        [[nvdimm]]
        slot = 0
        backing = "/dev/dax0.0"
        size = "2G"
        readonly = true

        # A footer comment.

        """#

    static let added = NVDIMMConfig(slot: 5, backing: "new.pmem", size: bytes(4 * MiB))
    static let addedTable = """

        [[nvdimm]]
        slot = 5
        backing = "new.pmem"
        size = "4M"
        label_size = "128K"
        node = 0
        readonly = false
        unarmed = false

        """

    // MARK: Text edits

    @Test func appendThenRemoveGivesBackTheOriginalBytes() throws {
        let original = Self.commented
        let config = try GuestConfigFile.parse(original, path: "web.toml")
        #expect(config.nvdimms.map(\.backing) == ["/dev/dax0.0", "[[nvdimm]] is not a header here.pmem"])
        var attached = config
        attached.nvdimms.append(Self.added)

        // Through the config: the new table goes at the end, nothing else changes.
        let edited = try GuestConfigFile.edit(original, to: attached, path: "web.toml")
        #expect(edited == original + Self.addedTable)
        #expect(try GuestConfigFile.parse(edited, path: "web.toml") == GuestConfigFile.parse(original + Self.addedTable, path: "x"))
        #expect(try GuestConfigFile.edit(edited, to: config, path: "web.toml") == original)

        // Through the text functions directly.
        let lines = ["slot = 5", "backing = \"new.pmem\"", "size = \"4M\"", "label_size = \"128K\"", "node = 0", "readonly = false", "unarmed = false"]
        let appended = TOMLTextEdit.appendTable(array: "nvdimm", lines: lines, to: original)
        #expect(appended == original + Self.addedTable)
        #expect(TOMLTextEdit.tableCount(array: "nvdimm", in: appended) == 3, "the header inside the ''' string is not a table")
        #expect(try TOMLTextEdit.removeTable(array: "nvdimm", index: 2, from: appended) == original)

        // CRLF line endings: the new lines end the same way, and removal restores every byte.
        let crlf = original.replacingOccurrences(of: "\n", with: "\r\n")
        let crlfEdited = try GuestConfigFile.edit(crlf, to: attached, path: "web.toml")
        #expect(crlfEdited == crlf + Self.addedTable.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(try GuestConfigFile.edit(crlfEdited, to: config, path: "web.toml") == crlf)
    }

    static let three = """
        name = "g"
        memory = "2G"
        pmem_aperture = "64G"

        # slot 4: first
        [[nvdimm]]
        slot = 4
        backing = "a.pmem"
        size = "2M"
        # a commented-out key at the end of slot 4: readonly = true

        # slot 1: the middle one
        # (two lines)
        [[nvdimm]]
        slot = 1            # the slot
        # between slot 1's keys
        backing = "b.pmem"
        size = "2M"

        # slot 7: last
        [[nvdimm]]
        slot = 7
        backing = "c.pmem"
        size = "2M"

        """

    @Test func removingTheMiddleTableKeepsTheOthersAndTheirComments() throws {
        let expected = """
            name = "g"
            memory = "2G"
            pmem_aperture = "64G"

            # slot 4: first
            [[nvdimm]]
            slot = 4
            backing = "a.pmem"
            size = "2M"
            # a commented-out key at the end of slot 4: readonly = true

            # slot 7: last
            [[nvdimm]]
            slot = 7
            backing = "c.pmem"
            size = "2M"

            """
        #expect(try TOMLTextEdit.removeTable(array: "nvdimm", index: 1, from: Self.three) == expected)
        // Through the config: slot 1 is first in slot order but second in the file; the table
        // removed is the one whose slot is 1.
        var config = try GuestConfigFile.parse(Self.three, path: "g.toml")
        #expect(config.nvdimms.map(\.slot) == [1, 4, 7])
        config.nvdimms.removeFirst()
        #expect(try GuestConfigFile.edit(Self.three, to: config, path: "g.toml") == expected)
        // The first table takes the blank line above its comment block, not the top-level keys.
        #expect(try TOMLTextEdit.removeTable(array: "nvdimm", index: 0, from: Self.three).hasPrefix("""
            name = "g"
            memory = "2G"
            pmem_aperture = "64G"
            # a commented-out key at the end of slot 4: readonly = true

            # slot 1: the middle one
            """))
        #expect(throws: TOMLTextEditError.noSuchTable(array: "nvdimm", index: 3, count: 3)) {
            try TOMLTextEdit.removeTable(array: "nvdimm", index: 3, from: Self.three)
        }
    }

    @Test func theScannerIsNotFooledByStringsArraysOrHeaderSpelling() throws {
        // A host.toml-like file: [[pmem]] tables, one with a sub-table.
        let text = #"""
            title = "host"
            notes = """
            [[pmem]]
            not a table: inside a multi-line basic string \"""
            still inside"""
            matrix = [
              [1, 2],
            [3, 4],      # a line starting with [ inside an array
            ]
            literal = '''
            [[pmem]]'''

            [[ pmem ]]
            path = "/dev/pmem0"

            [pmem.options]          # a sub-table of the element above
            mode = "fsdax"

            # the second device
            [["pmem"]]
            path = "/dev/pmem1"

            [other]
            x = 1

            """#
        #expect(TOMLTextEdit.tableCount(array: "pmem", in: text) == 2)
        let firstRemoved = try TOMLTextEdit.removeTable(array: "pmem", index: 0, from: text)
        #expect(firstRemoved == #"""
            title = "host"
            notes = """
            [[pmem]]
            not a table: inside a multi-line basic string \"""
            still inside"""
            matrix = [
              [1, 2],
            [3, 4],      # a line starting with [ inside an array
            ]
            literal = '''
            [[pmem]]'''

            # the second device
            [["pmem"]]
            path = "/dev/pmem1"

            [other]
            x = 1

            """#)
        let secondRemoved = try TOMLTextEdit.removeTable(array: "pmem", index: 1, from: text)
        #expect(secondRemoved.hasSuffix("""
            [pmem.options]          # a sub-table of the element above
            mode = "fsdax"

            [other]
            x = 1

            """))
        #expect(try TOMLTextEdit.setKey(array: "pmem", index: 1, key: "path", valueText: "\"/dev/pmem2\"", in: text)
                == text.replacingOccurrences(of: "/dev/pmem1", with: "/dev/pmem2"))
    }

    @Test func setKeyReplacesTheValueAndKeepsTheLineComment() throws {
        let text = """
            top = 1   # top comment
            list = [
              1,
              2,
            ]  # after a multi-line value

            [[pmem]]
            path = "/dev/pmem0"   # the device
            size = [
              1,
              2,
            ]  # multi-line value
            [[pmem]]
              path = "/dev/pmem1"
              # trailing comment of the table

            [other]
            """
        let set = { (index: Int, key: String, value: String, in: String) throws -> String in
            try TOMLTextEdit.setKey(array: "pmem", index: index, key: key, valueText: value, in: `in`)
        }
        #expect(try set(0, "path", "\"/dev/pmem9\"", text)
                == text.replacingOccurrences(of: "path = \"/dev/pmem0\"", with: "path = \"/dev/pmem9\""))
        #expect(try set(0, "size", "3", text)
                == text.replacingOccurrences(of: "size = [\n  1,\n  2,\n]  # multi-line value", with: "size = 3  # multi-line value"))
        // Absent: after the table's last key line, indented like it, before its trailing comment.
        #expect(try set(1, "mode", "\"devdax\"", text)
                == text.replacingOccurrences(of: "\"/dev/pmem1\"\n", with: "\"/dev/pmem1\"\n  mode = \"devdax\"\n"))
        #expect(try set(1, "my key", "1", text)
                == text.replacingOccurrences(of: "\"/dev/pmem1\"\n", with: "\"/dev/pmem1\"\n  \"my key\" = 1\n"))
        #expect(throws: TOMLTextEditError.noSuchTable(array: "pmem", index: 2, count: 2)) { try set(2, "path", "1", text) }

        #expect(TOMLTextEdit.setTopLevelKey(key: "top", valueText: "2", in: text)
                == text.replacingOccurrences(of: "top = 1", with: "top = 2"))
        #expect(TOMLTextEdit.setTopLevelKey(key: "path", valueText: "\"x\"", in: text)
                == text.replacingOccurrences(of: "# after a multi-line value\n", with: "# after a multi-line value\npath = \"x\"\n"),
                "a key of a table is not a top-level key: added after the last top-level key")
        #expect(TOMLTextEdit.removeTopLevelKey(key: "list", in: text)
                == text.replacingOccurrences(of: "list = [\n  1,\n  2,\n]  # after a multi-line value\n", with: ""))
        #expect(TOMLTextEdit.removeTopLevelKey(key: "absent", in: text) == text)
        #expect(TOMLTextEdit.setTopLevelKey(key: "top", valueText: "2", in: "\u{FEFF}top = 1\n") == "\u{FEFF}top = 2\n",
                "a byte order mark is not part of the first key")
        // No newline at the end: a key added after the last line gets one first.
        #expect(TOMLTextEdit.setTopLevelKey(key: "b", valueText: "2", in: "a = 1") == "a = 1\nb = 2\n")
        #expect(TOMLTextEdit.appendTable(array: "t", lines: ["k = 1"], to: "a = 1") == "a = 1\n\n[[t]]\nk = 1\n")
        #expect(TOMLTextEdit.appendTable(array: "t", lines: ["k = 1"], to: "") == "[[t]]\nk = 1\n")
    }

    // MARK: Rewriting files

    @Test func rewriteChangesOnlyTheLinesThatDiffer() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/web.toml"
            try Self.commented.write(toFile: file, atomically: false, encoding: .utf8)
            let old = try GuestConfigFile.load(from: file)
            var new = old
            new.memory = bytes(4 * GiB)
            new.safeRangeSize = bytes(256 * GiB)
            new.nvdimms[0].readOnly = false // slot 0
            try GuestConfigFile.rewrite(path: file, from: old, to: new)
            let expected = Self.commented
                .replacingOccurrences(of: "memory   =   \"2048M\"", with: "memory   =   \"4G\"")
                .replacingOccurrences(of: "pmem_aperture = \"64G\"\n", with: "pmem_aperture = \"64G\"\nsafe_range_size = \"256G\"\n")
                .replacingOccurrences(of: "readonly = true", with: "readonly = false")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == expected)
            #expect(try GuestConfigFile.load(from: file) == new)

            // Loaded before someone else changed the file: refused, the file as it is.
            #expect(throws: GuestConfigFileError.changedOnDisk(path: file)) { try GuestConfigFile.rewrite(path: file, from: old, to: new) }
            #expect(try String(contentsOfFile: file, encoding: .utf8) == expected)
            // Back again: the original, but for the memory size, now written as render writes it.
            try GuestConfigFile.rewrite(path: file, from: new, to: old)
            #expect(try String(contentsOfFile: file, encoding: .utf8) == Self.commented.replacingOccurrences(of: "\"2048M\"", with: "\"2G\""))
        }
    }

    @Test func aLayoutTheEditCannotHandleIsRefusedAndTheFileKept() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/inline.toml"
            let text = "name = \"g\"\nmemory = \"2G\"\npmem_aperture = \"64G\"\nnvdimm = [ { slot = 0, backing = \"a\", size = \"2M\" } ]\n"
            try text.write(toFile: file, atomically: false, encoding: .utf8)
            let old = try GuestConfigFile.load(from: file)
            var new = old
            new.nvdimms.append(NVDIMMConfig(slot: 1, backing: "b", size: bytes(2 * MiB)))
            #expect {
                try GuestConfigFile.rewrite(path: file, from: old, to: new)
            } throws: { error in
                guard case let GuestConfigFileError.cannotEdit(path, reason) = error else { return false }
                return path == file && reason.contains("inline array") && String(describing: error).contains("the file is unchanged")
            }
            #expect(try String(contentsOfFile: file, encoding: .utf8) == text)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["inline.toml"])
        }
    }

    @Test func anEditThatWouldNotLoadAsTheNewConfigIsRefused() throws {
        // Two vNVDIMMs in one slot: no text edit gives a file that loads as this config, and the
        // check after the edit says so rather than returning a file that means something else.
        let old = try GuestConfigFile.parse(Self.three, path: "g.toml")
        var new = old
        new.nvdimms.append(NVDIMMConfig(slot: 4, backing: "d.pmem", size: bytes(2 * MiB)))
        #expect {
            try GuestConfigFile.edit(Self.three, to: new, path: "g.toml")
        } throws: { error in
            guard case let GuestConfigFileError.cannotEdit(path, reason) = error else { return false }
            return path == "g.toml" && reason.contains("different config")
        }
    }

    @Test func aRewriteKeepsTheFileModeAndOwner() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/g.toml"
            try Self.three.write(toFile: file, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            let root = geteuid() == 0
            if root { try FileManager.default.setAttributes([.ownerAccountID: 1234, .groupOwnerAccountID: 5678], ofItemAtPath: file) }
            let old = try GuestConfigFile.load(from: file)
            var new = old
            new.vcpus = 4
            try GuestConfigFile.rewrite(path: file, from: old, to: new)
            #expect(try GuestConfigFile.load(from: file) == new)
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect(attributes[.posixPermissions] as? Int == 0o600)
            if root {
                #expect(attributes[.ownerAccountID] as? Int == 1234)
                #expect(attributes[.groupOwnerAccountID] as? Int == 5678)
            }
            // A new file: 0644.
            let fresh = dir + "/fresh.toml"
            try new.save(to: fresh)
            #expect(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int == 0o644)
        }
    }

    @Test func aSymlinkedConfigStaysALinkAndItsTargetIsRewritten() throws {
        try withTemporaryDirectory { dir in
            let fm = FileManager.default
            try fm.createDirectory(atPath: dir + "/real", withIntermediateDirectories: false)
            try fm.createDirectory(atPath: dir + "/links", withIntermediateDirectories: false)
            let target = dir + "/real/g.toml", link = dir + "/links/g.toml"
            try Self.three.write(toFile: target, atomically: false, encoding: .utf8)
            try fm.setAttributes([.posixPermissions: 0o640], ofItemAtPath: target)
            try fm.createSymbolicLink(atPath: link, withDestinationPath: "../real/g.toml")
            let old = try GuestConfigFile.load(from: link)
            var new = old
            new.nvdimms.append(Self.added)
            try GuestConfigFile.rewrite(path: link, from: old, to: new)
            #expect(try fm.destinationOfSymbolicLink(atPath: link) == "../real/g.toml", "still a link, to the same place")
            #expect(try String(contentsOfFile: target, encoding: .utf8) == Self.three + Self.addedTable)
            #expect(try fm.attributesOfItem(atPath: target)[.posixPermissions] as? Int == 0o640)
            #expect(try fm.contentsOfDirectory(atPath: dir + "/links") == ["g.toml"])
            #expect(try fm.contentsOfDirectory(atPath: dir + "/real") == ["g.toml"])
        }
    }

    @Test func aDanglingLinkIsRefusedAndNothingIsCreated() throws {
        try withTemporaryDirectory { dir in
            let link = dir + "/g.toml"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "gone/g.toml")
            let config = try GuestConfigFile.parse(Self.three, path: "g.toml")
            #expect(throws: GuestConfigFileError.danglingSymlink(path: link, target: "gone/g.toml")) { try config.save(to: link) }
            #expect(throws: GuestConfigFileError.danglingSymlink(path: link, target: "gone/g.toml")) {
                try AtomicFileWriter.write("x = 1\n", to: link)
            }
            #expect(GuestConfigFileError.danglingSymlink(path: link, target: "gone/g.toml").description.contains("nothing was written"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["g.toml"])
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "gone/g.toml")
        }
    }

    @Test func staleTemporariesAreRemovedByTheNextWrite() throws {
        try withTemporaryDirectory { dir in
            let fm = FileManager.default
            let file = dir + "/g.toml"
            try Self.three.write(toFile: file, atomically: false, encoding: .utf8)
            let others = [".g.toml.tmp.abc1234", ".h.toml.tmp.abc123", "g.toml.tmp.abc123", ".g.toml.tmp.ab_123"]
            for name in [".g.toml.tmp.abc123", ".g.toml.tmp.XyZ789"] + others {
                try "half a file".write(toFile: dir + "/" + name, atomically: false, encoding: .utf8)
            }
            #expect(AtomicFileWriter.removeStaleTemporaries(for: file) == [dir + "/.g.toml.tmp.XyZ789", dir + "/.g.toml.tmp.abc123"])
            #expect(try Set(fm.contentsOfDirectory(atPath: dir)) == Set(["g.toml"] + others), "only mkstemp's names for this file")
            #expect(AtomicFileWriter.removeStaleTemporaries(for: file) == [])

            // A writer killed after mkstemp: the next write removes what it left.
            try "half a file".write(toFile: dir + "/.g.toml.tmp.abc123", atomically: false, encoding: .utf8)
            let old = try GuestConfigFile.load(from: file)
            var new = old
            new.vcpus = 3
            try GuestConfigFile.rewrite(path: file, from: old, to: new)
            #expect(try Set(fm.contentsOfDirectory(atPath: dir)) == Set(["g.toml"] + others))

            // Through a symbolic link: the target's directory is the one cleaned.
            try fm.createDirectory(atPath: dir + "/links", withIntermediateDirectories: false)
            try fm.createSymbolicLink(atPath: dir + "/links/l.toml", withDestinationPath: "../g.toml")
            try "half a file".write(toFile: dir + "/.g.toml.tmp.q1w2e3", atomically: false, encoding: .utf8)
            try AtomicFileWriter.write(Self.three, to: dir + "/links/l.toml")
            #expect(try Set(fm.contentsOfDirectory(atPath: dir)) == Set(["g.toml", "links"] + others))
        }
    }

    // MARK: Property

    /// Every comment is tagged: `# keep` ones must survive every edit; `# slot N` ones belong to
    /// slot N's table (above its header, on or between its key lines) and go only with it.
    static let tagged = #"""
        # keep: the file's header comment
        # keep: its second line

        name = """\
          prop"""          # keep: on a multi-line name
        memory = "2G"      # keep: on memory
        # keep: between top-level keys
        pmem_aperture = "64G"
        acpi_oem_id = '''
        VPMEM'''           # keep: after a multi-line value

        # slot 3: above its header
        [[ nvdimm ]]       # slot 3: on the header
        slot = 3
        # slot 3: between its keys
        backing = '''
        [[nvdimm]] slot3.pmem'''   # slot 3: after a multi-line backing
        size = "4M"

        # keep: free-standing, between tables

        # slot 1: above its header
        # slot 1: a second line above
        [["nvdimm"]]
        slot = 1
        backing = "s1.pmem"   # slot 1: trailing
        size = "2M"
        readonly = true
        # keep: at the end of slot 1's table

        # slot 6: above its header
        [[nvdimm]]
        slot = 6
        backing = "s6.pmem"
        size = "2M"

        # keep: the end of the file

        """#

    /// The comments of `text` in order: from each `#` outside the test's strings (which hold
    /// none) to the end of its line.
    static func comments(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            line.firstIndex(of: "#").map { String(line[$0...]).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
    }

    @Test func randomAttachAndDetachThroughTextEditsMatchTheModel() async throws {
        let original = Self.tagged
        let base = try GuestConfigFile.parse(original, path: "prop.toml")
        #expect(base.nvdimms.map(\.slot) == [1, 3, 6] && base.acpiOem.oemID == "VPMEM" && base.name == "prop")
        let originalComments = Self.comments(original)
        #expect(originalComments.count == 17)

        await checkProperty(count: 150, input: Gen.int(in: 0...Int.max).array(of: 1...24)) { words in
            var text = original
            var model = base.nvdimms // the naive model: the vNVDIMMs, in attach order
            var config = base
            var detachedOriginals = Set<Int>()
            for (step, word) in words.enumerated() {
                let slot = word % 8, op = (word / 8) % 6, k = UInt64(word / 48 % 16)
                let present = model.contains { $0.slot == slot }
                switch op {
                case 0, 1, 2: // attach the slot, or detach it when attached
                    if present {
                        model.removeAll { $0.slot == slot }
                        if base.nvdimm(slot: slot) != nil { detachedOriginals.insert(slot) }
                    } else {
                        model.append(NVDIMMConfig(slot: slot, backing: "n\(slot)-\(step).pmem", size: bytes((k + 1) * 2 * MiB),
                                                  readOnly: k % 2 == 0, unarmed: k % 3 == 0))
                    }
                case 3 where present: // change an attached vNVDIMM's keys
                    if let i = model.firstIndex(where: { $0.slot == slot }) {
                        model[i].readOnly.toggle()
                        model[i].size = bytes((k + 1) * 2 * MiB)
                    }
                case 4:
                    config.safeRangeSize = config.safeRangeSize == nil ? bytes((k + 128) * GiB) : nil
                default:
                    config.vcpus = Int(k) + 1
                }
                config.nvdimms = model
                text = try GuestConfigFile.edit(text, to: config, path: "prop.toml")
                var expected = config
                expected.nvdimms.sort { $0.slot < $1.slot }
                #expect(try GuestConfigFile.parse(text, path: "prop.toml") == expected, "after step \(step) of \(words)")
                let kept = originalComments.filter { c in !detachedOriginals.contains { c.hasPrefix("# slot \($0):") } }
                #expect(Self.comments(text) == kept, "after step \(step) of \(words):\n\(text)")
            }
        }
    }
}

/// Runs `body` with a new empty directory, removed afterwards.
private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("vpmem-rewrite-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try body(dir)
}
