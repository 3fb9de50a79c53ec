import Addresses
import Config
import HTTP
import Identity
import Relay
import Routing

/// Where one attempt of a routed request goes: an endpoint address and how to reach it. Upstream
/// connections are pooled by this value, so two requests share a connection only when they would
/// have opened the same one.
struct UpstreamTarget: Hashable {
    let address: SocketAddress
    /// mTLS is originated to this endpoint (it is in the mesh).
    let mutualTLS: Bool
    /// The identity the endpoint must present when `mutualTLS` (nil: any in the trust domain).
    let expectedPeer: SPIFFEID?
}

/// A Service port, as the key of its balancer.
struct PickerKey: Hashable {
    let namespace: String
    let name: String
    let port: UInt16
}

/// One Service port's balancing state in one worker: the endpoint picker (balancer, readiness,
/// outlier detection) and the retry budget, built from one snapshot and checked against each
/// newer one (kept when that port's endpoints and policy did not change). A reference, so a
/// request holds the one it was routed by and reports to it without another lookup.
final class BalancerState: RetryBudgetOwner {
    var picker: EndpointPicker
    let policy: DestinationRule.TrafficPolicy?
    /// The snapshot version it was last found current in.
    var version: Int
    var budget = RetryBudget()
    /// `namespace/name` of the Service, for logs and status.
    let serviceName: String
    let port: UInt16
    /// How each endpoint is reached (mTLS or not), worked out on first use.
    private var targets: [UpstreamTarget?]
    /// The connection pool of each endpoint's target, once a request found it: later requests to
    /// the endpoint take it from here instead of hashing the target to look it up.
    private var pools: [TargetPool?]

    /// The upstream target of endpoint `index`, `make` computing it the first time.
    func target(of index: Int, _ make: (SocketAddress) -> UpstreamTarget) -> UpstreamTarget {
        if let known = targets[index] { return known }
        let made = make(picker.endpoints[index].address)
        targets[index] = made
        return made
    }

    /// The pool of endpoint `index`'s target, if one was noted and its pools still hold it (a pool
    /// left without connections is dropped, and a new one made for the next).
    func pool(of index: Int) -> TargetPool? {
        guard let pool = pools[index], !pool.isForgotten else { return nil }
        return pool
    }

    /// Notes the pool of endpoint `index`'s target.
    func note(_ pool: TargetPool, of index: Int) {
        pools[index] = pool
    }

    /// The Service as Istio's metric labels name it.
    let serviceLabels: ServiceLabels

    init(picker: EndpointPicker, policy: DestinationRule.TrafficPolicy?, version: Int, serviceName: String, port: UInt16,
         serviceLabels: ServiceLabels = .unknown) {
        self.serviceLabels = serviceLabels
        self.picker = picker
        self.policy = policy
        self.version = version
        self.serviceName = serviceName
        self.port = port
        targets = Array(repeating: nil, count: picker.endpoints.count)
        pools = Array(repeating: nil, count: picker.endpoints.count)
    }
}

/// The retry budget of requests passed through to their original destination (one per worker).
final class PassthroughBudget: RetryBudgetOwner {
    var budget = RetryBudget()
}

/// What holds the retry budget a request counts in.
protocol RetryBudgetOwner: AnyObject {
    var budget: RetryBudget { get set }
}

/// What the router decided for a request.
enum RouteDecision {
    /// Send it upstream (the first attempt's endpoint is chosen).
    case forward(RoutedRequest)
    /// Answer it here (no route, no healthy endpoint, a redirect, REGISTRY_ONLY, …).
    case respond(LocalAnswer)
}

/// A response the proxy gives instead of forwarding.
struct LocalAnswer: Error {
    let status: Int
    let body: String
    /// For `x-weft-reason` and the access log.
    let reason: String
    let flag: ResponseFlag?
    /// Extra fields (a redirect's `location`).
    var headers: [(name: String, value: String)] = []
}

