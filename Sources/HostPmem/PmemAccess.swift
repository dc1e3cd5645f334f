/// What a mapping may do to its backing.
public enum PmemAccess: Sendable {
    /// Writes allowed; the backing is locked exclusively while mapped (see BackingLock in
    /// docs/ARCHITECTURE.md): a second writer, in any process, is refused with the holder named.
    case readWrite
    /// No writes through this mapping, and no lock taken. libpmem still needs the file to be
    /// openable for writing.
    case readOnly
}
