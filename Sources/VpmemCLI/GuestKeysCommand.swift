import ArgumentParser
import DomainModel
import VpmemCore
import VpmemHost

struct GuestKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Show a guest's key store (xenstore-like), e.g. the published NFIT/SSDT address and length.")
    @OptionGroup var hostOption: HostOption
    @Argument(help: "The guest's name, or a config file.") var config: String
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let target = try GuestTarget.resolve(config, host: hostOption, change: false)
        let domain = try target.guest(.inspect)
        let entries = domain.keys.entries
        if output.json {
            print(try JSONOutput.encode(Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0.value) })))
            return
        }
        if entries.isEmpty { print("(empty: the guest publishes keys once it has vNVDIMMs)") }
        for e in entries { print("\(e.path) = \"\(e.value)\"") }
    }
}
