import Addresses

/// Chooses the endpoint for each request or connection to one Service port (and subset): the
/// balancer a `DestinationRule` traffic policy asks for, the endpoints' readiness, and outlier
/// detection, kept together so that what one learns (an ejection, a return) reaches the others.
///
/// One picker per worker thread per Service port and subset, owned by that worker: it is a plain
/// value with mutable state and no locks, and is rebuilt when the endpoints or the policy change.
/// Times are monotonic nanoseconds from the caller's clock; the picker reads no clock.
///
/// Which balancer:
/// - no policy, or a policy without `loadBalancer`: Peak EWMA, Weft's default (as Linkerd's).
///   Istio leaves the default to the data plane ("Istio will select an appropriate default");
///   Peak EWMA steers around slow endpoints as well as busy ones.
/// - `simple: ROUND_ROBIN`, `LEAST_REQUEST`, `RANDOM`: `RoundRobinBalancer`,
///   `LeastRequestBalancer`, `RandomBalancer`.
/// - `consistentHash` with `ringHash` or `maglev`: `RingHashBalancer` or `MaglevBalancer` over the
///   endpoints' addresses. A request without a hash key (no such header, cookie or query
///   parameter) goes to a random endpoint, as Envoy does when it cannot compute a hash.
///
/// Which endpoints may be picked: those that are ready and not ejected. When too few are left the
/// balancer panics (`Availability.isPanicking(threshold:)`) and uses every endpoint. The
/// threshold is Envoy's 50% without outlier detection; with it, `minHealthPercent` (as Istio sets
/// Envoy's `healthy_panic_threshold`), whose default of 0 never panics: with nothing ready and
/// not ejected, `pick` returns nil.
public struct EndpointPicker {
    /// How one request or connection to an endpoint ended, for the balancer and outlier
    /// detection.
    public enum Outcome: Sendable, Equatable {
        /// A response that is not a 5xx, or an opaque TCP connection that was made.
        case success
        /// A 5xx response other than 502, 503 and 504.
        case serverError
        /// A 502, 503 or 504 response: a 5xx error that `consecutiveGatewayErrors` also counts.
        case gatewayError
        /// The connection could not be made; counts as a gateway error (Envoy maps it to 503).
        case connectFailure

        /// The outcome of an HTTP response with `status`.
        public init(status: Int) {
            switch status {
            case 502, 503, 504: self = .gatewayError
            case 500...599: self = .serverError
            default: self = .success
            }
        }
    }

    /// Where the consistent-hash key of a request comes from; hash it with
    /// `hashKey(header:)` (a header, cookie or query parameter value) or `hashKey(sourceIP:)`.
    public enum HashSource: Sendable, Equatable {
        /// The value of this request header.
        case header(String)
        /// The value of this cookie (Istio's `httpCookie`; the cookie's `path` and `ttl`, for
        /// setting it when absent, are in the policy's `ConsistentHash.Key`).
        case cookie(name: String)
        /// The client's address.
        case sourceIP
        /// The value of this query parameter.
        case queryParameter(String)
    }

    /// The balancers, as an enum so that a pick is a switch rather than a call through an
    /// existential.
    private enum Balancer {
        case random(RandomBalancer)
        case roundRobin(RoundRobinBalancer)
        case leastRequest(LeastRequestBalancer)
        case peakEWMA(PeakEWMABalancer)
        case ringHash(RingHashBalancer)
        case maglev(MaglevBalancer)
        /// Held only while a balancer is taken out to be mutated (see `withBalancer`).
        case moved
    }

    /// The endpoints, in the order `pick` indexes them.
    public let endpoints: [ResolvedEndpoint]
    /// Where the hash key comes from, for a consistent-hash policy; nil for the others.
    public let hashSource: HashSource?
    /// Panic mode's threshold, a percentage (see the type's description).
    public let panicThreshold: Int
    private var balancer: Balancer
    private var detector: OutlierDetector?
    /// Ready endpoints, as the EndpointSlices say; fixed for the picker's life.
    private let ready: Availability
    /// Ready and not ejected: what the balancer is given.
    public private(set) var availability: Availability

