import Addresses
import Admin
import ArgumentParser
import Config
import Glibc
import LinuxSys
import Proxy

/// `weft drain [--admin 127.0.0.1:15000] [--wait] [--timeout 60s]`: starts the local proxy's
/// drain (`POST /drain`, as SIGTERM does) — for a Kubernetes preStop hook. With `--wait` it
/// returns once the proxy has exited (its admin port stops answering), so the kubelet's SIGTERM
/// finds nothing left to do. Exits 0 when the drain started (and, with --wait, ended), 1 when no
/// proxy answers or it outlives the timeout, 2 on bad arguments.
struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Start the local proxy's drain (POST /drain), for a preStop hook.",
        discussion: """
            The proxy's readiness turns 503 at once; it keeps accepting for spec.timeouts.drainDuration \
            with Connection: close on inbound HTTP responses, then exits once no connection is left \
            (or when spec.timeouts.drain passes). With --wait this command returns when the proxy has \
            exited. Exits 0 on success, 1 when no proxy answers or --timeout passes, 2 on bad arguments.
            """
    )

    @Option(help: ArgumentHelp("The proxy's admin address.", valueName: "ADDRESS"))
    var admin: String = "127.0.0.1:\(ProxyServer.adminPort)"

    @Flag(help: "Return only once the proxy has exited.")
    var wait = false

    @Option(help: ArgumentHelp("How long --wait waits, e.g. 60s.", valueName: "DURATION"))
    var timeout: String = "60s"

    func run() {
        let address: SocketAddress
        let limit: Duration
        do {
            address = try SocketAddress(parsing: admin)
        } catch {
            fail("drain", .usage, "--admin \(error) (write IP:PORT, e.g. 127.0.0.1:15000)")
        }
        do {
            limit = try parseDuration(timeout)
        } catch {
            fail("drain", .usage, "--timeout \(timeout): \(error)")
        }
        switch AdminClient.request(address, method: "POST", path: "/drain", timeoutMilliseconds: 3000) {
        case .failure(let failure):
            fail("drain", .runtime, "\(failure): is `weft proxy` running in this network namespace?")
        case .success(let response) where response.status == 200:
            print("weft drain: \(response.body.trimmingSuffixNewlines)")
        case .success(let response):
            fail("drain", .runtime, "\(address) answered \(response.status): \(response.body.trimmingSuffixNewlines)")
        }
        guard wait else { return }
        let deadline = Clock.monotonicNanoseconds() &+ limit.nanoseconds
        while Clock.monotonicNanoseconds() < deadline {
            if case .failure(.cannotConnect) = AdminClient.get(address, path: "/live", timeoutMilliseconds: 1000) {
                print("weft drain: the proxy has exited")
                return
            }
            usleep(100_000)
        }
        fail("drain", .runtime, "the proxy was still running after \(timeout)")
    }
}

private extension String {
    var trimmingSuffixNewlines: String {
        var text = Substring(self)
        while text.last == "\n" { text = text.dropLast() }
        return String(text)
    }
}
