/// The parts of an HTTP request that HTTPRoute matching looks at. The caller (the proxy) owns the
/// request; this is a copy of what matching needs.
public struct RouteRequest: Sendable {
    /// The method, as sent (`GET`); compared exactly, so it must be uppercase to match.
    public var method: String
    /// The path of the request target, without the query (`/reviews/1`).
    public var path: String
    /// The raw query after `?`, without it (`a=b&c=d`), or nil when the target has none.
    /// It is split on `&` and then on the first `=`; a parameter without `=` has the empty value.
    /// Nothing is percent-decoded: names and values are compared as sent.
    public var query: String?
    /// The header fields, in the order received. Names are compared without regard to case
    /// (RFC 9110 §5.1).
    public var headers: [(name: String, value: String)]

    /// A request of the given parts.
    public init(method: String, path: String, query: String? = nil, headers: [(name: String, value: String)] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// Which rule of which route a request matched, and through which of the rule's matches.
public struct RouteMatch: Sendable, Equatable {
    /// The route's index in the `routes` the table was built from.
    public var routeIndex: Int
    /// The route's `metadata.namespace`.
    public var namespace: String
    /// The route's `metadata.name`.
    public var name: String
    /// The rule's index in the route's `rules`.
    public var ruleIndex: Int
    /// The entry of the rule's `matches` that the request satisfied (`PathPrefix /` for a rule
    /// without matches).
    public var match: HTTPRouteMatch

    /// A match of the given parts.
    public init(routeIndex: Int, namespace: String, name: String, ruleIndex: Int, match: HTTPRouteMatch) {
        self.routeIndex = routeIndex
        self.namespace = namespace
        self.name = name
        self.ruleIndex = ruleIndex
        self.match = match
    }
}

/// The HTTPRoutes attached to one Service port, ready to match requests: every regular expression
/// is compiled once, here, and every match is put in precedence order once, so a request is
/// matched by one walk that stops at the first hit.
///
/// Precedence follows the Gateway API's `HTTPRouteRule` documentation. Among all matches of all
/// rules of all routes that a request satisfies, the winner has
/// 1. an `Exact` path match;
/// 2. the longest `PathPrefix` (in characters, ignoring a trailing `/`);
/// 3. a `method` match;
/// 4. the most `headers` matches;
/// 5. the most `queryParams` matches;
///
/// then belongs to the oldest route, then to the first route by `namespace/name`, then to the
/// first rule of its route. The Gateway API leaves `RegularExpression` paths out of this order;
/// Weft ranks them below every `PathPrefix` (a pattern's length says nothing about how specific
/// it is), and then applies steps 3 to 5 as for the others.
///
/// Route `hostnames` are not looked at: a mesh route is chosen by the Service the client
/// connected to, which the caller has already used to pick this table.
public struct RouteTable: Sendable {
    /// The routes, as given.
    public let routes: [HTTPRoute]
    private let entries: [Entry]
    private let pickers: [[WeightedPicker]]

    /// A table of `routes`, all attached to the same Service port. Pass them oldest first (by
    /// `metadata.creationTimestamp`): the order given is their age. When the caller knows only
    /// creation times, which Kubernetes keeps to the second, pass them as `created` (any
    /// sortable number per route, such as seconds since the epoch); routes created at the same
    /// time are then ordered by `namespace/name`, as the Gateway API says.
    ///
    /// A regular expression that does not compile matches nothing (`Config` refuses such routes
    /// before they get here).
    public init(routes: [HTTPRoute], created: [Int64]? = nil) {
        precondition(created == nil || created!.count == routes.count, "one creation time per route")
        self.routes = routes
        // Age rank: the index when the order given is the age, else the creation time.
        let age: [Int64] = created ?? routes.indices.map { Int64($0) }
        var entries: [Entry] = []
        for (routeIndex, route) in routes.enumerated() {
            for (ruleIndex, rule) in route.rules.enumerated() {
                // A rule without matches matches every request (the CRD's default, PathPrefix /).
                let matches = rule.matches.isEmpty ? [HTTPRouteMatch()] : rule.matches
                for match in matches {
                    entries.append(
                        Entry(
                            routeIndex: routeIndex, ruleIndex: ruleIndex, age: age[routeIndex], match: match,
                            compiled: CompiledMatch(match)))
                }
            }
        }
        // A stable sort keeps a rule's matches in the order written; they all rank the same
        // way for the ties, and only the first that the request satisfies matters.
        self.entries = entries.enumerated().sorted { a, b in
            Entry.precedes(a.element, b.element, routes: routes) || (!Entry.precedes(b.element, a.element, routes: routes) && a.offset < b.offset)
        }.map(\.element)
        pickers = routes.map { route in
            route.rules.map { rule in
                // Weights are 0...1,000,000 (the CRD's bounds); clamp anything else into them.
                WeightedPicker(weights: rule.backendRefs.map { UInt32(min(max($0.weight, 0), HTTPBackendRef.maximumWeight)) })
            }
        }
    }

    /// The rule that `request` goes to, by the precedence above; nil when no rule matches (the
    /// proxy answers 404, as the Gateway API says).
    public func match(_ request: RouteRequest) -> RouteMatch? {
        let query = QueryParameters(request.query)
        for entry in entries where entry.compiled.matches(request, query: query) {
            let route = routes[entry.routeIndex]
            return RouteMatch(
                routeIndex: entry.routeIndex, namespace: route.namespace, name: route.name, ruleIndex: entry.ruleIndex,
                match: entry.match)
        }
        return nil
    }

    /// One of the matched rule's `backendRefs`, chosen with probability weight / (sum of the
    /// rule's weights). A backend of weight 0 is never chosen; nil when the rule has no backends
    /// or all have weight 0, which the proxy answers with a 500, as the Gateway API says.
    /// `match` must come from this table.
    public func pickBackend(_ match: RouteMatch, using rng: inout some RandomNumberGenerator) -> HTTPBackendRef? {
        pickBackendGeneric(match, using: &rng)
    }

    /// `pickBackend(_:using:)` with the proxy's generator, specialized in this module.
    public func pickBackend(_ match: RouteMatch, using rng: inout SplitMix64) -> HTTPBackendRef? {
        pickBackendGeneric(match, using: &rng)
    }

    private func pickBackendGeneric(_ match: RouteMatch, using rng: inout some RandomNumberGenerator) -> HTTPBackendRef? {
        guard let index = pickers[match.routeIndex][match.ruleIndex].pick(using: &rng) else { return nil }
        return routes[match.routeIndex].rules[match.ruleIndex].backendRefs[index]
    }
}

/// One match of one rule, with what precedence needs.
private struct Entry: Sendable {
    var routeIndex: Int
    var ruleIndex: Int
    var age: Int64
    var match: HTTPRouteMatch
    var compiled: CompiledMatch

    /// Whether `a` wins over `b` when a request satisfies both.
    static func precedes(_ a: Entry, _ b: Entry, routes: [HTTPRoute]) -> Bool {
        if a.compiled.pathRank != b.compiled.pathRank { return a.compiled.pathRank > b.compiled.pathRank }
        if a.compiled.prefixLength != b.compiled.prefixLength { return a.compiled.prefixLength > b.compiled.prefixLength }
        if (a.match.method != nil) != (b.match.method != nil) { return a.match.method != nil }
        if a.match.headers.count != b.match.headers.count { return a.match.headers.count > b.match.headers.count }
        if a.match.queryParams.count != b.match.queryParams.count {
            return a.match.queryParams.count > b.match.queryParams.count
        }
        if a.age != b.age { return a.age < b.age }
        if a.routeIndex != b.routeIndex {
            let ra = routes[a.routeIndex], rb = routes[b.routeIndex]
            if ra.namespace != rb.namespace { return ra.namespace < rb.namespace }
            if ra.name != rb.name { return ra.name < rb.name }
            return a.routeIndex < b.routeIndex
        }
        return a.ruleIndex < b.ruleIndex
    }
}

/// A regular expression compiled once; nil when the pattern did not compile, so it matches nothing.
// `Regex<AnyRegexOutput>` is not Sendable only because an `AnyRegexOutput` may carry captures of
// any type; a pattern compiled from a string captures only substrings, and `Regex` is a value
// whose compiled program is immutable (lowered once, published atomically), so sharing it across
// threads is safe. `Regex<Substring>` would be Sendable but refuses patterns with capture groups.
private struct Pattern: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>?

    init(_ pattern: String) { regex = try? Regex(pattern) }

    /// Whether the whole of `value` matches (the Gateway API's RegularExpression is a full match).
    func matchesWhole(_ value: String) -> Bool {
        guard let regex else { return false }
        return (try? regex.wholeMatch(in: value)) != nil
    }
}

private enum CompiledPath: Sendable {
    case exact(String)
    /// The prefix without its trailing `/`: `/` becomes the empty prefix, which every path has.
    case prefix(String)
    case regularExpression(Pattern)

