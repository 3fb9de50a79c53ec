import Addresses
import HTTP
import Identity
import LinuxSys
import Policy
import Relay
import Routing

/// A parsed header block as the policy engine reads it (`request.headers[...]` conditions).
struct PolicyHeaderView: AuthorizationHeaderFields {
    let headers: HTTPHeaders

    func authorizationValue(ofField name: String) -> Substring.UTF8View? {
        let values = headers.values(for: name)
        guard !values.isEmpty else { return nil }
        // RFC 9110 §5.3: a field sent on several lines means the comma-joined list.
        let joined = values.count == 1 ? values[0] : values.joined(separator: ",")
        let trimmed = joined.drop { $0 == " " || $0 == "\t" }
        var end = trimmed.endIndex
        while end > trimmed.startIndex, trimmed[trimmed.index(before: end)] == " " || trimmed[trimmed.index(before: end)] == "\t" {
            end = trimmed.index(before: end)
        }
        return trimmed[..<end].utf8
    }
}

extension Worker {
    /// Starts proxying an HTTP/1 connection at L7. Without an upstream (it could not be reached)
    /// every request is answered with 503 and the reason.
    func startHTTPSession(_ connection: Connection, upstreamFailure: String?, routed: Bool = false) {
        connection.phase = .relaying
        var clientEnd = RelayEndpoint.socket(connection.client)
        var upstreamEnd = connection.upstream.map { RelayEndpoint.socket($0) }
        if let tls = connection.tls {
            let channel = TLSChannel(tls)
            if connection.tlsOnClientSide {
                clientEnd = .secure(channel, over: connection.client)
            } else if let upstream = connection.upstream {
                upstreamEnd = .secure(channel, over: upstream)
            }
        }

        // The session holds the ends. The connection is its host (time, policy, the end of each
        // exchange) and, routed, its router: nothing per connection is copied into closures. The
        // staging and header storage are the worker's, lent per message.
        let session = HTTPSession(
            direction: connection.direction, client: clientEnd, upstream: upstreamEnd, upstreamFailure: upstreamFailure,
            buffers: buffers, staging: staging, headerStorage: headerStorage, host: connection, router: routed ? connection : nil, ids: requestIDs
        )
        if let (buffer, count) = connection.early {
            connection.early = nil
            if count > 0 { session.seedRequests(buffer: buffer, count: count) } else { buffers.release(buffer) }
        }
        if connection.clientHungUp { session.noteClientHangup() }
        if connection.upstreamHungUp { session.noteUpstreamHangup() }
        if draining, connection.direction == .inbound { session.beginDrain() }
        connection.http = session
        loop.timers.schedule(connection.slot + 1, at: loop.now + idleTimeout)
        driveHTTP(connection, session, requests: true, responses: true)
    }

    /// Runs the session's directions that can make progress, then acts on how they stopped.
    func driveHTTP(_ connection: Connection, _ session: HTTPSession, requests: Bool, responses: Bool) {
        var runRequests = requests
        var runResponses = responses
        // A request direction can unblock the response direction (the proxy's own answer is next)
        // and the other way round (a completed response makes room for pipelined requests), so
        // they are run in turn until neither has anything to do without new readiness.
        var requestsYielded = false
        var responsesYielded = false
        for _ in 0..<4 where runRequests || runResponses {
            if runRequests {
                let outcome = session.pumpRequests(budget: pumpBudget)
                if outcome == .yielded { requestsYielded = true }
                guard settleHTTP(connection, outcome) else { return }
            }
            if runResponses || session.responsesReady {
                let outcome = session.pumpResponses(budget: pumpBudget)
                if outcome == .yielded { responsesYielded = true }
                guard settleHTTP(connection, outcome) else { return }
            }
            // A direction that yielded runs again from the queue, after other connections.
            runResponses = session.responsesReady && !responsesYielded
            runRequests = session.requestWait == .nothing && !session.isClosing && !requestsYielded
        }
        if requestsYielded || responsesYielded { queue(connection) }
        if session.requestHeadStartedAt != 0, let deadline = loop.timers.deadline(of: connection.slot + 1),
           session.requestHeadStartedAt + HTTPSession.headerTimeout < deadline {
            loop.timers.schedule(connection.slot + 1, at: session.requestHeadStartedAt + HTTPSession.headerTimeout)
        }
        if connection.routesRequests {
            // Routed: a request or per-try timeout, a retry's backoff, a pooled connect.
            var due = session.routedDeadline
            if let lease = leaseDeadline(connection) { due = due == 0 ? lease : min(due, lease) }
            if due != 0, due < loop.timers.deadline(of: connection.slot + 1) ?? .max {
                loop.timers.schedule(connection.slot + 1, at: due)
            }
        }
        if session.isClosing, connection.lingerStarted == 0 {
            // Bound the lingering close: the client has two seconds to send its FIN.
            connection.lingerStarted = loop.now
            loop.timers.schedule(connection.slot + 1, at: loop.now + 2_000_000_000)
        }
    }

