import Config
import Routing
import Testing

private func backend(_ name: String, _ weight: Int, port: UInt16 = 9080) -> HTTPBackendRef {
    HTTPBackendRef(name: name, namespace: "shop", port: port, weight: weight)
}

/// Bookinfo's reviews route in the middle of a canary: a header sends testers to v3; `/api`
/// and everything else are split between v1 and v2. And another route, to tell them apart.
private let routes: [HTTPRoute] = [
    HTTPRoute(name: "ratings", namespace: "default", rules: [HTTPRouteRule(backendRefs: [HTTPBackendRef(name: "ratings", namespace: "default", port: 80)])]),
    HTTPRoute(name: "reviews", namespace: "shop", rules: [
        HTTPRouteRule(name: "canary", matches: [HTTPRouteMatch(headers: [HTTPHeaderMatch(name: "x-canary", value: .exact("true"))])], backendRefs: [backend("reviews-v3", 1)]),
        HTTPRouteRule(matches: [HTTPRouteMatch(path: .pathPrefix("/legacy"))], filters: [.requestRedirect(HTTPRequestRedirectFilter(statusCode: 301))]),
        HTTPRouteRule(matches: [HTTPRouteMatch(path: .pathPrefix("/api"))], backendRefs: [backend("reviews-v1", 80), backend("reviews-v2", 20)]),
        HTTPRouteRule(backendRefs: [backend("reviews-v1", 50), backend("reviews-v2", 50), backend("reviews-v2", 50, port: 9443)]),
    ]),
]

/// One weight change and its outcome: the lines of `changes` and the weights of the reviews
/// route's rules afterwards, or the error and (part of) its message.
struct WeightsCase: CustomTestStringConvertible, Sendable {
    enum Outcome: Sendable {
        case changed([String], weights: [[Int]])
        case notFound(String)
        case invalid(String)
    }

    let name: String
    let json: String
    let route: String
    let outcome: Outcome

    init(_ name: String, _ json: String, route: String = "reviews", _ outcome: Outcome) {
        self.name = name
        self.json = json
        self.route = route
        self.outcome = outcome
    }

    var testDescription: String { name }
}

/// The weights of the reviews route as `routes` has them.
private let unchanged = [[1], [], [80, 20], [50, 50, 50]]

private let example = #"{"weights": {"reviews-v1": 90, "reviews-v2": 10}}"#

