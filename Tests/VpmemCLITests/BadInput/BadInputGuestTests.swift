import Testing

/// `vpmem guest create|list|destroy|balloon|show|keys`, and the configs they read: NULs and
/// control characters, lax sizes, files that are no configs.
@Suite struct BadInputGuestTests {
    /// Config files the guest commands read, each with what the error must name.
    static let configs: [(file: String, mentions: [String], label: String)] = [
        ("@S/nul-name.toml", ["'name'", "NUL"], "NUL in a string"),
        ("@S/nul-backing.toml", ["nvdimm[0].backing", "NUL"], "NUL in a backing path"),
        ("@S/nul-key.toml", ["NUL"], "NUL in a key"),
        ("@S/raw-nul.toml", ["NUL byte"], "raw NUL byte"),
        ("@S/esc-name.toml", ["'name'", "U+001B"], "escape sequence"),
        ("@S/c1-name.toml", ["'name'", "U+0085"], "C1 control"),
        ("@S/tab-oem.toml", ["acpi_oem_id", "U+0009"], "tab"),
        ("@S/size-5i.toml", ["memory"], "5i in a config"),
        ("@S/size-5iB.toml", ["pmem_aperture"], "5iB in a config"),
        ("@S/size-huge.toml", ["64 bits"], "size past 64 bits"),
        ("@S/unknown-key.toml", ["memroy", "memory"], "typo"),
        ("@S/not-toml.toml", ["not valid TOML"], "syntax"),
        ("@S/long-name.toml", ["name", "more characters"], "1 MiB name"),
        ("@S/ctrl-long.toml", ["'name'", "U+001B"], "long escape sequences"),
        ("@S/binary.toml", ["NUL"], "binary"),
        ("@S/latin1.toml", ["UTF-8"], "not UTF-8"),
        ("@S/empty", ["Is a directory"], "a directory"),
        ("/", ["Is a directory"], "/"),
        ("/dev/null", ["missing key 'name'"], "/dev/null"),
        ("/proc/self/mem", ["/mem"], "/proc/self/mem"),
        ("@S/missing.toml", ["No such file"], "missing"),
        ("@S/dangling", ["No such file"], "dangling link"),
    ]

    static let cases: [BadInput] = configs.flatMap { c in
        [BadInput(["guest", "show", c.file], 1, mentions: c.mentions, "show: " + c.label),
         BadInput(["guest", "create", c.file], 1, mentions: c.mentions, "create: " + c.label)]
    } + [
        .init(["guest", "create", "@S/g.toml"], 1, mentions: ["already"], "admitted twice"),
        .init(["guest", "create", "@S/data-guest.toml"], 1, mentions: ["guest 'dg'", "hold data", "--force"], "a vNVDIMM's label area over a guest's data"),
        .init(["guest", "create"], 2, mentions: ["<config>"], "missing argument"),
        .init(["guest", "create", "@S/outside.toml", "--create-backings=yes"], 2, mentions: ["--create-backings"], "flag value"),
        .init(["guest", "list", "x"], 2, mentions: ["x"], "extra argument"),
        .init(["guest", "destroy", "nobody"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["guest", "destroy", "@S/outside.toml"], 1, mentions: ["not the config of a guest"], "config outside the host"),
        .init(["guest", "destroy", ""], 2, mentions: ["empty"], "empty name"),
        .init(["guest", "destroy", "a\u{1b}[2Jb\nc"], 2, mentions: ["\\u{1B}", "control character"], "control characters in a name"),
        .init(["guest", "destroy", String(repeating: "n", count: 100_000)], 2, mentions: ["bytes long"], "100 KB name"),
        .init(["guest", "balloon", "g"], 2, mentions: ["--out"], "neither direction"),
        .init(["guest", "balloon", "g", "--out", "1", "--in", "2"], 2, mentions: ["--out"], "both directions"),
        .init(["guest", "balloon", "g", "--out", "+5"], 2, mentions: ["--out", "'+5'"], "sign"),
        .init(["guest", "balloon", "g", "--out", "-1"], 2, mentions: ["--out"], "negative"),
        .init(["guest", "balloon", "g", "--in", "0x"], 2, mentions: ["--in"], "bare 0x"),
        .init(["guest", "balloon", "g", "--in", "0xZZ"], 2, mentions: ["--in"], "not hex"),
        .init(["guest", "balloon", "g", "--in", "99999999999999999999"], 2, mentions: ["--in"], "past 64 bits"),
        .init(["guest", "balloon", "g", "--in", "0x10000000000000"], 2, mentions: ["--in"], "past the frame space"),
        .init(["guest", "balloon", "nobody", "--out", "0x100"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["guest", "show", "nobody"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["guest", "show"], 2, mentions: ["<config>"], "missing argument"),
        .init(["guest", "keys", "nobody"], 1, mentions: ["no guest 'nobody'"], "no such guest"),
        .init(["guest", "keys", "@S/nul-name.toml"], 1, mentions: ["NUL"], "NUL config"),
        .init(["guest", "keys", "g", "--host", "@S/no-host"], 1, mentions: ["no vpmem host"], "no host"),
    ]

    @Test(arguments: cases) func badInput(_ input: BadInput) throws { try checkBadInput(input) }
}