    /// A picker over `endpoints` (all of them, ready or not; an empty list picks nothing) with
    /// the settings of `policy` (from `DestinationRule.trafficPolicy(subset:port:)`; nil when no
    /// DestinationRule applies), created at `now`.
    public init(endpoints: [ResolvedEndpoint], policy: DestinationRule.TrafficPolicy?, now: UInt64) {
        self.endpoints = endpoints
        let count = endpoints.count
        let outlierDetection = policy?.outlierDetection
        panicThreshold = outlierDetection.map { min(100, max(0, $0.minHealthPercent)) } ?? 50
        detector = outlierDetection.map { OutlierDetector(count: count, settings: Self.settings(for: $0)) }
        ready = Availability(count: count, unavailable: endpoints.indices.filter { !endpoints[$0].ready })
        availability = ready

        switch policy?.loadBalancer {
        case nil:
            balancer = .peakEWMA(PeakEWMABalancer(count: count, now: now, panicThreshold: panicThreshold))
            hashSource = nil
        case .random:
            balancer = .random(RandomBalancer(count: count, panicThreshold: panicThreshold))
            hashSource = nil
        case .roundRobin:
            balancer = .roundRobin(RoundRobinBalancer(count: count, panicThreshold: panicThreshold))
            hashSource = nil
        case .leastRequest:
            balancer = .leastRequest(LeastRequestBalancer(count: count, panicThreshold: panicThreshold))
            hashSource = nil
        case .consistentHash(let hash):
            let addresses = endpoints.map(\.address)
            switch hash.algorithm {
            case .ringHash(let minimumRingSize):
                balancer = .ringHash(RingHashBalancer(addresses: addresses, minimumRingSize: max(1, minimumRingSize), panicThreshold: panicThreshold))
            case .maglev(let tableSize):
                balancer = .maglev(MaglevBalancer(
                    addresses: addresses, tableSize: Self.maglevTableSize(tableSize, endpoints: count), panicThreshold: panicThreshold))
            }
            switch hash.key {
            case .httpHeaderName(let name): hashSource = .header(name)
            case .httpCookie(let name, _, _): hashSource = .cookie(name: name)
            case .sourceIP: hashSource = .sourceIP
            case .httpQueryParameterName(let name): hashSource = .queryParameter(name)
            }
        }
    }

    /// The endpoint (an index into `endpoints`) for the next request at `now`, or nil when there
    /// is none to pick (no endpoints, or none available and panic mode off). `hashKey` is the
    /// request's key for a consistent-hash policy (ignored by the others); nil sends the request
    /// to a random endpoint. Ejected endpoints whose time is up return to service first.
    ///
    /// Picking does not count a request: call `started(_:now:)` when it is sent.
    public mutating func pick(now: UInt64, hashKey: UInt64?, using rng: inout some RandomNumberGenerator) -> Int? {
        pickGeneric(now: now, hashKey: hashKey, using: &rng)
    }

    /// `pick(now:hashKey:using:)` with the proxy's generator, specialized here: a generic call
    /// from another module runs unspecialized, through the generator's witness table on every
    /// random draw.
    public mutating func pick(now: UInt64, hashKey: UInt64?, using rng: inout SplitMix64) -> Int? {
        pickGeneric(now: now, hashKey: hashKey, using: &rng)
    }

    private mutating func pickGeneric(now: UInt64, hashKey: UInt64?, using rng: inout some RandomNumberGenerator) -> Int? {
        if let due = detector?.nextReturnTime, due <= now, let returned = detector?.refresh(now: now) {
            for endpoint in returned { availability[endpoint] = ready[endpoint] }
        }
        switch balancer {
        case .random(let random):
            return random.pick(available: availability, using: &rng)
        case .roundRobin(var roundRobin):
            // Drop the enum's reference first so the balancer's arrays are uniquely owned and
            // mutate in place rather than being copied on every pick.
            balancer = .moved
            defer { balancer = .roundRobin(roundRobin) }
            return roundRobin.pick(available: availability)
        case .leastRequest(let leastRequest):
            return leastRequest.pick(available: availability, using: &rng)
        case .peakEWMA(let peakEWMA):
            return peakEWMA.pick(now: now, available: availability, using: &rng)
        case .ringHash(let ring):
            guard let hashKey else { return randomEndpoint(using: &rng) }
            return ring.pick(key: hashKey, available: availability)
        case .maglev(let maglev):
            guard let hashKey else { return randomEndpoint(using: &rng) }
            return maglev.pick(key: hashKey, available: availability)
        case .moved:
            preconditionFailure("the balancer was not put back")
        }
    }

    /// A request or connection to `endpoint` was sent at `now`.
    public mutating func started(_ endpoint: Int, now: UInt64) {
        precondition(endpoints.indices.contains(endpoint), "endpoint \(endpoint) is not in 0..<\(endpoints.count)")
        switch balancer {
        case .leastRequest(var leastRequest):
            balancer = .moved
            leastRequest.started(endpoint: endpoint)
            balancer = .leastRequest(leastRequest)
        case .peakEWMA(var peakEWMA):
            balancer = .moved
            peakEWMA.started(endpoint: endpoint)
            balancer = .peakEWMA(peakEWMA)
        case .random, .roundRobin, .ringHash, .maglev, .moved:
            break
        }
    }

