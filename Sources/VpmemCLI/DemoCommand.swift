import ArgumentParser

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Walk through what vpmem does on this host.")
    func run() async throws {
        print("vpmem demo")
    }
}
