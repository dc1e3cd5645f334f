/// How a guest opens its vNVDIMMs' backings.
public enum BackingAccess: Sendable, Equatable {
    /// Read-write (locked against a second writer); a missing emulated backing is created.
    case create
    /// Read-write (locked); a missing backing is an error naming it.
    case readWrite
    /// Read-only, without the backing lock: inspection creates nothing, writes nothing and
    /// never stands in a writer's way. A missing backing is an error naming it.
    case inspect
}
