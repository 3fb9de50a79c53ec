/// A Gateway API `HTTPRoute` (gateway.networking.k8s.io/v1) attached to Services, as Gateway API's
/// mesh profile (GAMMA, GEP-1426) defines it: requests a client sends to a parent Service are
/// matched against `rules`, and each rule forwards to its weighted `backendRefs`. Routes attached
/// to a Gateway are refused by `Config`: a sidecar has no Gateway. Values are typed and already
/// validated (`Config` reads and checks the YAML, as the Gateway API CRD validation does).
public struct HTTPRoute: Sendable, Equatable, CustomStringConvertible {
    /// One entry of `parentRefs`: a Service (group "", kind Service) whose traffic the route
    /// takes over, on all its ports or only one.
    public struct ParentRef: Sendable, Equatable {
        /// `name`: the Service's name.
        public var name: String
        /// `namespace`, the route's own when not given. A Service in another namespace makes a
        /// "consumer" route, applied only to clients in the route's namespace.
        public var namespace: String
        /// `port`: only this port of the Service (its `port`, not `targetPort`); nil for all.
        public var port: UInt16?
        /// `sectionName`: only the Service port of this name; nil for all.
        public var sectionName: String?

        /// A reference to the Service `name` in `namespace`.
        public init(name: String, namespace: String, port: UInt16? = nil, sectionName: String? = nil) {
            self.name = name
            self.namespace = namespace
            self.port = port
            self.sectionName = sectionName
        }
    }

    /// The most rules a route may have (the CRD's `MaxItems`).
    public static let maximumRules = 16
    /// The most matches of one rule (the CRD's `MaxItems`).
    public static let maximumMatchesPerRule = 64
    /// The most matches of all rules together (the CRD's CEL rule on `rules`).
    public static let maximumMatches = 128

    /// `metadata.name`.
    public var name: String
    /// `metadata.namespace`, `default` when not given.
    public var namespace: String
    /// `parentRefs`: the Services the route applies to, at least one.
    public var parentRefs: [ParentRef]
    /// `hostnames`: Host header values (`*.` prefix for a suffix match) a request must have;
    /// empty for any host.
    public var hostnames: [String]
    /// `rules`, in the order written, which is their precedence among equal matches.
    public var rules: [HTTPRouteRule]
    /// Where the route was read, such as `routes.yaml:12:1`, for messages about it.
    public var origin: String

    /// A route with the given values; `Config` validates what it reads before building one.
    /// `rules` defaults to the CRD's default: one rule that matches every request and has no
    /// backends (so every request gets a 500).
    public init(
        name: String, namespace: String = "default", parentRefs: [ParentRef] = [], hostnames: [String] = [],
        rules: [HTTPRouteRule] = [HTTPRouteRule()], origin: String = ""
    ) {
        self.name = name
        self.namespace = namespace
        self.parentRefs = parentRefs
        self.hostnames = hostnames
        self.rules = rules
        self.origin = origin
    }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// `HTTPRoute shop/reviews`.
    public var description: String { "HTTPRoute \(qualifiedName)" }
}

/// One entry of an HTTPRoute's `rules`: a request that satisfies any of `matches` goes through
/// `filters`, then to one of `backendRefs` chosen by weight. Without backends (and without a
/// redirect) the request gets a 500, as the Gateway API says.
public struct HTTPRouteRule: Sendable, Equatable {
    /// `name`, unique within the route, if given.
    public var name: String?
    /// `matches`, never empty: the Gateway API's default is one match of path prefix `/`.
    public var matches: [HTTPRouteMatch]
    /// `filters`, in the order they apply.
    public var filters: [HTTPRouteFilter]
    /// `backendRefs`.
    public var backendRefs: [HTTPBackendRef]
    /// `timeouts`; both nil when not given.
    public var timeouts: HTTPRouteTimeouts
    /// `retry`; nil when not given, and then a failed request is not retried.
    public var retry: HTTPRouteRetry?

    /// A rule with the given values; the default is the Gateway API's: match every request.
    public init(
        name: String? = nil, matches: [HTTPRouteMatch] = [HTTPRouteMatch()], filters: [HTTPRouteFilter] = [],
        backendRefs: [HTTPBackendRef] = [], timeouts: HTTPRouteTimeouts = HTTPRouteTimeouts(), retry: HTTPRouteRetry? = nil
    ) {
        self.name = name
        self.matches = matches
        self.filters = filters
        self.backendRefs = backendRefs
        self.timeouts = timeouts
        self.retry = retry
    }
}

/// One entry of a rule's `matches`: every condition given must hold (AND).
public struct HTTPRouteMatch: Sendable, Equatable {
    /// The methods a match may name (the CRD's enum), uppercase as in requests.
    public enum Method: String, Sendable, CaseIterable {
        case get = "GET", head = "HEAD", post = "POST", put = "PUT", delete = "DELETE"
        case connect = "CONNECT", options = "OPTIONS", trace = "TRACE", patch = "PATCH"
    }

