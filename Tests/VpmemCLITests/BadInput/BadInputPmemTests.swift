import Testing

/// `vpmem pmem create|info|hold`: sizes, durations and paths.
@Suite struct BadInputPmemTests {
    static let cases: [BadInput] = [
        // Sizes: one parser (ByteSize), exactly the documented forms, 64-bit range.
        .init(["pmem", "create", "@S/new.pmem", "--size", "12Q"], 2, mentions: ["--size", "'Q'"], "unknown suffix"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "5i"], 2, mentions: ["--size"], "5i is not 5 bytes"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "5iB"], 2, mentions: ["--size"], "5iB is not 5 bytes"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "5B"], 2, mentions: ["--size"], "B without a unit"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4Kb"], 2, mentions: ["--size"], "bits"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "-1"], 2, mentions: ["--size"], "negative"),
        .init(["pmem", "create", "@S/new.pmem", "--size", ""], 2, mentions: ["--size"], "empty"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "+4M"], 2, mentions: ["--size"], "sign"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4.5M"], 2, mentions: ["--size"], "fraction"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "16384P"], 2, mentions: ["64 bits"], "2^64"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "99999999999999999999999"], 2, mentions: ["64 bits"], "digits past 64 bits"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "\u{663}M"], 2, mentions: ["--size"], "non-ASCII digit"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "0x"], 2, mentions: ["--size"], "bare 0x"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4 M"], 2, mentions: ["--size"], "inner space"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "\u{1b}[31m4M"], 2, mentions: ["\\u{1B}"], "escape sequence echoed escaped"),
        .init(["pmem", "create", "@S/new.pmem", "--size", String(repeating: "9", count: 5000)], 2, mentions: ["more characters"], "long value cut"),
        .init(["pmem", "create", "@S/new.pmem"], 2, mentions: ["--size"], "missing option"),
        .init(["pmem", "create", "--size", "4M"], 2, mentions: ["<path>"], "missing argument"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4M", "--bogus"], 2, mentions: ["--bogus"], "unknown option"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4M", "extra"], 2, mentions: ["extra"], "extra argument"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "4M", "--json=yes"], 2, mentions: ["--json"], "value for a flag"),
        .init(["pmem", "create", "@S/new.pmem", "--size", "0"], 1, mentions: ["new.pmem"], "zero size"),
        // Paths.
        .init(["pmem", "create", "@S/no/dir/new.pmem", "--size", "4M"], 1, mentions: ["does not exist"], "missing directory"),
        .init(["pmem", "create", "@S/empty", "--size", "4M"], 1, mentions: ["empty"], "a directory"),
        .init(["pmem", "create", "/proc/vpmem-x", "--size", "4M"], 1, mentions: ["/proc/vpmem-x"], "/proc"),
        .init(["pmem", "create", "@S/free.pmem", "--size", "4M"], 1, mentions: ["free.pmem"], "existing file, other size"),
        .init(["pmem", "create", "@S/dangling", "--size", "4M"], 1, mentions: ["dangling"], "dangling symlink"),
        .init(["pmem", "info", "@S/missing.pmem"], 1, mentions: ["no such file"], "missing file"),
        .init(["pmem", "info", "/dev/null"], 1, mentions: ["/dev/null"], "/dev/null"),
        .init(["pmem", "info", "@S/empty"], 1, mentions: ["empty"], "a directory"),
        .init(["pmem", "info", "/proc/self/mem"], 1, mentions: ["/proc/self/mem"], "/proc/self/mem"),
        .init(["pmem", "info"], 2, mentions: ["<path>"], "missing argument"),
        // Durations: the crash of the issue (nan, inf, 1e300 killed the process).
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "nan"], 2, mentions: ["--seconds"], "nan"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "inf"], 2, mentions: ["--seconds"], "inf"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "1e300"], 2, mentions: ["--seconds"], "1e300"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "1e19"], 2, mentions: ["--seconds"], "1e19"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "-1"], 2, mentions: ["--seconds"], "negative"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds=-1"], 2, mentions: ["--seconds"], "negative after ="),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "0"], 2, mentions: ["--seconds"], "zero"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", ""], 2, mentions: ["--seconds"], "empty"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "1.5.5"], 2, mentions: ["--seconds"], "two points"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "0.0000000001"], 2, mentions: ["--seconds"], "below a nanosecond"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "99999999999"], 2, mentions: ["at most"], "past 64-bit nanoseconds"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "18446744073709551616"], 2, mentions: ["at most"], "past 64 bits"),
        .init(["pmem", "hold", "@S/free.pmem", "--seconds", "1s"], 2, mentions: ["--seconds"], "unit"),
        .init(["pmem", "hold", "@S/missing.pmem", "--seconds", "1"], 1, mentions: ["no such file"], "missing backing"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