/// One request the router sent upstream, with what its retries and timeouts need. Owned by the
/// session while the request is in flight; the router fills in the endpoint of each attempt.
final class RoutedRequest {
    /// The head as forwarded (filters applied), without `x-weft-attempt-count` and without the
    /// ids `correlation` adds.
    let head: HTTPRequestHead
    /// The request's `x-request-id` and trace context, decided on `head` (nil: none are added).
    var correlation: RequestCorrelation?
    var target: UpstreamTarget
    /// The balancer and endpoint index the current attempt's endpoint came from (nil: the
    /// original destination, passed through).
    var balancer: BalancerState?
    var endpointIndex: Int?
    /// Attempts made so far, counting the one in flight (1 for the first).
    var attempt = 1
    /// 1 + the rule's `retry.attempts`.
    let maximumAttempts: Int
    /// Statuses that are retried (the rule's `retry.codes`).
    let retryCodes: [Int]
    let backoff: Backoff?
    /// Monotonic deadline of the whole request (0: none).
    let requestDeadline: UInt64
    /// Per-attempt timeout (0: none), and the current attempt's deadline.
    let tryTimeout: UInt64
    var tryDeadline: UInt64 = 0
    /// The attempt waits for its backoff until then (0: not waiting).
    var backoffUntil: UInt64 = 0
    /// When the current attempt was sent (for the balancer's latency).
    var attemptStartedAt: UInt64 = 0
    /// A retry is counted in the budget and must be given back.
    var holdsRetry = false
    /// The SPIFFE identity the endpoint's sidecar proved for the current attempt (mTLS only).
    var upstreamPeer: UpstreamPeer?
    /// The DestinationRule's connection limits for the backend (nil: unlimited).
    var connectionPool: DestinationRule.ConnectionPool?
    /// The matched rule's backends, for a retry that must go to another one.
    var backends: [HTTPBackendRef] = []
    /// The retry budget this request counts in (its first backend's, or the passthrough one).
    let budgetOwner: any RetryBudgetOwner
    /// For the access log: the backend Service (`namespace/name`) and the route that chose it.
    private(set) var serviceName: String?
    /// The Service it went to, as metric labels (nil: passed through to its destination).
    var serviceLabels: ServiceLabels? { balancer?.serviceLabels }
    /// Moves the request to another backend's balancer (a retry that changes backends).
    func switchBalancer(to balancer: BalancerState) {
        self.balancer = balancer
        serviceName = balancer.serviceName
    }
    let routeName: String?
    /// How the request's timeouts were configured, for `x-weft-reason`.
    let requestTimeoutText: String?
    let tryTimeoutText: String?

    init(
        head: HTTPRequestHead, target: UpstreamTarget, balancer: BalancerState?, budgetOwner: any RetryBudgetOwner, endpointIndex: Int?,
        retry: HTTPRouteRetry?, requestTimeout: Duration?, tryTimeout: Duration?, now: UInt64, routeName: String?
    ) {
        self.head = head
        self.target = target
        self.balancer = balancer
        self.budgetOwner = budgetOwner
        self.endpointIndex = endpointIndex
        serviceName = balancer?.serviceName
        maximumAttempts = 1 + (retry?.attempts ?? 0)
        retryCodes = retry?.codes ?? []
        backoff = retry.map { Backoff(base: max(1, $0.backoff.nanoseconds)) }
        let requestNanoseconds = requestTimeout?.nanoseconds ?? 0
        requestDeadline = requestNanoseconds > 0 ? now &+ requestNanoseconds : 0
        self.tryTimeout = tryTimeout?.nanoseconds ?? 0
        self.routeName = routeName
        requestTimeoutText = requestNanoseconds > 0 ? requestTimeout.map(formatDuration) : nil
        tryTimeoutText = self.tryTimeout > 0 ? tryTimeout.map(formatDuration) : nil
    }

    /// The earliest of the deadlines that apply now (0: none).
    var nextDeadline: UInt64 {
        // 0 means none: as UInt64.max it loses every comparison, and comes back as 0.
        let earliest = min(requestDeadline &- 1, tryDeadline &- 1, backoffUntil &- 1)
        return earliest &+ 1
    }
}

/// How an upstream connection for a request was obtained.
enum UpstreamAcquisition {
    /// A ready connection (an idle pooled one): use it now.
    case ready(RelayEndpoint, hungUp: Bool)
    /// Connecting (or waiting for a pool slot): the worker attaches it, or reports its failure,
    /// later.
    case pending
    /// It cannot be had: the attempt failed at once.
    case failed(reason: String, flag: ResponseFlag)
}

/// What a routed session asks of its router: the routing decision per request, upstream
/// connections from the pools, and the bookkeeping of balancers, retries and outlier detection.
/// Implemented by the worker; calls never reenter the session.
protocol HTTPRouting: AnyObject {
    /// Decides where a request goes (or that the proxy answers it).
    func route(_ head: HTTPRequestHead, exchange: HTTPExchange, now: UInt64) -> RouteDecision
    /// An upstream connection for the request's current target.
    func acquireUpstream(for request: RoutedRequest) -> UpstreamAcquisition
    /// Gives back the connection in use: to the pool when `reusable`, else closed.
    func releaseUpstream(reusable: Bool)
    /// An attempt ended with `outcome` (for the balancer and outlier detection).
    func attemptEnded(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, now: UInt64)
    /// Whether the request may be tried again: the retry budget has room and another endpoint
    /// was chosen (into `request.target`). Counts the retry.
    func prepareRetry(_ request: RoutedRequest, now: UInt64) -> Bool
    /// The request is over (answered, failed or abandoned); gives back its budget.
    func requestEnded(_ request: RoutedRequest)
}
