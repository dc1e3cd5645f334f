import VpmemTestSupport
import Testing
import DomainModel

@Suite struct KeyStoreTests {
    @Test func relativePathsLiveUnderTheGuestsHomeAndParentsAppear() throws {
        var k = KeyStore(domid: 7)
        try k.write("hvmloader/dm-acpi/address", "4026531840")
        #expect(try k.read("/local/domain/7/hvmloader/dm-acpi/address") == "4026531840")
        #expect(try k.read("hvmloader/dm-acpi") == "", "parents are created empty, as xenstored does")
        #expect(try k.list("hvmloader") == ["dm-acpi"])
        #expect(try k.list("/local/domain") == ["7"])
        try k.write("hvmloader/dm-acpi/length", "851")
        #expect(try k.list("hvmloader/dm-acpi") == ["address", "length"])
        try k.remove("hvmloader/dm-acpi")
        #expect(throws: KeyStoreError.noSuchKey(path: "/local/domain/7/hvmloader/dm-acpi/length")) { try k.read("hvmloader/dm-acpi/length") }
        #expect(try k.list("hvmloader") == [])
    }

    @Test func badPathsAndValuesAreRefusedAndChangeNothing() throws {
        var k = KeyStore(domid: 1)
        try k.write("a", "1")
        let before = k
        for bad in ["", "a//b", "a/", "/", "a b", "caf\u{e9}", String(repeating: "x", count: 3100)] {
            #expect(throws: KeyStoreError.self) { try k.write(bad, "v") }
        }
        #expect(throws: KeyStoreError.valueTooLong(path: "/local/domain/1/b", length: 4097)) { try k.write("b", String(repeating: "v", count: 4097)) }
        #expect(throws: KeyStoreError.noSuchKey(path: "/local/domain/1/zz")) { try k.remove("zz") }
        #expect(k == before)
        #expect(KeyStoreError.invalidPath(path: "a//b", reason: "empty path component or trailing '/'").description.contains("'a//b'"))
    }

    /// Random writes and removes against a naive model: a dictionary of absolute paths where a
    /// write also records every missing parent with "".
    @Test func behavesLikeANaiveTreeOverRandomOperations() async {
        let names = ["a", "b", "c"]
        let ops = Gen.int(in: 0...Int.max).map { seed -> [(Bool, String, String)] in
            var r = UInt64(seed)
            func next(_ n: UInt64) -> UInt64 { defer { r = r / n ^ (r &* 0x9E3779B97F4A7C15 >> 7) }; return r % n }
            return (0..<30).map { i in
                let depth = Int(next(3)) + 1
                let path = (0..<depth).map { _ in names[Int(next(3))] }.joined(separator: "/")
                return (next(4) != 0, path, "v\(i)")
            }
        }
        await checkProperty(count: 100, input: ops) { ops in
            var k = KeyStore(domid: 3)
            var model: [String: String] = [:]
            let home = "/local/domain/3"
            for (isWrite, path, value) in ops {
                let full = home + "/" + path
                if isWrite {
                    try? k.write(path, value)
                    var comps = full.split(separator: "/").map(String.init)
                    while comps.count > 1 {
                        comps.removeLast()
                        let parent = "/" + comps.joined(separator: "/")
                        if model[parent] == nil { model[parent] = "" }
                    }
                    model[full] = value
                } else {
                    let existed = model[full] != nil
                    #expect(((try? k.remove(path)) != nil) == existed)
                    for key in model.keys where key == full || key.hasPrefix(full + "/") { model[key] = nil }
                }
            }
            #expect(k.entries.map(\.path) == model.keys.sorted())
            #expect(k.entries.map(\.value) == model.keys.sorted().map { model[$0]! })
        }
    }
}
