import Foundation
import GuestConfigFile
import GuestMemory
import VpmemHost

/// A host in a fresh temporary directory, removed with the value.
final class TempHost {
    let root: String
    var directory: String { root + "/host" }

    init(ram: UInt64 = 4 << 30, guestAllowance: UInt64? = nil) throws {
        root = NSTemporaryDirectory() + "vpmem-host-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try HostStore.create(directory: directory, config: HostSetup.config(ram: ram, guestAllowance: guestAllowance))
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func file(_ name: String) -> String { root + "/" + name }

    /// Opens the host from disk, as a new command would.
    func open(_ access: HostStore.Access = .change) throws -> ModelledHost {
        try ModelledHost.open(HostStore(directory: directory, access: access))
    }

    /// Writes a guest config and returns its path.
    @discardableResult
    func writeGuest(_ name: String, memory: String = "256M", extra: String = "") throws -> String {
        let path = file(name + ".toml")
        try "# guest \(name)\nname = \"\(name)\"\nmemory = \"\(memory)\"   # RAM\npmem_aperture = \"8G\"\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
