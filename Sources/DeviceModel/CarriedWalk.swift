import GuestMemory

/// One memory access's p2m walk, made ahead of the access by the batch path
/// (`SteeringEngine.handle(_:into:)`, which walks access i + 8 to prefetch its guest RAM) and
/// carried to the access's decision, its direct access and the vGPU model's commit, so the
/// access walks the p2m once there instead of three times.
///
/// Invariant: `translation` is the p2m's answer for the access's gfn and `bytes` the host
/// address of the access's first byte when that frame is guest RAM (nil for pmem, frameless
/// types and unmapped gfns), whatever the frame's type, both read while the p2m's generation was
/// the batch's; they are used only while it still is, and `bytes` only where the decision lets
/// the access reach the frame.
struct CarriedWalk {
    var translation: P2MTranslation?
    var bytes: UnsafeMutableRawPointer?
}
