import Foundation
import Testing
@testable import VpmemHost

@Suite struct HostStoreTests {
    /// flock locks of two open file descriptions conflict within one process: a second open of a
    /// host this process holds would wait forever. It is refused, naming the fix, and works once
    /// the first is dropped.
    @Test func aSecondOpenInOneProcessIsRefusedNotADeadlock() throws {
        let t = try TempHost()
        var first: ModelledHost? = try t.open(.change)
        #expect { try t.open(.inspect) } throws: { "\($0)".contains("this process has it open already") }
        #expect(first != nil)
        first = nil
        #expect(try t.open(.inspect).admitted.isEmpty)
    }

    @Test func theHostDirectoryComesFromTheOptionTheEnvironmentOrXDG() {
        #expect(HostStore.directory(option: "/a/b", environment: ["VPMEM_HOST": "/c"]) == "/a/b")
        #expect(HostStore.directory(option: nil, environment: ["VPMEM_HOST": "/c", "XDG_STATE_HOME": "/x"]) == "/c")
        #expect(HostStore.directory(option: nil, environment: ["XDG_STATE_HOME": "/x", "HOME": "/h"]) == "/x/vpmem/host")
        #expect(HostStore.directory(option: nil, environment: ["HOME": "/h"]) == "/h/.local/state/vpmem/host")
    }

    @Test func aMissingHostIsNamedWithTheCommandThatMakesOne() {
        #expect { try HostStore(directory: "/nonexistent/vpmem-host", access: .inspect) } throws: {
            "\($0)".contains("vpmem host init --host /nonexistent/vpmem-host")
        }
    }
}
