import Addresses
import Config
import HTTP
import Identity
import LinuxSys
import Relay
import Routing
import TLS

/// A worker's traffic management state: its view of the snapshot, its balancers (one per Service
/// port, carried over to a new snapshot when that port's endpoints and policy did not change),
/// retry budgets and upstream connection pools. Owned by the worker thread.
final class WorkerTraffic {
    let store: TrafficStore
    let board: EndpointStatusBoard
    private(set) var snapshot: TrafficSnapshot
    let pools = UpstreamPools()
    var rng: SplitMix64
    /// Balancers by Service port.
    private(set) var balancers: [PickerKey: BalancerState] = [:]
    /// The retry budget of requests passed through to their original destination.
    let passthrough = PassthroughBudget()
    /// Monotonic time of the last once-a-second housekeeping.
    var lastHousekeeping: UInt64 = 0

    init(store: TrafficStore, board: EndpointStatusBoard, seed: UInt64) {
        self.store = store
        self.board = board
        snapshot = store.current
        rng = SplitMix64(seed: seed)
    }

    /// Takes a newer snapshot if one was published (one atomic load when none was).
    func refresh() {
        guard store.version != snapshot.version else { return }
        snapshot = store.current
    }

    /// Whether outbound HTTP is routed per request: some Service is known, or unknown
    /// destinations must be refused.
    func isActive(mode: OutboundTrafficMode) -> Bool {
        !snapshot.registry.services.isEmpty || mode == .registryOnly
    }

    /// The balancer of a Service port: the current one, or one built (or carried over) for the
    /// current snapshot.
    func balancer(for service: Service, port: ServicePort, now: UInt64) -> BalancerState {
        let key = PickerKey(namespace: service.namespace, name: service.name, port: port.port)
        let existing = balancers[key]
        if let existing, existing.version == snapshot.version { return existing }
        let registry = snapshot.registry
        let endpoints = registry.endpoints(of: service, port: port)
        let policy = registry.destinationRule(for: service)?.trafficPolicy(subset: nil, port: port.port)
        if let existing, existing.picker.endpoints == endpoints, existing.policy == policy {
            existing.version = snapshot.version
            return existing
        }
        let state = BalancerState(
            picker: EndpointPicker(endpoints: endpoints, policy: policy, now: now), policy: policy, version: snapshot.version,
            serviceName: "\(service.namespace)/\(service.name)", port: port.port)
        balancers[key] = state
        return state
    }

    /// Forgets balancers of Service ports that are gone from the snapshot (requests in flight
    /// keep theirs by reference).
    func dropStaleBalancers() {
        let registry = snapshot.registry
        for (key, state) in balancers where state.version != snapshot.version {
            if registry.service(named: key.name, namespace: key.namespace, port: key.port) == nil { balancers[key] = nil }
        }
    }
}

/// The router of one outbound HTTP connection: the session's window onto its worker, and a
/// cache of the Service its requests name (keep-alive requests name the same one).
final class ConnectionRouter: HTTPRouting {
    unowned let worker: Worker
    unowned let connection: Connection
    /// The last request's authority and the Service port it led to, for this snapshot version.
    var cachedAuthority = ""
    var cachedVersion = 0
    var cachedService: (Service, ServicePort)?
    /// The cached Service's balancer when no HTTPRoute attaches to it (requests go to the
    /// Service itself), from the same snapshot version.
    var cachedBalancer: BalancerState?

    init(worker: Worker, connection: Connection) {
        self.worker = worker
        self.connection = connection
    }

    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, now: UInt64) -> RouteDecision {
        worker.route(head, exchange: exchange, router: self, now: now)
    }

    func acquireUpstream(for request: RoutedRequest) -> UpstreamAcquisition {
        worker.acquireUpstream(for: connection, request: request)
    }

    func releaseUpstream(reusable: Bool) {
        worker.releaseUpstream(of: connection, reusable: reusable)
    }

    func attemptEnded(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, now: UInt64) {
        worker.attemptEnded(request, outcome: outcome, now: now)
    }

    func prepareRetry(_ request: RoutedRequest, now: UInt64) -> Bool {
        worker.prepareRetry(request, connection: connection, now: now)
    }

    func requestEnded(_ request: RoutedRequest) {
        worker.requestEnded(request)
    }
}

