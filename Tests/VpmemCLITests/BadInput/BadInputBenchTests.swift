import Testing

/// `vpmem bench pmem|hotpaths|compare|plot`: parameters, and backings the sweep would destroy.
@Suite struct BadInputBenchTests {
    static let cases: [BadInput] = [
        .init(["bench", "pmem", "--threads", "0"], 2, mentions: ["--threads 0", "1 to 256"], "no threads"),
        .init(["bench", "pmem", "--threads", "257"], 2, mentions: ["--threads 257"], "too many threads"),
        .init(["bench", "pmem", "--threads", "x"], 2, mentions: ["--threads"], "not a number"),
        .init(["bench", "pmem", "--sizes", "3K"], 2, mentions: ["--sizes '3K'", "power of two"], "size not a power of two"),
        .init(["bench", "pmem", "--sizes", "4M"], 2, mentions: ["--sizes '4M'"], "size past 2M"),
        .init(["bench", "pmem", "--sizes", "32"], 2, mentions: ["--sizes '32'"], "size below 64"),
        .init(["bench", "pmem", "--sizes", "4K,,64K"], 2, mentions: ["--sizes"], "empty size"),
        .init(["bench", "pmem", "--sizes", "4K,4K"], 2, mentions: ["given twice"], "size twice"),
        .init(["bench", "pmem", "--sizes", "4Q"], 2, mentions: ["--sizes '4Q'"], "not a size"),
        .init(["bench", "pmem", "--rounds", "3"], 2, mentions: ["--rounds", "--compare-fio"], "rounds without fio"),
        .init(["bench", "pmem", "--rounds", "0", "--compare-fio"], 2, mentions: ["--rounds 0"], "no rounds"),
        .init(["bench", "pmem", "--emulated", "8X"], 2, mentions: ["--emulated", "'X'"], "unknown suffix"),
        .init(["bench", "pmem", "@S/free.pmem", "--emulated", "8M"], 2, mentions: ["not both"], "path and --emulated"),
        .init(["bench", "pmem", "--plot", "@S/x.jpg"], 2, mentions: ["must end in .svg or .png"], "plot format"),
        .init(["bench", "pmem", "--save", "@S/a-file"], 2, mentions: ["a-file", "--force"], "--save over a file"),
        .init(["bench", "hotpaths", "--max-regression", "lots"], 2, mentions: ["'lots' is not a percentage"], "bad percentage"),
        .init(["bench", "pmem", "@S/missing.pmem", "--quick"], 1, mentions: ["missing.pmem"], "missing backing"),
        .init(["bench", "pmem", "@S/free.pmem", "--quick"], 1, mentions: ["needs at least"], "backing too small"),
        .init(["bench", "compare", "@S/a-file", "@S/a-file"], 1, mentions: ["not a vpmem bench report"], "not a report"),
        // Backings holding something (issue 16 item 6): refused, never written.
        .init(["bench", "pmem", "@S/labelled.pmem", "--quick"], 1, mentions: ["namespace label area of 128K", "--overwrite-backing"],
              "a vNVDIMM's backing"),
        .init(["bench", "pmem", "@S/data.pmem", "--quick"], 1, mentions: ["holds data where the sweep writes", "--overwrite-backing"],
              "a backing holding data"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