    /// Acts on a session outcome; false when the connection is gone or changed mode.
    private func settleHTTP(_ connection: Connection, _ outcome: HTTPSession.Outcome) -> Bool {
        switch outcome {
        case .blocked, .yielded:
            return true
        case .finished:
            close(connection, end: .closed, reset: false)
            return false
        case .failed(let clientFailed, let detail):
            connection.failureDetail = detail
            close(connection, end: clientFailed ? .clientReset : .upstreamReset, reset: true)
            return false
        case .tunnel:
            guard let session = connection.http, session.outboxesEmpty else { return true }
            becomeTunnel(connection, session)
            return false
        }
    }

    /// An accepted Upgrade (WebSocket) or CONNECT: from here the connection is a byte relay; the
    /// bytes each side sent past the handshake go first.
    private func becomeTunnel(_ connection: Connection, _ session: HTTPSession) {
        var upstreamEnd = session.ends.upstream
        if connection.routesRequests {
            // Routed: the pooled connection the upgrade went over carries the tunnel.
            upstreamEnd = connection.lease?.relayEndpoint
            if let lease = connection.lease { connection.upstreamHungUp = lease.hungUp }
        }
        guard let upstreamEnd else {
            connection.failureDetail = "an upgrade was accepted without an upstream connection"
            close(connection, end: .error, reset: true)
            return
        }
        // The relay's directions start with the hangups the sockets already reported.
        connection.startRelay(clientEnd: session.ends.client, upstreamEnd: upstreamEnd)
        let leftovers = session.takeTunnelLeftovers()
        connection.httpBytes = (session.bytesFromClient, session.bytesToClient)
        connection.http = nil
        if let (buffer, offset, count) = leftovers.toUpstream { connection.relay?.toUpstream.seed(buffer: buffer, offset: offset, count: count) }
        if let (buffer, offset, count) = leftovers.toClient { connection.relay?.toClient.seed(buffer: buffer, offset: offset, count: count) }
        pumpBothDirections(connection)
    }

    /// The session's next deadline: idle, request head, routed timeouts and backoff, pooled
    /// connect, lingering close — whichever comes first.
    func scheduleHTTPTimer(_ connection: Connection, _ session: HTTPSession) {
        var deadline = connection.lastActivity + idleTimeout
        if session.requestHeadStartedAt != 0 { deadline = min(deadline, session.requestHeadStartedAt + HTTPSession.headerTimeout) }
        let routed = session.routedDeadline
        if routed != 0 { deadline = min(deadline, routed) }
        if let lease = leaseDeadline(connection) { deadline = min(deadline, lease) }
        if session.isClosing, connection.lingerStarted != 0 { deadline = min(deadline, connection.lingerStarted + 2_000_000_000) }
        loop.timers.schedule(connection.slot + 1, at: deadline)
    }

