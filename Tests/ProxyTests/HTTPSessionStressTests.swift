import Glibc
import HTTP
import LinuxSys
import Policy
import Relay
import Routing
import Testing
@testable import Proxy

/// What clients and servers send: well-formed messages, the awkward ones (CONNECT and Upgrade
/// with bytes behind them, 100-continue, bodies read until close) and malformed ones.
private let requestPieces: [String] = [
    "GET /a HTTP/1.1\r\nHost: b\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n\u{16}\u{03}\u{01}early",
    "GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n\u{81}\u{02}hi",
    "PUT /e HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "GET /close HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
    "GET /old HTTP/1.0\r\nHost: b\r\n\r\n",
    "POST /s HTTP/1.1\r\nHost: b\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    "GET /bad HTTP/1.1\r\nHost: b\r\nX: a\rb\r\n\r\n",
    "\u{0}\u{1}garbage\r\n\r\n",
    "GET /partial HTTP/1.1\r\nHo",
    "HEAD /h HTTP/1.1\r\nHost: b\r\n\r\n",
]

private let responsePieces: [String] = [
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{02}yo",
    "HTTP/1.1 200 Connection Established\r\n\r\nserver-bytes",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\r\nuntil close",
    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
    "garbage\r\n\r\n",
    "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
]

private func pair() -> (Descriptor, Descriptor) {
    var fds: [Int32] = [0, 0]
    let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    precondition(result == 0, "socketpair: \(errno)")
    return (Descriptor(rawValue: fds[0]), Descriptor(rawValue: fds[1]))
}

/// Sends what the socket takes now; returns how many bytes went.
private func sendSome(_ fd: Descriptor, _ bytes: ArraySlice<UInt8>) -> Int {
    guard !bytes.isEmpty else { return 0 }
    let sent = bytes.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    return max(sent, 0)
}

/// Reads and drops what is available; returns how many bytes that was.
@discardableResult
private func discardAvailable(_ fd: Descriptor) -> Int {
    var buffer = [UInt8](repeating: 0, count: 65536)
    var total = 0
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress!, $0.count, 0) }
        if count <= 0 { return total }
        total += count
    }
}

@Suite struct HTTPSessionStressTests {
    /// Random streams of good, awkward and malformed messages on both ends, cut at random points
    /// and pumped in random order with random budgets, ends closing at random. Every pump must
    /// return (a session that cannot leave a state trips the step guard, an assertion in debug
    /// builds), and the session must reach an end once both peers have closed.
    @Test(arguments: 0..<2000)
    func randomExchangesAlwaysEnd(seed: UInt64) {
        var rng = SplitMix64(seed: seed &* 0x1234_5678_9ABC_DEF1 &+ 7) // Routing's: one seeded generator for the package
        let (application, proxyClient) = pair()
        let (proxyUpstream, server) = pair()
        defer { [application, proxyClient, proxyUpstream, server].forEach { $0.close() } }
        let buffers = BufferPool(bufferSize: [512, 4096, 16384].randomElement(using: &rng)!)
        let denyPath = Bool.random(using: &rng)
        let deny = Decision(reason: .deniedByPolicy, policyIndex: 0, ruleIndex: 0, policyName: "default/deny", audited: [])
        let allow = Decision(reason: .allowedByDefault, policyIndex: nil, ruleIndex: nil, policyName: Decision.defaultAllowName, audited: [])
        let host = TestSessionHost(policy: denyPath ? { head, _ in head.path.hasPrefix("/p") ? deny : allow } : nil)
        let session = HTTPSession(
            direction: .inbound, client: .socket(proxyClient), upstream: .socket(proxyUpstream), upstreamFailure: nil,
            buffers: buffers, host: host
        )
        defer {
            session.release()
            withExtendedLifetime(host) {}
        }

        var requests: [UInt8] = []
        var responses: [UInt8] = []
        for _ in 0..<Int.random(in: 1...6, using: &rng) { requests += Array(requestPieces.randomElement(using: &rng)!.utf8) }
        for _ in 0..<Int.random(in: 1...6, using: &rng) { responses += Array(responsePieces.randomElement(using: &rng)!.utf8) }
        var requestsSent = 0
        var responsesSent = 0
        var clientClosed = false
        var serverClosed = false
        var ended = false
        var serverReceived = 0

        for step in 0..<400 where !ended {
            let bothDone = requestsSent == requests.count && responsesSent == responses.count
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where requestsSent < requests.count:
                let cut = min(requests.count, requestsSent + Int.random(in: 1...64, using: &rng))
                requestsSent += sendSome(application, requests[requestsSent..<cut])
                session.noteClientReadable() // the worker notes the edge the bytes bring
            case 1 where responsesSent < responses.count && serverReceived > 0:
                // A server answers what it was asked (an unasked response fails the session at once).
                let cut = min(responses.count, responsesSent + Int.random(in: 1...64, using: &rng))
                responsesSent += sendSome(server, responses[responsesSent..<cut])
                session.noteUpstreamReadable()
            case 2:
                let outcome = session.pumpRequests(budget: Int.random(in: 1...16, using: &rng))
                if outcome != .blocked && outcome != .yielded { ended = true }
            case 3:
                let outcome = session.pumpResponses(budget: Int.random(in: 1...16, using: &rng))
                if outcome != .blocked && outcome != .yielded { ended = true }
            case 4:
                discardAvailable(application)
            case 5:
                serverReceived += discardAvailable(server)
            case 6 where (bothDone || step > 200) && !clientClosed:
                shutdown(application.rawValue, Int32(SHUT_WR))
                session.noteClientHangup()
                clientClosed = true
            case 7 where (bothDone || step > 200) && !serverClosed:
                shutdown(server.rawValue, Int32(SHUT_WR))
                session.noteUpstreamHangup()
                serverClosed = true
            default:
                break
            }
        }
        if !ended {
            // Both peers go away and keep reading: the session must now end within a bounded
            // number of pumps, whatever state it was in.
            if !clientClosed { shutdown(application.rawValue, Int32(SHUT_WR)); session.noteClientHangup() }
            if !serverClosed { shutdown(server.rawValue, Int32(SHUT_WR)); session.noteUpstreamHangup() }
            for _ in 0..<200 where !ended {
                discardAvailable(application)
                discardAvailable(server)
                let first = session.pumpRequests(budget: 16)
                let second = session.pumpResponses(budget: 16)
                ended = [first, second].contains { $0 != .blocked && $0 != .yielded }
            }
        }
        #expect(ended, "seed \(seed): the session did not end after both peers closed")
    }
}
