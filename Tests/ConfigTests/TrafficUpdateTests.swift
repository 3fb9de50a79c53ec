import Config
import Routing
import Testing

private let origin = "PUT /config"

/// A Service `web` in `shop` (lines 1 to 4 of its document).
private let webService = """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}

    """

/// Traffic documents of every kind: the Service, a slice of it, a route on it and a rule for it.
private let trafficText = webService + """
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
    addressType: IPv4
    ports: [{name: http, port: 8080}]
    endpoints: [{addresses: [10.1.0.1]}]
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: web, namespace: shop}
    spec:
      parentRefs: [{group: "", kind: Service, name: web}]
      rules: [{backendRefs: [{name: web, port: 80}], retry: {attempts: 2}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: web, namespace: shop}
    spec: {host: web, trafficPolicy: {loadBalancer: {simple: RANDOM}}}

    """

/// The diagnostics of `loadTraffic`, as `origin:line:column: message`; empty if it loaded.
private func trafficDiagnostics(_ text: String) -> [String] {
    do {
        _ = try Configuration.loadTraffic(text: text, origin: origin)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// A document `loadTraffic` refuses, and the start of the message at its `kind`.
struct RefusedKindCase: CustomTestStringConvertible, Sendable {
    let name: String
    let document: String
    let line: Int
    let column: Int
    let message: String

    var testDescription: String { name }
}

private let restart = "a change to Sidecar, PeerAuthentication and AuthorizationPolicy documents needs a restart of the proxy with the new configuration files"

let refusedKindCases: [RefusedKindCase] = [
    RefusedKindCase(name: "a Sidecar", document: "apiVersion: weft.io/v1\nkind: Sidecar\nspec: {workers: 2}\n", line: 7, column: 7,
                    message: "Sidecar documents cannot be replaced while the proxy runs, only Service, EndpointSlice, HTTPRoute and DestinationRule documents can; \(restart)"),
    RefusedKindCase(name: "a PeerAuthentication", document: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: shop}\nspec: {mtls: {mode: STRICT}}\n", line: 7, column: 7,
                    message: "PeerAuthentication documents cannot be replaced while the proxy runs, only Service, EndpointSlice, HTTPRoute and DestinationRule documents can; \(restart)"),
    RefusedKindCase(name: "an AuthorizationPolicy", document: "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {action: DENY}\n", line: 7, column: 7,
                    message: "AuthorizationPolicy documents cannot be replaced while the proxy runs, only Service, EndpointSlice, HTTPRoute and DestinationRule documents can; \(restart)"),
    RefusedKindCase(name: "a kind Weft does not read", document: "# a Gateway\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n", line: 8, column: 7,
                    message: "unsupported kind `Gateway`; only Service, EndpointSlice, HTTPRoute and DestinationRule documents can be replaced while the proxy runs, and the other kinds Weft reads (Sidecar, PeerAuthentication and AuthorizationPolicy) need a restart of the proxy"),
    RefusedKindCase(name: "a misspelt kind", document: "apiVersion: v1\nkind: Servce\nmetadata: {name: other}\n", line: 7, column: 7,
                    message: "unsupported kind `Servce` (did you mean `Service`?); only Service, EndpointSlice, HTTPRoute and DestinationRule documents can be replaced"),
    RefusedKindCase(name: "a kind in the wrong case", document: "apiVersion: weft.io/v1\nkind: sidecar\n", line: 7, column: 7,
                    message: "unsupported kind `sidecar` (did you mean `Sidecar`?); only Service, EndpointSlice, HTTPRoute and DestinationRule documents can be replaced"),
]

@Suite("Replacing the traffic documents while the proxy runs")
struct TrafficUpdateTests {
    @Test("loadTraffic reads what load reads, at the positions of the request")
    func readsLikeLoad() throws {
        let documents = try Configuration.loadTraffic(text: trafficText, origin: origin)
        let loaded = try Configuration.load([ConfigSource(name: origin, text: trafficText)])
        #expect(documents == loaded.traffic)
        #expect(documents.services.map(\.origin) == ["PUT /config:1:1"])
        #expect(documents.endpointSlices.map(\.origin) == ["PUT /config:6:1"])
        #expect(documents.httpRoutes.map(\.origin) == ["PUT /config:13:1"])
        #expect(documents.destinationRules.map(\.origin) == ["PUT /config:20:1"])
        #expect(documents.httpRoutes[0].rules[0].retry == HTTPRouteRetry(attempts: 2))
        #expect(documents.destinationRules[0].trafficPolicy?.loadBalancer == .random)
    }

    @Test("no documents replaces everything with nothing")
    func empty() throws {
        #expect(try Configuration.loadTraffic(text: "", origin: origin) == TrafficSnapshotDocuments())
        #expect(try Configuration.loadTraffic(text: "# nothing\n---\n", origin: origin) == TrafficSnapshotDocuments())
        #expect(Configuration.defaults.traffic == TrafficSnapshotDocuments())
    }

    @Test("other kinds need a restart", arguments: refusedKindCases)
    func refusedKind(_ refused: RefusedKindCase) {
        let found = trafficDiagnostics(webService + "---\n" + refused.document)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("PUT /config:\(refused.line):\(refused.column): \(refused.message)") == true, "\(found)")
    }

    @Test("every Service named must be among the new documents")
    func references() {
        let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web, namespace: shop}\nspec: {parentRefs: [{group: \"\", kind: Service, name: web}]}\n"
        #expect(trafficDiagnostics(route) == [
            "PUT /config:4:54: `spec.parentRefs[0].name` names the Service shop/web, which the configuration does not have; add a Service document for it, or name one of the configuration's Services",
        ])
        #expect(trafficDiagnostics(route + "---\n" + webService) == [])
    }

    @Test("every problem is reported, in the order of the text")
    func everyProblem() {
        let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 0}]}\n"
        let text = "apiVersion: weft.io/v1\nkind: Sidecar\n---\n" + service + "---\nkind: Gateway\n"
        #expect(trafficDiagnostics(text) == [
            "PUT /config:2:7: Sidecar documents cannot be replaced while the proxy runs, only Service, EndpointSlice, HTTPRoute and DestinationRule documents can; \(restart)",
            "PUT /config:7:58: `spec.ports[0].port` is 0; it must be an integer from 1 to 65535",
            "PUT /config:9:1: the document has no `apiVersion`; every document needs `apiVersion` and `kind`, such as `apiVersion: weft.io/v1` and `kind: Sidecar`",
            "PUT /config:9:7: unsupported kind `Gateway`; only Service, EndpointSlice, HTTPRoute and DestinationRule documents can be replaced while the proxy runs, and the other kinds Weft reads (Sidecar, PeerAuthentication and AuthorizationPolicy) need a restart of the proxy",
        ])
    }

    @Test("a YAML mistake is reported at its place in the request")
    func yamlError() {
        let found = trafficDiagnostics(webService + "---\napiVersion: v1\nkind: Service\n\tmetadata: {name: x}\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("PUT /config:8:1: invalid YAML") == true, "\(found)")
    }

    @Test("a document without a kind lists only the kinds that can be replaced")
    func missingKind() {
        #expect(trafficDiagnostics("apiVersion: v1\nmetadata: {name: x}\n") == [
            "PUT /config:1:1: the document has no `kind`; every document needs `apiVersion` and `kind`; Weft reads Service (v1), EndpointSlice (discovery.k8s.io/v1), HTTPRoute (gateway.networking.k8s.io/v1), DestinationRule (networking.istio.io/v1)",
        ])
    }
}
