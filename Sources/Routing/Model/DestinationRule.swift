/// An Istio `DestinationRule` (networking.istio.io/v1): how clients talk to one Service — load
/// balancing, connection pool limits, outlier detection — for all its endpoints, for named
/// subsets of them, and per port. Values are typed and already validated (`Config` reads and
/// checks the YAML as Istio's validation does); the defaults are Istio's, named below.
///
/// Istio's `tls` is refused by `Config` (the mesh does mTLS itself), as are the fields Weft does
/// not implement; every field of these types is one Weft honours.
public struct DestinationRule: Sendable, Equatable, CustomStringConvertible {
    /// `trafficPolicy`, at the rule's level, a subset's, or (without `portLevelSettings`) one
    /// port's. A nil field is not set: a subset inherits it from the rule, and where nothing sets
    /// it the default applies (`effectiveLoadBalancer` and the types' `defaults`).
    public struct TrafficPolicy: Sendable, Equatable {
        /// `loadBalancer`.
        public var loadBalancer: LoadBalancer?
        /// `connectionPool`.
        public var connectionPool: ConnectionPool?
        /// `outlierDetection`; nil means no outlier detection (Istio enables it only when given).
        public var outlierDetection: OutlierDetection?
        /// `portLevelSettings`, at most one per port.
        public var portLevelSettings: [PortTrafficPolicy]

        /// A policy of the given settings.
        public init(
            loadBalancer: LoadBalancer? = nil, connectionPool: ConnectionPool? = nil, outlierDetection: OutlierDetection? = nil,
            portLevelSettings: [PortTrafficPolicy] = []
        ) {
            self.loadBalancer = loadBalancer
            self.connectionPool = connectionPool
            self.outlierDetection = outlierDetection
            self.portLevelSettings = portLevelSettings
        }

        /// The load balancer in force: `loadBalancer`, or Istio's default.
        public var effectiveLoadBalancer: LoadBalancer { loadBalancer ?? .default }

        /// The settings for connections to `port` (nil: no particular port). As in Istio, a
        /// port-level entry replaces all three settings, and what it leaves out falls back to the
        /// defaults, not to the level above ("traffic settings specified at the destination-level
        /// will not be inherited when overridden by port-level settings").
        public func forPort(_ port: UInt16?) -> TrafficPolicy {
            var policy = TrafficPolicy(loadBalancer: loadBalancer, connectionPool: connectionPool, outlierDetection: outlierDetection)
            if let port, let settings = portLevelSettings.first(where: { $0.port == port }) {
                policy.loadBalancer = settings.loadBalancer
                policy.connectionPool = settings.connectionPool
                policy.outlierDetection = settings.outlierDetection
            }
            return policy
        }
    }

    /// One entry of `portLevelSettings`.
    public struct PortTrafficPolicy: Sendable, Equatable {
        /// `port.number`: a port of the Service (its `port`).
        public var port: UInt16
        /// `loadBalancer`; nil is the default, not the rule's.
        public var loadBalancer: LoadBalancer?
        /// `connectionPool`; nil is the default, not the rule's.
        public var connectionPool: ConnectionPool?
        /// `outlierDetection`; nil is none, not the rule's.
        public var outlierDetection: OutlierDetection?

        /// Settings for `port`.
        public init(port: UInt16, loadBalancer: LoadBalancer? = nil, connectionPool: ConnectionPool? = nil, outlierDetection: OutlierDetection? = nil) {
            self.port = port
            self.loadBalancer = loadBalancer
            self.connectionPool = connectionPool
            self.outlierDetection = outlierDetection
        }
    }

    /// `loadBalancer`: `simple` or `consistentHash`.
    public enum LoadBalancer: Sendable, Equatable {
        /// `ROUND_ROBIN`.
        case roundRobin
        /// `LEAST_REQUEST`: the fewer outstanding requests, the likelier (power of two choices).
        case leastRequest
        /// `RANDOM`.
        case random
        /// `consistentHash`: a key from the request picks the endpoint, so the same key keeps
        /// going to the same endpoint while the set is unchanged.
        case consistentHash(ConsistentHash)

        /// Istio's default, for `simple: UNSPECIFIED` and for no `loadBalancer` at all
        /// (LEAST_REQUEST since Istio 1.14; "Istio will select an appropriate default").
        public static let `default` = LoadBalancer.leastRequest
    }

