import Foundation

/// A fresh directory under the system temporary directory, removed when the test is done.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "vpmem-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func fileSize(_ path: String) -> UInt64? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value
}

/// Lines of /proc/self/maps naming `path`: the live mappings of that file in this process.
func mappingsOf(_ path: String) -> Int {
    let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
    return maps.split(separator: "\n").filter { $0.hasSuffix(path) }.count
}

func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}
