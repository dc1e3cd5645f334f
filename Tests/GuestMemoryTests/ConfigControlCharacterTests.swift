import Foundation
import VpmemTestSupport
import Testing
import GuestConfigFile
import GuestMemory
import VpmemCore

/// Control characters in guest configs. TOMLKit returns strings as C strings, so before
/// `TOMLControlCharacters` a `\u0000` cut a value short (`name = "a\u0000b"` was guest 'a') and
/// a raw NUL byte ended the document. Now each is an error naming the key (or the line).
@Suite struct ConfigControlCharacterTests {
    func parse(_ text: String) throws(GuestConfigFileError) -> GuestConfig {
        try GuestConfigFile.parse(text, path: "c.toml")
    }

    @Test(arguments: [
        (#"name = "a\u0000b""#, "name", "U+0000 (NUL)"),
        (#"name = "a\U00000000b""#, "name", "U+0000 (NUL)"),
        (#"name = """a\u0000b""""#, "name", "U+0000 (NUL)"),
        (#"name = "a\u001b[31mb""#, "name", "U+001B"),
        (#"name = "a\tb""#, "name", "U+0009"),
        (#"name = "a\u0085b""#, "name", "U+0085"),
        (#"name = "a\u007fb""#, "name", "U+007F"),
    ])
    func aControlCharacterInAStringNamesTheKey(line: String, key: String, character: String) {
        #expect(throws: GuestConfigFileError.controlCharacter(path: "c.toml", key: key, character: character)) {
            try parse(line + "\nmemory = \"1G\"\n")
        }
    }

    @Test func aNULInABackingIsRefusedNotCut() {
        let text = "name = \"g\"\nmemory = \"1G\"\npmem_aperture = \"8G\"\n[[nvdimm]]\nslot = 0\nbacking = \"d1.pmem\\u0000.bak\"\nsize = \"2M\"\n"
        #expect(throws: GuestConfigFileError.controlCharacter(path: "c.toml", key: "nvdimm[0].backing", character: "U+0000 (NUL)")) { try parse(text) }
    }

    @Test func aNULInAKeyIsRefused() {
        #expect(throws: GuestConfigFileError.controlCharacter(path: "c.toml", key: "name\\u{0}x", character: "U+0000 (NUL)")) {
            try parse("\"name\\u0000x\" = \"g\"\nmemory = \"1G\"\n")
        }
    }

    @Test func aRawNULByteIsASyntaxErrorAtItsPlace() {
        #expect(throws: GuestConfigFileError.syntax(path: "c.toml", line: 3, column: 1, message: "a NUL byte, which TOML does not allow: remove it")) {
            try parse("name = \"g\"\nmemory = \"1G\"\n\0[[nvdimm]]\n")
        }
    }

    /// What looks like a NUL escape but is not one stays text: literal strings have no escapes,
    /// an escaped backslash is a backslash, comments are comments.
    @Test func textThatOnlyLooksLikeANULEscapeIsKept() throws {
        let c = try parse(#"""
            # a comment with \u0000 in it
            name = "g"
            memory = "1G"
            pmem_aperture = "8G"
            [[nvdimm]]
            slot = 0
            backing = 'a\u0000.pmem'
            size = "2M"
            [[nvdimm]]
            slot = 1
            backing = "b\\u0000.pmem"
            size = "2M"
            [[nvdimm]]
            slot = 2
            backing = """c\\\u0041.pmem"""
            size = "2M"
            """#)
        #expect(c.nvdimms.map(\.backing) == [#"a\u0000.pmem"#, #"b\u0000.pmem"#, #"c\A.pmem"#])
    }

    /// Against a naive model: any backing string is either read back exactly (no control
    /// characters) or refused naming its key, never cut or changed.
    @Test func aBackingIsReadBackExactlyOrRefused() async {
        let alphabet: [Character] = ["a", "/", ".", "\"", "\\", "'", "\u{0}", "\u{1}", "\u{1b}", "\n", "\t", "\u{7f}", "\u{85}", "é", "#", "u", "0"]
        await checkProperty(count: 300, input: Gen.int(in: 0...(alphabet.count - 1)).array(of: 1...12)) { indices in
            let backing = String(indices.map { alphabet[$0] })
            let config = GuestConfig(name: "g", memory: ByteSize(bytes: 1 << 30), pmemAperture: ByteSize(bytes: 8 << 30),
                                     nvdimms: [NVDIMMConfig(slot: 0, backing: backing, size: ByteSize(bytes: 2 << 20))])
            let text = GuestConfigFile.render(config)
            let hasControl = backing.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
            do {
                let back = try parse(text)
                #expect(!hasControl, "\(backing.debugDescription) was accepted")
                #expect(back.nvdimms.first?.backing == backing, "\(backing.debugDescription) came back as \(back.nvdimms.first?.backing.debugDescription ?? "nothing")")
            } catch {
                guard case let .controlCharacter(_, key, _)? = error as? GuestConfigFileError else {
                    Issue.record("\(backing.debugDescription): \(error)")
                    return
                }
                #expect(hasControl && key == "nvdimm[0].backing", "\(backing.debugDescription): \(error)")
            }
        }
    }
}
