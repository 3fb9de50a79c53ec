import Addresses
import Config
import HTTP
import LinuxSys
import Relay
import Routing
import TLS

/// Upstream connections of routed HTTP: taken from the worker's pools or connected (and mTLS
/// established) for a session, handed back after each response.
extension Worker {
    // MARK: - Upstream connections

    /// A connection to the request's target: an idle pooled one, or a new one (then `.pending`
    /// until connected, and mTLS established for a meshed endpoint).
    func acquireUpstream(for connection: Connection, request: RoutedRequest) -> UpstreamAcquisition {
        let target = request.target
        let pools = traffic.pools
        // The pool as the request's balancer noted it for the endpoint, else looked up by target
        // (and noted for the next request).
        let balancer = request.endpointIndex.flatMap { index in request.balancer.map { ($0, index) } }
        var pool = balancer.flatMap { $0.0.pool(of: $0.1) }
        if pool == nil {
            pool = pools.existingPool(target)
            if let pool, let (state, index) = balancer { state.note(pool, of: index) }
        }
        if let pool, let idle = pools.takeIdle(from: pool, now: loop.now, idleTimeout: idleTimeout) {
            idle.owner = connection
            idle.requests += 1
            connection.lease = idle
            request.upstreamPeer = idle.peer
            counters.add(Stat.upstreamReused)
            return .ready(idle.relayEndpoint, hungUp: false)
        }
        let limits = request.connectionPool
        let maxConnections = limits?.maxConnections ?? DestinationRule.ConnectionPool.unlimited
        if let pool, pool.live >= maxConnections {
            let maxPending = limits?.http1MaxPendingRequests ?? DestinationRule.ConnectionPool.unlimited
            guard pool.waiters.count < maxPending else {
                return .failed(reason: "upstream overflow: \(pool.live) connections to \(target.address) (maxConnections \(maxConnections)) and \(maxPending) requests waiting (http1MaxPendingRequests)",
                               flag: .upstreamOverflow)
            }
            pools.addWaiter(connection, to: pool)
            connection.waitingForPool = pool
            return .pending
        }
        let descriptor: Descriptor
        do {
            descriptor = try Socket.makeTCP(target.address.family)
        } catch {
            if error.errno == .tooManyOpenFiles || error.errno == .tooManyOpenFilesInSystem { pools.closeIdle(now: loop.now, olderThan: 0) }
            return .failed(reason: "cannot open a connection to \(target.address): \(error)", flag: .upstreamConnectionFailure)
        }
        let upstream = pools.add(target: target, descriptor: descriptor, now: loop.now)
        if let (state, index) = balancer { state.note(upstream.pool, of: index) }
        upstream.requests = 1
        do {
            try Socket.setNoDelay(descriptor)
            try loop.epoll.add(descriptor, events: [.readable, .writable, .readHangup, .edgeTriggered],
                               token: Token.make(kind: Token.pooledKind, generation: upstream.generation, slot: upstream.slot))
            counters.add(Stat.upstreamOpened)
            switch try Socket.connect(descriptor, to: target.address) {
            case .connected:
                upstream.owner = connection
                connection.lease = upstream
                if target.mutualTLS {
                    startPooledHandshake(upstream)
                    request.upstreamPeer = upstream.peer
                    return upstream.state == .ready ? .ready(upstream.relayEndpoint, hungUp: false) : .pending
                }
                upstream.becomeReady(now: loop.now)
                return .ready(upstream.relayEndpoint, hungUp: false)
            case .inProgress:
                upstream.owner = connection
                connection.lease = upstream
                return .pending
            }
        } catch {
            pools.close(upstream)
            connection.lease = nil
            return .failed(reason: "connect to \(target.address): \(error)", flag: .upstreamConnectionFailure)
        }
    }

    /// Gives the connection's upstream back to the pool, or closes it; hands a freed slot to a
    /// client waiting at `maxConnections`.
    func releaseUpstream(of connection: Connection, reusable: Bool) {
        if let pool = connection.waitingForPool {
            traffic.pools.removeWaiter(connection, from: pool)
            connection.waitingForPool = nil
        }
        guard let upstream = connection.lease else { return }
        connection.lease = nil
        if reusable, upstream.state == .ready, !upstream.hungUp, !draining {
            traffic.pools.putIdle(upstream, now: loop.now)
        } else {
            traffic.pools.close(upstream, reset: upstream.state != .ready || !reusable)
        }
        if let waiter = traffic.pools.popWaiter(upstream.pool) {
            waiter.waitingForPool = nil
            waiter.retryAcquire = true
            queue(waiter)
        }
    }

    /// A client that waited for a pool slot tries again (from the run queue).
    func retryAcquire(_ connection: Connection) {
        connection.retryAcquire = false
        guard let session = connection.http, session.awaitingUpstream, let request = session.routedRequest else { return }
        switch acquireUpstream(for: connection, request: request) {
        case .ready(let endpoint, let hungUp):
            session.attach(endpoint, hungUp: hungUp)
            driveHTTP(connection, session, requests: true, responses: true)
        case .pending:
            break
        case .failed(let reason, let flag):
            session.upstreamUnavailable(reason: reason, flag: flag)
            driveHTTP(connection, session, requests: true, responses: true)
        }
    }

