// KeyStore: a guest's small xenstore-like key/value store, where the toolstack and device models
// publish what the guest's firmware reads (seed 002: the NFIT/SSDT address and length under
// `hvmloader/dm-acpi/{address,length}`).
//
// Invariants:
//  - Every stored path is absolute, canonical (no empty component, no trailing '/'), at most
//    `maxPathLength` bytes, of xenstore's characters (A-Z a-z 0-9 - / _ @); every value at most
//    `maxValueLength` bytes.
//  - Every ancestor of a stored path below '/' is stored too (with an empty value when only
//    created implicitly), as xenstored creates parents on write.
//  - A method that throws leaves the store unchanged.
// Not a hot path: a dictionary keyed by path.

/// A guest's key/value store, xenstore-shaped: paths relative to the guest's home
/// `/local/domain/<domid>` or absolute.
public struct KeyStore: Equatable, Sendable {
    public let home: String
    private var nodes: [String: String] = [:]

    /// xenstore's XENSTORE_ABS_PATH_MAX.
    public static let maxPathLength = 3072
    /// xenstore's XENSTORE_PAYLOAD_MAX.
    public static let maxValueLength = 4096

    public init(domid: UInt16) {
        home = "/local/domain/\(domid)"
    }

    /// The absolute form of `path` (relative paths are under `home`), checked.
    public func absolute(_ path: String) throws(KeyStoreError) -> String {
        guard !path.isEmpty else { throw .invalidPath(path: path, reason: "empty") }
        let full = path.hasPrefix("/") ? path : home + "/" + path
        guard full.utf8.count <= Self.maxPathLength else {
            throw .invalidPath(path: path, reason: "longer than \(Self.maxPathLength) bytes")
        }
        guard full.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-/_@".unicodeScalars.contains($0)) }) else {
            throw .invalidPath(path: path, reason: "only A-Z, a-z, 0-9, '-', '/', '_' and '@' are allowed")
        }
        guard full == "/" || (!full.hasSuffix("/") && !full.contains("//")) else {
            throw .invalidPath(path: path, reason: "empty path component or trailing '/'")
        }
        return full
    }

    /// Writes `value` at `path`, creating missing parents with empty values.
    public mutating func write(_ path: String, _ value: String) throws(KeyStoreError) {
        let full = try absolute(path)
        guard full != "/" else { throw .invalidPath(path: path, reason: "the root holds no value") }
        guard value.utf8.count <= Self.maxValueLength else {
            throw .valueTooLong(path: full, length: value.utf8.count)
        }
        var parent = full
        while let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
            parent = String(parent[..<slash])
            if nodes[parent] == nil { nodes[parent] = "" }
        }
        nodes[full] = value
    }

    /// The value at `path`.
    public func read(_ path: String) throws(KeyStoreError) -> String {
        let full = try absolute(path)
        guard let v = nodes[full] else { throw .noSuchKey(path: full) }
        return v
    }

    /// The names of `path`'s children, sorted.
    public func list(_ path: String) throws(KeyStoreError) -> [String] {
        let full = try absolute(path)
        guard full == "/" || nodes[full] != nil else { throw .noSuchKey(path: full) }
        let prefix = full == "/" ? "/" : full + "/"
        return nodes.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    /// Removes `path` and everything under it.
    public mutating func remove(_ path: String) throws(KeyStoreError) {
        let full = try absolute(path)
        guard nodes[full] != nil else { throw .noSuchKey(path: full) }
        for key in nodes.keys where key == full || key.hasPrefix(full + "/") { nodes[key] = nil }
    }

    /// Every node, sorted by path.
    public var entries: [(path: String, value: String)] {
        nodes.sorted { $0.key < $1.key }.map { (path: $0.key, value: $0.value) }
    }
}

public enum KeyStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPath(path: String, reason: String)
    case valueTooLong(path: String, length: Int)
    case noSuchKey(path: String)

    public var description: String {
        switch self {
        case let .invalidPath(path, reason):
            return "key store path '\(path)' is not valid: \(reason)"
        case let .valueTooLong(path, length):
            return "key store value for \(path) is \(length) bytes: at most \(KeyStore.maxValueLength) (xenstore's payload limit)"
        case let .noSuchKey(path):
            return "no key \(path) in the key store"
        }
    }
}