    func matches(_ path: String) -> Bool {
        switch self {
        case .exact(let exact):
            return path == exact
        case .prefix(let prefix):
            // Whole segments only: `/foo` takes `/foo`, `/foo/` and `/foo/bar`, not `/foobar`.
            let p = path.utf8, q = prefix.utf8
            guard p.starts(with: q) else { return false }
            return p.count == q.count || p[p.index(p.startIndex, offsetBy: q.count)] == UInt8(ascii: "/")
        case .regularExpression(let pattern):
            return pattern.matchesWhole(path)
        }
    }
}

private enum CompiledValue: Sendable {
    case exact(String)
    case regularExpression(Pattern)

    init(_ value: HTTPValueMatch) {
        switch value {
        case .exact(let exact): self = .exact(exact)
        case .regularExpression(let pattern): self = .regularExpression(Pattern(pattern))
        }
    }

    func matches(_ value: String) -> Bool {
        switch self {
        case .exact(let exact): return value == exact
        case .regularExpression(let pattern): return pattern.matchesWhole(value)
        }
    }
}

private struct CompiledMatch: Sendable {
    let path: CompiledPath
    let method: String?
    let headers: [(name: String, value: CompiledValue)]
    let queryParams: [(name: String, value: CompiledValue)]

    init(_ match: HTTPRouteMatch) {
        switch match.path {
        case .exact(let exact):
            path = .exact(exact)
        case .pathPrefix(var prefix):
            while prefix.utf8.last == UInt8(ascii: "/") { prefix.removeLast() }
            path = .prefix(prefix)
        case .regularExpression(let pattern):
            path = .regularExpression(Pattern(pattern))
        }
        method = match.method?.rawValue
        headers = match.headers.map { ($0.name, CompiledValue($0.value)) }
        queryParams = match.queryParams.map { ($0.name, CompiledValue($0.value)) }
    }

