/// Seed inputs for `TraceFuzzTarget`: byte 0 the buffer size, byte 1 the batch, then a file.
public enum TraceSeeds {
    public static func all() -> [(String, [UInt8])] {
        func seed(_ name: String, buffer: UInt8, batch: UInt8, _ file: [UInt8]) -> (String, [UInt8]) {
            (name, [buffer, batch] + file)
        }
        let text = Array("""
            # a trace
            mem 0x1000 8 w 0xff
            mem 0x1ff8 8 r
            port 0x3c4 1 write 18
            pci 0000:00:02.0 0x10 4 r
            pci 00:1f.7 0xffc 4 w 0xdeadbeef
            mem 4096 2 r   # decimal

            mem 0xffffffffff000 8 r
            """.utf8)
        var binary = Array("VPMTRACE".utf8) + [1, 0, 0, 0, 24, 0, 0, 0]
        // An 8-byte write of 0x1122 at 0x2000, a 1-byte read of port 0x60, a config read.
        binary += [0, 0x20, 0, 0, 0, 0, 0, 0, 0x22, 0x11, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0]
        binary += [0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
        binary += [0x10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0]
        return [
            seed("text", buffer: 255, batch: 3, text),
            seed("text-small-buffer", buffer: 0, batch: 1, text),
            seed("text-bad-line", buffer: 8, batch: 7, Array("mem 0x1000 8 r\nmem 0x1ffc 8 r\n".utf8)),
            seed("text-no-newline", buffer: 2, batch: 2, Array("port 0x60 1 r".utf8)),
            seed("binary", buffer: 1, batch: 2, binary),
            seed("binary-cut", buffer: 3, batch: 5, Array(binary.dropLast(5))),
            seed("binary-header-only", buffer: 9, batch: 1, Array(binary.prefix(16))),
        ]
    }
}
