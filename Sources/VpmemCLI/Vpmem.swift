import ArgumentParser

/// The `vpmem` command. Each concern adds one subcommand group here.
@main
struct Vpmem: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpmem",
        abstract: "Attach host persistent memory to modelled guests, show what they see, and measure the hot paths.",
        discussion: """
            Start with `vpmem demo`. Sizes take K, M, G, T suffixes (powers of 1024). \
            Commands that a script would read take --json.

            Errors are one line on stderr, `vpmem: <what is wrong>: <what to do>`. Exit status: \
            0 success; 1 the request failed (a refusal, a missing file, guest or host, a failed \
            check: `nvdimm labels` finding problems, `dsm --fail-on-status` with a non-zero \
            status); 2 the command line is wrong (nothing was attempted).
            """,
        version: "0.1.0",
        subcommands: [
            DemoCommand.self,
            HostCommand.self,
            PmemCommand.self,
            GuestCommand.self,
            NVDIMMCommand.self,
            AcpiCommand.self,
            DSMCommand.self,
            QemuCommand.self,
            P2MCommand.self,
            SteerCommand.self,
            LiveUpdateCommand.self,
            BenchCommand.self,
        ]
    )
}