    /// Starts an outbound HTTP/1 connection routed per request: no upstream yet, each request
    /// gets one from the pools once routed.
    func startRoutedHTTPSession(_ connection: Connection) {
        connection.routesRequests = true
        startHTTPSession(connection, upstreamFailure: nil, routed: true)
    }

    /// Counts a policy decision by the policy that made it.
    func countDecision(_ decision: Decision) {
        policyCounters.add(Stat.policySlot(decision, policyCount: authorizer.policies.count))
    }
}

// MARK: - The connection as its session's host and router

extension Connection: HTTPSessionHost, HTTPRouting {
    var now: UInt64 { worker.loop.now }

    func authorize(_ head: HTTPRequestHead, exchange: HTTPExchange) -> Decision? {
        worker.authorizeRequest(head, exchange: exchange, connection: self)
    }

    func exchangeCompleted(_ exchange: HTTPExchange) {
        worker.exchangeCompleted(exchange, connection: self)
    }

    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, now: UInt64) -> RouteDecision {
        worker.route(head, exchange: exchange, connection: self, now: now)
    }

    func acquireUpstream(for request: RoutedRequest) -> UpstreamAcquisition {
        worker.acquireUpstream(for: self, request: request)
    }

    func releaseUpstream(reusable: Bool) {
        worker.releaseUpstream(of: self, reusable: reusable)
    }

    func attemptEnded(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, now: UInt64) {
        worker.attemptEnded(request, outcome: outcome, now: now)
    }

    func prepareRetry(_ request: RoutedRequest, now: UInt64) -> Bool {
        worker.prepareRetry(request, connection: self, now: now)
    }

    func requestEnded(_ request: RoutedRequest) {
        worker.requestEnded(request)
    }
}

/// What decides an HTTP request's Istio series, compared cheaply: the identities and addresses
/// the labels are made from rather than the label texts (which cost a formatted string each).
struct RequestSeriesInputs: Equatable {
    var inbound: Bool
    /// The snapshot the connection's Service labels were looked up in.
    var version: Int
    /// Inbound: the client sidecar's identity; routed: the endpoint's; else the mTLS peer's.
    var peer: SPIFFEID?
    /// The Service a routed request went to; nil: the connection's (inbound: the local Service
    /// of `destination`; outbound: `destination` passed through).
    var service: ServiceLabels?
    var destination: SocketAddress?
    var responseCode: UInt16
    var flag: ResponseFlag?
}

/// The last few request label sets a worker recorded and their series. Requests of a sidecar
/// mostly share their labels (one Service, a few peers, 200): a hit is a few comparisons instead
/// of formatting the labels and hashing them, and no connection keeps a copy of its labels.
struct RecentRequestSeries {
    static let capacity = 4
    private var entries: [(inputs: RequestSeriesInputs, series: Int)] = []
    private var next = 0

    func series(for inputs: RequestSeriesInputs) -> Int? {
        // Compared in place, by position: iterating would copy each remembered entry (a retain
        // and a release per string it holds).
        for position in entries.indices where entries[position].inputs == inputs { return entries[position].series }
        return nil
    }

    mutating func remember(_ inputs: RequestSeriesInputs, series: Int) {
        if entries.count < Self.capacity {
            entries.append((inputs, series))
        } else {
            entries[next] = (inputs, series)
            next = (next + 1) % Self.capacity
        }
    }
}

extension Worker {
    /// The AuthorizationPolicies' decision on an inbound request (nil outbound or without
    /// policies), counted per policy.
    func authorizeRequest(_ head: HTTPRequestHead, exchange: HTTPExchange, connection: Connection) -> Decision? {
        guard connection.direction == .inbound, !authorizer.isEmpty else { return nil }
        // The exchange already holds the path and authority (for its log line).
        let decision = authorizer.evaluate(request: RequestAttributes(
            connection: connectionAttributes(connection), method: Substring(head.method.rawValue), path: Substring(exchange.path),
            authority: Substring(exchange.authority), headers: PolicyHeaderView(headers: head.headers)
        ))
        countDecision(decision)
        return decision
    }