    /// Exact 2, PathPrefix 1, RegularExpression 0 (see `RouteTable`).
    var pathRank: Int {
        switch path {
        case .exact: 2
        case .prefix: 1
        case .regularExpression: 0
        }
    }

    /// The prefix's length in characters, trailing `/` not counted; 0 for other path types.
    var prefixLength: Int {
        if case .prefix(let prefix) = path { return prefix.count }
        return 0
    }

    /// Whether every condition holds (a match is the AND of its conditions).
    func matches(_ request: RouteRequest, query: QueryParameters) -> Bool {
        if let method, request.method != method { return false }
        guard path.matches(request.path) else { return false }
        for header in headers {
            guard let value = headerValue(header.name, in: request.headers), header.value.matches(value) else { return false }
        }
        for parameter in queryParams {
            guard let value = query.first(parameter.name), parameter.value.matches(value) else { return false }
        }
        return true
    }
}

/// The value of header `name` (any case), nil when absent. Repeated fields are joined with ", ",
/// as RFC 9110 §5.3 allows a recipient to do; the Gateway API leaves repeated headers to the
/// implementation and points at that section.
private func headerValue(_ name: String, in headers: [(name: String, value: String)]) -> String? {
    var value: String?
    for header in headers where equalIgnoringASCIICase(header.name, name) {
        if let joined = value { value = joined + ", " + header.value } else { value = header.value }
    }
    return value
}

/// Field names are ASCII tokens (RFC 9110 §5.1), so folding ASCII letters is enough.
private func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    return zip(a.utf8, b.utf8).allSatisfy { x, y in
        x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= UInt8(ascii: "a") && (x | 0x20) <= UInt8(ascii: "z"))
    }
}

/// A raw query split into parameters, in order; not percent-decoded.
private struct QueryParameters {
    var parameters: [(name: Substring, value: Substring)] = []

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = part.firstIndex(of: "=") {
                parameters.append((part[..<equals], part[part.index(after: equals)...]))
            } else {
                parameters.append((part, part[part.endIndex...]))
            }
        }
    }

    /// The value of the first parameter named `name` (case-sensitive, as the Gateway API says);
    /// later ones are ignored.
    func first(_ name: String) -> String? {
        parameters.first { $0.name == name }.map { String($0.value) }
    }
}
