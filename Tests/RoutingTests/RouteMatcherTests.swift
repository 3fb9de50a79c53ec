import Routing
import Testing

/// A route named `name` with one rule per entry of `rules`, each a list of matches.
private func route(
    _ name: String, namespace: String = "shop", _ matches: [HTTPRouteMatch]..., backends: [HTTPBackendRef] = []
) -> HTTPRoute {
    HTTPRoute(name: name, namespace: namespace, rules: matches.map { HTTPRouteRule(matches: $0, backendRefs: backends) })
}

private func request(
    _ path: String, method: String = "GET", query: String? = nil, headers: [(name: String, value: String)] = []
) -> RouteRequest {
    RouteRequest(method: method, path: path, query: query, headers: headers)
}

private func backend(_ name: String, _ weight: Int) -> HTTPBackendRef {
    HTTPBackendRef(name: name, namespace: "shop", port: 8080, weight: weight)
}

@Suite struct RoutePathMatching {
    struct Case: CustomTestStringConvertible, Sendable {
        var path: HTTPPathMatch
        var request: String
        var matches: Bool
        var testDescription: String { "\(path) vs \(request) → \(matches)" }
    }

    @Test(arguments: [
        Case(path: .exact("/foo"), request: "/foo", matches: true),
        Case(path: .exact("/foo"), request: "/foo/", matches: false),
        Case(path: .exact("/foo"), request: "/foo/bar", matches: false),
        Case(path: .exact("/foo"), request: "/fo", matches: false),
        Case(path: .exact("/foo"), request: "/FOO", matches: false),
        Case(path: .pathPrefix("/foo"), request: "/foo", matches: true),
        Case(path: .pathPrefix("/foo"), request: "/foo/", matches: true),
        Case(path: .pathPrefix("/foo"), request: "/foo/bar", matches: true),
        Case(path: .pathPrefix("/foo"), request: "/foobar", matches: false),
        Case(path: .pathPrefix("/foo"), request: "/", matches: false),
        Case(path: .pathPrefix("/foo"), request: "/bar/foo", matches: false),
        Case(path: .pathPrefix("/foo/"), request: "/foo", matches: true),
        Case(path: .pathPrefix("/foo/"), request: "/foo/bar", matches: true),
        Case(path: .pathPrefix("/foo/"), request: "/foobar", matches: false),
        Case(path: .pathPrefix("/foo/bar"), request: "/foo/bar/baz", matches: true),
        Case(path: .pathPrefix("/foo/bar"), request: "/foo/barn", matches: false),
        Case(path: .pathPrefix("/"), request: "/", matches: true),
        Case(path: .pathPrefix("/"), request: "/anything/at/all", matches: true),
        Case(path: .regularExpression("/foo/[0-9]+"), request: "/foo/42", matches: true),
        Case(path: .regularExpression("/foo/[0-9]+"), request: "/foo/42/x", matches: false),
        Case(path: .regularExpression("/foo/[0-9]+"), request: "/x/foo/42", matches: false),
        Case(path: .regularExpression("/foo/[0-9]+"), request: "/foo/", matches: false),
        Case(path: .regularExpression("/(v1|v2)/items"), request: "/v2/items", matches: true),
    ])
    func pathMatch(_ c: Case) {
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch(path: c.path)])])
        #expect((table.match(request(c.request)) != nil) == c.matches)
    }

    @Test func anUncompilableRegexMatchesNothing() {
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch(path: .regularExpression("/foo/(["))])])
        #expect(table.match(request("/foo/([")) == nil)
    }
}