extension Worker {
    // MARK: - Routing decisions

    /// The Service a request is for: the one its Host names (any Kubernetes DNS form), else the
    /// one whose cluster IP and port the client connected to. Cached per connection.
    private func service(for authority: String, destination: SocketAddress, router: ConnectionRouter) -> (Service, ServicePort)? {
        let snapshot = traffic.snapshot
        if router.cachedVersion == snapshot.version, router.cachedAuthority == authority { return router.cachedService }
        let registry = snapshot.registry
        var found: (Service, ServicePort)?
        if !authority.isEmpty, let first = authority.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")), first != UInt8(ascii: "["),
           let (host, port) = Self.splitAuthority(authority) {
            // A name (an IP literal names no Service): any Kubernetes DNS form.
            found = registry.service(forHost: host, port: port ?? destination.port, clientNamespace: config.namespace ?? "default")
        }
        if found == nil { found = registry.service(forDestination: destination) }
        router.cachedVersion = snapshot.version
        router.cachedAuthority = authority
        router.cachedService = found
        router.cachedBalancer = nil
        return found
    }

    /// How the proxy reaches `address`: mTLS when it is in the mesh.
    func upstreamTarget(_ address: SocketAddress) -> UpstreamTarget {
        if security != nil, !Self.uncapturedSidecarPorts.contains(address.port), case .mutualTLS(let expected) = config.meshPolicy(for: address) {
            return UpstreamTarget(address: address, mutualTLS: true, expectedPeer: expected)
        }
        return UpstreamTarget(address: address, mutualTLS: false, expectedPeer: nil)
    }

    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, router: ConnectionRouter, now: UInt64) -> RouteDecision {
        let connection = router.connection
        guard let destination = connection.destination?.address else {
            return .respond(LocalAnswer(status: 500, body: "", reason: "the connection has no original destination", flag: nil))
        }
        traffic.refresh()
        guard let (service, port) = service(for: exchange.authority, destination: destination, router: router) else {
            if config.outboundTrafficMode == .registryOnly {
                let host = exchange.authority.isEmpty ? "" : " (Host \(exchange.authority))"
                return .respond(LocalAnswer(
                    status: 502, body: "",
                    reason: "REGISTRY_ONLY: \(destination)\(host) is not a known Service; add its Service and EndpointSlice, or set spec.outboundTrafficPolicy.mode ALLOW_ANY",
                    flag: .noRoute))
            }
            // ALLOW_ANY: to the original destination, as without routing.
            traffic.passthrough.budget.requestStarted()
            return .forward(RoutedRequest(
                head: head, target: upstreamTarget(destination), balancer: nil, budgetOwner: traffic.passthrough, endpointIndex: nil,
                retry: nil, requestTimeout: nil, tryTimeout: nil, now: now, routeName: nil))
        }
        if let balancer = router.cachedBalancer, balancer.version == traffic.snapshot.version {
            // The same Service as the connection's previous request, without routes.
            switch endpoint(of: balancer, head: head, connection: connection, now: now) {
            case .success(let choice):
                return .forward(forwardRequest(head, choice: choice, rule: nil, routeName: nil, now: now))
            case .failure(let problem):
                return .respond(problem)
            }
        }
        let registry = traffic.snapshot.registry
        guard let table = registry.routeTable(for: service, port: port) else {
            router.cachedBalancer = traffic.balancer(for: service, port: port, now: now)
            switch endpoint(ofService: service, port: port, head: head, connection: connection, now: now) {
            case .success(let choice):
                return .forward(forwardRequest(head, choice: choice, rule: nil, routeName: nil, now: now))
            case .failure(let problem):
                return .respond(problem)
            }
        }
        var forwarded = head
        let target = head.target
        let query = target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(head.headers.count)
        for field in head.headers { headers.append(field) }
        let request = RouteRequest(method: head.method.rawValue, path: exchange.path, query: query, headers: headers)
        guard let match = table.match(request) else {
            let names = table.routes.map(\.qualifiedName).joined(separator: ", ")
            return .respond(LocalAnswer(status: 404, body: "", reason: "no rule of HTTPRoute \(names) matches \(head.method.rawValue) \(exchange.path)", flag: .noRoute))
        }
        let matched = table.routes[match.routeIndex].rules[match.ruleIndex]
        let routeName = "\(match.namespace)/\(match.name)"
        for filter in matched.filters {
            switch filter {
            case .requestRedirect(let redirect):
                let location = Self.redirectLocation(redirect, head: head, authority: exchange.authority, path: exchange.path, match: match.match)
                return .respond(LocalAnswer(status: redirect.statusCode, body: "", reason: "redirected by HTTPRoute \(routeName)",
                                            flag: nil, headers: [("location", location)]))
            case .requestHeaderModifier(let modifier):
                for field in modifier.set { forwarded.headers.replace(name: field.name, value: field.value) }
                for field in modifier.add { forwarded.headers.add(name: field.name, value: field.value) }
                for name in modifier.remove { forwarded.headers.remove(name: name) }
            case .urlRewrite(let rewrite):
                if let hostname = rewrite.hostname { forwarded.headers.replace(name: "host", value: hostname) }
                if let path = rewrite.path {
                    let newPath = Self.rewrittenPath(path, original: exchange.path, match: match.match)
                    forwarded.target = query.map { newPath + "?" + $0 } ?? newPath
                }
            }
        }
        guard let backendRef = table.pickBackend(match, using: &traffic.rng) else {
            return .respond(LocalAnswer(status: 500, body: "", reason: "the matched rule of HTTPRoute \(routeName) has no backend with a weight above 0", flag: .noRoute))
        }
        // A backend without a healthy endpoint passes its share to the rule's others (so an
        // ejected canary does not fail its share of requests); its own reason is kept for the
        // answer when none has one.
        var candidate = backendRef
        var tried: Set<String> = []
        var firstProblem: LocalAnswer?
        while true {
            tried.insert(candidate.name)
            switch endpoint(of: candidate, routeName: routeName, head: head, connection: connection, now: now) {
            case .success(let choice):
                let routed = forwardRequest(forwarded, choice: choice, rule: matched, routeName: routeName, now: now)
                routed.backends = matched.backendRefs
                return .forward(routed)
            case .failure(let problem):
                if firstProblem == nil { firstProblem = problem }
            }
            guard let next = Self.weightedBackend(matched.backendRefs, excluding: tried, using: &traffic.rng) else { break }
            candidate = next
        }
        return .respond(firstProblem!)
    }

