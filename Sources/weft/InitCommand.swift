import ArgumentParser

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Install traffic interception (nftables) in this network namespace.")
    func run() throws { fail("init", .runtime, "not implemented yet") }
}