@Suite struct RouteConditions {
    /// GET /api/… with header `x-env: prod` (any case of the name), `x-user` of digits, and query
    /// `v=2` — every condition must hold.
    static let all = HTTPRouteMatch(
        path: .pathPrefix("/api"),
        headers: [HTTPHeaderMatch(name: "X-Env", value: .exact("prod")), HTTPHeaderMatch(name: "x-user", value: .regularExpression("[0-9]+"))],
        queryParams: [HTTPQueryParamMatch(name: "v", value: .exact("2"))],
        method: .get)

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var method = "GET"
        var path = "/api/items"
        var query: String? = "v=2"
        var headers: [Header] = [Header("x-env", "prod"), Header("x-user", "42")]
        var matches: Bool
        var testDescription: String { name }
    }

    struct Header: Sendable {
        var name: String, value: String
        init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    @Test(arguments: [
        Case(name: "all conditions hold", matches: true),
        Case(name: "header names ignore case", headers: [Header("X-ENV", "prod"), Header("X-User", "7")], matches: true),
        Case(name: "other headers and params are ignored", query: "a=1&v=2&b", headers: [Header("accept", "*/*"), Header("x-env", "prod"), Header("x-user", "1")], matches: true),
        Case(name: "wrong method", method: "POST", matches: false),
        Case(name: "methods are compared exactly", method: "get", matches: false),
        Case(name: "wrong path", path: "/apix", matches: false),
        Case(name: "header missing", headers: [Header("x-user", "42")], matches: false),
        Case(name: "header value differs", headers: [Header("x-env", "Prod"), Header("x-user", "42")], matches: false),
        Case(name: "header regex must match the whole value", headers: [Header("x-env", "prod"), Header("x-user", "42a")], matches: false),
        Case(name: "query missing", query: nil, matches: false),
        Case(name: "query value differs", query: "v=3", matches: false),
        Case(name: "query names are case-sensitive", query: "V=2", matches: false),
        Case(name: "the first of a repeated parameter counts", query: "v=1&v=2", matches: false),
        Case(name: "later repeats are ignored", query: "v=2&v=1", matches: true),
        Case(name: "values are not percent-decoded", query: "v=%32", matches: false),
    ])
    func conditionsAreANDed(_ c: Case) {
        let table = RouteTable(routes: [route("r", [Self.all])])
        let req = request(c.path, method: c.method, query: c.query, headers: c.headers.map { ($0.name, $0.value) })
        #expect((table.match(req) != nil) == c.matches)
    }

    @Test func aParameterWithoutValueHasTheEmptyValue() {
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch(queryParams: [HTTPQueryParamMatch(name: "debug", value: .exact(""))])])])
        #expect(table.match(request("/", query: "debug")) != nil)
        #expect(table.match(request("/", query: "debug=1")) == nil)
    }

    @Test func matchesOfARuleAreORed() throws {
        let a = HTTPRouteMatch(path: .exact("/a"))
        let b = HTTPRouteMatch(path: .pathPrefix("/b"), method: .post)
        let table = RouteTable(routes: [route("r", [a, b])])
        #expect(try #require(table.match(request("/a"))).match == a)
        #expect(try #require(table.match(request("/b/1", method: "POST"))).match == b)
        #expect(table.match(request("/b/1", method: "GET")) == nil)
        #expect(table.match(request("/c")) == nil)
    }

    @Test func aRuleWithoutMatchesMatchesEverything() throws {
        let explicit = HTTPRoute(name: "r", namespace: "shop", rules: [HTTPRouteRule(matches: [])])
        let defaulted = HTTPRoute(name: "d", namespace: "shop")
        for routes in [[explicit], [defaulted]] {
            let table = RouteTable(routes: routes)
            for path in ["/", "/x", "/x/y/z"] {
                let hit = try #require(table.match(request(path, method: "DELETE", query: "a=b", headers: [("h", "v")])))
                #expect(hit.ruleIndex == 0)
                #expect(hit.match == HTTPRouteMatch())
            }
        }
    }

    @Test func noRuleMatchesGivesNil() {
        #expect(RouteTable(routes: []).match(request("/")) == nil)
        #expect(RouteTable(routes: [route("r", [HTTPRouteMatch(path: .exact("/x"))])]).match(request("/y")) == nil)
    }
}