    /// `path`, `PathPrefix /` (every path) when not given.
    public var path: HTTPPathMatch
    /// `headers`: each named header must match; names are distinct ignoring case.
    public var headers: [HTTPHeaderMatch]
    /// `queryParams`: each named query parameter must match; names are distinct.
    public var queryParams: [HTTPQueryParamMatch]
    /// `method`, if given.
    public var method: Method?

    /// A match of the given conditions; the default matches every request.
    public init(
        path: HTTPPathMatch = .pathPrefix("/"), headers: [HTTPHeaderMatch] = [], queryParams: [HTTPQueryParamMatch] = [],
        method: Method? = nil
    ) {
        self.path = path
        self.headers = headers
        self.queryParams = queryParams
        self.method = method
    }
}

/// A match's `path`.
public enum HTTPPathMatch: Sendable, Equatable {
    /// `Exact`: the path equals this, case-sensitively.
    case exact(String)
    /// `PathPrefix`: the path starts with these whole segments (`/abc` matches `/abc` and
    /// `/abc/def`, not `/abcd`); a trailing `/` is ignored.
    case pathPrefix(String)
    /// `RegularExpression`: the whole path matches this pattern, in Swift `Regex` syntax (the
    /// dialect is implementation-specific in the Gateway API; `Config` checks that it compiles).
    case regularExpression(String)
}

/// How a header or query parameter value is compared.
public enum HTTPValueMatch: Sendable, Equatable {
    /// `Exact`: the value equals this.
    case exact(String)
    /// `RegularExpression`: the whole value matches this pattern, in Swift `Regex` syntax.
    case regularExpression(String)
}

/// One entry of a match's `headers`.
public struct HTTPHeaderMatch: Sendable, Equatable {
    /// `name`, compared without regard to case (RFC 9110 §5.1), as written.
    public var name: String
    /// `type` and `value`.
    public var value: HTTPValueMatch

    /// A header match.
    public init(name: String, value: HTTPValueMatch) {
        self.name = name
        self.value = value
    }
}

/// One entry of a match's `queryParams`.
public struct HTTPQueryParamMatch: Sendable, Equatable {
    /// `name`, compared exactly.
    public var name: String
    /// `type` and `value`.
    public var value: HTTPValueMatch

    /// A query parameter match.
    public init(name: String, value: HTTPValueMatch) {
        self.name = name
        self.value = value
    }
}

/// One entry of a rule's `filters`. The Gateway API's other types (ResponseHeaderModifier,
/// RequestMirror, CORS, ExtensionRef, ExternalAuth) are refused by `Config`.
public enum HTTPRouteFilter: Sendable, Equatable {
    /// `RequestHeaderModifier`: change request headers before forwarding.
    case requestHeaderModifier(HTTPHeaderFilter)
    /// `RequestRedirect`: answer with a redirect instead of forwarding.
    case requestRedirect(HTTPRequestRedirectFilter)
    /// `URLRewrite`: change the host or path before forwarding.
    case urlRewrite(HTTPURLRewriteFilter)
}

/// A `RequestHeaderModifier`. Each header name (ignoring case) appears in at most one of the
/// three lists, as the Gateway API requires.
public struct HTTPHeaderFilter: Sendable, Equatable {
    /// A header name and value.
    public struct Header: Sendable, Equatable {
        /// The name, as written.
        public var name: String
        /// The value.
        public var value: String

        /// A header.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// `set`: replace any values of these headers.
    public var set: [Header]
    /// `add`: append these values to any the request has.
    public var add: [Header]
    /// `remove`: header names to remove.
    public var remove: [String]

    /// A filter of the given changes.
    public init(set: [Header] = [], add: [Header] = [], remove: [String] = []) {
        self.set = set
        self.add = add
        self.remove = remove
    }
}

/// A `RequestRedirect`: the response's `Location` is the request's URL with the given parts
/// replaced.
public struct HTTPRequestRedirectFilter: Sendable, Equatable {
    /// `scheme`.
    public enum Scheme: String, Sendable, CaseIterable {
        case http, https
    }

    /// The default `statusCode` (the CRD's default).
    public static let defaultStatusCode = 302

    /// `scheme`, the request's when nil.
    public var scheme: Scheme?
    /// `hostname`, the request's when nil.
    public var hostname: String?
    /// `path`, the request's when nil.
    public var path: HTTPPathModifier?
    /// `port`; when nil, the scheme's well-known port if `scheme` is given, else the request's.
    public var port: UInt16?
    /// `statusCode`: 301, 302 (the default), 303, 307 or 308.
    public var statusCode: Int

