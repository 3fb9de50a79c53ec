import ArgumentParser
import Config

/// `weft check --config PATH`: loads the configuration exactly as `weft proxy` would and reports
/// every problem, so a bad file is caught before a pod starts with it. A valid one is summarised:
/// the documents read, then the identity, outbound mTLS, inbound mTLS modes, protocol detection
/// and the AuthorizationPolicies that apply to this sidecar (and how many are for others), then
/// a line for each kind of traffic document given (Services, endpoints, HTTPRoutes,
/// DestinationRules).
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate configuration and print every problem as file:line:column: message.",
        discussion: "Exits 0 when the configuration is valid and 2 when it is not."
    )

    @Option(help: "A YAML file, or a directory whose *.yaml and *.yml files are read in name order.")
    var config: String

    func run() {
        let configuration = loadConfiguration(path: config, command: "check")
        let read = configuration.resources.map(\.description).joined(separator: ", ")
        print("weft check: \(config): ok (\(read.isEmpty ? "no documents: the defaults apply" : read))")
        // What the documents mean together (which PeerAuthentication decides which port, where
        // outbound mTLS applies, which AuthorizationPolicies decide and which match nothing here)
        // is what a reviewer of a policy change wants to see.
        for line in configuration.summary { print("  " + line) }
    }
}