@Suite struct RoutePrecedence {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var routes: [HTTPRoute]
        var created: [Int64]? = nil
        var request: RouteRequest
        var winner: String
        var rule = 0
        var testDescription: String { name }
    }

    static let everything = HTTPRouteMatch(
        path: .pathPrefix("/foo"), headers: [HTTPHeaderMatch(name: "a", value: .exact("1")), HTTPHeaderMatch(name: "b", value: .exact("1"))],
        queryParams: [HTTPQueryParamMatch(name: "q", value: .exact("1"))], method: .get)
    static let full = request("/foo/bar", query: "q=1&r=1&s=1", headers: [("a", "1"), ("b", "1"), ("c", "1")])

    // In each case the older route (listed first) would win on every later step; the newer one
    // wins on the step named.
    @Test(arguments: [
        Case(
            name: "an Exact path beats a longer prefix with more conditions",
            routes: [route("prefix", [everything]), route("exact", [HTTPRouteMatch(path: .exact("/foo/bar"))])],
            request: full, winner: "exact"),
        Case(
            name: "the longest PathPrefix beats method, headers and query",
            routes: [route("short", [everything]), route("long", [HTTPRouteMatch(path: .pathPrefix("/foo/bar"))])],
            request: full, winner: "long"),
        Case(
            name: "prefix length ignores a trailing slash",
            routes: [route("slash", [HTTPRouteMatch(path: .pathPrefix("/foo/"), method: .get)]), route("longer", [HTTPRouteMatch(path: .pathPrefix("/foo/b"))])],
            request: request("/foo/b"), winner: "longer"),
        Case(
            name: "any PathPrefix beats a RegularExpression",
            routes: [route("regex", [HTTPRouteMatch(path: .regularExpression("/foo/.*"), method: .get)]), route("root", [HTTPRouteMatch()])],
            request: full, winner: "root"),
        Case(
            name: "a method match beats more headers and query params",
            routes: [
                route("headers", [HTTPRouteMatch(headers: everything.headers, queryParams: everything.queryParams)]),
                route("method", [HTTPRouteMatch(method: .get)]),
            ],
            request: full, winner: "method"),
        Case(
            name: "more header matches beat more query matches",
            routes: [
                route("query", [HTTPRouteMatch(headers: [HTTPHeaderMatch(name: "a", value: .exact("1"))], queryParams: everything.queryParams)]),
                route("headers", [HTTPRouteMatch(headers: everything.headers)]),
            ],
            request: full, winner: "headers"),
        Case(
            name: "more query matches beat age",
            routes: [
                route("older", [HTTPRouteMatch(queryParams: [HTTPQueryParamMatch(name: "q", value: .exact("1"))])]),
                route("newer", [HTTPRouteMatch(queryParams: [HTTPQueryParamMatch(name: "q", value: .exact("1")), HTTPQueryParamMatch(name: "r", value: .exact("1"))])]),
            ],
            request: full, winner: "newer"),
        Case(
            name: "the oldest route beats the first by name",
            routes: [route("zz", namespace: "zz", [HTTPRouteMatch()]), route("aa", namespace: "aa", [HTTPRouteMatch()])],
            request: full, winner: "zz"),
        Case(
            name: "creation time, not order, is age when given",
            routes: [route("aa", [HTTPRouteMatch()]), route("zz", [HTTPRouteMatch()])], created: [20, 10],
            request: full, winner: "zz"),
        Case(
            name: "routes created together go by name",
            routes: [route("zz", [HTTPRouteMatch()]), route("aa", [HTTPRouteMatch()])], created: [10, 10],
            request: full, winner: "aa"),
        Case(
            name: "routes created together go by namespace before name",
            routes: [route("aa", namespace: "zz", [HTTPRouteMatch()]), route("zz", namespace: "aa", [HTTPRouteMatch()])], created: [10, 10],
            request: full, winner: "zz"),
        Case(
            name: "within a route, the first of equal rules",
            routes: [route("r", [HTTPRouteMatch(path: .pathPrefix("/foo"))], [HTTPRouteMatch(path: .pathPrefix("/foo"))])],
            request: full, winner: "r", rule: 0),
        Case(
            name: "a later rule of the same route wins when more specific",
            routes: [route("r", [HTTPRouteMatch(path: .pathPrefix("/foo"))], [HTTPRouteMatch(path: .exact("/foo/bar"))])],
            request: full, winner: "r", rule: 1),
        Case(
            name: "a rule's best match competes, not its first",
            routes: [
                route("older", [HTTPRouteMatch(path: .pathPrefix("/foo/bar"))]),
                route("newer", [HTTPRouteMatch(path: .pathPrefix("/")), HTTPRouteMatch(path: .exact("/foo/bar"))]),
            ],
            request: full, winner: "newer"),
        Case(
            name: "a more specific match that fails does not count",
            routes: [route("root", [HTTPRouteMatch()]), route("exact", [HTTPRouteMatch(path: .exact("/foo/bar"), method: .post)])],
            request: full, winner: "root"),
    ])
    func winner(_ c: Case) throws {
        let table = RouteTable(routes: c.routes, created: c.created)
        let hit = try #require(table.match(c.request))
        #expect(hit.name == c.winner)
        #expect(hit.ruleIndex == c.rule)
        #expect(c.routes[hit.routeIndex].name == hit.name)
        #expect(c.routes[hit.routeIndex].namespace == hit.namespace)
    }

    @Test func theWinningMatchIsReported() throws {
        let exact = HTTPRouteMatch(path: .exact("/foo/bar"))
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch(), exact])])
        #expect(try #require(table.match(Self.full)).match == exact)
        #expect(try #require(table.match(request("/other"))).match == HTTPRouteMatch())
    }
}

