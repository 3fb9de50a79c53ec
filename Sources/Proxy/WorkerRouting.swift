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
        inboundServices.removeAll()
    }

    /// What inbound connections to each local address serve (metric labels), for the snapshot.
    private var inboundServices: [SocketAddress: ServiceLabels] = [:]

    /// The Service whose endpoints include `destination` (this pod's address and port), as
    /// metric labels; `unknown` when the snapshot has none.
    func inboundService(_ destination: SocketAddress?) -> ServiceLabels {
        guard let destination else { return .unknown }
        refresh()
        if let known = inboundServices[destination] { return known }
        let registry = snapshot.registry
        let labels = registry.service(forEndpoint: destination).map {
            ServiceLabels(service: $0.0.name, namespace: $0.0.namespace, clusterDomain: registry.clusterDomain)
        } ?? .unknown
        // Bounded by the pod's own addresses and ports; cleared with each snapshot.
        if inboundServices.count < 256 { inboundServices[destination] = labels }
        return labels
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
            serviceName: "\(service.namespace)/\(service.name)", port: port.port,
            serviceLabels: ServiceLabels(service: service.name, namespace: service.namespace, clusterDomain: registry.clusterDomain))
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

/// The Services the last few routed requests named, per worker: keep-alive requests (and most
/// connections of a sidecar) name the same one, so finding it is a comparison of the Host and
/// destination rather than a registry lookup. Entries hold the snapshot version they were found
/// in; one from an older snapshot is never used. Kept per worker rather than per connection, so
/// an idle connection holds none of it.
struct RecentServices {
    struct Entry {
        let authority: String
        let destination: SocketAddress
        let version: Int
        let service: (Service, ServicePort)?
        /// The Service's balancer when no HTTPRoute attaches to it (requests go to the Service
        /// itself), from the same snapshot version.
        var balancer: BalancerState?
    }

    static let capacity = 4
    private(set) var entries: [Entry] = []
    private var next = 0

    /// The position of the entry for `authority` and `destination` in snapshot `version`.
    func index(authority: String, destination: SocketAddress, version: Int) -> Int? {
        entries.firstIndex { $0.version == version && $0.authority == authority && $0.destination == destination }
    }

    /// Adds an entry (replacing the oldest once full) and returns its position.
    mutating func remember(_ entry: Entry) -> Int {
        if entries.count < Self.capacity {
            entries.append(entry)
            return entries.count - 1
        }
        let position = next
        entries[position] = entry
        next = (next + 1) % Self.capacity
        return position
    }

    mutating func setBalancer(_ balancer: BalancerState, at position: Int) {
        entries[position].balancer = balancer
    }
}

extension Worker {
    // MARK: - Routing decisions

    /// The Service a request is for: the one its Host names (any Kubernetes DNS form), else the
    /// one whose cluster IP and port the client connected to; with its position in
    /// `recentServices` (`known`: the position the caller already found there).
    private func service(for authority: String, destination: SocketAddress, known: Int?) -> (service: (Service, ServicePort)?, position: Int) {
        if let known { return (recentServices.entries[known].service, known) }
        let snapshot = traffic.snapshot
        let registry = snapshot.registry
        var found: (Service, ServicePort)?
        if !authority.isEmpty, let first = authority.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")), first != UInt8(ascii: "["),
           let (host, port) = Self.splitAuthority(authority) {
            // A name (an IP literal names no Service): any Kubernetes DNS form.
            found = registry.service(forHost: host, port: port ?? destination.port, clientNamespace: config.namespace ?? "default")
        }
        if found == nil { found = registry.service(forDestination: destination) }
        let position = recentServices.remember(RecentServices.Entry(
            authority: authority, destination: destination, version: snapshot.version, service: found, balancer: nil))
        return (found, position)
    }

    /// How the proxy reaches `address`: mTLS when it is in the mesh.
    func upstreamTarget(_ address: SocketAddress) -> UpstreamTarget {
        if security != nil, !Self.uncapturedSidecarPorts.contains(address.port), case .mutualTLS(let expected) = config.meshPolicy(for: address) {
            return UpstreamTarget(address: address, mutualTLS: true, expectedPeer: expected)
        }
        return UpstreamTarget(address: address, mutualTLS: false, expectedPeer: nil)
    }

    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, connection: Connection, now: UInt64) -> RouteDecision {
        guard let destination = connection.destination?.address else {
            return .respond(LocalAnswer(status: 500, body: "", reason: "the connection has no original destination", flag: nil))
        }
        traffic.refresh()
        let version = traffic.snapshot.version
        let known = recentServices.index(authority: exchange.authority, destination: destination, version: version)
        if let known, let balancer = recentServices.entries[known].balancer, balancer.version == version {
            // A Service a recent request named, without routes: neither the Service nor the
            // snapshot is looked up (or copied) again.
            switch endpoint(of: balancer, head: head, connection: connection, now: now) {
            case .success(let choice):
                return .forward(forwardRequest(head, choice: choice, rule: nil, routeName: nil, now: now))
            case .failure(let problem):
                return .respond(problem)
            }
        }
        let (found, position) = service(for: exchange.authority, destination: destination, known: known)
        guard let (service, port) = found else {
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
        let registry = traffic.snapshot.registry
        guard let table = registry.routeTable(for: service, port: port) else {
            recentServices.setBalancer(traffic.balancer(for: service, port: port, now: now), at: position)
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
        // The set of backends tried is only built when the first one fails (not per request).
        var candidate = backendRef
        var tried: Set<String>?
        var firstProblem: LocalAnswer?
        while true {
            switch endpoint(of: candidate, routeName: routeName, head: head, connection: connection, now: now) {
            case .success(let choice):
                let routed = forwardRequest(forwarded, choice: choice, rule: matched, routeName: routeName, now: now)
                routed.backends = matched.backendRefs
                return .forward(routed)
            case .failure(let problem):
                if firstProblem == nil { firstProblem = problem }
            }
            tried = (tried ?? []).union([candidate.name])
            guard let next = Self.weightedBackend(matched.backendRefs, excluding: tried!, using: &traffic.rng) else { break }
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
    func pickEndpoint(_ balancer: BalancerState, head: HTTPRequestHead, connection: Connection, now: UInt64, avoiding: Int? = nil) -> Int? {
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
    /// and balancers of Service ports the current snapshot no longer has are dropped. Run with
    /// nothing held, it lets the loop sleep longer (`waitLimitMilliseconds`).
    func trafficHousekeeping() {
        guard loop.now &- traffic.lastHousekeeping >= 1_000_000_000 else { return }
        traffic.lastHousekeeping = loop.now
        traffic.refresh()
        traffic.pools.closeIdle(now: loop.now, olderThan: idleTimeout)
        traffic.dropStaleBalancers()
        releaseMemoryAfterBurst()
        reportOpenConnectionBytes()
        housekeptWhileIdle = holdsNothing
    }
}
