import ArgumentParser

struct PmemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pmem", abstract: "Emulated pmem files and pmem devices.")
}
