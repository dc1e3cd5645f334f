import GuestMemory

/// A run of machine frames that all get one frame-table record: a segment of the configured
/// layout, or a preserved range of the live-update state. Never empty (its range is not).
@frozen public struct FrameRun: Hashable, Sendable {
    public let frames: MfnRange
    /// The raw `FrameRecord` every frame of the run gets.
    public let record: UInt64

    @inlinable public init(frames: MfnRange, record: UInt64) {
        self.frames = frames
        self.record = record
    }

    /// First frame, as a raw number.
    @inlinable public var start: UInt64 { frames.first.raw }
    /// One past the last frame, as a raw number.
    @inlinable public var end: UInt64 { frames.end }
}