    /// An endpoint chosen for a request: its balancer, index and address.
    struct EndpointChoice {
        let balancer: BalancerState
        let index: Int
        let address: SocketAddress
    }

    private func forwardRequest(_ head: HTTPRequestHead, choice: EndpointChoice, rule: HTTPRouteRule?, routeName: String?, now: UInt64) -> RoutedRequest {
        choice.balancer.picker.started(choice.index, now: now)
        choice.balancer.budget.requestStarted()
        let routed = RoutedRequest(
            head: head, target: choice.balancer.target(of: choice.index, upstreamTarget), balancer: choice.balancer, budgetOwner: choice.balancer,
            endpointIndex: choice.index, retry: rule?.retry, requestTimeout: rule?.timeouts.request,
            tryTimeout: rule?.timeouts.backendRequest, now: now, routeName: routeName)
        routed.connectionPool = choice.balancer.policy?.connectionPool
        return routed
    }

    /// An endpoint of a route's backend Service (not yet counted as started).
    private func endpoint(of backendRef: HTTPBackendRef, routeName: String, head: HTTPRequestHead, connection: Connection, now: UInt64, avoiding: SocketAddress? = nil) -> Result<EndpointChoice, LocalAnswer> {
        guard let (service, port) = traffic.snapshot.registry.service(named: backendRef.name, namespace: backendRef.namespace, port: backendRef.port) else {
            return .failure(LocalAnswer(status: 500, body: "",
                reason: "HTTPRoute \(routeName) sends to Service \(backendRef.namespace)/\(backendRef.name) port \(backendRef.port), which is not known",
                flag: .noRoute))
        }
        return endpoint(ofService: service, port: port, head: head, connection: connection, now: now, avoiding: avoiding)
    }

