import Addresses
import Glibc
import HTTP
import LinuxSys
import Relay
import Routing
import Testing
@testable import Proxy

/// A router that hands out one scripted upstream socket pair per attempt and records what the
/// session told it.
private final class ScriptedRouter: HTTPRouting {
    enum Acquire {
        case ready
        case pending
        case failed
    }

    var decision: (HTTPRequestHead) -> RouteDecision
    var acquisitions: [Acquire] = []
    var upstreams: [SocketPair] = []
    var releases: [Bool] = []
    var outcomes: [EndpointPicker.Outcome] = []
    var retriesAllowed = true
    var retriesPrepared = 0
    var ended = 0
    var now: UInt64 = 1_000_000_000

    init(decision: @escaping (HTTPRequestHead) -> RouteDecision) {
        self.decision = decision
    }

    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, now: UInt64) -> RouteDecision { decision(head) }

    func acquireUpstream(for request: RoutedRequest) -> UpstreamAcquisition {
        let mode = acquisitions.isEmpty ? .ready : acquisitions.removeFirst()
        switch mode {
        case .ready:
            let pair = SocketPair()
            upstreams.append(pair)
            return .ready(.socket(pair.near), hungUp: false)
        case .pending:
            return .pending
        case .failed:
            return .failed(reason: "connect to 10.0.0.9:80: ECONNREFUSED", flag: .upstreamConnectionFailure)
        }
    }

    /// Completes a pending acquisition the way the worker does.
    func connect(_ session: HTTPSession) {
        let pair = SocketPair()
        upstreams.append(pair)
        session.attach(.socket(pair.near), hungUp: false)
    }

    func releaseUpstream(reusable: Bool) { releases.append(reusable) }
    func attemptEnded(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, now: UInt64) { outcomes.append(outcome) }

    func prepareRetry(_ request: RoutedRequest, now: UInt64) -> Bool {
        guard retriesAllowed else { return false }
        retriesPrepared += 1
        request.attempt += 1
        request.backoffUntil = now + 1_000_000
        return true
    }

    func requestEnded(_ request: RoutedRequest) { ended += 1 }

    /// The server end of the n-th upstream connection.
    func server(_ index: Int) -> Descriptor { upstreams[index].far }

    deinit { for pair in upstreams { pair.close() } }
}

private let endpoint = SocketAddress(IPv4Address(10, 0, 0, 9), port: 80)

private func forward(_ head: HTTPRequestHead, retry: HTTPRouteRetry? = nil, requestTimeout: Duration? = nil, tryTimeout: Duration? = nil, now: UInt64) -> RouteDecision {
    .forward(RoutedRequest(
        head: head, target: UpstreamTarget(address: endpoint, mutualTLS: false, expectedPeer: nil), balancer: nil, budgetOwner: PassthroughBudget(),
        endpointIndex: nil, retry: retry, requestTimeout: requestTimeout, tryTimeout: tryTimeout, now: now, routeName: "default/reviews"))
}

/// A routed session (outbound, no fixed upstream) between an application socket and the
/// router's scripted upstreams, with a clock the test moves.
private final class RoutedRig {
    let client = SocketPair()
    let buffers = BufferPool(bufferSize: 16 * 1024)
    let router: ScriptedRouter
    let host: TestSessionHost
    var logged: [HTTPExchange] { host.completed }
    var session: HTTPSession!

    init(retry: HTTPRouteRetry? = nil, requestTimeout: Duration? = nil, tryTimeout: Duration? = nil, ids: RequestIDSource? = nil) {
        let router = ScriptedRouter { _ in .respond(LocalAnswer(status: 500, body: "", reason: "unset", flag: nil)) }
        self.router = router
        router.decision = { [unowned router] head in
            forward(head, retry: retry, requestTimeout: requestTimeout, tryTimeout: tryTimeout, now: router.now)
        }
        host = TestSessionHost(clock: { [unowned router] in router.now })
        session = HTTPSession(
            direction: .outbound, client: .socket(client.far), upstream: nil, upstreamFailure: nil, buffers: buffers,
            host: host, router: router, ids: ids
        )
    }

    var application: Descriptor { client.near }

    /// The worker's notes of the edges of whatever arrived, on the client and on any upstream
    /// (one the session does not hold only costs it a read that finds nothing).
    func noteEdges() {
        session.noteEdges(client: client.far, upstream: nil)
        if router.upstreams.contains(where: { isReadable($0.near) }) { session.noteUpstreamReadable() }
    }

    func pumpRequests(budget: Int) -> HTTPSession.Outcome {
        noteEdges()
        return session.pumpRequests(budget: budget)
    }

