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

    /// One `GET /healthz/ready` to 127.0.0.1:`port` (blocking, 1 s timeouts).
    static func probe(port: UInt16) -> Probe {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .notReady("socket: \(Errno.current)") }
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
        guard connected == 0 else { return .notReady("nothing listens on 127.0.0.1:\(port) (\(Errno.current))") }
        let request = Array("GET /healthz/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return .notReady("sending the probe: \(Errno.current)")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while response.count < 65536 {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") || text.hasPrefix("HTTP/1.0 "), text.count >= 12 else {
            return .notReady(text.isEmpty ? "no answer from 127.0.0.1:\(port)" : "not an HTTP answer from 127.0.0.1:\(port)")
        }
        let status = text.dropFirst(9).prefix(3)
        if status == "200" { return .ready }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        let reason = body.split(separator: "\n").joined(separator: "; ")
        return .notReady("\(status)\(reason.isEmpty ? "" : ": " + reason)")
    }
}
