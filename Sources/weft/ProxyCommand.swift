import ArgumentParser

struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy", abstract: "Run the sidecar proxy.")
    func run() throws { fail("proxy", .runtime, "not implemented yet") }
}
