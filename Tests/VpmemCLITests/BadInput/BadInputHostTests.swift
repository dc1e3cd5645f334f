import Testing

/// `vpmem host init|show|add-pmem|list`.
@Suite struct BadInputHostTests {
    static let cases: [BadInput] = [
        .init(["host", "init", "--host", "@S/new-host", "--ram", "12Q"], 2, mentions: ["--ram"], "bad size"),
        .init(["host", "init", "--host", "@S/new-host", "--ram", "5i"], 2, mentions: ["--ram"], "5i"),
        .init(["host", "init", "--host", "@S/new-host", "--ram", "0"], 1, mentions: ["ram"], "no RAM"),
        .init(["host", "init", "--host", "@S/new-host", "--ram", "16383P"], 1, mentions: ["ram"], "RAM past the frame space"),
        .init(["host", "init", "--host", "@S/new-host", "--pmem", "@S/p.pmem"], 2, mentions: ["--size"], "--pmem without --size"),
        .init(["host", "init", "--host", "@S/new-host", "--size", "4M"], 2, mentions: ["--pmem"], "--size without --pmem"),
        .init(["host", "init", "--host", "@S/new-host", "--steering-budget", "x"], 2, mentions: ["--steering-budget"], "bad size"),
        .init(["host", "init", "--host", "@S/new-host", "--guest-allowance", "-4M"], 2, mentions: ["--guest-allowance"], "negative"),
        .init(["host", "init", "--host", "@S/host"], 1, mentions: ["already holds a vpmem host"], "existing host"),
        .init(["host", "init", "--host", "@S/a-file"], 1, mentions: ["a-file"], "a file as host"),
        .init(["host", "init", "--host", "/proc/vpmem-host"], 1, mentions: ["/proc/vpmem-host"], "/proc"),
        .init(["host", "show", "--host", "@S/no-host"], 1, mentions: ["no vpmem host"], "no host"),
        .init(["host", "show", "--host", "@S/a-file"], 1, mentions: ["no vpmem host"], "a file as host"),
        .init(["host", "show", "--host", "@S/g.toml"], 1, mentions: ["no vpmem host"], "a config as host"),
        .init(["host", "show", "extra"], 2, mentions: ["extra"], "extra argument"),
        .init(["host", "show", "--json", "--json=1"], 2, mentions: ["--json"], "flag value"),
        .init(["host", "add-pmem"], 2, mentions: ["PATH"], "neither path nor namespace"),
        .init(["host", "add-pmem", "@S/free.pmem", "--namespace", "x"], 2, mentions: ["PATH"], "both"),
        .init(["host", "add-pmem", "@S/new.pmem"], 1, mentions: ["--size"], "missing file without --size"),
        .init(["host", "add-pmem", "@S/new.pmem", "--size", "12Q"], 2, mentions: ["--size"], "bad size"),
        .init(["host", "add-pmem", "@S/g0.pmem"], 1, mentions: ["host pmem already"], "already host pmem"),
        .init(["host", "add-pmem", "@S/empty"], 1, mentions: ["empty"], "a directory"),
        .init(["host", "add-pmem", "/dev/null"], 1, mentions: ["/dev/null"], "/dev/null"),
        .init(["host", "add-pmem", "@S/free.pmem", "--size", "8M"], 1, mentions: ["free.pmem"], "size mismatch"),
        .init(["host", "add-pmem", "--namespace", "00000000-0000-0000-0000-000000000000"], 1, mentions: ["namespace"], "no such namespace"),
        .init(["host", "list", "extra"], 2, mentions: ["extra"], "extra argument"),
        .init(["host", "bogus"], 2, mentions: ["bogus"], "unknown subcommand"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
