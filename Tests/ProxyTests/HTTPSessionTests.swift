import Glibc
import HTTP
import LinuxSys
import Policy
import Relay
import Testing
@testable import Proxy

/// An HTTPSession between an application socket and a server socket, driven by hand the way
/// the worker drives it.
private final class SessionRig {
    let client = SocketPair()   // near: the application, far: the proxy's accepted socket
    let upstream = SocketPair() // near: the proxy's upstream socket, far: the server
    let buffers: BufferPool
    let host: TestSessionHost
    var logged: [HTTPExchange] { host.completed }
    var session: HTTPSession!

    init(bufferSize: Int = 16 * 1024, ids: RequestIDSource? = nil, authorize: ((HTTPRequestHead) -> Decision)? = nil) {
        buffers = BufferPool(bufferSize: bufferSize)
        host = TestSessionHost(policy: authorize.map { decide in { head, _ in decide(head) } })
        session = HTTPSession(
            direction: .inbound, client: .socket(client.far), upstream: .socket(upstream.near), upstreamFailure: nil,
            buffers: buffers, host: host, ids: ids
        )
    }

    var application: Descriptor { client.near }
    var server: Descriptor { upstream.far }

    /// Pumps as the worker does after epoll_wait: the edges of whatever arrived are noted first.
    func pumpRequests(budget: Int) -> HTTPSession.Outcome { session.pumpRequests(budget: budget, afterEdgesOf: client.far, upstream.near) }
    func pumpResponses(budget: Int) -> HTTPSession.Outcome { session.pumpResponses(budget: budget, afterEdgesOf: client.far, upstream.near) }

    deinit {
        session.release()
        client.close()
        upstream.close()
    }
}

@Suite struct HTTPSessionTests {
    @Test func forwardsARequestAndItsResponseAndLogsTheExchange() {
        let rig = SessionRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\nConnection: keep-alive\r\nX-Trace: 1\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "GET /a HTTP/1.1\r\nHost: b\r\nX-Trace: 1\r\n\r\n", "hop-by-hop Connection dropped")
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(rig.logged.count == 1)
        #expect(rig.logged.first?.status == 200 && rig.logged.first?.responseBodyBytes == 5 && rig.logged.first?.path == "/a")
        // The connection stays usable.
        send(rig.application, "GET /b HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server).hasPrefix("GET /b HTTP/1.1\r\n"))
    }

    @Test func aShortReadWaitsForTheNextEdgeInsteadOfReadingAgain() {
        let rig = SessionRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        // Blocked on the client being readable, after one read: no EAGAIN read was needed.
        #expect(rig.session.requestWait == .sourceReadable)
    }

