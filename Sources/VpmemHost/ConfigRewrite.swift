import GuestConfigFile
import GuestMemory

/// Writes a guest's changed config back to its file as text edits: comments, key order, mode,
/// owner and a symlink are kept, and the result is verified to load as `new` before it replaces
/// the file (GuestConfigFile.rewrite). The caller holds the host's exclusive lock.
enum ConfigRewrite {
    static func rewrite(path: String, from old: GuestConfig, to new: GuestConfig) throws(HostError) {
        do { try GuestConfigFile.rewrite(path: path, from: old, to: new) } catch {
            // The new file is in place (the rename happened) and only the directory's fsync
            // failed: the change is made, so the caller must not undo it.
            if case .notDurable = error { return }
            throw .guestConfig(error)
        }
    }
}
