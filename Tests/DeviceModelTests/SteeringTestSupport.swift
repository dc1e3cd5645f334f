import DeviceModel
import GuestMemory
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Log records captured by `CapturingLogHandler`.
final class LogBox: @unchecked Sendable {
    struct Entry {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }
    var entries: [Entry] = []
}

/// A LogHandler that keeps every record, so tests can assert that a refusal was logged.
struct CapturingLogHandler: LogHandler {
    let box: LogBox
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var m = metadata
        for (k, v) in event.metadata ?? [:] { m[k] = v }
        box.entries.append(.init(level: event.level, message: event.message.description, metadata: m))
    }
}

func capturingLogger() -> (Logger, LogBox) {
    let box = LogBox()
    return (Logger(label: "test.steering") { _ in CapturingLogHandler(box: box) }, box)
}

/// Machine frame of gfn 0 in the test guests.
let testMfnBase: UInt64 = 0x100000

/// A test guest: `ramFrames` frames of ram_rw from gfn 0 (machine frame = gfn + testMfnBase,
/// lazily backed), on `host`.
func makeGuest(_ host: SteeringHost, domain: UInt16, ramFrames: UInt64 = 4096,
               declaredRAM: UInt64? = nil, allowance: UInt64? = nil, wpLimit: UInt64? = nil) throws -> SteeringEngine {
    let p2m = P2M()
    let machine = MachineMemory()
    try p2m.set(gfn: Gfn(uncheckedRaw: 0), count: ramFrames, to: Mfn(uncheckedRaw: testMfnBase), type: .ramRW)
    try machine.addRAM(firstMfn: Mfn(uncheckedRaw: testMfnBase), frames: ramFrames)
    return try host.createGuest(try DomainID(domain), p2m: p2m, machine: machine,
                                settings: GuestSteeringSettings(ramFrames: declaredRAM ?? ramFrames,
                                                                allowanceBytes: allowance, wpMemRangeLimit: wpLimit))
}

func gpa(_ gfn: UInt64, _ offset: UInt64 = 0) -> Gpa { Gpa(gfn << 12 | offset) }

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDirectory {
    let path: String

    init() {
        var template = Array("/tmp/vpmem-steer-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = p.map { String(cString: $0) } ?? "/tmp"
    }

    func remove(_ files: [String]) {
        for f in files { unlink(path + "/" + f) }
        rmdir(path)
    }
}

/// A device model that records its ioreqs and answers reads with a fixed value.
final class RecordingDevice: EmulatedDevice {
    let name: String
    var seen: [Ioreq] = []
    let readValue: UInt64

    init(name: String, readValue: UInt64 = 0x1122_3344_5566_7788) {
        self.name = name
        self.readValue = readValue
    }

    func handle(_ ioreq: Ioreq, guestMemory: GuestMemoryAccess) throws -> UInt64 {
        seen.append(ioreq)
        return readValue
    }
}