    /// A request or connection to `endpoint`, started with `started(_:now:)`, ended at `now`
    /// with `outcome` after `latency` nanoseconds (until the response head, or until connected
    /// for opaque TCP). Updates the balancer's load and latency and the outlier detector; returns
    /// the ejection this caused (or that `maxEjectionPercent` refused), for logs and metrics.
    @discardableResult
    public mutating func finished(_ endpoint: Int, outcome: Outcome, latency: UInt64, now: UInt64) -> OutlierDetector.Event? {
        precondition(endpoints.indices.contains(endpoint), "endpoint \(endpoint) is not in 0..<\(endpoints.count)")
        switch balancer {
        case .leastRequest(var leastRequest):
            balancer = .moved
            leastRequest.finished(endpoint: endpoint)
            balancer = .leastRequest(leastRequest)
        case .peakEWMA(var peakEWMA):
            balancer = .moved
            peakEWMA.finished(endpoint: endpoint, latency: latency, now: now)
            balancer = .peakEWMA(peakEWMA)
        case .random, .roundRobin, .ringHash, .maglev, .moved:
            break
        }
        guard detector != nil else { return nil }
        let recorded: OutlierDetector.Outcome
        switch outcome {
        case .success: recorded = .connected
        case .serverError: recorded = .response(status: 500)
        case .gatewayError: recorded = .response(status: 503)
        case .connectFailure: recorded = .connectFailure
        }
        let event = detector?.record(recorded, endpoint: endpoint, now: now)
        if case .ejected(let ejected, _, _, _) = event { availability[ejected] = false }
        return event
    }

    /// Whether outlier detection has `endpoint` ejected (until the `pick` that returns it).
    public func isEjected(_ endpoint: Int) -> Bool {
        detector?.isEjected(endpoint) ?? false
    }

    /// The hash key of a header, cookie or query parameter value (xxHash64 of its UTF-8 bytes);
    /// nil when the request has no such value, so that `pick` falls back to a random endpoint.
    public static func hashKey(header value: String?) -> UInt64? {
        value.map { StableHash.xxHash64($0) }
    }

    /// The hash key of a client address (`StableHash.hash(_:)`: an IPv4-mapped IPv6 address
    /// hashes as the IPv4 address).
    public static func hashKey(sourceIP: IPAddress) -> UInt64 {
        StableHash.hash(sourceIP)
    }

    /// A uniformly random available endpoint (every endpoint in panic mode), for a consistent-
    /// hash request without a key.
    private func randomEndpoint(using rng: inout some RandomNumberGenerator) -> Int? {
        Eligible(total: endpoints.count, available: availability, panicThreshold: panicThreshold)?.random(using: &rng)
    }

    /// Istio's `outlierDetection` as detector settings. `maxEjectionTime` keeps Envoy's 300 s,
    /// which Istio does not set; out-of-range values (which `Config` rejects) are clamped.
    private static func settings(for outlier: DestinationRule.OutlierDetection) -> OutlierDetector.Settings {
        OutlierDetector.Settings(
            consecutive5xxErrors: max(0, outlier.consecutive5xxErrors),
            consecutiveGatewayErrors: max(0, outlier.consecutiveGatewayErrors),
            baseEjectionTime: nanoseconds(outlier.baseEjectionTime),
            maxEjectionPercent: min(100, max(0, outlier.maxEjectionPercent)),
            interval: max(1, nanoseconds(outlier.interval))
        )
    }

    /// `duration` in nanoseconds; 0 when negative, UInt64.max when too long.
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: nanosecondsPerSecond)
        guard !overflow else { return .max }
        let (sum, pastEnd) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return pastEnd ? .max : sum
    }

    /// `tableSize` when it suits `endpoints` endpoints; otherwise (more endpoints than slots,
    /// which `Config` cannot know when it validates the rule) the smallest prime above both.
    private static func maglevTableSize(_ tableSize: Int, endpoints: Int) -> Int {
        guard !MaglevBalancer.isValidTableSize(tableSize, endpoints: endpoints) else { return tableSize }
        var size = max(2, tableSize, endpoints)
        while !MaglevBalancer.isValidTableSize(size, endpoints: endpoints) { size += 1 }
        return size
    }
}