    private func endpoint(ofService service: Service, port: ServicePort, head: HTTPRequestHead, connection: Connection, now: UInt64, avoiding: SocketAddress? = nil) -> Result<EndpointChoice, LocalAnswer> {
        endpoint(of: traffic.balancer(for: service, port: port, now: now), head: head, connection: connection, now: now, avoiding: avoiding)
    }

    private func endpoint(of balancer: BalancerState, head: HTTPRequestHead, connection: Connection, now: UInt64, avoiding: SocketAddress? = nil) -> Result<EndpointChoice, LocalAnswer> {
        let avoidIndex = avoiding.flatMap { address in balancer.picker.endpoints.firstIndex { $0.address == address } }
        guard let index = pickEndpoint(balancer, head: head, connection: connection, now: now, avoiding: avoidIndex), index != avoidIndex else {
            let ready = balancer.picker.endpoints.filter(\.ready).count
            return .failure(LocalAnswer(
                status: 503, body: "",
                reason: "no healthy endpoint of Service \(balancer.serviceName) port \(balancer.port) (\(balancer.picker.endpoints.count) endpoints, \(ready) ready)",
                flag: .noHealthyUpstream))
        }
        return .success(EndpointChoice(balancer: balancer, index: index, address: balancer.picker.endpoints[index].address))
    }

    /// An endpoint of `balancer` for this request (its hash key, for consistent hashing).
    private func pickEndpoint(_ balancer: BalancerState, head: HTTPRequestHead, connection: Connection, now: UInt64, avoiding: Int? = nil) -> Int? {
        var hashKey: UInt64?
        switch balancer.picker.hashSource {
        case nil: break
        case .header(let name): hashKey = EndpointPicker.hashKey(header: head.headers.first(name))
        case .sourceIP: hashKey = EndpointPicker.hashKey(sourceIP: connection.clientAddress.address.ip)
        case .cookie(let name): hashKey = EndpointPicker.hashKey(header: Self.cookie(name, in: head.headers))
        case .queryParameter(let name): hashKey = EndpointPicker.hashKey(header: Self.queryParameter(name, in: head.target))
        }
        var picked = balancer.picker.pick(now: now, hashKey: hashKey, using: &traffic.rng)
        if let avoiding, picked == avoiding {
            // A retry goes to another endpoint when there is one (Envoy's previous_hosts
            // predicate, which Istio sets): a random one of the others that are available. The
            // balancer would often pick the failed one again (a refused connect is fast, so
            // Peak EWMA finds it cheap; a hash always maps the same way).
            let others = balancer.picker.endpoints.indices.filter { $0 != avoiding && balancer.picker.availability[$0] }
            if !others.isEmpty { picked = others[Int(traffic.rng.next(upperBound: UInt64(others.count)))] }
        }
        return picked
    }

    /// One of `backends` with weight > 0 not named in `excluding`, chosen by weight.
    static func weightedBackend(_ backends: [HTTPBackendRef], excluding: Set<String>, using rng: inout SplitMix64) -> HTTPBackendRef? {
        let candidates = backends.filter { $0.weight > 0 && !excluding.contains($0.name) }
        let total = candidates.reduce(0) { $0 + UInt64($1.weight) }
        guard total > 0 else { return nil }
        var draw = rng.next(upperBound: total)
        for candidate in candidates {
            if draw < UInt64(candidate.weight) { return candidate }
            draw -= UInt64(candidate.weight)
        }
        return candidates.last
    }

    /// `host[:port]` or `[v6]:port` → host and port.
    static func splitAuthority(_ authority: String) -> (String, UInt16?)? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let host = String(authority[authority.index(after: authority.startIndex)..<close])
            let rest = authority[authority.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        guard let colon = authority.lastIndex(of: ":") else { return (authority, nil) }
        guard let port = UInt16(authority[authority.index(after: colon)...]) else { return nil }
        return (String(authority[..<colon]), port)
    }

