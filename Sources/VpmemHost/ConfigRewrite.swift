import GuestConfigFile
import GuestMemory

/// Writes a guest's changed config back to its file.
enum ConfigRewrite {
    static func rewrite(path: String, from old: GuestConfig, to new: GuestConfig) throws(HostError) {
        do { try new.save(to: path) } catch { throw .guestConfig(error) }
    }
}
