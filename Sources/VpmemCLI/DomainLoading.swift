import ArgumentParser
import DomainModel
import Foundation
import GuestConfigFile
import GuestMemory

/// Loading a guest config into a modelled guest, the way every config-taking command does.
enum DomainLoading {
    /// The directory relative backing paths in `configPath` are relative to.
    static func baseDirectory(of configPath: String) -> String {
        let url = URL(fileURLWithPath: configPath).standardizedFileURL
        return url.deletingLastPathComponent().path
    }

    /// Builds the guest; missing emulated backings are created (examples ship without them).
    static func load(_ configPath: String, createMissingBackings: Bool = true) throws -> Guest {
        let config = try GuestConfigFile.load(from: configPath)
        return try Guest(config: config, baseDirectory: baseDirectory(of: configPath), createMissingBackings: createMissingBackings)
    }

    /// `path` made absolute against the current directory (what the user typed is relative to it).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
    }
}

func addr(_ v: UInt64) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 13 - digits.count)) + digits
}