    @Test func theNextRequestIsReadOnlyAfterItsEdgeNotAfterTheResponse() {
        // Keep-alive: the request's read was short, so the client's socket was empty; finishing
        // the response must not make the session read it again (that read could only say EAGAIN,
        // once per request). Bytes that arrive are read once the worker notes their edge.
        let rig = SessionRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server).hasPrefix("GET /a HTTP/1.1\r\n"))
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application).hasPrefix("HTTP/1.1 200 OK\r\n"))
        // The next request is in the socket, but its edge has not been noted yet: no read.
        send(rig.application, "GET /b HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.session.pumpRequests(budget: 16) == .blocked)
        #expect(rig.session.requestWait == .sourceReadable)
        #expect(drain(rig.server) == "", "read without an edge")
        // A response-side wakeup does not make it read either.
        #expect(rig.session.pumpResponses(budget: 16) == .blocked)
        #expect(rig.session.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "")
        rig.session.noteClientReadable()
        #expect(rig.session.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server).hasPrefix("GET /b HTTP/1.1\r\n"))
    }

    @Test func aHangupAfterAShortReadIsReadWithoutAnotherEdge() {
        // EPOLLRDHUP comes with the FIN, and no edge after it: the session must read to the end
        // although its last read was short.
        let rig = SessionRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        _ = drain(rig.application)
        shutdown(rig.application.rawValue, Int32(SHUT_WR))
        rig.session.noteClientHangup()
        #expect(rig.session.pumpRequests(budget: 16) == .blocked)
        #expect(peerClosed(rig.server), "the client's end was read and passed on")
    }

    @Test func bytesThatArrivedWhileWaitingForTheClientAreReadWhenItDrains() {
        // The response direction reads a whole response (a short read: the upstream socket was
        // empty) and blocks on a full client; meanwhile the next response arrives, and its edge
        // passes while the direction waits for the client, not the upstream. Driven as the
        // worker drives it: pumped only when the readiness it waits for comes.
        let rig = SessionRig()
        var small: Int32 = 4096
        setsockopt(rig.client.far.rawValue, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        send(rig.application, "GET /big HTTP/1.1\r\nHost: b\r\n\r\nGET /next HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        let big = String(repeating: "b", count: 12_000)
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: \(big.utf8.count)\r\n\r\n" + big)
        _ = rig.pumpResponses(budget: 16)
        #expect(rig.session.responseWait == .destinationWritable, "12 kB into a 4 KiB socket buffer blocks")
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
        var received = ""
        for _ in 0..<1000 where rig.session.responseWait == .destinationWritable {
            received += drain(rig.application) // room again: the worker's writable edge
            _ = rig.pumpResponses(budget: 16)
        }
        received += drain(rig.application)
        #expect(received.hasSuffix("\r\n\r\nnext"), "the second response must not wait for an edge that already passed")
        #expect(rig.logged.map(\.status) == [200, 200])
    }

    @Test func aDirectionThatUsesItsBudgetYieldsInsteadOfWaitingForAnEdge() {
        // 64 KiB of body through 4 KiB buffers: one read per pump cannot take it all, and
        // edge-triggered epoll will not report the bytes left in the socket again.
        let rig = SessionRig(bufferSize: 4096)
        let body = String(repeating: "x", count: 65536)
        send(rig.application, "POST /up HTTP/1.1\r\nHost: b\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        var received = ""
        var yields = 0
        for _ in 0..<200 {
            let outcome = rig.pumpRequests(budget: 1)
            received += drain(rig.server)
            if outcome == .yielded { yields += 1; continue }
            #expect(outcome == .blocked)
            #expect(rig.session.requestWait != .nothing, "blocked without a readiness to wait for would stall")
            break
        }
        #expect(yields > 0)
        #expect(received.hasSuffix(body))
        #expect(received.hasPrefix("POST /up HTTP/1.1\r\nHost: b\r\nContent-Length: 65536\r\n\r\n"))
    }

    @Test func aResponseReadUntilCloseEndsWhenTheUpstreamHungUpAfterItsLastBytes() {
        let rig = SessionRig()
        send(rig.application, "GET /stream HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        // The body and the FIN arrive together: one edge for both.
        send(rig.server, "HTTP/1.1 200 OK\r\n\r\nall of it")
        shutdown(rig.server.rawValue, Int32(SHUT_WR))
        rig.session.noteUpstreamHangup() // what the worker does on EPOLLRDHUP
        var outcome = rig.pumpResponses(budget: 16)
        for _ in 0..<4 where outcome == .blocked && !peerClosed(rig.application) {
            outcome = rig.pumpResponses(budget: 16)
        }
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        #expect(peerClosed(rig.application), "the client got FIN after the body")
        #expect(rig.logged.map(\.status) == [200])
    }

    @Test func anAcceptedConnectBecomesATunnelWithTheBytesEachSideSentEarly() {
        let rig = SessionRig()
        // The client starts its TLS handshake right behind the CONNECT, as clients do.
        send(rig.application, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n\u{16}\u{03}\u{01}hello")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n", "nothing past the head before the answer")
        send(rig.server, "HTTP/1.1 200 Connection Established\r\n\r\nserver-first")
        #expect(rig.pumpResponses(budget: 16) == .tunnel)
        #expect(drain(rig.application) == "HTTP/1.1 200 Connection Established\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .tunnel)
        #expect(rig.session.outboxesEmpty)
        let leftovers = rig.session.takeTunnelLeftovers()
        func text(_ piece: (UnsafeMutableRawPointer, Int, Int)?) -> String {
            guard let (buffer, offset, count) = piece else { return "" }
            defer { rig.buffers.release(buffer) }
            return String(decoding: UnsafeRawBufferPointer(start: buffer + offset, count: count), as: UTF8.self)
        }
        #expect(text(leftovers.toUpstream) == "\u{16}\u{03}\u{01}hello", "the client's early bytes go to the tunnel, not the parser")
        #expect(text(leftovers.toClient) == "server-first")
        #expect(rig.logged.map(\.status) == [200] && rig.logged.first?.method == .CONNECT)
    }

    @Test func aRefusedConnectLeavesTheConnectionSpeakingHTTP() {
        let rig = SessionRig()
        send(rig.application, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        send(rig.server, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
        send(rig.application, "GET /after HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "GET /after HTTP/1.1\r\nHost: b\r\n\r\n")
    }

    @Test func afterTheLastResponseTheClientsLateBytesAreDrainedUntilItsEnd() {
        let rig = SessionRig()
        send(rig.application, "GET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application).hasSuffix("\r\n\r\nok"))
        #expect(peerClosed(rig.application), "FIN after the last response")
        #expect(rig.session.isClosing && rig.session.requestWait == .sourceReadable)
        // The client still sends, then closes: its readiness wakes the request direction, which
        // drains and finishes (a reset here could destroy the response before the client read it).
        send(rig.application, "late bytes the proxy must read and drop")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        shutdown(rig.application.rawValue, Int32(SHUT_WR))
        rig.session.noteClientHangup()
        #expect(rig.pumpRequests(budget: 16) == .finished)
    }

    @Test func aDeniedRequestGetsA403InTurnAndTheConnectionStaysUsable() {
        let deny = Decision(reason: .deniedByPolicy, policyIndex: 0, ruleIndex: 0, policyName: "default/no-admin", audited: [])
        let allow = Decision(reason: .allowedByDefault, policyIndex: nil, ruleIndex: nil, policyName: Decision.defaultAllowName, audited: [])
        let rig = SessionRig { head in head.path.hasPrefix("/admin") ? deny : allow }
        // Pipelined: allowed, denied (with a body that must not reach the server), allowed.
        send(rig.application, "GET /one HTTP/1.1\r\nHost: b\r\n\r\n"
            + "POST /admin HTTP/1.1\r\nHost: b\r\nContent-Length: 6\r\n\r\nsecret"
            + "GET /two HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        let forwarded = drain(rig.server)
        #expect(forwarded == "GET /one HTTP/1.1\r\nHost: b\r\n\r\nGET /two HTTP/1.1\r\nHost: b\r\n\r\n")
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
        var answered = ""
        for _ in 0..<4 {
            _ = rig.pumpResponses(budget: 16)
            answered += drain(rig.application)
        }
        let responses = answered.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(responses.count == 3)
        #expect(responses.map { String($0.prefix(3)) } == ["200", "403", "200"], "answered in order")
        #expect(answered.contains("x-weft-reason: denied by default/no-admin\r\n"))
        #expect(answered.contains("RBAC: access denied"))
        #expect(!answered.lowercased().contains("connection: close"))
        #expect(rig.logged.map(\.status) == [200, 403, 200])
        #expect(rig.logged[1].flag == .denied && rig.logged[1].decision == deny)
    }
}

/// The request heads in `text` (what a server received), parsed.
func requestHeads(_ text: String) -> [HTTPRequestHead] {
    var parser = HTTPMessageParser(.request)
    var bytes = Array(text.utf8)[...]
    var heads: [HTTPRequestHead] = []
    while !bytes.isEmpty {
        switch parser.parse(bytes) {
        case .requestHead(let head, _, let consumed):
            heads.append(head)
            bytes = bytes.dropFirst(consumed)
        case .needMoreInput(let consumed), .body(_, _, let consumed), .messageEnd(_, let consumed):
            if consumed == 0 && parser.waitingFor != .head(firstByteSeen: false) { return heads }
            bytes = bytes.dropFirst(consumed)
        default:
            return heads
        }
    }
    return heads
}

/// The one `x-request-id` and the one valid `traceparent` of a forwarded head (nil if not so).
func forwardedIDs(_ head: HTTPRequestHead) -> (requestID: String, trace: TraceContext)? {
    let ids = head.headers.values(for: "x-request-id")
    let traces = head.headers.values(for: "traceparent")
    guard ids.count == 1, traces.count == 1, let trace = TraceContext(parsing: traces[0]) else { return nil }
    return (ids[0], trace)
}

@Suite struct HTTPSessionCorrelationTests {
    static let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    static let b3 = "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\nX-B3-SpanId: e457b5a2e4d86bd1\r\nX-B3-Sampled: 1\r\n"
        + "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n"

    @Test func requestsWithoutIdsGetNewOnesEachTheirOwn() throws {
        let rig = SessionRig(ids: RequestIDSource(seed: 7))
        var seen: [(String, TraceContext)] = []
        for path in ["/a", "/b", "/c"] {
            send(rig.application, "GET \(path) HTTP/1.1\r\nHost: b\r\n\(Self.b3)\r\n")
            #expect(rig.pumpRequests(budget: 16) == .blocked)
            let forwarded = drain(rig.server)
            // The client's fields first, untouched (B3 is not W3C: passed through); the ids after them.
            #expect(forwarded.hasPrefix("GET \(path) HTTP/1.1\r\nHost: b\r\n\(Self.b3)x-request-id: "), "\(forwarded)")
            let head = try #require(requestHeads(forwarded).first)
            let ids = try #require(forwardedIDs(head), "one x-request-id and one valid traceparent: \(forwarded)")
            #expect(forwarded.hasSuffix("\r\ntraceparent: \(ids.trace)\r\n\r\n"))
            #expect(RequestID(parsing: ids.requestID) != nil, "a lowercase UUID v4: \(ids.requestID)")
            #expect(ids.trace.version == 0 && ids.trace.flags == 0, "nothing was sampled: \(ids.trace)")
            seen.append(ids)
            send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            #expect(rig.pumpResponses(budget: 16) == .blocked)
            _ = drain(rig.application)
        }
        #expect(Set(seen.map(\.0)).count == 3, "a request id per request")
        #expect(Set(seen.map(\.1.traceID)).count == 3 && Set(seen.map(\.1.parentID)).count == 3, "a trace per request")
        // The log line gets what was forwarded.
        #expect(rig.logged.count == 3)
        for (exchange, ids) in zip(rig.logged, seen) {
            let correlation = try #require(exchange.correlation)
            #expect(correlation.trace == ids.1)
            let id = try #require(RequestID(parsing: ids.0))
            #expect(correlation.requestID == .generated(id))
        }
    }

    @Test func validIdsAreForwardedByteForByte() throws {
        let rig = SessionRig(ids: RequestIDSource(seed: 7))
        let head = "POST /orders HTTP/1.1\r\nHost: b\r\nX-Request-ID: 7c0f5a1e-client-chosen\r\ntraceparent: \(Self.trace)\r\n"
            + "tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\r\n\(Self.b3)Content-Length: 5\r\n\r\n"
        send(rig.application, head + "hello")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == head + "hello")
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        let correlation = try #require(rig.logged.first?.correlation)
        #expect(correlation.received == .valid && correlation.trace.description == Self.trace)
        #expect(correlation.requestID == .received(Array("7c0f5a1e-client-chosen".utf8)[...]))
    }

    @Test func anInvalidTraceparentIsReplacedAndItsTracestateDropped() throws {
        let rig = SessionRig(ids: RequestIDSource(seed: 7))
        // Uppercase hex is not Trace Context (§3.2.2: HEXDIGLC).
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\nTraceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01\r\n"
            + "tracestate: congo=t61rcWkgMzE\r\nx-request-id: kept\r\n\(Self.b3)\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        let forwarded = drain(rig.server)
        #expect(forwarded.hasPrefix("GET /a HTTP/1.1\r\nHost: b\r\nx-request-id: kept\r\n\(Self.b3)traceparent: 00-"), "\(forwarded)")
        let forwardedHead = try #require(requestHeads(forwarded).first)
        let ids = try #require(forwardedIDs(forwardedHead))
        #expect(ids.requestID == "kept")
        #expect(ids.trace.traceID.description != "4bf92f3577b34da6a3ce929d0e0e4736" && ids.trace.flags == 0)
        #expect(!forwarded.lowercased().contains("tracestate"))
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        send(rig.server, "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(rig.logged.first?.correlation?.received == .invalid)
        #expect(rig.logged.first?.correlation?.trace == ids.trace)
    }

    @Test func aTraceparentTheClientMakesHopByHopIsReplaced() throws {
        let rig = SessionRig(ids: RequestIDSource(seed: 7))
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\nConnection: traceparent\r\ntraceparent: \(Self.trace)\r\nx-request-id: r\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        let forwarded = drain(rig.server)
        let forwardedHead = try #require(requestHeads(forwarded).first)
        let ids = try #require(forwardedIDs(forwardedHead), "\(forwarded)")
        #expect(ids.trace.description != Self.trace, "the next hop never sees the client's: a new trace is what it gets")
    }

    @Test func anUpgradeRequestGetsIdsToo() throws {
        let rig = SessionRig(ids: RequestIDSource(seed: 7))
        send(rig.application, "GET /chat HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        let forwarded = drain(rig.server)
        let head = try #require(requestHeads(forwarded).first)
        #expect(forwardedIDs(head) != nil, "\(forwarded)")
        #expect(head.headers.values(for: "Upgrade") == ["websocket"] && head.headers.containsToken("upgrade", in: "Connection"))
    }

    @Test func answersTheProxyGivesItselfStillHaveIds() throws {
        let deny = Decision(reason: .deniedByPolicy, policyIndex: 0, ruleIndex: 0, policyName: "default/no-admin", audited: [])
        let rig = SessionRig(ids: RequestIDSource(seed: 7)) { _ in deny }
        send(rig.application, "GET /admin HTTP/1.1\r\nHost: b\r\ntraceparent: \(Self.trace)\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "", "nothing is forwarded")
        for _ in 0..<4 { _ = rig.pumpResponses(budget: 16) }
        let answered = drain(rig.application)
        #expect(answered.hasPrefix("HTTP/1.1 403 Forbidden\r\n") && answered.contains("HTTP/1.1 400 Bad Request\r\n"))
        #expect(rig.logged.map(\.status) == [403, 400])
        let denied = try #require(rig.logged.first?.correlation)
        #expect(denied.trace.description == Self.trace, "the client's trace, for the 403's line")
        guard case .generated = denied.requestID else { Issue.record("the 403 has a generated request id"); return }
        // The second request has no Host: refused by the parser, before there is a head.
        let refused = try #require(rig.logged.last?.correlation)
        #expect(refused.traceGenerated && refused.trace != denied.trace)
    }
}

@Suite struct OutboxTests {
    @Test func piecesLeaveInOrderInOneWriteAndMadeBytesAreJoined() {
        let pair = SocketPair()
        defer { pair.close() }
        let input = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 1)
        defer { input.deallocate() }
        for (index, byte) in "0123456789".utf8.enumerated() { input.storeBytes(of: byte, toByteOffset: index, as: UInt8.self) }
        var outbox = Outbox(pool: StagingPool())
        outbox.append(Array("head;".utf8))
        outbox.append(input: 0, to: 4)
        outbox.append(Array("\r\n".utf8))
        outbox.append(Array("5\r\n".utf8)) // joins the previous piece
        outbox.append(input: 4, to: 9)
        #expect(outbox.segments.count == 4)
        #expect(outbox.bytesQueued == 19)
        #expect(outbox.flush(to: .socket(pair.near), input: input) == .bytes(0))
        #expect(outbox.isEmpty && outbox.bytesQueued == 0)
        #expect(drain(pair.far) == "head;0123\r\n5\r\n45678")
    }

    @Test func moreThanOneVectorsWorthGoesOutInSeveralWrites() {
        let pair = SocketPair()
        defer { pair.close() }
        var outbox = Outbox(pool: StagingPool())
        var expected = ""
        let input = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 1)
        defer { input.deallocate() }
        for index in 0..<64 { input.storeBytes(of: UInt8(65 + index % 26), toByteOffset: index, as: UInt8.self) }
        for index in 0..<(Outbox.maximumVectors * 3) {
            outbox.append(Array("<\(index)>".utf8))
            outbox.append(input: index, to: index + 1)
            expected += "<\(index)>" + String(UnicodeScalar(UInt8(65 + index % 26)))
        }
        #expect(outbox.isFull)
        #expect(outbox.flush(to: .socket(pair.near), input: input) == .bytes(0))
        #expect(drain(pair.far) == expected)
    }

    @Test func aFullSocketKeepsTheRestQueuedFromWhereTheWriteStopped() {
        let pair = SocketPair()
        defer { pair.close() }
        var size: Int32 = 4096
        setsockopt(pair.near.rawValue, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var outbox = Outbox(pool: StagingPool())
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: 100_000)
        outbox.append(block)
        outbox.append(Array("end".utf8))
        guard case .wait(readable: false) = outbox.flush(to: .socket(pair.near), input: nil) else {
            Issue.record("a 100 kB write into a 4 KiB socket buffer should have blocked")
            return
        }
        #expect(!outbox.isEmpty)
        var received = ""
        for _ in 0..<1000 where !received.hasSuffix("end") {
            received += drain(pair.far)
            _ = outbox.flush(to: .socket(pair.near), input: nil)
        }
        #expect(received.utf8.count == 100_003 && received.hasSuffix("aend"))
        #expect(outbox.isEmpty && outbox.bytesQueued == 0)
    }

    @Test func bytesMadeAfterAPartialWriteFollowTheRestEvenWhenTheStagingArrayGrows() {
        let pair = SocketPair()
        defer { pair.close() }
        var size: Int32 = 4096
        setsockopt(pair.near.rawValue, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var outbox = Outbox(pool: StagingPool())
        outbox.append([UInt8](repeating: UInt8(ascii: "a"), count: 50_000))
        guard case .wait = outbox.flush(to: .socket(pair.near), input: nil) else {
            Issue.record("a 50 kB write into a 4 KiB socket buffer should have blocked")
            return
        }
        // Appended while the first bytes are half written: the array grows (moves), and the
        // pieces are offsets into it, so nothing is lost or reordered.
        outbox.append { $0.append(contentsOf: [UInt8](repeating: UInt8(ascii: "b"), count: 100_000)) }
        outbox.append(Array("end".utf8))
        var received = ""
        for _ in 0..<2000 where !received.hasSuffix("end") {
            received += drain(pair.far)
            _ = outbox.flush(to: .socket(pair.near), input: nil)
        }
        #expect(received == String(repeating: "a", count: 50_000) + String(repeating: "b", count: 100_000) + "end")
        #expect(outbox.isEmpty && outbox.bytesQueued == 0)
    }

    @Test func aFlushedOutboxGivesItsStagingArrayBackForTheNextMessage() {
        let pair = SocketPair()
        defer { pair.close() }
        let pool = StagingPool()
        var outbox = Outbox(pool: pool)
        outbox.append(Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
        #expect(outbox.flush(to: .socket(pair.near), input: nil) == .bytes(0))
        #expect(drain(pair.far) == "HTTP/1.1 200 OK\r\n\r\n")
        let reused = pool.take()
        #expect(reused.isEmpty && reused.capacity >= 19, "the flushed bytes' storage is in the pool, emptied")
        var big = [UInt8](repeating: 0, count: StagingPool.maximumKeptCapacity + 1)
        pool.give(&big)
        #expect(big.capacity == 0 && pool.take().capacity == 0, "an array that grew too large is not kept")
    }
}

/// What an idle keep-alive session keeps: nothing allocated beyond its own fields (no pool
/// buffer, no queue storage past two entries, no partial head), whatever its last exchanges
/// were, and it serves the next request as if it had never let go.
@Suite struct IdleSessionStorageTests {
    /// One more GET after the session went idle: forwarded and answered whole.
    private func servesAnotherRequest(_ rig: SessionRig) {
        send(rig.application, "GET /again HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "GET /again HTTP/1.1\r\nHost: b\r\n\r\n")
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
    }

    @Test func aSingleExchangeLeavesNothingBehind() {
        let rig = SessionRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(rig.session.holdsIdleStorage == false, "the request went out whole: its buffer went back")
        _ = drain(rig.server)
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
        #expect(rig.buffers.lent == 0)
        servesAnotherRequest(rig)
    }

    @Test func pipelinedRequestsSpillAndTheIdleSessionGivesItBack() {
        let rig = SessionRig()
        let paths = (1...5).map { "/p\($0)" }
        send(rig.application, paths.map { "GET \($0) HTTP/1.1\r\nHost: b\r\n\r\n" }.joined())
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == paths.map { "GET \($0) HTTP/1.1\r\nHost: b\r\n\r\n" }.joined())
        #expect(rig.session.holdsIdleStorage, "five requests in flight need room past two")
        // All five answers in one segment: the outbox to the client holds five heads and bodies.
        send(rig.server, paths.map { "HTTP/1.1 200 OK\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" }.joined())
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == paths.map { "HTTP/1.1 200 OK\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" }.joined())
        #expect(rig.logged.map(\.path) == paths)
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
        servesAnotherRequest(rig)
    }

    @Test func aHeadSplitAcrossReadsLeavesNoCopyBehind() {
        let rig = SessionRig()
        send(rig.application, "GET /split HTTP/1.1\r\nHost: b\r\nX-Long: ")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(!rig.session.isIdle, "a head has started")
        send(rig.application, String(repeating: "v", count: 3000) + "\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "GET /split HTTP/1.1\r\nHost: b\r\nX-Long: " + String(repeating: "v", count: 3000) + "\r\n\r\n")
        send(rig.server, "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage, "the parser's copy of the split head went back")
        servesAnotherRequest(rig)
    }

    @Test func chunkedBodiesBothWaysLeaveNothingBehind() {
        let rig = SessionRig()
        send(rig.application, "POST /up HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        #expect(drain(rig.server) == "POST /up HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        send(rig.server, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n1\r\n!\r\n0\r\n\r\n")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n1\r\n!\r\n0\r\n\r\n")
        #expect(rig.logged.first?.requestBodyBytes == 5 && rig.logged.first?.responseBodyBytes == 5)
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
        servesAnotherRequest(rig)
    }

    @Test func aResponseSplitAcrossReadsIsForwardedWholeAndLeavesNothing() {
        let rig = SessionRig()
        send(rig.application, "GET /slow HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.server)
        send(rig.server, "HTTP/1.1 200 OK\r\nContent-")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        send(rig.server, "Length: 10\r\n\r\n01234")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(!rig.session.isIdle, "half a body is still to come")
        send(rig.server, "56789")
        #expect(rig.pumpResponses(budget: 16) == .blocked)
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
        servesAnotherRequest(rig)
    }
}
