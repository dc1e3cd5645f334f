import DeviceModel
import GuestMemory
import Testing

@Suite struct MachineMemoryTests {
    @Test func ramIsBackedOnlyWhereTouched() throws {
        let store = try SparseFrameStore(firstMfn: Mfn(uncheckedRaw: 0x1000), frames: 1 << 22)  // 16 GiB
        #expect(store.pagesAllocated == 0)
        #expect(store.bytesAllocated == 0)
        var out = [UInt8](repeating: 0xFF, count: 16)
        try out.withUnsafeMutableBytes { try store.read(Mfn(uncheckedRaw: 0x2000), offset: 8, into: $0) }
        #expect(out == [UInt8](repeating: 0, count: 16))
        // A read maps at most the kernel's shared zero page.
        #expect(store.pagesAllocated <= 1)
        try [UInt8](repeating: 7, count: 16).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x2000), offset: 8, from: $0) }
        try out.withUnsafeMutableBytes { try store.read(Mfn(uncheckedRaw: 0x2000), offset: 8, into: $0) }
        #expect(out == [UInt8](repeating: 7, count: 16) && store.pagesAllocated == 1)
        // Frames are one flat mapping: the next frame's bytes follow.
        #expect(store.bytes(of: Mfn(uncheckedRaw: 0x2001)) == store.bytes(of: Mfn(uncheckedRaw: 0x2000)) + 4096)
        for i in UInt64(0)..<100 {
            try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x3000 + i % 10), offset: Int(i * 8), from: $0) }
        }
        #expect(store.pagesAllocated == 11, "100 writes to 10 frames cost 10 pages")
        #expect(throws: MachineMemoryError.self) {
            try [UInt8](repeating: 7, count: 16).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x2000), offset: 4090, from: $0) }
        }
        #expect(throws: MachineMemoryError.self) {
            try [UInt8](repeating: 7, count: 1).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0xFFF), offset: 0, from: $0) }
        }
    }

    @Test func populatingBacksExactlyTheFramesAskedAndKeepsTheirBytes() throws {
        let store = try SparseFrameStore(firstMfn: Mfn(uncheckedRaw: 0x1000), frames: 1 << 20)
        try [UInt8](repeating: 9, count: 8).withUnsafeBytes { try store.write(Mfn(uncheckedRaw: 0x1010), offset: 64, from: $0) }
        #expect(store.pagesAllocated == 1)
        try store.populate(Mfn(uncheckedRaw: 0x1008), frames: 32)
        #expect(store.pagesAllocated == 32, "frames 0x1008..0x1027, the written one among them")
        var out = [UInt8](repeating: 0, count: 8)
        try out.withUnsafeMutableBytes { try store.read(Mfn(uncheckedRaw: 0x1010), offset: 64, into: $0) }
        #expect(out == [UInt8](repeating: 9, count: 8))
        let machine = MachineMemory()
        _ = try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0x1000), frames: 16)
        // RAM frames among the range are backed; frames with no backing are left alone.
        try machine.populateRAM(Mfn(uncheckedRaw: 0x0FF0), frames: 0x18)
        guard case let .ram(ram)? = machine.backing(for: Mfn(uncheckedRaw: 0x1000)) else {
            Issue.record("no RAM backing")
            return
        }
        #expect(ram.pagesAllocated == 8)
        #expect(throws: MachineMemoryError.self) { try store.populate(Mfn(uncheckedRaw: 0x100FF0), frames: 0x20) }
        #expect(throws: MachineMemoryError.self) { try store.populate(Mfn(uncheckedRaw: 0xFFF), frames: 1) }
    }

    @Test func ramRunsMayNotOverlapAndCanBeRemoved() throws {
        let machine = MachineMemory()
        try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0), frames: 100)
        #expect(throws: MachineMemoryError.self) { try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 99), frames: 2) }
        try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 100), frames: 2)
        #expect(machine.removeRAM(firstMfn: Mfn(uncheckedRaw: 1)) == false, "only a backing's first frame names it")
        #expect(machine.removeRAM(firstMfn: Mfn(uncheckedRaw: 0)))
        #expect(machine.backing(for: Mfn(uncheckedRaw: 50)) == nil)
        #expect(machine.backing(for: Mfn(uncheckedRaw: 101))?.firstMfn == Mfn(uncheckedRaw: 100))
        try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 99), frames: 1)  // the frames are free again
    }

    /// The direct-access lookup finds a RAM frame's bytes in whichever run holds it, and nothing
    /// for frames outside every run, with no RAM at all too (before any, and after the last goes).
    @Test func ramBytesFindsEachRunAndNothingElse() throws {
        let machine = MachineMemory()
        for mfn: UInt64 in [0, 1, 0x1000, .max] { #expect(machine.ramBytes(of: Mfn(uncheckedRaw: mfn)) == nil) }
        let low = try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0x100), frames: 16)
        let high = try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0x1000), frames: 4)
        let third = try machine.addRAM(firstMfn: Mfn(uncheckedRaw: 0x2000), frames: 2)
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x2001)) == third.bytes(of: Mfn(uncheckedRaw: 0x2001)))
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x2002)) == nil)
        #expect(machine.removeRAM(firstMfn: Mfn(uncheckedRaw: 0x2000)))
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x2001)) == nil)
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x100)) == low.bytes(of: Mfn(uncheckedRaw: 0x100)))
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x10F)) == low.bytes(of: Mfn(uncheckedRaw: 0x10F)))
        #expect(machine.ramBytes(of: Mfn(uncheckedRaw: 0x1003)) == high.bytes(of: Mfn(uncheckedRaw: 0x1003)))
        for mfn: UInt64 in [0, 0xFF, 0x110, 0xFFF, 0x1004, .max] { #expect(machine.ramBytes(of: Mfn(uncheckedRaw: mfn)) == nil) }
        #expect(machine.removeRAM(firstMfn: Mfn(uncheckedRaw: 0x100)) && machine.removeRAM(firstMfn: Mfn(uncheckedRaw: 0x1000)))
        for mfn: UInt64 in [0, 0x100, 0x1003] { #expect(machine.ramBytes(of: Mfn(uncheckedRaw: mfn)) == nil) }
    }
}
