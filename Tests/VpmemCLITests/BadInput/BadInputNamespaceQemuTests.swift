import Testing

/// `vpmem nvdimm create-namespace|destroy-namespace` and `vpmem qemu`.
@Suite struct BadInputNamespaceQemuTests {
    static let cases: [BadInput] = [
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "5i"], 2, mentions: ["--size"], "5i"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0"], 2, mentions: ["--size"], "missing --size"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "-1", "--size", "16M"], 2, mentions: ["--slot", "0 to 255"], "negative slot"),
        .init(["nvdimm", "destroy-namespace", "g", "--slot", "256", "--name", "x"], 2, mentions: ["--slot", "0 to 255"], "slot past 255"),
        .init(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--uuid", "6ba7b810-9dad-41d1-80b4-00c04fd430c8", "--name", "x"], 2, mentions: ["--uuid", "--name"], "both uuid and name"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "16M", "--uuid", "nonsense"], 2, mentions: ["--uuid"], "malformed uuid"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "16M", "--uuid", ""], 2, mentions: ["--uuid"], "empty uuid"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "16M", "--mode", "sector"], 2, mentions: ["--mode"], "unsupported mode"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "64M", "--mode", "raw"], 1, mentions: ["64"], "larger than the region"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "0", "--size", "2M", "--mode", "raw", "--name", "a\u{1b}[31mb"], 2, mentions: ["--name", "\\u{1B}"], "control characters in the name"),
        .init(["nvdimm", "create-namespace", "g", "--slot", "7", "--size", "16M"], 1, mentions: ["7"], "empty slot"),
        .init(["nvdimm", "create-namespace", "plain", "--slot", "0", "--size", "16M"], 1, mentions: ["0"], "guest without vNVDIMMs"),
        .init(["nvdimm", "create-namespace", "nobody", "--slot", "0", "--size", "16M"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["nvdimm", "destroy-namespace", "g", "--slot", "0"], 2, mentions: ["--uuid", "--name"], "neither uuid nor name"),
        .init(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--uuid", "xyz"], 2, mentions: ["--uuid"], "malformed uuid"),
        .init(["nvdimm", "destroy-namespace", "g", "--slot", "0", "--name", "nope"], 1, mentions: ["nope"], "no such namespace"),
        .init(["qemu", "nobody"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["qemu", "plain"], 1, mentions: ["no vNVDIMMs"], "guest without vNVDIMMs"),
        .init(["qemu", "g", "--accel", "hvf"], 2, mentions: ["--accel"], "unknown accelerator"),
        .init(["qemu", "g", "--exec", "--qemu", "@S/no-such-qemu"], 1, mentions: ["no-such-qemu"], "no QEMU binary"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
