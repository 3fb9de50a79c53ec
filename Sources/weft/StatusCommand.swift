import Addresses
import Admin
import ArgumentParser
import Proxy

/// `weft status [--admin 127.0.0.1:15000] [--json]`: what the proxy in this network namespace is
/// doing, from `GET /status` on its admin port, as a short summary or (`--json`) as the proxy
/// wrote it. Exits 0 with an answer, 1 when nothing answers or the answer is not a weft status, 2
/// on bad arguments.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the local proxy is doing (its admin API's /status).",
        discussion: """
            Asks the proxy's admin API (127.0.0.1:15000, reachable only inside the pod's network \
            namespace) for its version, uptime, identity and certificate expiry, traffic \
            configuration version, listeners, connections, and whether it is ready or draining \
            and why. Exits 0 with an answer, 1 when nothing answers, 2 on bad arguments.
            """
    )

    @Option(help: ArgumentHelp("The proxy's admin address.", valueName: "ADDRESS"))
    var admin: String = "127.0.0.1:\(ProxyServer.adminPort)"

    @Flag(help: "Print the proxy's JSON answer as it is.")
    var json = false

    func run() {
        let address: SocketAddress
        do {
            address = try SocketAddress(parsing: admin)
        } catch {
            fail("status", .usage, "--admin \(error) (write IP:PORT, e.g. 127.0.0.1:15000, or [::1]:15000)")
        }
        let response: AdminClient.Response
        switch AdminClient.get(address, path: "/status", timeoutMilliseconds: 3000) {
        case .failure(let failure):
            fail("status", .runtime, """
                \(failure): is `weft proxy` running in this network namespace? Its admin API \
                listens on 127.0.0.1:\(ProxyServer.adminPort) inside the pod only; run `weft status` \
                there (kubectl exec, ip netns exec)
                """)
        case .success(let answer):
            response = answer
        }
        guard response.status == 200 else {
            let first = response.body.split(separator: "\n").first.map { String($0.prefix(200)) } ?? ""
            fail("status", .runtime, "\(address) answered GET /status with \(response.status) \(first.debugDescription): not a weft proxy's admin API, or one older than this command?")
        }
        if json {
            print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n")
            return
        }
        do {
            let report = try StatusReport(json: try JSONValue(parsing: response.body))
            print(report.summary, terminator: "")
        } catch {
            fail("status", .runtime, "the answer of \(address) to GET /status is not a weft status (\(error)): not a weft proxy, or another version?")
        }
    }
}