let weightsCases: [WeightsCase] = [
    WeightsCase("every rule with both backends", #"{"weights": {"reviews-v1": 0, "reviews-v2": 100}}"#, .changed([
        "shop/reviews rule 2: reviews-v1 80 → 0",
        "shop/reviews rule 2: reviews-v2 20 → 100",
        "shop/reviews rule 3: reviews-v1 50 → 0",
        "shop/reviews rule 3: reviews-v2 port 9080 50 → 100",
        "shop/reviews rule 3: reviews-v2 port 9443 50 → 100",
    ], weights: [[1], [], [0, 100], [0, 100, 100]])),
    WeightsCase("one rule by its index", #"{"rule": 2, "weights": {"reviews-v1": 60, "reviews-v2": 40}}"#, .changed([
        "shop/reviews rule 2: reviews-v1 80 → 60",
        "shop/reviews rule 2: reviews-v2 20 → 40",
    ], weights: [[1], [], [60, 40], [50, 50, 50]])),
    WeightsCase("a backend not named keeps its weight", #"{"weights": {"reviews-v2": 20}}"#, .changed([
        "shop/reviews rule 3: reviews-v2 port 9080 50 → 20",
        "shop/reviews rule 3: reviews-v2 port 9443 50 → 20",
    ], weights: [[1], [], [80, 20], [50, 20, 20]])),
    WeightsCase("a named rule is named in the changes", #"{"weights": {"reviews-v3": 0}}"#, .changed([
        "shop/reviews rule 0 (canary): reviews-v3 1 → 0",
    ], weights: [[0], [], [80, 20], [50, 50, 50]])),
    WeightsCase("a change that changes nothing", #"{"weights": {"reviews-v1": 80, "reviews-v2": 20}, "rule": 2}"#, .changed([], weights: unchanged)),
    WeightsCase("compact JSON", #"{"weights":{"reviews-v3":1000000}}"#, .changed([
        "shop/reviews rule 0 (canary): reviews-v3 1 → 1000000",
    ], weights: [[1000000], [], [80, 20], [50, 50, 50]])),
    WeightsCase("JSON over lines, with tabs", "{\n\t\"weights\": {\n\t\t\"reviews-v3\": 2\n\t}\n}\n", .changed([
        "shop/reviews rule 0 (canary): reviews-v3 1 → 2",
    ], weights: [[2], [], [80, 20], [50, 50, 50]])),
    WeightsCase("another route", #"{"weights": {"ratings": 5}}"#, route: "ratings", .changed([
        "default/ratings rule 0: ratings 1 → 5",
    ], weights: unchanged)),

    WeightsCase("a route that does not exist", #"{"weights": {"reviews-v1": 0}}"#, route: "reveiws",
                .notFound("there is no HTTPRoute shop/reveiws (did you mean shop/reviews?); the HTTPRoutes are default/ratings, shop/reviews")),
    WeightsCase("malformed JSON", #"{"weights": {"reviews-v1": 0}"#,
                .invalid("the body is not valid JSON: did not find expected ',' or '}' at line 2, column 1 (while parsing a flow mapping at line 1, column 1)")),
    WeightsCase("an empty body", "", .invalid("the body is empty; send a JSON object such as \(example)")),
    WeightsCase("a JSON array", "[1, 2]", .invalid("the body must be a JSON object such as \(example), not an array")),
    WeightsCase("null", "null", .invalid("the body must be a JSON object such as \(example), not `null`")),
    WeightsCase("a YAML block mapping", "weights:\n  reviews-v1: 0\n",
                .invalid("the body is not valid JSON: it is a YAML block mapping, not a JSON object in braces; send a JSON object such as \(example)")),
    WeightsCase("YAML flow with plain keys", "{weights: {reviews-v1: 0}}",
                .invalid("the body is not valid JSON: the key `weights` at line 1, column 2 is not a JSON string; write keys in double quotes")),
    WeightsCase("single quotes", #"{"weights": {'reviews-v1': 0}}"#,
                .invalid("the body is not valid JSON: the key `reviews-v1` at line 1, column 14 is not a JSON string")),
    WeightsCase("a plain word as a value", #"{"weights": {"reviews-v1": zero}}"#,
                .invalid("the body is not valid JSON: `zero` at line 1, column 28 is neither a number, true, false nor null; write a string in double quotes")),
    WeightsCase("a number with a leading zero", #"{"weights": {"reviews-v1": 010}}"#,
                .invalid("the body is not valid JSON: `010` at line 1, column 28 is neither a number, true, false nor null")),
    WeightsCase("a YAML block list", "- 1\n- 2\n", .invalid("the body is not valid JSON: it is a YAML block list, not a JSON object in braces")),
    WeightsCase("a comment before the object", "# weights\n{\"weights\": {\"reviews-v1\": 0}}\n", .invalid("the body is not valid JSON: it starts with a YAML comment ('#'), which JSON does not have")),
    WeightsCase("a flow mapping as a key", "{\"weights\": {\"reviews-v1\": 0}}: x\n", .invalid("the body is not valid JSON: the key")),
    WeightsCase("two documents", "{\"weights\": {\"reviews-v1\": 0}}\n---\n{}\n",
                .invalid("the body is not valid JSON: it holds more than one YAML document (separated by ---)")),
    WeightsCase("a YAML anchor", #"{"weights": &w {"reviews-v1": 0}}"#,
                .invalid("the body is not valid JSON: `&w` at line 1, column 13 is a YAML anchor or alias")),
    WeightsCase("a key twice", #"{"weights": {"reviews-v1": 0, "reviews-v1": 10}}"#,
                .invalid("the body is not valid JSON: the key \"reviews-v1\" at line 1, column 14 appears more than once in its object; give each key once")),
    WeightsCase("a weight in quotes", #"{"weights": {"reviews-v1": "10"}}"#,
                .invalid("`weights[\"reviews-v1\"]` is the string \"10\"; it must be a whole number from 0 to 1000000, written without quotes (0 sends no requests)")),
    WeightsCase("a fraction", #"{"weights": {"reviews-v1": 0.5}}"#,
                .invalid("`weights[\"reviews-v1\"]` is 0.5; it must be a whole number from 0 to 1000000, without a fraction or exponent (0 sends no requests)")),
    WeightsCase("an exponent", #"{"weights": {"reviews-v1": 1e2}}"#,
                .invalid("`weights[\"reviews-v1\"]` is 1e2; it must be a whole number from 0 to 1000000, without a fraction or exponent")),
    WeightsCase("weights out of range", #"{"weights": {"reviews-v1": 1000001, "reviews-v2": -1}}"#,
                .invalid("`weights[\"reviews-v1\"]` is 1000001; it must be a whole number from 0 to 1000000 (0 sends no requests)\n`weights[\"reviews-v2\"]` is -1; it must be a whole number from 0 to 1000000 (0 sends no requests)")),
    WeightsCase("a weight of null", #"{"weights": {"reviews-v1": null}}"#,
                .invalid("`weights[\"reviews-v1\"]` is `null`; it must be a whole number from 0 to 1000000")),
    WeightsCase("no weights", "{}", .invalid("the body has no \"weights\"; send the backends' new weights, such as \(example)")),
    WeightsCase("empty weights", #"{"weights": {}}"#, .invalid("`weights` is empty; name at least one backend of the route with its weight")),
    WeightsCase("weights as a list", #"{"weights": [0, 100]}"#, .invalid("`weights` must be a JSON object of backend names to weights, such as {\"reviews-v1\": 90, \"reviews-v2\": 10}, not an array")),
    WeightsCase("a misspelt key", #"{"weigths": {"reviews-v1": 0}}"#,
                .invalid("unknown key \"weigths\" (did you mean \"weights\"?); the body has the keys \"weights\" and, optionally, \"rule\"\nthe body has no \"weights\"")),
    WeightsCase("an unknown key", #"{"weights": {"reviews-v1": 0}, "dryRun": true}"#,
                .invalid("unknown key \"dryRun\"; the body has the keys \"weights\" and, optionally, \"rule\"")),
    WeightsCase("a rule in quotes", #"{"weights": {"reviews-v1": 0}, "rule": "2"}"#,
                .invalid("`rule` is the string \"2\"; it must be a whole number from 0, written without quotes: the index of one of the route's rules, from 0")),
    WeightsCase("a rule out of range", #"{"weights": {"reviews-v1": 0}, "rule": 4}"#,
                .invalid("`rule` is 4, but HTTPRoute shop/reviews has 4 rules (0 to 3); give one of them, or leave `rule` out to change every rule with these backends")),
    WeightsCase("a rule without the backend", #"{"weights": {"reviews-v1": 0, "reviews-v3": 1}, "rule": 0}"#,
                .invalid("rule 0 of HTTPRoute shop/reviews has no backend named \"reviews-v1\"; its backends are reviews-v3")),
    WeightsCase("a backend no rule has", #"{"weights": {"reviews-v9": 0}}"#,
                .invalid("no rule of HTTPRoute shop/reviews has backends named \"reviews-v9\"; its rules' backends are rule 0 (canary): reviews-v3; rule 1: none; rule 2: reviews-v1, reviews-v2; rule 3: reviews-v1, reviews-v2. Name backends of one rule, or give its index as `rule`")),
    WeightsCase("backends of different rules", #"{"weights": {"reviews-v1": 0, "reviews-v3": 100}}"#,
                .invalid("no rule of HTTPRoute shop/reviews has backends named \"reviews-v1\" and \"reviews-v3\" together")),
]

@Suite("Shifting an HTTPRoute's weights")
struct RouteWeightsTests {
    @Test("weights are applied to the rules with those backends", arguments: weightsCases)
    func apply(_ weightsCase: WeightsCase) {
        let namespace = weightsCase.route == "ratings" ? "default" : "shop"
        let result = RouteWeights.apply(json: weightsCase.json, toRoute: namespace, weightsCase.route, in: routes)
        switch (weightsCase.outcome, result) {
        case (.changed(let changes, let weights), .success(let applied)):
            #expect(applied.changes == changes)
            #expect(applied.routes[1].rules.map { $0.backendRefs.map(\.weight) } == weights)
            // Nothing but the weights changes, and no other route.
            #expect(applied.routes.count == routes.count)
            for (index, route) in applied.routes.enumerated() where route.name != weightsCase.route {
                #expect(route == routes[index])
            }
            var restored = applied.routes
            for (route, original) in zip(restored.indices, routes) {
                for rule in restored[route].rules.indices {
                    for backend in restored[route].rules[rule].backendRefs.indices {
                        restored[route].rules[rule].backendRefs[backend].weight = original.rules[rule].backendRefs[backend].weight
                    }
                }
            }
            #expect(restored == routes)
        case (.notFound(let message), .failure(.routeNotFound(let found))):
            #expect(found == message)
        case (.invalid(let message), .failure(.invalid(let found))):
            #expect(found.hasPrefix(message), "\(found)")
        default:
            Issue.record("unexpected \(result)")
        }
    }

    @Test("a configuration without routes says so")
    func noRoutes() {
        let result = RouteWeights.apply(json: #"{"weights": {"a": 1}}"#, toRoute: "shop", "reviews", in: [])
        guard case .failure(let error) = result else {
            Issue.record("unexpected \(result)")
            return
        }
        #expect(error == .routeNotFound("there is no HTTPRoute shop/reviews; the configuration has no HTTPRoutes"))
        #expect(error.description == error.message)
    }

    @Test("a changed route still reads back from the configuration it came from")
    func appliedToLoaded() throws {
        let text = """
            apiVersion: v1
            kind: Service
            metadata: {name: reviews-v1, namespace: shop}
            spec: {clusterIP: 10.96.0.11, ports: [{name: http, port: 9080}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: reviews-v2, namespace: shop}
            spec: {clusterIP: 10.96.0.12, ports: [{name: http, port: 9080}]}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: reviews, namespace: shop}
            spec:
              parentRefs: [{group: "", kind: Service, name: reviews-v1}]
              rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]}]

            """
        var documents = try Configuration.loadTraffic(text: text, origin: "PUT /config")
        let applied = try RouteWeights.apply(json: #"{"weights": {"reviews-v1": 0, "reviews-v2": 100}}"#, toRoute: "shop", "reviews", in: documents.httpRoutes).get()
        #expect(applied.changes == ["shop/reviews rule 0: reviews-v1 90 → 0", "shop/reviews rule 0: reviews-v2 10 → 100"])
        documents.httpRoutes = applied.routes
        let again = try Configuration.loadTraffic(text: TrafficDump.yaml(documents), origin: "dump")
        #expect(again.httpRoutes[0].rules[0].backendRefs.map(\.weight) == [0, 100])
    }
}
