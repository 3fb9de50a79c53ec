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
                let told = Self.request("POST", "/quitquitquit", port: adminPort)
                switch told {
                case .answered(200, _):
                    print("weft wait: \(command[0]) exited (status \(status)); the proxy was told to exit")
                case .answered(let code, let body):
                    Descriptor.standardError.writeAll("weft wait: \(command[0]) exited (status \(status)); the proxy's admin port answered \(code): \(body)\n")
                case .failed(let reason):
                    Descriptor.standardError.writeAll("weft wait: \(command[0]) exited (status \(status)); telling the proxy to exit failed: \(reason)\n")
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

    /// One `GET /healthz/ready` to 127.0.0.1:`port`.
    static func probe(port: UInt16) -> Probe {
        switch request("GET", "/healthz/ready", port: port) {
        case .failed(let reason):
            return .notReady(reason)
        case .answered(200, _):
            return .ready
        case .answered(let status, let body):
            let reason = body.split(separator: "\n").joined(separator: "; ")
            return .notReady("\(status)\(reason.isEmpty ? "" : ": " + reason)")
        }
    }

    enum Answer {
        case answered(Int, String)
        case failed(String)
    }

    /// One HTTP/1.1 request without a body to 127.0.0.1:`port` (blocking, 1 s timeouts).
    static func request(_ method: String, _ path: String, port: UInt16) -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed("socket: \(Errno.current)") }
        defer { Glibc.close(fd) }
        var limit = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failed("nothing listens on 127.0.0.1:\(port) (\(Errno.current))") }
        let length = method == "POST" ? "Content-Length: 0\r\n" : ""
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(length)Connection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return .failed("sending the request: \(Errno.current)")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while response.count < 65536 {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") || text.hasPrefix("HTTP/1.0 "), text.count >= 12, let status = Int(text.dropFirst(9).prefix(3)) else {
            return .failed(text.isEmpty ? "no answer from 127.0.0.1:\(port)" : "not an HTTP answer from 127.0.0.1:\(port)")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return .answered(status, body)
    }
}
