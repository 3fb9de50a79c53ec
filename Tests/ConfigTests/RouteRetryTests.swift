import Config
import Routing
import Testing

/// A Service `web` and an HTTPRoute on it whose one rule is `rule` (a flow mapping, line 9).
private func routeWithRule(_ rule: String) -> String {
    """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: web, namespace: shop}
    spec: {parentRefs: [{group: "", kind: Service, name: web}], rules: [\(rule)]}

    """
}

/// A rule's `retry` as written, and what it reads as.
struct RetryCase: CustomTestStringConvertible, Sendable {
    let retry: String
    let expected: HTTPRouteRetry?

    var testDescription: String { retry.isEmpty ? "no retry" : retry }
}

let retryCases: [RetryCase] = [
    RetryCase(retry: "", expected: nil),
    // GEP-1731 leaves the defaults to the implementation; Weft's are one retry after 25ms.
    RetryCase(retry: "retry: {}", expected: HTTPRouteRetry(attempts: 1, backoff: .milliseconds(25), codes: [])),
    RetryCase(retry: "retry: null", expected: HTTPRouteRetry()),
    RetryCase(retry: "retry: {attempts: 0}", expected: HTTPRouteRetry(attempts: 0)),
    RetryCase(retry: "retry: {attempts: 10, backoff: 10s, codes: [502, 503, 504]}", expected: HTTPRouteRetry(attempts: 10, backoff: .seconds(10), codes: [502, 503, 504])),
    RetryCase(retry: "retry: {backoff: 1ms}", expected: HTTPRouteRetry(backoff: .milliseconds(1))),
    RetryCase(retry: "retry: {backoff: 1s500ms, codes: []}", expected: HTTPRouteRetry(backoff: .milliseconds(1500))),
    RetryCase(retry: "retry: {codes: [599, 400]}", expected: HTTPRouteRetry(codes: [599, 400])),
    RetryCase(
        retry: "retry: {codes: [" + (500...515).map(String.init).joined(separator: ", ") + "]}",
        expected: HTTPRouteRetry(codes: Array(500...515))
    ),
]

@Suite("HTTPRoute retry (GEP-1731)")
struct RouteRetryTests {
    @Test("a rule's retry is read with Weft's defaults", arguments: retryCases)
    func read(_ retryCase: RetryCase) throws {
        let rule = retryCase.retry.isEmpty ? "{backendRefs: [{name: web, port: 80}]}" : "{backendRefs: [{name: web, port: 80}], \(retryCase.retry)}"
        let configuration = try load(routeWithRule(rule))
        #expect(configuration.httpRoutes[0].rules[0].retry == retryCase.expected)
    }

    @Test("the limits the doc comments promise")
    func limits() {
        #expect(HTTPRouteRetry.defaultAttempts == 1 && HTTPRouteRetry.maximumAttempts == 10)
        #expect(HTTPRouteRetry.defaultBackoff == .milliseconds(25))
        #expect(HTTPRouteRetry.backoffRange == Duration.milliseconds(1)...Duration.seconds(10))
        #expect(HTTPRouteRetry.codeRange == 400...599 && HTTPRouteRetry.maximumCodes == 16)
        #expect(HTTPRouteRetry.maximumReplayableBody == 65536 && HTTPRouteRetry.budgetPercent == 20)
        // The initializer without `retry` still builds a rule that does not retry.
        #expect(HTTPRouteRule(name: "a", timeouts: HTTPRouteTimeouts(request: .seconds(1))).retry == nil)
    }

    @Test("weft check shows how each rule retries")
    func summary() throws {
        let configuration = try load(routeWithRule("{backendRefs: [{name: web, port: 80}], retry: {attempts: 2, codes: [502, 503]}}, {name: once, backendRefs: [{name: web, port: 80}], retry: {}}"))
        #expect(configuration.summary.contains(
            "HTTP routes: shop/web (Service shop/web): rule 0 to web (retry 2 times, backoff 25ms, also on 502, 503), rule once to web (retry 1 time, backoff 25ms)"
        ))
    }

    @Test("a DestinationRule's retryBudget names the fixed budget")
    func retryBudget() {
        let text = routeWithRule("{}") + "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\nspec: {host: web, trafficPolicy: {retryBudget: {percent: 50}}}\n"
        #expect(diagnostics(text).map(\.description) == [
            "a.yaml:14:35: `spec.trafficPolicy.retryBudget` is not supported by Weft: Weft's retry budget is fixed: retries in flight may be at most 20% of the requests in flight (HTTPRoute rules[].retry); remove it",
        ])
    }
}
