import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory
import Testing
import VpmemCore
@testable import VpmemHost

/// A detach whose config rewrite is refused leaves the guest as its config says: the vNVDIMM
/// still attached, on its backing, in the same process.
@Suite struct HostDetachUndoTests {
    @Test func aRefusedConfigRewriteLeavesTheVNVDIMMAttached() throws {
        let t = try TempHost()
        let path = try t.writeGuest("a")
        let backing = t.file("b0.pmem")
        do {
            let host = try t.open()
            try host.createGuest(configPath: path, createBackings: false)
            try host.attach(NVDIMMConfig(slot: 0, backing: backing, size: ByteSize(bytes: 2 << 20)), to: "a", createBacking: true)
        }
        let host = try t.open()
        let before = try host.guest("a", access: .readWrite)
        #expect(before.nvdimms.map(\.slot) == [0])
        // Someone edits the config meanwhile: the rewrite refuses (changed on disk).
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "memory = \"256M\"", with: "memory = \"512M\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: HostError.self) { try host.detach(slot: 0, from: "a") }
        let after = try host.guest("a", access: .readWrite)
        #expect(after.nvdimms.map(\.slot) == [0], "the undo re-attached the vNVDIMM")
        #expect(after.nvdimms.first?.config.backing == backing)
    }
}
