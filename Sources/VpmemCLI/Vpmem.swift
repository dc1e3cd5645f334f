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
