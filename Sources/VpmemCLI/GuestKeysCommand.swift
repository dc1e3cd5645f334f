import ArgumentParser
import DomainModel
import VpmemCore

struct GuestKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Show a guest's key store (xenstore-like), e.g. the published NFIT/SSDT address and length.")
    @Argument(help: "The guest config file.") var config: String
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let domain = try DomainLoading.load(config)
        let entries = domain.keys.entries
        if output.json {
            print(try JSONOutput.encode(Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0.value) })))
            return
        }
        if entries.isEmpty { print("(empty: the guest publishes keys once it has vNVDIMMs)") }
        for e in entries { print("\(e.path) = \"\(e.value)\"") }
    }
}