    /// `consistentHash`: one hash key and one algorithm.
    public struct ConsistentHash: Sendable, Equatable {
        /// What the hash is computed from.
        public enum Key: Sendable, Equatable {
            /// `httpHeaderName`: the value of this request header.
            case httpHeaderName(String)
            /// `httpCookie`: this cookie; when the request has none, the proxy sets one with
            /// `ttl` (zero: a session cookie) and `path`.
            case httpCookie(name: String, path: String?, ttl: Duration)
            /// `useSourceIp: true`: the client's address (TCP or HTTP).
            case sourceIP
            /// `httpQueryParameterName`: the value of this query parameter.
            case httpQueryParameterName(String)
        }

        /// How keys map to endpoints.
        public enum Algorithm: Sendable, Equatable {
            /// `ringHash`: a ring of at least this many virtual nodes.
            case ringHash(minimumRingSize: Int)
            /// `maglev`: a lookup table of this prime size.
            case maglev(tableSize: Int)

            /// Istio's default when neither is given: a ring ("Defaults to RingHash if not
            /// specified") of the default size.
            public static let `default` = Algorithm.ringHash(minimumRingSize: defaultMinimumRingSize)
            /// `ringHash.minimumRingSize` when not given ("Defaults to 1024").
            public static let defaultMinimumRingSize = 1024
            /// `maglev.tableSize` when not given ("If it is not specified, the default is 65537").
            public static let defaultTableSize = 65537
        }

        /// The hash key.
        public var key: Key
        /// The algorithm.
        public var algorithm: Algorithm

        /// Consistent hashing on `key` with `algorithm`.
        public init(key: Key, algorithm: Algorithm = .default) {
            self.key = key
            self.algorithm = algorithm
        }
    }

    /// `connectionPool`: limits per endpoint (Envoy's circuit breakers). A field not written has
    /// Istio's default.
    public struct ConnectionPool: Sendable, Equatable {
        /// Istio's "2^32-1", the default of the limits below: effectively none.
        public static let unlimited = 4_294_967_295

        /// `tcp.maxConnections` ("Default 2^32-1").
        public var maxConnections: Int
        /// `tcp.connectTimeout` ("Default is 10s").
        public var connectTimeout: Duration
        /// `http.http1MaxPendingRequests`: requests queued waiting for a connection ("Default 2^32-1").
        public var http1MaxPendingRequests: Int
        /// `http.maxRequestsPerConnection`; 0 means unlimited ("Default 0"), 1 disables keep-alive.
        public var maxRequestsPerConnection: Int
        /// `http.maxRetries`: retries outstanding to all endpoints at once ("Defaults to 2^32-1").
        public var maxRetries: Int
        /// `http.idleTimeout`: an upstream connection without requests for this long is closed
        /// ("If not set, the default is 1 hour").
        public var idleTimeout: Duration

        /// Istio's defaults.
        public static let defaults = ConnectionPool()

        /// A pool of the given limits, Istio's defaults for the rest.
        public init(
            maxConnections: Int = unlimited, connectTimeout: Duration = .seconds(10), http1MaxPendingRequests: Int = unlimited,
            maxRequestsPerConnection: Int = 0, maxRetries: Int = unlimited, idleTimeout: Duration = .seconds(3600)
        ) {
            self.maxConnections = maxConnections
            self.connectTimeout = connectTimeout
            self.http1MaxPendingRequests = http1MaxPendingRequests
            self.maxRequestsPerConnection = maxRequestsPerConnection
            self.maxRetries = maxRetries
            self.idleTimeout = idleTimeout
        }
    }

    /// `outlierDetection`: endpoints that keep failing are ejected for a while. A field not
    /// written has Istio's default.
    public struct OutlierDetection: Sendable, Equatable {
        /// `consecutive5xxErrors`: 5xx responses (or, over TCP, connection failures) in a row that
        /// eject an endpoint; 0 disables this check ("This feature defaults to 5").
        public var consecutive5xxErrors: Int
        /// `consecutiveGatewayErrors`: 502, 503 and 504 responses in a row that eject an endpoint;
        /// 0 disables this check ("This feature is disabled by default").
        public var consecutiveGatewayErrors: Int
        /// `interval`: how often ejections are decided ("Default is 10s").
        public var interval: Duration
        /// `baseEjectionTime`: an ejection lasts this times the number of ejections so far
        /// ("Default is 30s").
        public var baseEjectionTime: Duration
        /// `maxEjectionPercent`: at most this share of endpoints is ejected ("Defaults to 10%").
        public var maxEjectionPercent: Int
        /// `minHealthPercent`: below this share of healthy endpoints, ejection stops and all
        /// endpoints are used; 0 never stops it ("The default is 0%").
        public var minHealthPercent: Int

        /// Istio's defaults.
        public static let defaults = OutlierDetection()

