import Testing

/// `vpmem nvdimm attach|detach|list|init-labels|labels`.
@Suite struct BadInputNVDIMMTests {
    static let cases: [BadInput] = [
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--slot", "-1"], 2, mentions: ["--slot", "0 to 255"], "negative slot (was: missing value)"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--slot", "256"], 2, mentions: ["--slot", "0 to 255"], "slot past 255"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--slot", "x"], 2, mentions: ["--slot"], "not a number"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--slot", "99999999999999999999"], 2, mentions: ["--slot"], "past 64 bits"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--node", "-1"], 2, mentions: ["--node"], "negative node"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--node", "4294967296"], 2, mentions: ["--node"], "node past 32 bits"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "5i"], 2, mentions: ["--size"], "5i"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--label-size", "12Q"], 2, mentions: ["--label-size"], "bad label size"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--address", "0xZZ"], 2, mentions: ["--address"], "bad address"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--address", "0x"], 2, mentions: ["--address"], "bare 0x"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--address", "0x10000000000000000"], 2, mentions: ["--address"], "address past 64 bits"),
        .init(["nvdimm", "attach", "plain", "--size", "2M"], 2, mentions: ["--backing"], "missing --backing"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/g0.pmem", "--size", "2M"], 1, mentions: ["belongs to guest 'g'"], "backing of another guest"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem"], 1, mentions: ["does not exist"], "missing backing, no size"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "3M", "--create"], 1, mentions: ["plain"], "size not 2M-aligned"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/new.pmem", "--size", "2M", "--label-size", "64K", "--create"], 1, mentions: ["label"], "label area too small"),
        .init(["nvdimm", "attach", "plain", "--backing", "/dev/null", "--size", "2M"], 1, mentions: ["/dev/null"], "/dev/null"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/empty", "--size", "2M"], 1, mentions: ["empty"], "a directory"),
        .init(["nvdimm", "attach", "g", "--backing", "@S/free.pmem", "--size", "2M", "--slot", "0"], 1, mentions: ["slot 0"], "slot taken"),
        .init(["nvdimm", "attach", "@S/outside.toml", "--backing", "@S/free.pmem", "--size", "2M"], 1, mentions: ["not the config of a guest"], "config outside the host"),
        .init(["nvdimm", "attach", "@S/nul-name.toml", "--backing", "@S/free.pmem"], 1, mentions: ["not the config of a guest"], "NUL config outside the host"),
        // Label areas (issue 16 item 6): the guest's label writes would overwrite data.
        .init(["nvdimm", "attach", "plain", "--backing", "@S/data.pmem", "--size", "2M", "--label-size", "2M"], 1,
              mentions: ["hold data", "label-size 0 and size 4M", "--force"], "(b) a guest's data given a label area"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/labelled.pmem", "--size", "2M", "--label-size", "2176K"], 1,
              mentions: ["label area of 128K", "size 4M and label-size 128K", "--force"], "(c) a larger label area over the old labels"),
        .init(["nvdimm", "attach", "plain", "--backing", "@S/data.pmem", "--size", "2M", "--label-size", "2M", "--force=yes"], 2,
              mentions: ["--force"], "flag value"),
        .init(["nvdimm", "detach", "g", "--slot", "-1"], 2, mentions: ["--slot", "0 to 255"], "negative slot"),
        .init(["nvdimm", "detach", "g"], 2, mentions: ["--slot"], "missing --slot"),
        .init(["nvdimm", "detach", "g", "--slot", "7"], 1, mentions: ["7"], "empty slot"),
        .init(["nvdimm", "detach", "nobody", "--slot", "0"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["nvdimm", "list", "nobody"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["nvdimm", "list", "g", "extra"], 2, mentions: ["extra"], "extra argument"),
        .init(["nvdimm", "init-labels", "g", "--slot", "0", "--label-version", "1.3"], 2, mentions: ["--label-version"], "unknown label version"),
        .init(["nvdimm", "init-labels", "g", "--slot", "7"], 1, mentions: ["7"], "empty slot"),
        .init(["nvdimm", "init-labels", "g", "--slot", "0x100"], 2, mentions: ["--slot"], "slot past 255 in hex"),
        .init(["nvdimm", "init-labels", "@S/outside.toml", "--slot", "0"], 1, mentions: ["not the config of a guest"], "config outside the host"),
        .init(["nvdimm", "labels", "g", "--slot", "300"], 2, mentions: ["--slot"], "slot past 255"),
        .init(["nvdimm", "labels", "g", "--slot", "3"], 1, mentions: ["3"], "empty slot"),
        .init(["nvdimm", "labels", "plain", "--slot", "0"], 1, mentions: ["0"], "guest without vNVDIMMs"),
        .init(["nvdimm", "labels", "g"], 2, mentions: ["--slot"], "missing --slot"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
