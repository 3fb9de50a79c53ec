import Addresses
import Admin
import ArgumentParser
import Config
import Glibc
import LinuxSys
import Proxy

/// `weft wait [--timeout 60s] [--port 15021] [-- COMMAND ARGS...]`: blocks until the local sidecar
/// says it is ready (`GET /healthz/ready` on the health port answers 200), for a postStart hook
/// that holds the application until its proxy can carry its traffic. Exits 0 when ready, 1 with
/// the last reason on timeout, 2 on bad arguments.
///
/// With a command (linkerd-await's `--shutdown`, for Jobs): once ready it runs the command,
/// passes SIGTERM/SIGINT/SIGQUIT on to it, and when it exits tells the proxy to exit
/// (`POST /quitquitquit` on the admin port) and exits with the command's status, so a Job's pod
/// completes instead of waiting for a sidecar that never ends.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until the local proxy is ready (its health port answers 200).",
        discussion: """
            Polls http://127.0.0.1:PORT/healthz/ready every 200 ms. Exits 0 once ready, 1 when the timeout passes first \
            (with the proxy's last answer), 2 on bad arguments. With `-- COMMAND ARGS...`: runs the command once the \
            proxy is ready, forwards termination signals to it, then asks the proxy to exit (POST /quitquitquit on \
            127.0.0.1:ADMIN-PORT) and exits with the command's status (128+N if a signal N ended it).
            """
    )

    @Option(help: ArgumentHelp("How long to wait, e.g. 60s, 2m.", valueName: "DURATION"))
    var timeout: String = "60s"

    @Option(help: "The proxy's health port (spec.ports.health).")
    var port: UInt16 = 15021

    @Option(name: .customLong("admin-port"), help: "The proxy's admin port on 127.0.0.1, told to exit after COMMAND.")
    var adminPort: UInt16 = 15000

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command to run once the proxy is ready.", valueName: "COMMAND"))
    var command: [String] = []

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
                guard !command.isEmpty else { return }
                let status = ChildProcess.runForwardingSignals(command)
                let told = AdminClient.request(SocketAddress(IPv4Address.loopback, port: adminPort), method: "POST", path: "/quitquitquit")
                switch told {
                case .success(let response) where response.status == 200:
                    print("weft wait: \(command[0]) exited (status \(status)); the proxy was told to exit")
                case .success(let response):
                    Descriptor.standardError.writeAll("weft wait: \(command[0]) exited (status \(status)); the proxy's admin port answered \(response.status): \(response.body)\n")
                case .failure(let failure):
                    Descriptor.standardError.writeAll("weft wait: \(command[0]) exited (status \(status)); telling the proxy to exit failed: \(failure)\n")
                }
                Weft.exit(withError: ExitCode(status))
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
