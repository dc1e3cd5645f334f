import Testing
import VpmemHost

/// host.toml's strings and keys: a NUL (which TOMLKit's C strings used to cut, and which made
/// an [allowance] key unreadable) or any other control character is an error naming the key.
@Suite struct HostConfigControlCharacterTests {
    static let base = "ram = \"8G\"\n"

    @Test(arguments: [
        ("[[static_memory]]\nguest = \"d\\u0000x\"\nstart = \"0x80000000\"\nsize = \"1G\"\n", "static_memory[0].guest"),
        ("[[pmem]]\npath = \"p.pmem\\u0000.bak\"\nsize = \"16M\"\nspa = \"0x10000000000\"\n", "pmem[0].path"),
        ("[[pmem]]\nnamespace = \"\\u001b[2J\"\nsize = \"16M\"\nspa = \"0x10000000000\"\n", "pmem[0].namespace"),
        ("[allowance]\n\"big\\u0000guest\" = \"4M\"\n", "allowance.big\\u{0}guest"),
        ("steering_budget = \"4\\u0000M\"\n", "steering_budget"),
        ("\"ram\\u0000x\" = 1\n", "ram\\u{0}x"),
    ])
    func aControlCharacterNamesTheKey(text: String, key: String) {
        do {
            _ = try HostConfigFile.parse(Self.base + text, path: "host.toml")
            Issue.record("accepted: \(text.debugDescription)")
        } catch {
            guard case let .config(_, k, problem, _) = error else { Issue.record("\(error)"); return }
            #expect(k == key && problem.hasPrefix("contains a control character"), "\(error)")
        }
    }

    @Test func aRawNULByteIsRefusedWithItsLine() {
        do {
            _ = try HostConfigFile.parse(Self.base + "\0[[pmem]]\n", path: "host.toml")
            Issue.record("accepted")
        } catch {
            guard case let .syntax(_, message) = error else { Issue.record("\(error)"); return }
            #expect(message.hasPrefix("line 2, column 1: a NUL byte"))
        }
    }
}