    /// A finished exchange: Istio's request metrics and, when enabled, its access log line.
    func exchangeCompleted(_ exchange: HTTPExchange, connection: Connection) {
        let duration = loop.now &- exchange.startedAt
        istio.recordRequest(series: requestSeries(exchange, connection: connection), durationNanoseconds: duration,
                            requestBytes: exchange.requestBodyBytes, responseBytes: exchange.responseBodyBytes)
        guard accessLog.enabled else { return }
        let direction = connection.direction
        accessLog.record { line in
            line.field("start_time", time: exchange.startWall)
            line.field("kind", "http")
            line.field("dir", direction.rawValue)
            line.field("worker", index)
            line.field("client", address: connection.clientAddress.address)
            if let destination = connection.destination { line.field("dst", address: destination.address) } else { line.field("dst", "-") }
            line.field("peer", spiffe: connection.tls?.peerIdentity)
            line.field("method", exchange.method.rawValue)
            line.field("authority", exchange.authority)
            line.field("path", exchange.path)
            line.field("protocol", exchange.version.description)
            line.field("status", exchange.status)
            line.field("request_bytes", exchange.requestBodyBytes)
            line.field("response_bytes", exchange.responseBodyBytes)
            line.field("duration_ms", duration / 1_000_000)
            line.field("response_flags", exchange.flag?.rawValue ?? "-")
            if let correlation = exchange.correlation {
                // As forwarded (or, for a request the proxy answered, as it would have been).
                switch correlation.requestID {
                case .received(let bytes): line.field("request_id", bytes: bytes)
                case .generated(let id): line.field("request_id", unescaped: { id.append(to: &$0) })
                }
                line.field("trace_id", unescaped: { correlation.trace.traceID.append(to: &$0) })
            }
            if let decision = exchange.decision {
                line.field("decision", decision.isAllowed ? "allow" : "deny")
                line.field("policy", decision.policyName)
            }
            if let reason = exchange.reason { line.field("reason", reason) }
            if let routed = exchange.routed {
                line.field("service", routed.serviceName)
                line.field("route", routed.routeName)
                line.field("attempts", routed.attempt)
                if let peer = routed.upstreamPeer { line.field("upstream_peer", peer.principal) }
            }
            if let endpoint = exchange.endpoint { line.field("endpoint", describing: endpoint) }
        }
    }

    /// The Istio series of an exchange: the connection's labels (reporter, peer, Service, mTLS),
    /// or a routed request's Service and endpoint identity, with the exchange's status and flags.
    private func requestSeries(_ exchange: HTTPExchange, connection: Connection) -> Int {
        let inbound = connection.direction == .inbound
        let routed = exchange.routed
        let routedService = routed?.balancer?.serviceLabels
        let inputs = RequestSeriesInputs(
            inbound: inbound, version: traffic.snapshot.version,
            peer: routed.map { $0.upstreamPeer?.id } ?? connection.tls?.peerIdentity,
            service: routedService, destination: routedService == nil ? connection.destination?.address : nil,
            responseCode: UInt16(clamping: exchange.status ?? 0), flag: exchange.flag)
        if let known = recentRequestSeries.series(for: inputs) { return known }
        let service: ServiceLabels
        if let routedService {
            service = routedService
        } else if inbound {
            service = traffic.inboundService(inputs.destination)
        } else {
            service = .passthrough(inputs.destination.map { "\($0)" } ?? "-")
        }
        // A routed request's endpoint principal was formatted once for its upstream connection.
        let principal = routed.map { $0.upstreamPeer?.principal ?? "unknown" } ?? inputs.peer?.description ?? "unknown"
        let series = istio.series(IstioSeriesKey(
            reporter: inbound ? .destination : .source, peerPrincipal: principal, service: service,
            tcp: false, responseCode: inputs.responseCode, responseFlags: inputs.flag?.rawValue ?? "-",
            mutualTLS: inbound ? connection.tls?.peerIdentity != nil : nil))
        recentRequestSeries.remember(inputs, series: series)
        return series
    }
}