        /// Outlier detection of the given values, Istio's defaults for the rest.
        public init(
            consecutive5xxErrors: Int = 5, consecutiveGatewayErrors: Int = 0, interval: Duration = .seconds(10),
            baseEjectionTime: Duration = .seconds(30), maxEjectionPercent: Int = 10, minHealthPercent: Int = 0
        ) {
            self.consecutive5xxErrors = consecutive5xxErrors
            self.consecutiveGatewayErrors = consecutiveGatewayErrors
            self.interval = interval
            self.baseEjectionTime = baseEjectionTime
            self.maxEjectionPercent = maxEjectionPercent
            self.minHealthPercent = minHealthPercent
        }
    }

    /// One entry of `subsets`: the endpoints of the Service whose EndpointSlice carries every
    /// label of `labels`, with their own traffic policy.
    public struct Subset: Sendable, Equatable {
        /// `name`, unique within the rule.
        public var name: String
        /// `labels`; empty selects every endpoint.
        public var labels: [String: String]
        /// `trafficPolicy`: each setting it gives replaces the rule's.
        public var trafficPolicy: TrafficPolicy?

        /// A subset of the given values.
        public init(name: String, labels: [String: String] = [:], trafficPolicy: TrafficPolicy? = nil) {
            self.name = name
            self.labels = labels
            self.trafficPolicy = trafficPolicy
        }

        /// Whether the subset holds the endpoints of `slice`: the slice's labels include every
        /// label of the subset. Kubernetes endpoints carry no pod labels, so a subset selects
        /// whole slices (one per version, such as `version: v2`). Whether the slice belongs to
        /// the rule's Service is `EndpointSlice.belongs(to:)`.
        public func selects(_ slice: EndpointSlice) -> Bool {
            labels.allSatisfy { slice.labels[$0.key] == $0.value }
        }
    }

    /// `metadata.name`.
    public var name: String
    /// `metadata.namespace`, `default` when not given.
    public var namespace: String
    /// `host` as written: a short name (`reviews`, in the rule's namespace) or a fully qualified
    /// one (`reviews.shop.svc.cluster.local`).
    public var host: String
    /// The name of the Service `host` names.
    public var serviceName: String
    /// The namespace of the Service `host` names.
    public var serviceNamespace: String
    /// `trafficPolicy`, if given.
    public var trafficPolicy: TrafficPolicy?
    /// `subsets`, in the order written.
    public var subsets: [Subset]
    /// Where the rule was read, such as `rules.yaml:12:1`, for messages about it.
    public var origin: String

    /// A rule with the given values; `Config` validates what it reads before building one.
    /// `serviceName` and `serviceNamespace` default to `host` and `namespace`.
    public init(
        name: String, namespace: String = "default", host: String, serviceName: String? = nil, serviceNamespace: String? = nil,
        trafficPolicy: TrafficPolicy? = nil, subsets: [Subset] = [], origin: String = ""
    ) {
        self.name = name
        self.namespace = namespace
        self.host = host
        self.serviceName = serviceName ?? host
        self.serviceNamespace = serviceNamespace ?? namespace
        self.trafficPolicy = trafficPolicy
        self.subsets = subsets
        self.origin = origin
    }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// The subset named `name`, if any.
    public func subset(named name: String) -> Subset? {
        subsets.first { $0.name == name }
    }

    /// The settings for traffic to `subset` (nil: the whole Service) on `port` (nil: no
    /// particular port), merged as Istio's `MergeTrafficPolicy` does: the rule's policy with its
    /// port-level entry for `port` applied, then each setting the subset's policy gives, then
    /// the subset's own port-level entry for `port`, which replaces all three settings.
    public func trafficPolicy(subset: String? = nil, port: UInt16? = nil) -> TrafficPolicy {
        var merged = (trafficPolicy ?? TrafficPolicy()).forPort(port)
        guard let subset, let own = self.subset(named: subset)?.trafficPolicy else { return merged }
        if let loadBalancer = own.loadBalancer { merged.loadBalancer = loadBalancer }
        if let connectionPool = own.connectionPool { merged.connectionPool = connectionPool }
        if let outlierDetection = own.outlierDetection { merged.outlierDetection = outlierDetection }
        if let port, let settings = own.portLevelSettings.first(where: { $0.port == port }) {
            merged.loadBalancer = settings.loadBalancer
            merged.connectionPool = settings.connectionPool
            merged.outlierDetection = settings.outlierDetection
        }
        return merged
    }

    /// `DestinationRule shop/reviews`.
    public var description: String { "DestinationRule \(qualifiedName)" }
}
