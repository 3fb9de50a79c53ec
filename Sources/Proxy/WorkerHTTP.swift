import HTTP
import Identity
import LinuxSys
import Policy
import Relay

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
    func startHTTPSession(_ connection: Connection, upstreamFailure: String?, router: ConnectionRouter? = nil) {
        connection.phase = .relaying
        if let tls = connection.tls {
            let channel = TLSChannel(tls)
            if connection.tlsOnClientSide {
                connection.clientEnd = .secure(channel, over: connection.client)
            } else if let upstream = connection.upstream {
                connection.upstreamEnd = .secure(channel, over: upstream)
            }
        }
        if connection.upstreamEnd == nil, let upstream = connection.upstream { connection.upstreamEnd = .socket(upstream) }

        // Context for the per-request decisions and log lines, built once per connection.
        let direction = connection.direction
        let client = "\(connection.clientAddress)"
        let destination = connection.destination.map { "\($0)" } ?? "-"
        let peer = connection.tls?.peerIdentity?.description
        let worker = index
        let accessLog = self.accessLog
        let istio = self.istio
        let inbound = direction == .inbound
        let connectionPeer = connection.tls?.peerIdentity
        // Istio's labels that hold for every request of the connection; the Service of an
        // outbound request is the one it was routed to.
        let metricSeries = IstioConnectionSeries(table: istio, connection: IstioSeriesKey(
            reporter: inbound ? .destination : .source, peerPrincipal: connectionPeer?.description ?? "unknown",
            service: inbound ? traffic.inboundService(connection.destination?.address) : .passthrough(destination),
            tcp: false, responseCode: 0, responseFlags: "-", mutualTLS: inbound ? connectionPeer != nil : nil))
        var authorize: ((HTTPRequestHead, HTTPExchange) -> Decision)?
        if direction == .inbound, !authorizer.isEmpty {
            let authorizer = self.authorizer
            let attributes = connectionAttributes(connection)
            authorize = { [unowned self] head, exchange in
                // The exchange already holds the path and authority (for its log line).
                let decision = authorizer.evaluate(request: RequestAttributes(
                    connection: attributes, method: Substring(head.method.rawValue), path: Substring(exchange.path),
                    authority: Substring(exchange.authority), headers: PolicyHeaderView(headers: head.headers)
                ))
                self.countDecision(decision)
                return decision
            }
        }
        let session = HTTPSession(
            direction: direction, client: connection.clientEnd, upstream: connection.upstreamEnd, upstreamFailure: upstreamFailure,
            buffers: buffers, staging: staging, headerStorage: headerStorage, now: { [loop] in loop.now }, authorize: authorize, router: router, ids: requestIDs
        ) { [loop] exchange in
            let duration = loop.now &- exchange.startedAt
            // A routed request's Service and the identity its endpoint proved (mTLS to a meshed
            // endpoint; "unknown" without); the connection's own for the others.
            let responseCode = UInt16(clamping: exchange.status ?? 0)
            let responseFlags = exchange.flag?.rawValue ?? "-"
            let series: Int
            if let routed = exchange.routed {
                series = metricSeries.series(service: routed.balancer?.serviceLabels, principal: routed.upstreamPeer?.principal ?? "unknown",
                                             responseCode: responseCode, responseFlags: responseFlags)
            } else {
                series = metricSeries.series(service: nil, principal: nil, responseCode: responseCode, responseFlags: responseFlags)
            }
            istio.recordRequest(series: series, durationNanoseconds: duration,
                                requestBytes: exchange.requestBodyBytes, responseBytes: exchange.responseBodyBytes)
            guard accessLog.enabled else { return }
            accessLog.record { line in
                line.field("start_time", time: exchange.startWall)
                line.field("kind", "http")
                line.field("dir", direction.rawValue)
                line.field("worker", worker)
                line.field("client", client)
                line.field("dst", destination)
                line.field("peer", peer)
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
        if let (buffer, count) = connection.early {
            connection.early = nil
            if count > 0 { session.seedRequests(buffer: buffer, count: count) } else { buffers.release(buffer) }
        }
        if connection.clientHungUp { session.noteClientHangup() }
        if connection.upstreamHungUp { session.noteUpstreamHangup() }
        if draining, direction == .inbound { session.beginDrain() }
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
        if connection.router != nil {
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
        if connection.router != nil {
            // Routed: the pooled connection the upgrade went over carries the tunnel.
            guard let lease = connection.lease else {
                connection.failureDetail = "an upgrade was accepted without an upstream connection"
                close(connection, end: .error, reset: true)
                return
            }
            connection.upstreamEnd = lease.relayEndpoint
            connection.upstreamHungUp = lease.hungUp
            if lease.hungUp { connection.toClient.noteSourceHangup() }
        }
        let leftovers = session.takeTunnelLeftovers()
        connection.httpBytes = (session.bytesFromClient, session.bytesToClient)
        connection.http = nil
        if let (buffer, offset, count) = leftovers.toUpstream { connection.toUpstream.seed(buffer: buffer, offset: offset, count: count) }
        if let (buffer, offset, count) = leftovers.toClient { connection.toClient.seed(buffer: buffer, offset: offset, count: count) }
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
        let router = ConnectionRouter(worker: self, connection: connection)
        connection.router = router
        startHTTPSession(connection, upstreamFailure: nil, router: router)
    }

    /// Counts a policy decision by the policy that made it.
    func countDecision(_ decision: Decision) {
        policyCounters.add(Stat.policySlot(decision, policyCount: authorizer.policies.count))
    }
}