    static func cookie(_ name: String, in headers: HTTPHeaders) -> String? {
        for line in headers.values(for: "cookie") {
            for pair in line.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                return String(trimmed[trimmed.index(after: equals)...])
            }
        }
        return nil
    }

    static func queryParameter(_ name: String, in target: String) -> String? {
        guard let question = target.firstIndex(of: "?") else { return nil }
        for pair in target[target.index(after: question)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == name { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }

    /// The path after a `ReplaceFullPath` or `ReplacePrefixMatch` modifier.
    static func rewrittenPath(_ modifier: HTTPPathModifier, original: String, match: HTTPRouteMatch) -> String {
        switch modifier {
        case .replaceFullPath(let path):
            return path
        case .replacePrefixMatch(let replacement):
            guard case .pathPrefix(let prefix) = match.path else { return original }
            // The Gateway API's example: prefix /foo, replacement /xyz: /foo/bar → /xyz/bar,
            // /foo → /xyz; a trailing slash of the prefix is not part of what is replaced.
            let trimmedPrefix = prefix.hasSuffix("/") && prefix.count > 1 ? String(prefix.dropLast()) : prefix
            let rest = original.dropFirst(trimmedPrefix == "/" ? 0 : trimmedPrefix.count)
            if replacement.hasSuffix("/"), rest.hasPrefix("/") { return String(replacement.dropLast()) + rest }
            if rest.isEmpty { return replacement.isEmpty ? "/" : replacement }
            if !replacement.hasSuffix("/"), !rest.hasPrefix("/") { return replacement + "/" + rest }
            return replacement + rest
        }
    }

    /// A redirect's `Location`: the request's URL with the filter's parts replaced.
    static func redirectLocation(_ redirect: HTTPRequestRedirectFilter, head: HTTPRequestHead, authority: String, path: String, match: HTTPRouteMatch) -> String {
        let scheme = redirect.scheme?.rawValue ?? "http"
        let (requestHost, requestPort) = splitAuthority(authority) ?? (authority, nil)
        let host = redirect.hostname ?? requestHost
        var port: UInt16?
        if let explicit = redirect.port {
            port = explicit
        } else if redirect.scheme == nil {
            port = requestPort
        }
        let defaultPort: UInt16 = scheme == "https" ? 443 : 80
        let portText = port.map { $0 == defaultPort ? "" : ":\($0)" } ?? ""
        let newPath = redirect.path.map { rewrittenPath($0, original: path, match: match) } ?? path
        let query = head.target.firstIndex(of: "?").map { String(head.target[$0...]) } ?? ""
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostText)\(portText)\(newPath)\(query)"
    }

    // MARK: - Attempts, retries, outlier detection

    /// The latency a failed attempt counts as, for Peak EWMA.
    static let failurePenalty: UInt64 = 1_000_000_000

    func attemptEnded(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, now: UInt64) {
        if request.holdsRetry {
            request.holdsRetry = false
            request.budgetOwner.budget.retryFinished()
        }
        guard let balancer = request.balancer, let endpointIndex = request.endpointIndex,
              balancer.picker.endpoints.indices.contains(endpointIndex) else { return }
        request.endpointIndex = nil // counted once
        // A failure is charged as a slow response (Finagle's failure penalty): a refused connect
        // or a quick 503 would otherwise make a broken endpoint look like the fastest one.
        var latency = now &- request.attemptStartedAt
        if outcome == .connectFailure || outcome == .gatewayError { latency = max(latency, Self.failurePenalty) }
        let event = balancer.picker.finished(endpointIndex, outcome: outcome, latency: latency, now: now)
        switch event {
        case .ejected(_, let reason, let until, let ejections)?:
            traffic.board.recordEjection(EndpointStatusBoard.Key(service: "\(balancer.serviceName):\(balancer.port)", endpoint: request.target.address),
                                         worker: index, until: until)
            log.warning("endpoint ejected", [
                "worker": "\(index)", "service": "\(balancer.serviceName):\(balancer.port)", "endpoint": "\(request.target.address)",
                "reason": "\(reason)", "for_ms": "\((until &- now) / 1_000_000)", "ejections": "\(ejections)",
            ])
        case .ejectionRefused(_, let reason)?:
            log.warning("endpoint not ejected: maxEjectionPercent reached", [
                "service": "\(balancer.serviceName):\(balancer.port)", "endpoint": "\(request.target.address)", "reason": "\(reason)",
            ])
        case nil:
            break
        }
    }

    func prepareRetry(_ request: RoutedRequest, connection: Connection, now: UInt64) -> Bool {
        guard request.budgetOwner.budget.tryStartRetry() else {
            counters.add(Stat.retryOverflow)
            return false
        }
        request.holdsRetry = true
        counters.add(Stat.retries)
        if let balancer = request.balancer {
            // Another endpoint of the same backend when it has one; else another backend of the
            // rule (the whole route is retried, as Linkerd does); else the same endpoint again.
            var choice: EndpointChoice?
            let registry = traffic.snapshot.registry
            let parts = balancer.serviceName.split(separator: "/", maxSplits: 1)
            if parts.count == 2, let (service, port) = registry.service(named: String(parts[1]), namespace: String(parts[0]), port: balancer.port),
               case .success(let same) = endpoint(ofService: service, port: port, head: request.head, connection: connection, now: now, avoiding: request.target.address) {
                choice = same
            }
            var tried: Set<String> = [parts.count == 2 ? String(parts[1]) : ""]
            while choice == nil, let other = Self.weightedBackend(request.backends, excluding: tried, using: &traffic.rng) {
                tried.insert(other.name)
                if case .success(let found) = endpoint(of: other, routeName: request.routeName ?? "", head: request.head, connection: connection, now: now) {
                    choice = found
                }
            }
            if let choice {
                choice.balancer.picker.started(choice.index, now: now)
                request.switchBalancer(to: choice.balancer)
                request.endpointIndex = choice.index
                request.target = choice.balancer.target(of: choice.index, upstreamTarget)
                request.connectionPool = choice.balancer.policy?.connectionPool
            } else if let index = balancer.picker.endpoints.firstIndex(where: { $0.address == request.target.address }) {
                balancer.picker.started(index, now: now)
                request.endpointIndex = index
            }
        }
        request.attempt += 1
        let delay = request.backoff?.delay(retry: request.attempt - 1, using: &traffic.rng) ?? 0
        request.backoffUntil = now &+ max(1, delay)
        return true
    }

    func requestEnded(_ request: RoutedRequest) {
        if request.holdsRetry {
            request.holdsRetry = false
            request.budgetOwner.budget.retryFinished()
        }
        request.budgetOwner.budget.requestFinished()
        if let balancer = request.balancer, let index = request.endpointIndex, balancer.picker.endpoints.indices.contains(index) {
            // Abandoned mid-attempt (the client went away): the balancer's in-flight count.
            balancer.picker.finished(index, outcome: .success, latency: 0, now: loop.now)
            request.endpointIndex = nil
        }
    }

    /// Once a second (when the loop wakes): idle upstream connections past their time are closed,
    /// and balancers of Service ports the current snapshot no longer has are dropped.
    func trafficHousekeeping() {
        guard loop.now &- traffic.lastHousekeeping >= 1_000_000_000 else { return }
        traffic.lastHousekeeping = loop.now
        traffic.refresh()
        traffic.pools.closeIdle(now: loop.now, olderThan: idleTimeout)
        traffic.dropStaleBalancers()
    }

    // MARK: - Upstream connections

    /// A connection to the request's target: an idle pooled one, or a new one (then `.pending`
    /// until connected, and mTLS established for a meshed endpoint).
    func acquireUpstream(for connection: Connection, request: RoutedRequest) -> UpstreamAcquisition {
        let target = request.target
        let pools = traffic.pools
        if let idle = pools.takeIdle(target, now: loop.now, idleTimeout: idleTimeout) {
            idle.owner = connection
            idle.requests += 1
            connection.lease = idle
            request.upstreamPeer = idle.tls?.peerIdentity
            counters.add(Stat.upstreamReused)
            return .ready(idle.relayEndpoint, hungUp: false)
        }
        let limits = request.connectionPool
        let maxConnections = limits?.maxConnections ?? DestinationRule.ConnectionPool.unlimited
        if let live = pools.live[target], live >= maxConnections {
            let maxPending = limits?.http1MaxPendingRequests ?? DestinationRule.ConnectionPool.unlimited
            guard (pools.waiters[target]?.count ?? 0) < maxPending else {
                return .failed(reason: "upstream overflow: \(live) connections to \(target.address) (maxConnections \(maxConnections)) and \(maxPending) requests waiting (http1MaxPendingRequests)",
                               flag: .upstreamOverflow)
            }
            pools.waiters[target, default: []].append(connection)
            connection.waitingForPool = target
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
                    request.upstreamPeer = upstream.tls?.peerIdentity
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
        if let target = connection.waitingForPool {
            traffic.pools.removeWaiter(connection, from: target)
            connection.waitingForPool = nil
        }
        guard let upstream = connection.lease else { return }
        connection.lease = nil
        let target = upstream.target
        if reusable, upstream.state == .ready, !upstream.hungUp, !draining {
            traffic.pools.putIdle(upstream, now: loop.now)
        } else {
            traffic.pools.close(upstream, reset: upstream.state != .ready || !reusable)
        }
        if let waiter = traffic.pools.popWaiter(target) {
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
        session.routedRequest?.upstreamPeer = upstream.tls?.peerIdentity
        session.attach(upstream.relayEndpoint, hungUp: upstream.hungUp)
        driveHTTP(owner, session, requests: true, responses: true)
    }

    /// A pooled connection failed before it was ready: its session tries elsewhere or answers.
    private func pooledFailed(_ upstream: UpstreamConnection, reason: String, flag: ResponseFlag) {
        let owner = upstream.owner
        traffic.pools.close(upstream, reset: true)
        guard let owner, owner.lease === upstream else { return }
        owner.lease = nil
        if let waiter = traffic.pools.popWaiter(upstream.target) {
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

    // MARK: - TCP: per-connection balancing

    /// For an outbound opaque connection to a Service's cluster IP: an endpoint of the Service
    /// instead (its balancer chooses; the connect's outcome goes to outlier detection). Returns
    /// false when the connection was refused (REGISTRY_ONLY, no healthy endpoint).
    func balanceTCP(_ connection: Connection) -> Bool {
        guard connection.direction == .outbound, let destination = connection.destination?.address else { return true }
        traffic.refresh()
        guard traffic.isActive(mode: config.outboundTrafficMode) else { return true }
        let registry = traffic.snapshot.registry
        guard let (service, port) = registry.service(forDestination: destination) else {
            if config.outboundTrafficMode == .registryOnly {
                connection.failureDetail = "REGISTRY_ONLY: \(destination) is not a known Service"
                close(connection, end: .notInRegistry, reset: true)
                return false
            }
            return true
        }
        let balancer = traffic.balancer(for: service, port: port, now: loop.now)
        let hashHead = HTTPRequestHead(method: .GET, target: "/")
        guard let index = pickEndpoint(balancer, head: hashHead, connection: connection, now: loop.now) else {
            connection.failureDetail = "no healthy endpoint of Service \(balancer.serviceName) port \(port.port)"
            close(connection, end: .noHealthyUpstream, reset: true)
            return false
        }
        let address = balancer.picker.endpoints[index].address
        balancer.picker.started(index, now: loop.now)
        connection.balanced = (balancer, index, address)
        connection.upstreamAddress = address
        let target = upstreamTarget(address)
        connection.originatesTLS = target.mutualTLS
        connection.expectedPeer = target.expectedPeer
        return true
    }

    /// The balanced TCP connect ended: success or failure, for the balancer and outlier detection.
    func balancedConnectEnded(_ connection: Connection, success: Bool) {
        guard let (balancer, index, address) = connection.balanced else { return }
        connection.balanced = nil
        let request = RoutedRequest(
            head: HTTPRequestHead(method: .GET, target: "/"), target: upstreamTarget(address), balancer: balancer, budgetOwner: balancer,
            endpointIndex: index, retry: nil, requestTimeout: nil, tryTimeout: nil, now: connection.openedAt, routeName: nil)
        request.attemptStartedAt = connection.openedAt
        attemptEnded(request, outcome: success ? .success : .connectFailure, now: loop.now)
    }
}