    /// mTLS to a meshed endpoint on a connected pooled socket.
    private func startPooledHandshake(_ upstream: UpstreamConnection) {
        guard let security else {
            pooledFailed(upstream, reason: "mTLS to \(upstream.target.address) needs spec.identity", flag: .upstreamConnectionFailure)
            return
        }
        do {
            let key = "\(upstream.target.address)|\(upstream.target.expectedPeer?.description ?? "")"
            upstream.tls = try TLSStream.client(
                security.credentials(), descriptor: upstream.descriptor, expectedPeer: upstream.target.expectedPeer,
                session: security.sessions, sessionKey: key)
        } catch {
            pooledFailed(upstream, reason: "mTLS to \(upstream.target.address): \(error)", flag: .upstreamConnectionFailure)
            return
        }
        upstream.state = .handshaking
        upstream.since = loop.now
        continuePooledHandshake(upstream)
    }

    /// Returns false when the handshake failed (the upstream is closed then).
    @discardableResult
    private func continuePooledHandshake(_ upstream: UpstreamConnection) -> Bool {
        guard let tls = upstream.tls else { return false }
        switch tls.handshake() {
        case .wantRead, .wantWrite:
            return true
        case .failed(let failure):
            let reason = Stat.handshakeOutcomes.contains(failure.reason.rawValue) ? failure.reason.rawValue : "other"
            counters.add(Stat.handshake(.outbound, outcome: reason))
            pooledFailed(upstream, reason: "mTLS handshake with \(upstream.target.address): \(failure)", flag: .upstreamConnectionFailure)
            return false
        case .done:
            counters.add(Stat.handshake(.outbound, outcome: "ok"))
            if tls.resumed { counters.add(Stat.resumed(.outbound)) }
            upstream.becomeReady(now: loop.now)
            return true
        }
    }

    /// Events of a pooled upstream socket.
    func handlePooled(_ upstream: UpstreamConnection, events: EpollEvents) {
        let broken = !events.isDisjoint(with: [.error, .hangup])
        if !events.isDisjoint(with: [.readHangup, .hangup, .error]) { upstream.hungUp = true }
        switch upstream.state {
        case .connecting:
            guard broken || events.contains(.writable) else { return }
            if let failure = Socket.pendingError(upstream.descriptor) {
                pooledFailed(upstream, reason: "connect to \(upstream.target.address): \(failure)",
                             flag: .upstreamConnectionFailure)
                return
            }
            if upstream.target.mutualTLS {
                startPooledHandshake(upstream)
                if upstream.state == .ready { deliver(upstream) }
                return
            }
            upstream.becomeReady(now: loop.now)
            deliver(upstream)
        case .handshaking:
            if continuePooledHandshake(upstream), upstream.state == .ready { deliver(upstream) }
        case .ready:
            guard let owner = upstream.owner else {
                // Idle in the pool. Writable edges (our last bytes acknowledged) mean nothing. A
                // hangup means the endpoint closed it; bytes on a plaintext connection are an
                // answer nobody asked for. Over TLS, records can legitimately arrive while idle
                // (TLS 1.3 session tickets), which the next read consumes.
                if broken || upstream.hungUp || (events.contains(.readable) && upstream.tls == nil) {
                    traffic.pools.close(upstream)
                }
                return
            }
            handle(owner, clientSide: false, events: events)
        }
    }

    /// A connection made for a waiting session is ready: attach it and run the session.
    private func deliver(_ upstream: UpstreamConnection) {
        guard let owner = upstream.owner, owner.lease === upstream, let session = owner.http else {
            // Its client went away meanwhile: keep it for the next request.
            traffic.pools.putIdle(upstream, now: loop.now)
            return
        }
        owner.lastActivity = loop.now
        session.routedRequest?.upstreamPeer = upstream.peer
        session.attach(upstream.relayEndpoint, hungUp: upstream.hungUp)
        driveHTTP(owner, session, requests: true, responses: true)
    }

    /// A pooled connection failed before it was ready: its session tries elsewhere or answers.
    private func pooledFailed(_ upstream: UpstreamConnection, reason: String, flag: ResponseFlag) {
        let owner = upstream.owner
        traffic.pools.close(upstream, reset: true)
        guard let owner, owner.lease === upstream else { return }
        owner.lease = nil
        if let waiter = traffic.pools.popWaiter(upstream.pool) {
            waiter.waitingForPool = nil
            waiter.retryAcquire = true
            queue(waiter)
        }
        guard let session = owner.http else { return }
        session.upstreamUnavailable(reason: reason, flag: flag)
        driveHTTP(owner, session, requests: true, responses: true)
    }

    /// The deadline of a pooled connection being made for `connection` (connect, then mTLS).
    func leaseDeadline(_ connection: Connection) -> UInt64? {
        guard let lease = connection.lease, lease.state != .ready else { return nil }
        return lease.since &+ (lease.state == .connecting ? connectTimeout : tlsHandshakeTimeout)
    }

    /// The connect or handshake of the connection's pooled upstream took too long.
    func leaseTimedOut(_ connection: Connection) {
        guard let lease = connection.lease, lease.state != .ready else { return }
        let what = lease.state == .connecting ? "connect timeout (\(formatDuration(config.connectTimeout)))" : "mTLS handshake timeout (\(formatDuration(config.tlsHandshakeTimeout)))"
        if lease.state == .handshaking { counters.add(Stat.handshake(.outbound, outcome: "timeout")) }
        pooledFailed(lease, reason: "\(what) to \(lease.target.address)", flag: .upstreamConnectionFailure)
    }
}