    func pumpResponses(budget: Int) -> HTTPSession.Outcome {
        noteEdges()
        return session.pumpResponses(budget: budget)
    }

    /// Runs both directions until neither moves (what the worker's events would do here).
    func pump() {
        for _ in 0..<8 {
            noteEdges()
            _ = session.pumpRequests(budget: 16)
            noteEdges()
            _ = session.pumpResponses(budget: 16)
        }
    }

    /// Moves the clock past the session's routed deadline and lets it act.
    func passDeadline() {
        let deadline = session.routedDeadline
        #expect(deadline != 0, "a deadline to pass")
        router.now = max(router.now, deadline)
        #expect(session.routedDeadlinePassed(now: router.now) == nil)
        pump()
    }

    deinit {
        session.release()
        client.close()
    }
}

@Suite struct RoutedSessionTests {
    @Test func eachRequestGetsItsOwnUpstreamAndTheConnectionGoesBackToThePool() {
        let rig = RoutedRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: reviews\r\nX-Weft-Attempt-Count: 7\r\n\r\n")
        rig.pump()
        #expect(drain(rig.router.server(0)) == "GET /a HTTP/1.1\r\nHost: reviews\r\nx-weft-attempt-count: 1\r\n\r\n",
                "the attempt count is the proxy's, whatever the client sent")
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv1")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv1")
        #expect(rig.router.releases == [true])
        #expect(rig.router.outcomes == [.success] && rig.router.ended == 1)
        #expect(rig.logged.first?.endpoint == endpoint)

        send(rig.application, "GET /b HTTP/1.1\r\nHost: reviews\r\n\r\n")
        rig.pump()
        #expect(rig.router.upstreams.count == 2, "the second request is routed again")
        #expect(drain(rig.router.server(1)).hasPrefix("GET /b HTTP/1.1\r\n"))
        #expect(drain(rig.router.server(0)) == "", "nothing more on the first connection")
    }

    @Test func pipelinedRequestsGoUpstreamOneAtATime() {
        let rig = RoutedRig()
        send(rig.application, "GET /1 HTTP/1.1\r\nHost: r\r\n\r\nGET /2 HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(rig.router.upstreams.count == 1)
        #expect(drain(rig.router.server(0)) == "GET /1 HTTP/1.1\r\nHost: r\r\nx-weft-attempt-count: 1\r\n\r\n")
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
        rig.pump()
        #expect(rig.router.upstreams.count == 2)
        #expect(drain(rig.router.server(1)).hasPrefix("GET /2 HTTP/1.1\r\n"))
        send(rig.router.server(1), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
    }

    @Test func anUpstreamThatClosesBeforeRespondingIsRetriedWithTheBodyAfterTheBackoff() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 2, backoff: .milliseconds(1), codes: []))
        send(rig.application, "POST /order HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n\r\nhello")
        rig.pump()
        #expect(drain(rig.router.server(0)).hasSuffix("Content-Length: 5\r\nx-weft-attempt-count: 1\r\n\r\nhello"))
        shutdown(rig.router.server(0).rawValue, Int32(SHUT_RDWR))
        rig.session.noteUpstreamHangup()
        rig.pump()
        #expect(rig.router.outcomes == [.gatewayError])
        #expect(rig.router.releases == [false])
        #expect(rig.router.upstreams.count == 1, "the retry waits for its backoff")
        rig.passDeadline()
        #expect(rig.router.upstreams.count == 2)
        #expect(drain(rig.router.server(1)).hasSuffix("Content-Length: 5\r\nx-weft-attempt-count: 2\r\n\r\nhello"), "the body is sent again")
        send(rig.router.server(1), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.logged.first?.routed?.attempt == 2)
        #expect(rig.router.outcomes == [.gatewayError, .success] && rig.router.ended == 1)
    }

    @Test func theReplayCopyOfABodyGoesOnceTheConnectionIsIdle() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 2, backoff: .milliseconds(1), codes: []))
        send(rig.application, "POST /order HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n\r\nhello")
        rig.pump()
        #expect(rig.session.holdsIdleStorage, "the body is kept while a retry may need it")
        #expect(drain(rig.router.server(0)).hasSuffix("x-weft-attempt-count: 1\r\n\r\nhello"))
        send(rig.router.server(0), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
        // The next request with a body is kept (and sent) whole again.
        send(rig.application, "POST /again HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\n\r\nabc")
        rig.pump()
        #expect(drain(rig.router.server(1)).hasSuffix("x-weft-attempt-count: 1\r\n\r\nabc"))
        shutdown(rig.router.server(1).rawValue, Int32(SHUT_RDWR))
        rig.session.noteUpstreamHangup()
        rig.pump()
        rig.passDeadline()
        #expect(drain(rig.router.server(2)).hasSuffix("x-weft-attempt-count: 2\r\n\r\nabc"), "the retry sends the body again")
        send(rig.router.server(2), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(rig.session.isIdle && !rig.session.holdsIdleStorage)
    }

    @Test func aRetriableStatusIsNotForwardedButTriedAgain() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 1, backoff: .milliseconds(1), codes: [503]))
        send(rig.application, "GET /x HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        send(rig.router.server(0), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        rig.pump()
        #expect(drain(rig.application) == "", "the client never sees the 503")
        #expect(rig.router.outcomes == [.gatewayError])
        rig.passDeadline()
        _ = drain(rig.router.server(1))
        send(rig.router.server(1), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        rig.pump()
        // Attempts used up: the last response is the client's.
        #expect(drain(rig.application) == "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        #expect(rig.router.retriesPrepared == 1)
        #expect(rig.logged.first?.flag == .retriesExhausted)
    }

    @Test func withoutARetryTheFailureIsAnsweredWithItsReason() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 2, backoff: .milliseconds(1), codes: []))
        rig.router.retriesAllowed = false // the budget says no
        rig.router.acquisitions = [.failed]
        send(rig.application, "GET /x HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        let answer = drain(rig.application)
        #expect(answer.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(answer.contains("x-weft-reason: connect to 10.0.0.9:80: ECONNREFUSED\r\n"))
        #expect(rig.router.outcomes == [.connectFailure] && rig.router.ended == 1)
        #expect(rig.logged.first?.flag == .upstreamConnectionFailure)
        // The client connection stays usable.
        rig.router.retriesAllowed = true
        send(rig.application, "GET /y HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(drain(rig.router.server(0)).hasPrefix("GET /y HTTP/1.1\r\n"))
    }

    @Test func aPendingUpstreamIsAttachedLaterOrItsFailureAnswered() {
        let rig = RoutedRig()
        rig.router.acquisitions = [.pending, .pending]
        send(rig.application, "GET /a HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(rig.session.awaitingUpstream)
        rig.router.connect(rig.session)
        rig.pump()
        #expect(drain(rig.router.server(0)).hasPrefix("GET /a HTTP/1.1\r\n"))
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        _ = drain(rig.application)
        send(rig.application, "GET /b HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(rig.session.awaitingUpstream)
        rig.session.upstreamUnavailable(reason: "connect timeout (10s) to 10.0.0.9:80", flag: .upstreamConnectionFailure)
        rig.pump()
        let answer = drain(rig.application)
        #expect(answer.hasPrefix("HTTP/1.1 503 "))
        #expect(answer.contains("x-weft-reason: connect timeout (10s) to 10.0.0.9:80\r\n"))
    }

    @Test func theRequestTimeoutAnswers504AndDropsTheConnection() {
        let rig = RoutedRig(requestTimeout: .milliseconds(500))
        send(rig.application, "GET /slow HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(rig.session.routedDeadline == rig.router.now + 500_000_000)
        rig.passDeadline()
        let answer = drain(rig.application)
        #expect(answer.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(answer.contains("x-weft-reason: request timeout (500ms): no response from 10.0.0.9:80\r\n"))
        #expect(rig.router.releases == [false], "a connection with a late response coming cannot be reused")
        #expect(rig.logged.first?.flag == .upstreamTimeout)
        // A late answer on the dropped connection never reaches the client.
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application) == "")
    }

    @Test func aPerTryTimeoutRetriesAndTheRequestTimeoutStillBoundsTheWhole() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 5, backoff: .milliseconds(1), codes: []), requestTimeout: .seconds(1), tryTimeout: .milliseconds(300))
        send(rig.application, "GET /slow HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        let started = rig.router.now
        #expect(rig.session.routedDeadline == started + 300_000_000, "the first attempt's own deadline comes first")
        rig.passDeadline() // per-try timeout: a retry after its backoff
        #expect(rig.router.outcomes == [.gatewayError] && rig.router.retriesPrepared == 1)
        rig.passDeadline() // the backoff
        #expect(rig.router.upstreams.count == 2)
        #expect(drain(rig.router.server(1)).contains("x-weft-attempt-count: 2\r\n"))
        // Attempts of 300 ms and backoffs of 1 ms: the fourth attempt's own deadline (1.902 s)
        // is past the request's (1 s after the start), which answers.
        var answer = ""
        for _ in 0..<10 where answer.isEmpty {
            rig.passDeadline()
            answer = drain(rig.application)
        }
        #expect(rig.router.now == started + 1_000_000_000)
        #expect(answer.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(answer.contains("x-weft-reason: request timeout (1s)"))
        #expect(rig.router.retriesPrepared == 3 && rig.router.ended == 1)
        #expect(rig.router.outcomes == Array(repeating: .gatewayError, count: 4), "three per-try timeouts and the last attempt's")
    }

    @Test func aTimeoutInsideTheResponseFailsTheConnectionInsteadOfAnswering() {
        let rig = RoutedRig(requestTimeout: .milliseconds(500))
        send(rig.application, "GET /trickle HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        rig.pump()
        #expect(drain(rig.application).hasSuffix("abc"))
        rig.router.now = rig.session.routedDeadline
        let failure = rig.session.routedDeadlinePassed(now: rig.router.now)
        #expect(failure?.hasPrefix("request timeout (500ms) inside the response") == true, "\(failure ?? "nil")")
    }

    @Test func aBodyTooLargeToReplayIsNotRetried() {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 2, backoff: .milliseconds(1), codes: []))
        let size = HTTPSession.maximumReplayBytes + 1
        send(rig.application, "POST /big HTTP/1.1\r\nHost: r\r\nContent-Length: \(size)\r\n\r\n")
        rig.pump()
        var sent = 0
        let chunk = String(repeating: "z", count: 8192)
        while sent < size {
            let piece = String(chunk.prefix(size - sent))
            send(rig.application, piece)
            sent += piece.utf8.count
            rig.pump()
            _ = drain(rig.router.server(0))
        }
        shutdown(rig.router.server(0).rawValue, Int32(SHUT_RDWR))
        rig.session.noteUpstreamHangup()
        rig.pump()
        #expect(rig.router.retriesPrepared == 0)
        #expect(drain(rig.application).hasPrefix("HTTP/1.1 503 "))
    }

    @Test func theRoutersOwnAnswerKeepsTheConnection() {
        let rig = RoutedRig()
        rig.router.decision = { head in
            head.target == "/missing"
                ? .respond(LocalAnswer(status: 404, body: "", reason: "no rule of HTTPRoute default/reviews matches GET /missing", flag: .noRoute))
                : forward(head, now: 0)
        }
        send(rig.application, "GET /missing HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        let answer = drain(rig.application)
        #expect(answer.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(answer.contains("x-weft-reason: no rule of HTTPRoute default/reviews matches GET /missing\r\n"))
        #expect(!answer.contains("connection: close"))
        send(rig.application, "GET /there HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(drain(rig.router.server(0)).hasPrefix("GET /there HTTP/1.1\r\n"))
    }

    @Test func anUpstreamThatClosesAfterItsResponseIsNotReusedButTheClientStays() {
        let rig = RoutedRig()
        send(rig.application, "GET /a HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        send(rig.router.server(0), "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na")
        rig.pump()
        #expect(drain(rig.application) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "the client keeps its connection")
        #expect(rig.router.releases == [false])
        #expect(!peerClosed(rig.application))
    }

    @Test func aResponseBeforeTheWholeBodyDropsTheRestAndNothingReachesTheNextConnection() {
        let rig = RoutedRig()
        send(rig.application, "POST /upload HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\nabc")
        rig.pump()
        #expect(drain(rig.router.server(0)).hasSuffix("\r\n\r\nabc"))
        // The server answers before the body is complete (a 413, say), keeping its connection.
        send(rig.router.server(0), "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application).hasPrefix("HTTP/1.1 413 "))
        #expect(rig.router.releases == [false], "a connection inside a request body is not reused")
        send(rig.application, "defghijGET /next HTTP/1.1\r\nHost: r\r\n\r\n")
        rig.pump()
        #expect(rig.router.upstreams.count == 2)
        #expect(drain(rig.router.server(1)) == "GET /next HTTP/1.1\r\nHost: r\r\nx-weft-attempt-count: 1\r\n\r\n",
                "the rest of the first body went nowhere")
        #expect(drain(rig.router.server(0)) == "")
    }

    @Test func anAcceptedUpgradeHandsTheRoutedConnectionToTheTunnel() {
        let rig = RoutedRig()
        send(rig.application, "GET /chat HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        rig.pump()
        let forwarded = drain(rig.router.server(0))
        #expect(forwarded.contains("Upgrade: websocket\r\n") && forwarded.contains("x-weft-attempt-count: 1\r\n"), "\(forwarded)")
        send(rig.router.server(0), "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe")
        var outcome = HTTPSession.Outcome.blocked
        for _ in 0..<4 where outcome != .tunnel { outcome = rig.pumpResponses(budget: 16) }
        #expect(outcome == .tunnel)
        #expect(drain(rig.application).hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(rig.router.outcomes == [.success] && rig.router.ended == 1, "the request is over; the connection is the tunnel's")
        #expect(rig.router.releases.isEmpty, "never returned to the pool")
        let leftovers = rig.session.takeTunnelLeftovers()
        #expect(leftovers.toClient?.2 == 5, "the bytes behind the 101 go first through the tunnel")
        if let (buffer, _, _) = leftovers.toClient { rig.buffers.release(buffer) }
    }

    @Test func aClientThatClosesInsideItsRequestFailsTheConnection() {
        let rig = RoutedRig()
        send(rig.application, "POST /a HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\nabc")
        rig.pump()
        shutdown(rig.application.rawValue, Int32(SHUT_WR))
        rig.session.noteClientHangup()
        var outcome = HTTPSession.Outcome.blocked
        for _ in 0..<4 where outcome == .blocked { outcome = rig.pumpRequests(budget: 16) }
        guard case .failed(let clientFailed, _) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(clientFailed)
        rig.session.abandonRouted()
        #expect(rig.router.ended == 1)
    }
}

@Suite struct RoutedCorrelationTests {
    static let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    @Test func generatedIdsGoBeforeTheAttemptCountAndStayTheSameOnARetry() throws {
        let rig = RoutedRig(retry: HTTPRouteRetry(attempts: 1, backoff: .milliseconds(1), codes: [503]), ids: RequestIDSource(seed: 3))
        send(rig.application, "GET /x HTTP/1.1\r\nHost: r\r\nb3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n\r\n")
        rig.pump()
        let first = drain(rig.router.server(0))
        #expect(first.hasPrefix("GET /x HTTP/1.1\r\nHost: r\r\nb3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\nx-request-id: "), "\(first)")
        #expect(first.hasSuffix("\r\nx-weft-attempt-count: 1\r\n\r\n"))
        let forwardedHead = try #require(requestHeads(first).first)
        let ids = try #require(forwardedIDs(forwardedHead), "\(first)")
        send(rig.router.server(0), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        rig.passDeadline()
        let second = drain(rig.router.server(1))
        #expect(second == first.replacingOccurrences(of: "x-weft-attempt-count: 1", with: "x-weft-attempt-count: 2"),
                "the retry is the same request: same ids")
        send(rig.router.server(1), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        rig.pump()
        let correlation = try #require(rig.logged.first?.correlation)
        let id = try #require(RequestID(parsing: ids.requestID))
        #expect(correlation.trace == ids.trace && correlation.requestID == .generated(id))
    }

    @Test func validIdsAreForwardedUnchanged() {
        let rig = RoutedRig(ids: RequestIDSource(seed: 3))
        let head = "GET /x HTTP/1.1\r\nHost: r\r\nx-request-id: abc\r\ntraceparent: \(Self.trace)\r\ntracestate: congo=t61rcWkgMzE\r\n"
        send(rig.application, head + "\r\n")
        rig.pump()
        #expect(drain(rig.router.server(0)) == head + "x-weft-attempt-count: 1\r\n\r\n")
    }

    @Test func aClientsAttemptCountAndInvalidTraceparentAreBothReplaced() throws {
        let rig = RoutedRig(ids: RequestIDSource(seed: 3))
        send(rig.application, "GET /x HTTP/1.1\r\nHost: r\r\nx-weft-attempt-count: 9\r\ntraceparent: ff-\(Self.trace.dropFirst(3))\r\ntracestate: a=1\r\n\r\n")
        rig.pump()
        let forwarded = drain(rig.router.server(0))
        let head = try #require(requestHeads(forwarded).first)
        let ids = try #require(forwardedIDs(head), "\(forwarded)")
        #expect(ids.trace.traceID.description != "0af7651916cd43dd8448eb211c80319c")
        #expect(head.headers.values(for: "x-weft-attempt-count") == ["1"] && head.headers.values(for: "tracestate").isEmpty)
    }

    @Test func aRequestTheRouterAnswersHasIdsInItsLogLine() throws {
        let rig = RoutedRig(ids: RequestIDSource(seed: 3))
        rig.router.decision = { _ in .respond(LocalAnswer(status: 404, body: "", reason: "no rule matches", flag: .noRoute)) }
        send(rig.application, "GET /nowhere HTTP/1.1\r\nHost: r\r\nx-request-id: mine\r\n\r\n")
        rig.pump()
        #expect(drain(rig.application).hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        let correlation = try #require(rig.logged.first?.correlation)
        #expect(correlation.requestID == .received(Array("mine".utf8)[...]) && correlation.traceGenerated)
    }
}
