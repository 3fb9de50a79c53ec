import ArgumentParser
import Config
import Proxy

/// `weft proxy [--config FILE]`: the sidecar. Runs as uid 1337 with no capabilities.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run the sidecar proxy (outbound :15001, inbound :15006).",
        discussion: """
            Accepts connections redirected by `weft init`, reads their original destination \
            (SO_ORIGINAL_DST) and relays them with splice(2). SIGTERM (or POST /drain on the admin \
            port) drains: readiness turns 503 at once; for spec.timeouts.drainDuration (5s) every \
            listener stays open and inbound HTTP responses carry Connection: close; then the inbound \
            listener closes and the process exits 0 once no connection is left, or when \
            spec.timeouts.drain (30s) passes. A second signal or POST /quitquitquit exits at once. \
            Until the workload certificate loads the proxy is not ready and serves nothing. \
            Service, EndpointSlice, HTTPRoute and DestinationRule documents are re-read when the \
            files change (or replaced through the admin API on 127.0.0.1:15000).
            """
    )

    @Option(name: .long, help: ArgumentHelp("A YAML file or a directory of them (Sidecar, policies, traffic documents); defaults apply without it.", valueName: "FILE"))
    var config: String?

    func run() throws {
        let configuration = loadConfiguration(path: config, command: "proxy")
        let log = LogSink(level: configuration.sidecar.logLevel)
        var watch: (directory: String, reload: @Sendable () -> Result<Configuration, ConfigReloadError>)?
        if let path = config {
            watch = (watchedDirectory(for: path), { reloadConfiguration(path: path) })
        }
        do {
            try ProxyServer(configuration: configuration, log: log, watch: watch).run()
        } catch {
            fail("proxy", .runtime, error.description)
        }
    }
}