    /// A redirect with the given parts.
    public init(
        scheme: Scheme? = nil, hostname: String? = nil, path: HTTPPathModifier? = nil, port: UInt16? = nil,
        statusCode: Int = HTTPRequestRedirectFilter.defaultStatusCode
    ) {
        self.scheme = scheme
        self.hostname = hostname
        self.path = path
        self.port = port
        self.statusCode = statusCode
    }
}

/// A `URLRewrite`.
public struct HTTPURLRewriteFilter: Sendable, Equatable {
    /// `hostname`: the new Host header, if given.
    public var hostname: String?
    /// `path`: the new path, if given.
    public var path: HTTPPathModifier?

    /// A rewrite of the given parts.
    public init(hostname: String? = nil, path: HTTPPathModifier? = nil) {
        self.hostname = hostname
        self.path = path
    }
}

/// The `path` of a redirect or rewrite.
public enum HTTPPathModifier: Sendable, Equatable {
    /// `ReplaceFullPath`: the whole path becomes this.
    case replaceFullPath(String)
    /// `ReplacePrefixMatch`: the part the rule's `PathPrefix` matched becomes this (only with a
    /// rule of exactly one PathPrefix match, which `Config` checks).
    case replacePrefixMatch(String)
}

/// One entry of a rule's `backendRefs`: a port of a Service, with a weight.
public struct HTTPBackendRef: Sendable, Equatable {
    /// The default `weight` (the CRD's default).
    public static let defaultWeight = 1
    /// The largest `weight` (the CRD's `Maximum`).
    public static let maximumWeight = 1_000_000

    /// `name`: the Service's name.
    public var name: String
    /// `namespace`: the route's own (`Config` refuses others, which need a ReferenceGrant).
    public var namespace: String
    /// `port`: the Service's `port` (not its `targetPort`).
    public var port: UInt16
    /// `weight`, 0...1,000,000: the share of requests is weight / (sum of the rule's weights);
    /// 0 sends none.
    public var weight: Int

    /// A backend of the given Service port.
    public init(name: String, namespace: String, port: UInt16, weight: Int = HTTPBackendRef.defaultWeight) {
        self.name = name
        self.namespace = namespace
        self.port = port
        self.weight = weight
    }
}

/// A rule's `timeouts`. Zero (`0s`) disables a timeout, as the Gateway API says; nil leaves it to
/// the proxy's defaults.
public struct HTTPRouteTimeouts: Sendable, Equatable {
    /// `request`: the whole request and response, including retries.
    public var request: Duration?
    /// `backendRequest`: one request to a backend; never longer than a non-zero `request`.
    public var backendRequest: Duration?

    /// Timeouts of the given values.
    public init(request: Duration? = nil, backendRequest: Duration? = nil) {
        self.request = request
        self.backendRequest = backendRequest
    }
}

/// A rule's `retry` (Gateway API GEP-1731): when and how often a failed request is sent again.
///
/// Weft retries only a request whose body it can replay: one whose whole body (at most
/// `maximumReplayableBody` bytes) it still holds. It retries after a connect failure, after the
/// connection to the backend was reset before any byte of the response arrived, and after a
/// response whose status is in `codes` (that response is then discarded). Retries are bounded by a retry budget: retries in flight may be at most
/// `budgetPercent` percent of the requests in flight (Envoy's `retry_budget`), so that retrying
/// cannot multiply the load on an overloaded Service. `timeouts.request` covers every attempt
/// and `timeouts.backendRequest` each one.
public struct HTTPRouteRetry: Sendable, Equatable {
    /// `attempts` when `retry` is given without it.
    public static let defaultAttempts = 1
    /// The most `attempts`.
    public static let maximumAttempts = 10
    /// `backoff` when not given (Envoy's default base interval).
    public static let defaultBackoff = Duration.milliseconds(25)
    /// The shortest and longest `backoff`.
    public static let backoffRange = Duration.milliseconds(1)...Duration.seconds(10)
    /// The statuses `codes` may hold: client and server errors (the CRD's
    /// `HTTPRouteRetryStatusCode`).
    public static let codeRange = 400...599
    /// The most entries of `codes`.
    public static let maximumCodes = 16
    /// The largest request body Weft keeps for a retry, in bytes; a request with a larger body
    /// (or one still arriving beyond it) is not retried.
    public static let maximumReplayableBody = 64 << 10
    /// The retry budget: retries in flight as a percentage of the requests in flight.
    public static let budgetPercent = 20

    /// `attempts`, 0...10: how many times a request may be retried after its first attempt; 0
    /// retries nothing.
    public var attempts: Int
    /// `backoff`, 1ms...10s: the base of the exponential backoff with jitter between attempts
    /// (`Routing.Backoff`).
    public var backoff: Duration
    /// `codes`: the response statuses (400...599, each once, at most 16) that are retried
    /// besides connect failures and resets; empty for none.
    public var codes: [Int]

    /// A retry policy of the given values; `Config` validates what it reads before building one.
    public init(
        attempts: Int = HTTPRouteRetry.defaultAttempts, backoff: Duration = HTTPRouteRetry.defaultBackoff, codes: [Int] = []
    ) {
        self.attempts = attempts
        self.backoff = backoff
        self.codes = codes
    }
}