@Suite struct RouteBackendChoice {
    /// An 80/20 canary of `reviews`, and a newer route that sends `x-canary: true` to the canary.
    static let table = RouteTable(routes: [
        route("reviews", [HTTPRouteMatch()], backends: [backend("reviews-v1", 80), backend("reviews-v2", 20)]),
        route("reviews-canary", [HTTPRouteMatch(headers: [HTTPHeaderMatch(name: "x-canary", value: .exact("true"))])], backends: [backend("reviews-v2", 1)]),
    ])

    @Test func aCanarySplitsEightyTwenty() throws {
        let hit = try #require(Self.table.match(request("/reviews/1")))
        #expect(hit.name == "reviews")
        var rng = SplitMix64(seed: 7)
        var v2 = 0
        for _ in 0..<10_000 {
            let picked = try #require(Self.table.pickBackend(hit, using: &rng))
            if picked.name == "reviews-v2" { v2 += 1 } else { #expect(picked.name == "reviews-v1") }
        }
        #expect(abs(Double(v2) / 10_000 - 0.20) <= 0.02)
    }

    @Test(arguments: ["true", "false"])
    func theCanaryHeaderAlwaysWins(value: String) throws {
        let hit = try #require(Self.table.match(request("/reviews/1", headers: [("X-Canary", value)])))
        if value == "true" {
            #expect(hit.name == "reviews-canary")
            var rng = SplitMix64(seed: 8)
            for _ in 0..<1_000 { #expect(Self.table.pickBackend(hit, using: &rng)?.name == "reviews-v2") }
        } else {
            #expect(hit.name == "reviews")
        }
    }

    @Test func aZeroWeightIsNeverPicked() throws {
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch()], backends: [backend("off", 0), backend("on", 3)])])
        let hit = try #require(table.match(request("/")))
        var rng = SplitMix64(seed: 9)
        for _ in 0..<1_000 { #expect(table.pickBackend(hit, using: &rng)?.name == "on") }
    }

    @Test(arguments: [[], [0], [0, 0]] as [[Int]])
    func noBackendWithWeightPicksNothing(weights: [Int]) throws {
        let backends = weights.enumerated().map { backend("b\($0.offset)", $0.element) }
        let table = RouteTable(routes: [route("r", [HTTPRouteMatch()], backends: backends)])
        let hit = try #require(table.match(request("/")))
        var rng = SplitMix64(seed: 10)
        #expect(table.pickBackend(hit, using: &rng) == nil)
    }

    @Test func theBackendComesFromTheMatchedRule() throws {
        let table = RouteTable(routes: [
            HTTPRoute(name: "r", namespace: "shop", rules: [
                HTTPRouteRule(matches: [HTTPRouteMatch(path: .pathPrefix("/a"))], backendRefs: [backend("a", 1)]),
                HTTPRouteRule(matches: [HTTPRouteMatch(path: .pathPrefix("/b"))], backendRefs: [backend("b", 1)]),
            ]),
        ])
        var rng = SplitMix64(seed: 11)
        #expect(table.pickBackend(try #require(table.match(request("/a/1"))), using: &rng)?.name == "a")
        #expect(table.pickBackend(try #require(table.match(request("/b/1"))), using: &rng)?.name == "b")
    }
}
