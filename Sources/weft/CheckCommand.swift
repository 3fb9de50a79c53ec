import ArgumentParser

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate configuration.")
    func run() throws { fail("check", .runtime, "not implemented yet") }
}
