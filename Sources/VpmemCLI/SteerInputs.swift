import DeviceModel
import GuestMemory
import SteeringFiles

/// What `vpmem steer` set up on the guest's engine: the built-in XenGT-like scenario, or the
/// user's scenario file.
enum SteerSetup {
    case builtin(SteeringScenario)
    case file(ScenarioSetup, path: String)

    var engine: SteeringEngine {
        switch self {
        case let .builtin(s): return s.engine
        case let .file(s, _): return s.engine
        }
    }

    var spec: ScenarioSpec {
        switch self {
        case let .builtin(s): return s.spec
        case let .file(s, _): return s.spec
        }
    }

    /// Page-table entries the vGPU models took in, and their digest.
    var shadow: (updates: UInt64, digest: UInt64) {
        switch self {
        case let .builtin(s): return (s.gtt.shadowUpdates, s.gtt.shadowDigest)
        case let .file(s, _): return s.shadow
        }
    }

    /// The device-model thread's wp_mem change; nil when the set-up has no wp_mem range to change.
    var wpMemChanger: (@Sendable () -> Bool)? {
        switch self {
        case let .builtin(s): return s.wpMemChanger()
        case let .file(s, _): return s.wpMemChanger()
        }
    }
}

/// Where the accesses come from: the built-in generator, or a trace file read a batch at a time.
enum AccessSource {
    case generator(AccessStream)
    case trace(AccessTraceReader)

    /// A trace is read before the clock starts (file IO is not steering); the generator fills
    /// inside the timed window (generation is part of the cost per access).
    var generatesInTimedWindow: Bool {
        if case .generator = self { return true }
        return false
    }

    /// Fills the front of `buffer` with the next accesses; returns how many (0: the trace ended).
    mutating func fill(_ buffer: UnsafeMutableBufferPointer<GuestAccess>) throws -> Int {
        switch self {
        case var .generator(stream):
            stream.fill(buffer)
            self = .generator(stream)
            return buffer.count
        case let .trace(reader):
            do { return try reader.read(into: buffer) } catch {
                throw RequestFailure(problem: "\(error)", fix: "correct the trace there (nothing was written: --write-trace output is kept only for a whole run)")
            }
        }
    }
}

/// A digest of what every access came to (FNV-1a over each result's kind and data), so two
/// runs of the same accesses on the same set-up can be compared: a replayed trace must give
/// the digest its recording run gave.
struct ResultDigest {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ results: UnsafeBufferPointer<AccessResult>) {
        for r in results {
            switch r {
            case let .completed(data): mix(1, data)
            case let .unhandled(server, data): mix(2 | UInt64(server.raw) << 8, data)
            case .discarded: mix(3, 0)
            case let .fault(f):
                switch f {
                case let .unmapped(gfn): mix(4, gfn.raw)
                case let .accessDenied(gfn, type, _, direction): mix(5 | UInt64(type.rawValue) << 8 | UInt64(direction.rawValue) << 16, gfn.raw)
                case let .writeDiscarded(gfn, type): mix(6 | UInt64(type.rawValue) << 8, gfn.raw)
                case let .noServer(space): mix(7 | UInt64(space.rawValue) << 8, 0)
                }
            }
        }
    }

    private mutating func mix(_ tag: UInt64, _ data: UInt64) {
        value = (value ^ tag) &* 0x100_0000_01B3
        value = (value ^ data) &* 0x100_0000_01B3
    }
}
