import Addresses
import Admin
import ArgumentParser
import Config
import Glibc
import LinuxSys
import Proxy

/// `weft wait [--timeout 60s] [--port 15021]`: blocks until the local sidecar says it is ready
/// (`GET /healthz/ready` on the health port answers 200), for a postStart hook that holds the
/// application until its proxy can carry its traffic. Exits 0 when ready, 1 with the last reason
/// on timeout, 2 on bad arguments.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until the local proxy is ready (its health port answers 200).",
        discussion: "Polls http://127.0.0.1:PORT/healthz/ready every 200 ms. Exits 0 once ready, 1 when the timeout passes first (with the proxy's last answer), 2 on bad arguments."
    )

    @Option(help: ArgumentHelp("How long to wait, e.g. 60s, 2m.", valueName: "DURATION"))
    var timeout: String = "60s"

    @Option(help: "The proxy's health port (spec.ports.health).")
    var port: UInt16 = 15021

    func run() {
        let limit: Duration
        do {
            limit = try parseDuration(timeout)
        } catch {
            fail("wait", .usage, "--timeout \(timeout): \(error)")
        }
        let deadline = Clock.monotonicNanoseconds() &+ limit.nanoseconds
        var last = "no answer yet"
        while true {
            switch Self.probe(port: port) {
            case .ready:
                print("weft wait: the proxy is ready")
                return
            case .notReady(let reason):
                last = reason
            }
            if Clock.monotonicNanoseconds() >= deadline {
                fail("wait", .runtime, "the proxy was not ready within \(timeout): \(last)")
            }
            usleep(200_000)
        }
    }

    enum Probe {
        case ready
        case notReady(String)
    }

    /// One `GET /healthz/ready` to 127.0.0.1:`port` (blocking, 1 s for all of it).
    static func probe(port: UInt16) -> Probe {
        switch AdminClient.get(SocketAddress(IPv4Address.loopback, port: port), path: "/healthz/ready", timeoutMilliseconds: 1000) {
        case .failure(let failure):
            return .notReady(failure.description)
        case .success(let response) where response.status == 200:
            return .ready
        case .success(let response):
            let reason = response.body.split(separator: "\n").joined(separator: "; ")
            return .notReady("\(response.status)\(reason.isEmpty ? "" : ": " + reason)")
        }
    }
}
