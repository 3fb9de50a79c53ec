import Addresses
import Config
import Routing
import Testing

private func documents(_ parts: String...) -> String { parts.joined(separator: "---\n") }

private func address(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }

/// A Service `reviews-vN` (one line of spec) and its EndpointSlice with one endpoint: the
/// backends of the canary route, as Gateway API's mesh profile has them.
private func versionBackend(_ version: Int, endpoint: String) -> String {
    """
    apiVersion: v1
    kind: Service
    metadata: {name: reviews-v\(version), namespace: shop}
    spec: {clusterIP: 10.96.0.1\(version), selector: {app: reviews, version: v\(version)}, ports: [{name: http, port: 9080, targetPort: http}]}
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: reviews-v\(version)-x7k2p, namespace: shop, labels: {kubernetes.io/service-name: reviews-v\(version)}}
    addressType: IPv4
    ports: [{name: http, port: 9080}]
    endpoints: [{addresses: [\(endpoint)]}]

    """
}

/// The reviews Service of Istio's Bookinfo: one Service whose endpoints come in three
/// EndpointSlices, one per version, labelled as the DestinationRule's subsets select them; the
/// route sends requests with `x-canary: true` to v3 and splits the rest 80/20 between v1 and v2.
private let fullExample = documents(
    """
    apiVersion: v1
    kind: Service
    metadata:
      name: reviews
      namespace: shop
      labels: {app: reviews}
    spec:
      type: ClusterIP
      clusterIP: 10.96.0.10
      selector: {app: reviews}
      ports:
        - {name: http, port: 9080, targetPort: 9080, protocol: TCP, appProtocol: http}

    """,
    """
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: reviews-v1
      namespace: shop
      labels: {kubernetes.io/service-name: reviews, version: v1}
    addressType: IPv4
    ports:
      - {name: http, port: 9080, protocol: TCP, appProtocol: http}
    endpoints:
      - addresses: [10.1.0.11]
        conditions: {ready: true}
        nodeName: node-1
        zone: zone-a
      - addresses: [10.1.0.12]
        conditions: {ready: false, serving: true, terminating: true}
        targetRef: {kind: Pod, name: reviews-v1-7d9f-b, namespace: shop}

    """,
    """
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: reviews-v2, namespace: shop, labels: {kubernetes.io/service-name: reviews, version: v2}}
    addressType: IPv4
    ports: [{name: http, port: 9080}]
    endpoints: [{addresses: [10.1.0.21]}]

    """,
    """
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: reviews-v3, namespace: shop, labels: {kubernetes.io/service-name: reviews, version: v3}}
    addressType: IPv4
    ports: [{name: http, port: 9080}]
    endpoints: [{addresses: [10.1.0.31], hostname: reviews-v3-0}]

    """,
    versionBackend(1, endpoint: "10.1.0.11"),
    versionBackend(2, endpoint: "10.1.0.21"),
    versionBackend(3, endpoint: "10.1.0.31"),
    """
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: reviews, namespace: shop}
    spec:
      parentRefs:
        - {group: "", kind: Service, name: reviews, port: 9080}
      rules:
        - name: canary
          matches:
            - headers: [{name: x-canary, value: "true"}]
          backendRefs: [{name: reviews-v3, port: 9080}]
          timeouts: {request: 10s, backendRequest: 2s}
        - matches: [{path: {type: PathPrefix, value: /legacy}, method: GET}]
          filters:
            - type: RequestRedirect
              requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /reviews}, statusCode: 301}
        - filters:
            - type: RequestHeaderModifier
              requestHeaderModifier: {set: [{name: x-route, value: stable}], remove: [x-debug]}
          backendRefs:
            - {name: reviews-v1, port: 9080, weight: 80}
            - {name: reviews-v2, port: 9080, weight: 20}

    """,
    """
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: shop}
    spec:
      host: reviews.shop.svc.cluster.local
      trafficPolicy:
        loadBalancer: {simple: LEAST_REQUEST}
        connectionPool:
          tcp: {maxConnections: 100, connectTimeout: 500ms}
          http: {http1MaxPendingRequests: 50, maxRetries: 3, idleTimeout: 30s}
        outlierDetection:
          consecutive5xxErrors: 3
          interval: 5s
          baseEjectionTime: 1m
          maxEjectionPercent: 50
      subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v2, labels: {version: v2}}
        - name: v3
          labels: {version: v3}
          trafficPolicy:
            loadBalancer:
              consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}

    """
)

@Suite("Traffic documents: Service, EndpointSlice, HTTPRoute, DestinationRule")
struct TrafficDocumentTests {
    @Test("the full example is read into the routing model")
    func fullExampleIsRead() throws {
        let configuration = try load(fullExample)

        #expect(configuration.services.map(\.qualifiedName) == ["shop/reviews", "shop/reviews-v1", "shop/reviews-v2", "shop/reviews-v3"])
        let reviews = configuration.services[0]
        #expect(reviews == Service(
            name: "reviews", namespace: "shop", clusterIPs: [address("10.96.0.10")],
            ports: [ServicePort(name: "http", port: 9080, targetPort: .number(9080), appProtocol: "http")],
            selector: ["app": "reviews"], origin: "a.yaml:1:1"
        ))
        #expect(configuration.services[1].ports == [ServicePort(name: "http", port: 9080, targetPort: .named("http"))])

        let slices = configuration.endpointSlices
        #expect(slices.map(\.name) == ["reviews-v1", "reviews-v2", "reviews-v3", "reviews-v1-x7k2p", "reviews-v2-x7k2p", "reviews-v3-x7k2p"])
        #expect(slices[0] == EndpointSlice(
            name: "reviews-v1", namespace: "shop", serviceName: "reviews", addressType: .ipv4,
            ports: [EndpointSlice.Port(name: "http", port: 9080, appProtocol: "http")],
            endpoints: [
                EndpointSlice.Endpoint(addresses: [address("10.1.0.11")], ready: true, nodeName: "node-1", zone: "zone-a"),
                EndpointSlice.Endpoint(addresses: [address("10.1.0.12")], ready: false, serving: true, terminating: true),
            ],
            labels: ["kubernetes.io/service-name": "reviews", "version": "v1"], origin: "a.yaml:14:1"
        ))
        // Absent conditions mean ready and serving, not terminating (the Kubernetes API's reading).
        #expect(slices[1].endpoints == [EndpointSlice.Endpoint(addresses: [address("10.1.0.21")], ready: true, serving: true, terminating: false)])
        #expect(slices[2].endpoints[0].hostname == "reviews-v3-0")
        #expect(slices.filter { $0.belongs(to: reviews) }.count == 3)

        let route = try #require(configuration.httpRoutes.first)
        #expect(route.parentRefs == [HTTPRoute.ParentRef(name: "reviews", namespace: "shop", port: 9080)])
        #expect(route.hostnames.isEmpty)
        #expect(route.rules == [
            HTTPRouteRule(
                name: "canary",
                matches: [HTTPRouteMatch(headers: [HTTPHeaderMatch(name: "x-canary", value: .exact("true"))])],
                backendRefs: [HTTPBackendRef(name: "reviews-v3", namespace: "shop", port: 9080)],
                timeouts: HTTPRouteTimeouts(request: .seconds(10), backendRequest: .seconds(2))
            ),
            HTTPRouteRule(
                matches: [HTTPRouteMatch(path: .pathPrefix("/legacy"), method: .get)],
                filters: [.requestRedirect(HTTPRequestRedirectFilter(path: .replacePrefixMatch("/reviews"), statusCode: 301))]
            ),
            HTTPRouteRule(
                matches: [HTTPRouteMatch(path: .pathPrefix("/"))],
                filters: [.requestHeaderModifier(HTTPHeaderFilter(set: [.init(name: "x-route", value: "stable")], remove: ["x-debug"]))],
                backendRefs: [
                    HTTPBackendRef(name: "reviews-v1", namespace: "shop", port: 9080, weight: 80),
                    HTTPBackendRef(name: "reviews-v2", namespace: "shop", port: 9080, weight: 20),
                ]
            ),
        ])

        let rule = try #require(configuration.destinationRules.first)
        #expect(rule.host == "reviews.shop.svc.cluster.local")
        #expect(rule.serviceName == "reviews" && rule.serviceNamespace == "shop")
        #expect(rule.trafficPolicy == DestinationRule.TrafficPolicy(
            loadBalancer: .leastRequest,
            connectionPool: DestinationRule.ConnectionPool(
                maxConnections: 100, connectTimeout: .milliseconds(500), http1MaxPendingRequests: 50, maxRetries: 3, idleTimeout: .seconds(30)
            ),
            outlierDetection: DestinationRule.OutlierDetection(consecutive5xxErrors: 3, interval: .seconds(5), baseEjectionTime: .seconds(60), maxEjectionPercent: 50)
        ))
        #expect(rule.subsets.map(\.name) == ["v1", "v2", "v3"])
        #expect(rule.subsets[2].trafficPolicy?.loadBalancer == .consistentHash(DestinationRule.ConsistentHash(key: .httpHeaderName("x-user"), algorithm: .maglev(tableSize: 65537))))

        #expect(configuration.resources.map(\.description) == [
            "Service shop/reviews", "EndpointSlice shop/reviews-v1", "EndpointSlice shop/reviews-v2", "EndpointSlice shop/reviews-v3",
            "Service shop/reviews-v1", "EndpointSlice shop/reviews-v1-x7k2p", "Service shop/reviews-v2", "EndpointSlice shop/reviews-v2-x7k2p",
            "Service shop/reviews-v3", "EndpointSlice shop/reviews-v3-x7k2p", "HTTPRoute shop/reviews", "DestinationRule shop/reviews",
        ])
    }

    @Test("a subset selects the slices of its Service whose labels include its own")
    func subsetsSelectSlices() throws {
        let configuration = try load(fullExample)
        let reviews = configuration.services[0]
        let rule = configuration.destinationRules[0]
        let ofReviews = configuration.endpointSlices.filter { $0.belongs(to: reviews) }
        func selected(_ subset: String) -> [String] {
            ofReviews.filter { rule.subset(named: subset)!.selects($0) }.flatMap(\.endpoints).map(\.addresses[0].description)
        }
        #expect(selected("v1") == ["10.1.0.11", "10.1.0.12"])
        #expect(selected("v2") == ["10.1.0.21"])
        #expect(selected("v3") == ["10.1.0.31"])
        #expect(DestinationRule.Subset(name: "all").selects(ofReviews[0]))
    }

    @Test("weft check names each kind of traffic document")
    func summary() throws {
        let configuration = try load(fullExample)
        #expect(configuration.summary.suffix(4) == [
            "services: shop/reviews 10.96.0.10 port 9080 (http); shop/reviews-v1 10.96.0.11 port 9080 (http); shop/reviews-v2 10.96.0.12 port 9080 (http); shop/reviews-v3 10.96.0.13 port 9080 (http)",
            "endpoints: shop/reviews 3 of 4 ready in 3 EndpointSlices; shop/reviews-v1 1 of 1 ready in 1 EndpointSlice; shop/reviews-v2 1 of 1 ready in 1 EndpointSlice; shop/reviews-v3 1 of 1 ready in 1 EndpointSlice",
            "HTTP routes: shop/reviews (Service shop/reviews port 9080): rule canary to reviews-v3, rule 1 redirects, rule 2 to reviews-v1 80% and reviews-v2 20%",
            "destination rules: shop/reviews for Service shop/reviews: LEAST_REQUEST, connection pool, outlier detection, subsets v1, v2, v3",
        ])
        // Without traffic documents the summary is what it was.
        #expect(Configuration.defaults.summary.count == 5)
    }

    @Test("the defaults, as Kubernetes, the Gateway API and Istio document them")
    func defaults() throws {
        let configuration = try load(documents(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: \"fd00::10\", ports: [{port: 80}]}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {clusterIP: None}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: dual}\nspec: {clusterIPs: [10.96.0.30, \"fd00::30\"], ports: [{port: 80}]}\n",
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: db-1, labels: {kubernetes.io/service-name: db}}\naddressType: IPv6\n",
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec: {parentRefs: [{group: \"\", kind: Service, name: web}]}\n",
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web-2}\nspec: {parentRefs: [{group: \"\", kind: Service, name: x, sectionName: x}], rules: [{matches: [{path: {value: /a}}, {path: {type: Exact}}], backendRefs: [{name: web, port: 80}]}]}\n",
            "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata: {name: web}\nspec: {host: web, trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}, outlierDetection: {}}}\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIP: 10.96.0.40, ports: [{name: x, port: 81}]}\n"
        ))
        let services = configuration.services
        #expect(services[0] == Service(name: "web", namespace: "default", clusterIPs: [address("fd00::10")], ports: [ServicePort(port: 80, targetPort: .number(80))], origin: "a.yaml:1:1"))
        #expect(services[1].isHeadless && services[1].ports.isEmpty)
        #expect(services[2].clusterIPs == [address("10.96.0.30"), address("fd00::30")])
        #expect(configuration.endpointSlices[0].addressType == .ipv6 && configuration.endpointSlices[0].endpoints.isEmpty)
        // No rules: one rule that matches every request (PathPrefix /) and has no backends.
        #expect(configuration.httpRoutes[0].rules == [HTTPRouteRule(matches: [HTTPRouteMatch(path: .pathPrefix("/"))])])
        #expect(configuration.httpRoutes[1].parentRefs == [HTTPRoute.ParentRef(name: "x", namespace: "default", sectionName: "x")])
        #expect(configuration.httpRoutes[1].rules[0].matches.map(\.path) == [.pathPrefix("/a"), .exact("/")])
        #expect(configuration.httpRoutes[1].rules[0].backendRefs[0].weight == 1)
        let policy = try #require(configuration.destinationRules.first?.trafficPolicy)
        #expect(policy.effectiveLoadBalancer == .leastRequest)
        #expect(policy.connectionPool == DestinationRule.ConnectionPool(
            maxConnections: 4_294_967_295, connectTimeout: .seconds(10), http1MaxPendingRequests: 4_294_967_295,
            maxRequestsPerConnection: 1, maxRetries: 4_294_967_295, idleTimeout: .seconds(3600)
        ))
        #expect(policy.outlierDetection == DestinationRule.OutlierDetection(
            consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, interval: .seconds(10), baseEjectionTime: .seconds(30),
            maxEjectionPercent: 10, minHealthPercent: 0
        ))
        #expect(configuration.resources.last(where: { $0.kind == "DestinationRule" })?.apiVersion == "networking.istio.io/v1alpha3")
    }

    @Test("consistent hashing: every key and both algorithms, with Istio's default ring")
    func consistentHash() throws {
        func balancer(_ hash: String) throws -> DestinationRule.LoadBalancer? {
            let configuration = try load(documents(
                "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n",
                "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec: {host: web, trafficPolicy: {loadBalancer: {consistentHash: \(hash)}}}\n"
            ))
            return configuration.destinationRules.first?.trafficPolicy?.loadBalancer
        }
        typealias Hash = DestinationRule.ConsistentHash
        #expect(try balancer("{httpHeaderName: x-user}") == .consistentHash(Hash(key: .httpHeaderName("x-user"), algorithm: .ringHash(minimumRingSize: 1024))))
        #expect(try balancer("{useSourceIp: true, ringHash: {minimumRingSize: 4096}}") == .consistentHash(Hash(key: .sourceIP, algorithm: .ringHash(minimumRingSize: 4096))))
        #expect(try balancer("{httpQueryParameterName: user, maglev: {}}") == .consistentHash(Hash(key: .httpQueryParameterName("user"), algorithm: .maglev(tableSize: 65537))))
        #expect(try balancer("{httpCookie: {name: session, path: /, ttl: 0s}}") == .consistentHash(Hash(key: .httpCookie(name: "session", path: "/", ttl: .zero))))
    }

    @Test("traffic policies merge as Istio's MergeTrafficPolicy does")
    func policyMerge() throws {
        let configuration = try load(documents(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80}, {name: admin, port: 9090}]}\n",
            """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: web}
            spec:
              host: web
              trafficPolicy:
                loadBalancer: {simple: ROUND_ROBIN}
                outlierDetection: {consecutive5xxErrors: 7}
                portLevelSettings:
                  - port: {number: 9090}
                    loadBalancer: {simple: RANDOM}
              subsets:
                - name: canary
                  labels: {track: canary}
                  trafficPolicy:
                    connectionPool: {tcp: {maxConnections: 10}}
                    portLevelSettings:
                      - {port: {number: 80}, outlierDetection: {consecutive5xxErrors: 1}}

            """
        ))
        let rule = try #require(configuration.destinationRules.first)
        let outlier7 = DestinationRule.OutlierDetection(consecutive5xxErrors: 7)
        let pool10 = DestinationRule.ConnectionPool(maxConnections: 10)
        // The rule's level, and its port-level entry, which does not inherit the outlier detection.
        #expect(rule.trafficPolicy(port: 80) == DestinationRule.TrafficPolicy(loadBalancer: .roundRobin, outlierDetection: outlier7))
        #expect(rule.trafficPolicy(port: 9090) == DestinationRule.TrafficPolicy(loadBalancer: .random))
        // A subset inherits what it does not set; its own port-level entry replaces all three.
        #expect(rule.trafficPolicy(subset: "canary", port: 9090) == DestinationRule.TrafficPolicy(loadBalancer: .random, connectionPool: pool10))
        #expect(rule.trafficPolicy(subset: "canary", port: 80) == DestinationRule.TrafficPolicy(outlierDetection: DestinationRule.OutlierDetection(consecutive5xxErrors: 1)))
        #expect(rule.trafficPolicy(subset: "canary") == DestinationRule.TrafficPolicy(loadBalancer: .roundRobin, connectionPool: pool10, outlierDetection: outlier7))
        #expect(rule.trafficPolicy(subset: "canary", port: 80).effectiveLoadBalancer == .leastRequest)
    }

    @Test("errors in traffic documents", arguments: trafficErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }

    @Test("a reference names both places: where it is, and the Service it misses")
    func referenceMessages() {
        #expect(diagnostics(httpRoute("  parentRefs: [\(parentWeb)]", "  rules: [{backendRefs: [{name: web, port: 8080}]}]")).map(\.description) == [
            "a.yaml:6:44: `spec.rules[0].backendRefs[0].port` is 8080, but Service shop/web (at a.yaml:8:1) has no port 8080; its ports are 80 (http), 9090 (admin), so use one of them or add the port to the Service",
        ])
        #expect(diagnostics(httpRoute("  parentRefs: [\(parentWeb)]", "  rules: [{backendRefs: [{name: web-v3, port: 80}]}]")).map(\.description) == [
            "a.yaml:6:33: `spec.rules[0].backendRefs[0].name` names the Service shop/web-v3, which the configuration does not have (did you mean `web-v2`, at a.yaml:13:1?); add a Service document for it, or name one of the configuration's Services",
        ])
    }

    @Test("a Service may come after the documents that name it, or from another file")
    func referencesAcrossSources() throws {
        let route = ConfigSource(name: "route.yaml", text: httpRoute("  parentRefs: [\(parentWeb)]", "  rules: [{backendRefs: [{name: web-v2, port: 80}]}]", services: ""))
        let services = ConfigSource(name: "services.yaml", text: webServices)
        let configuration = try Configuration.load([route, services])
        #expect(configuration.httpRoutes.count == 1)
        #expect(diagnostics([route]).map(\.description) == [
            "route.yaml:5:49: `spec.parentRefs[0].name` names the Service shop/web, which the configuration does not have; add a Service document for it, or name one of the configuration's Services",
            "route.yaml:6:33: `spec.rules[0].backendRefs[0].name` names the Service shop/web-v2, which the configuration does not have; add a Service document for it, or name one of the configuration's Services",
        ])
    }

    @Test("a Service with mistakes is not reported again as missing")
    func invalidServiceIsNotMissing() {
        let text = httpRoute("  parentRefs: [\(parentWeb)]", services: "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 10.96.0.300, ports: [{port: 80}]}\n")
        #expect(diagnostics(text).map(\.description) == [
            "a.yaml:10:19: `spec.clusterIP` is \"10.96.0.300\": an IPv4 octet is larger than 255; write the address clients connect to, such as 10.96.0.10, or None for a headless Service",
        ])
    }

    @Test("a second document of a kind with the same name and namespace names the first")
    func duplicateNames() {
        func service(_ clusterIP: String) -> String {
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: \(clusterIP), ports: [{port: 80}]}\n"
        }
        let found = diagnostics([
            ConfigSource(name: "one.yaml", text: service("10.96.0.1")),
            ConfigSource(name: "two.yaml", text: "# again\n" + service("10.96.0.2")),
        ])
        #expect(found.map(\.description) == [
            "two.yaml:3:7: a second Service shop/web (the first is at one.yaml:1:1); Kubernetes holds one object per name and namespace, so rename or merge them",
        ])
        let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: shop}\nspec: {parentRefs: [\(parentWeb)]}\n"
        #expect(diagnostics(documents(route, route, webServices)).map(\.description) == [
            "a.yaml:7:7: a second HTTPRoute shop/r (the first is at a.yaml:1:1); Kubernetes holds one object per name and namespace, so rename or merge them",
        ])
    }
}

/// The Services the error cases refer to, after the document under test (so its line numbers
/// do not move): `web` (ports 80 http and 9090 admin), `web-v2`, and the headless `db`.
private let webServices = """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 9090}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-v2, namespace: shop}
    spec: {clusterIP: 10.96.0.21, ports: [{name: http, port: 80}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: db, namespace: shop}
    spec: {clusterIP: None}

    """

private let parentWeb = "{group: \"\", kind: Service, name: web}"

/// A document of `kind` named `x` in namespace `shop`, with `lines` after its three header lines
/// (so the first is line 4), followed by `services`.
private func document(_ apiVersion: String, _ kind: String, labels: String = "", _ lines: [String], services: String) -> String {
    let metadata = "metadata: {name: x, namespace: shop\(labels.isEmpty ? "" : ", labels: \(labels)")}"
    let text = (["apiVersion: \(apiVersion)", "kind: \(kind)", metadata] + lines).joined(separator: "\n") + "\n"
    return services.isEmpty ? text : text + "---\n" + services
}

/// A Service with `spec` lines (indented by two spaces) from line 5.
private func service(_ specLines: String...) -> String {
    document("v1", "Service", ["spec:"] + specLines, services: "")
}

/// An EndpointSlice of Service `web` with top-level lines from line 4, followed by the Services.
private func endpointSlice(labels: String = "{kubernetes.io/service-name: web}", _ lines: String...) -> String {
    document("discovery.k8s.io/v1", "EndpointSlice", labels: labels, lines, services: webServices)
}

/// An HTTPRoute with `spec` lines from line 5, followed by `services`.
private func httpRoute(_ specLines: String..., services: String = webServices) -> String {
    document("gateway.networking.k8s.io/v1", "HTTPRoute", ["spec:"] + specLines, services: services)
}

/// An HTTPRoute on `web` whose one rule is `rule` (a flow mapping), at line 6.
private func routeRule(_ rule: String) -> String {
    httpRoute("  parentRefs: [\(parentWeb)]", "  rules: [\(rule)]")
}

/// A DestinationRule with `spec` lines from line 5, followed by the Services.
private func destinationRule(_ specLines: String...) -> String {
    document("networking.istio.io/v1", "DestinationRule", ["spec:"] + specLines, services: webServices)
}

/// A DestinationRule for `web` whose trafficPolicy is `policy` (a flow mapping), at line 6.
private func trafficPolicy(_ policy: String) -> String {
    destinationRule("  host: web", "  trafficPolicy: \(policy)")
}

let trafficErrorCases: [ErrorCase] = [
    // Service.
    ErrorCase("a misspelt Service field", service("  clusterIp: 10.96.0.1", "  ports: [{port: 80}]"),
              (4, 1, "a Service needs `spec.clusterIP`: the API server would allocate one, but Weft has none, so write the address clients connect to, such as 10.96.0.10, or None for a headless Service"),
              (5, 3, "unknown field `spec.clusterIp` (did you mean `clusterIP`?)")),
    ErrorCase("a UDP port", service("  clusterIP: 10.96.0.1", "  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]"),
              (6, 43, "`spec.ports[0].protocol` is UDP, which Weft does not carry: the sidecar relays TCP connections only; remove the port, or reach it outside the mesh")),
    ErrorCase("a NodePort Service", service("  type: NodePort", "  clusterIP: 10.96.0.1", "  ports: [{port: 80, nodePort: 30080}]"),
              (5, 9, "`spec.type` is NodePort, which is not supported: a sidecar sees only traffic inside the cluster, which reaches the Service by its cluster IP; write type: ClusterIP (or remove the line)"),
              (7, 22, "`spec.ports[0].nodePort` is not supported by Weft: node ports belong to NodePort Services")),
    ErrorCase("session affinity", service("  clusterIP: 10.96.0.1", "  ports: [{port: 80}]", "  sessionAffinity: ClientIP"),
              (7, 3, "`spec.sessionAffinity` is not supported by Weft: Weft keeps a client on one endpoint with a DestinationRule instead (trafficPolicy.loadBalancer.consistentHash.useSourceIp: true); remove it")),
    ErrorCase("a target port that is neither", service("  clusterIP: 10.96.0.1", "  ports: [{port: 80, targetPort: \"8080\"}, {port: 81, targetPort: 0}]"),
              (6, 34, "`spec.ports[0].targetPort` is \"8080\", which is neither a port number nor a port name; write a number from 1 to 65535 without quotes, or the name of a container port"),
              (6, 66, "`spec.ports[1].targetPort` is 0; it must be an integer from 1 to 65535")),
    ErrorCase("several ports, one without a name", service("  clusterIP: 10.96.0.1", "  ports:", "    - {name: http, port: 80}", "    - {port: 81}"),
              (8, 7, "`spec.ports[1]` has no `name`; Kubernetes requires a name on every port of a Service with several, such as name: http")),
    ErrorCase("the same port twice", service("  clusterIP: 10.96.0.1", "  ports:", "    - {name: a, port: 80}", "    - {name: b, port: 80}"),
              (8, 7, "port 80 appears twice in `spec.ports` (first at line 7); a Service offers each TCP port once")),
    ErrorCase("a cluster IP that is not an address", service("  clusterIP: 10.96.0", "  ports: [{port: 80}]"),
              (5, 14, "`spec.clusterIP` is \"10.96.0\": an IPv4 address has four octets; write the address clients connect to")),
    ErrorCase("clusterIP and clusterIPs disagree", service("  clusterIP: 10.96.0.1", "  clusterIPs: [10.96.0.2]", "  ports: [{port: 80}]"),
              (5, 14, "`spec.clusterIP` is 10.96.0.1, but `spec.clusterIPs` starts with 10.96.0.2; Kubernetes requires clusterIP to be the first of clusterIPs")),
    ErrorCase("two addresses of one family", service("  clusterIPs: [10.96.0.1, 10.96.0.2]", "  ports: [{port: 80}]"),
              (5, 15, "`spec.clusterIPs` may hold one address, or two of different families (IPv4 and IPv6, for dual stack)")),
    ErrorCase("a Service with a cluster IP and no port", service("  clusterIP: 10.96.0.1"),
              (4, 1, "a Service with a cluster IP needs at least one port in `spec.ports`")),
    ErrorCase("a Service name that is not an RFC 1035 label", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {clusterIP: None}\n",
              (3, 18, "`metadata.name` \"1web\" is not a valid Service name; a Service name is at most 63 lowercase letters, digits and '-', starting with a letter")),
    ErrorCase("a Service without a name", "apiVersion: v1\nkind: Service\nspec: {clusterIP: None}\n",
              (2, 7, "a Service needs `metadata.name`: HTTPRoutes, EndpointSlices and DestinationRules refer to a Service by its name")),

    // EndpointSlice.
    ErrorCase("an FQDN slice", endpointSlice("addressType: FQDN", "endpoints: [{addresses: [reviews.example.com]}]"),
              (4, 14, "`addressType` is FQDN, which is not supported: Weft connects to addresses and does not resolve names; list the endpoints' addresses in IPv4 or IPv6 slices")),
    ErrorCase("a slice without its Service label", endpointSlice(labels: "{version: v1}", "addressType: IPv4"),
              (3, 38, "an EndpointSlice needs the label kubernetes.io/service-name in `metadata.labels`, naming the Service its endpoints belong to")),
    ErrorCase("a misspelt top-level field", endpointSlice("addressType: IPv4", "endpoint: []"),
              (5, 1, "unknown field `endpoint` (did you mean `endpoints`?)")),
    ErrorCase("an address of the other family", endpointSlice("addressType: IPv4", "endpoints: [{addresses: [\"fd00::1\"]}]"),
              (5, 26, "`endpoints[0].addresses[0]` is \"fd00::1\", an IPv6 address, in a slice of addressType IPv4; every address of a slice is of its type, so put it in an IPv6 slice")),
    ErrorCase("an endpoint without addresses", endpointSlice("addressType: IPv4", "endpoints: [{conditions: {ready: yes}}, {addresses: []}]"),
              (5, 13, "`endpoints[0]` has no `addresses`; an endpoint has 1 to 100, such as addresses: [10.1.2.3]"),
              (5, 34, "`endpoints[0].conditions.ready` is yes; it must be true or false"),
              (5, 53, "`endpoints[1].addresses` has 0 addresses; an endpoint has 1 to 100")),
    ErrorCase("topology hints", endpointSlice("addressType: IPv4", "endpoints: [{addresses: [10.1.0.1], hints: {forZones: [{name: a}]}}]"),
              (5, 37, "`endpoints[0].hints` is not supported by Weft: topology hints steer traffic to endpoints in the client's zone, which Weft does not do")),
    ErrorCase("a UDP slice port", endpointSlice("addressType: IPv4", "ports: [{name: http, port: 8080, protocol: SCTP}]"),
              (5, 44, "`ports[0].protocol` is SCTP, which Weft does not carry")),
    ErrorCase("a slice of a Service the configuration does not have", endpointSlice(labels: "{kubernetes.io/service-name: wbe}", "addressType: IPv4"),
              (3, 75, "`metadata.labels[kubernetes.io/service-name]` names the Service shop/wbe, which the configuration does not have (did you mean `web`, at a.yaml:6:1?)")),
    ErrorCase("a slice port the Service does not have", endpointSlice("addressType: IPv4", "ports: [{name: grpc, port: 8081}, {port: 8080}]"),
              (5, 16, "`ports[0].name` is \"grpc\", but Service shop/web (at a.yaml:7:1) has no port of that name; its ports are 80 (http), 9090 (admin), so use one of them or add the port to the Service"),
              (5, 35, "`ports[1]` has no `name`, but Service shop/web (at a.yaml:7:1) has no unnamed port, and a slice's port is named as the Service port it is for; its ports are 80 (http), 9090 (admin)")),

    // HTTPRoute.
    ErrorCase("a Gateway parent", httpRoute("  parentRefs: [{name: gateway}]"),
              (5, 16, "`spec.parentRefs[0]` refers to a Gateway (group and kind default to gateway.networking.k8s.io and Gateway), which is not supported: a Weft sidecar routes the traffic clients send to Services (the Gateway API's mesh profile), so write group: \"\" and kind: Service with the Service's name")),
    ErrorCase("no parents", httpRoute("  rules: [{backendRefs: [{name: web, port: 80}]}]"),
              (4, 1, "an HTTPRoute needs `spec.parentRefs`: a route takes the traffic of the Services it lists")),
    ErrorCase("a parent that is headless", httpRoute("  parentRefs: [{group: \"\", kind: Service, name: db}]"),
              (5, 49, "`spec.parentRefs[0].name` names Service shop/db (at a.yaml:17:1), which is headless (clusterIP: None); a route attaches only to a Service with a cluster IP")),
    ErrorCase("a parent port the Service does not have", httpRoute("  parentRefs: [{group: \"\", kind: Service, name: web, port: 81}]"),
              (5, 60, "`spec.parentRefs[0].port` is 81, but Service shop/web (at a.yaml:7:1) has no port 81; its ports are 80 (http), 9090 (admin), so use one of them or add the port to the Service")),
    ErrorCase("a parent port and name that do not agree", httpRoute("  parentRefs: [{group: \"\", kind: Service, name: web, port: 80, sectionName: admin}]"),
              (5, 60, "`spec.parentRefs[0].port` is 80 with sectionName \"admin\", but Service shop/web (at a.yaml:7:1) has no port 80 of that name")),
    ErrorCase("two references to one parent", httpRoute("  parentRefs: [\(parentWeb), {group: \"\", kind: Service, name: web, port: 80}]"),
              (5, 55, "`spec.parentRefs[1]` refers to Service shop/web again (as `spec.parentRefs[0]` does); several references to one parent must each give the same of port and sectionName")),
    ErrorCase("a weight out of range", routeRule("{backendRefs: [{name: web, port: 80, weight: 1000001}, {name: web-v2, port: 80, weight: -1}]}"),
              (6, 56, "`spec.rules[0].backendRefs[0].weight` is 1000001; it must be an integer from 0 to 1000000 (0 sends no requests)"),
              (6, 99, "`spec.rules[0].backendRefs[1].weight` is -1; it must be an integer from 0 to 1000000 (0 sends no requests)")),
    ErrorCase("a Service backend without a port", routeRule("{backendRefs: [{name: web}]}"),
              (6, 26, "`spec.rules[0].backendRefs[0]` has no `port`; a backend that is a Service needs the Service's port (its `port`, not `targetPort`), such as port: 9080")),
    ErrorCase("a backend in another namespace", routeRule("{backendRefs: [{name: web, namespace: other, port: 80}]}"),
              (6, 49, "`spec.rules[0].backendRefs[0].namespace` is other, another namespace than the route's (shop); the Gateway API needs a ReferenceGrant in other to allow that, which Weft does not read")),
    ErrorCase("a backend that is not a Service", routeRule("{backendRefs: [{group: networking.istio.io, kind: Hostname, name: example.com, port: 80}]}"),
              (6, 61, "`spec.rules[0].backendRefs[0]` refers to a Hostname of group \"networking.istio.io\", which is not supported: Weft forwards to Services only")),
    ErrorCase("a regular expression that does not compile", routeRule("{matches: [{path: {type: RegularExpression, value: \"/api/(v1\"}}, {headers: [{type: RegularExpression, name: x-user, value: \"[z-a]\"}]}]}"),
              (6, 62, "`spec.rules[0].matches[0].path.value` is \"/api/(v1\", which is not a regular expression Weft can compile: expected ')'; Weft matches paths with Swift Regex syntax"),
              (6, 134, "`spec.rules[0].matches[1].headers[0].value` is \"[z-a]\", which is not a regular expression Weft can compile: character 'z' must compare less than or equal to 'a'")),
    ErrorCase("paths the Gateway API refuses", routeRule("{matches: [{path: {value: api}}, {path: {type: Exact, value: \"/a//b\"}}, {path: {value: \"/a b\"}}]}"),
              (6, 37, "`spec.rules[0].matches[0].path.value` is \"api\": an PathPrefix path must start with '/'"),
              (6, 72, "`spec.rules[0].matches[1].path.value` is \"/a//b\": an Exact path must not contain '//', which a normalised request path never has"),
              (6, 98, "`spec.rules[0].matches[2].path.value` is \"/a b\": an PathPrefix path has the character \" \", which a path may hold only percent-encoded")),
    ErrorCase("a misspelt match field", routeRule("{matches: [{header: [{name: x, value: y}]}]}"),
              (6, 23, "unknown field `spec.rules[0].matches[0].header` (did you mean `headers`?)")),
    ErrorCase("a header matched twice", routeRule("{matches: [{headers: [{name: X-Canary, value: a}, {name: x-canary, value: b}]}]}"),
              (6, 68, "the header \"x-canary\" appears twice in `spec.rules[0].matches[0].headers` (ignoring case) (first at line 6); only the first would count, so remove one")),
    ErrorCase("a lowercase method", routeRule("{matches: [{method: get}]}"),
              (6, 31, "`spec.rules[0].matches[0].method` is \"get\"; it must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH (did you mean `GET`?)")),
    ErrorCase("a duration Go reads but the Gateway API does not", routeRule("{timeouts: {request: 1.5s, backendRequest: 1m30s5ms}}"),
              (6, 32, "`spec.rules[0].timeouts.request` is \"1.5s\", which is not a Gateway API duration; write 1 to 4 parts of up to 5 digits, each followed by h, m, s or ms, such as 500ms, 10s or 1m30s")),
    ErrorCase("a backend timeout longer than the request's", routeRule("{timeouts: {request: 10s, backendRequest: 1m}}"),
              (6, 53, "`spec.rules[0].timeouts.backendRequest` is 1m, longer than `spec.rules[0].timeouts.request` (10s), which covers it; make it at most 10s")),
    ErrorCase("ReplacePrefixMatch without a PathPrefix match", routeRule("{matches: [{path: {type: Exact, value: /a}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]}"),
              (6, 67, "`spec.rules[0].filters[0]` replaces the prefix a PathPrefix match matched (ReplacePrefixMatch), so its rule needs exactly one match, of type PathPrefix; it has one of another type")),
    ErrorCase("a redirect with backends", routeRule("{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}], backendRefs: [{name: web, port: 80}]}"),
              (6, 82, "`spec.rules[0].backendRefs` is given with a RequestRedirect filter (`spec.rules[0].filters[0]`), which answers every request itself")),
    ErrorCase("a redirect and a rewrite", routeRule("{filters: [{type: RequestRedirect, requestRedirect: {statusCode: 307}}, {type: URLRewrite, urlRewrite: {hostname: a.example}}]}"),
              (6, 83, "`spec.rules[0].filters[1]` is a URLRewrite filter in a rule with a RequestRedirect filter (`spec.rules[0].filters[0]`); a redirect answers the request and a rewrite forwards it, so the Gateway API allows one or the other")),
    ErrorCase("a redirect status that is not one", routeRule("{filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304, scheme: HTTPS}}]}"),
              (6, 76, "`spec.rules[0].filters[0].requestRedirect.statusCode` is 304; a redirect's status is one of 301, 302, 303, 307, 308"),
              (6, 89, "`spec.rules[0].filters[0].requestRedirect.scheme` is \"HTTPS\"; it must be one of http, https (did you mean `https`?)")),
    ErrorCase("a filter Weft does not implement", routeRule("{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web, port: 80}}}]}"),
              (6, 29, "`spec.rules[0].filters[0].type` is RequestMirror, which is not supported: Weft does not mirror requests; Weft implements RequestHeaderModifier, RequestRedirect, URLRewrite")),
    ErrorCase("a filter holding another type's settings", routeRule("{filters: [{type: URLRewrite, requestRedirect: {scheme: https}}]}"),
              (6, 22, "`spec.rules[0].filters[0]` is of type URLRewrite but has no `urlRewrite`; write its settings there"),
              (6, 41, "`spec.rules[0].filters[0].requestRedirect` is given, but the filter's type is URLRewrite; a filter holds only the settings its type names (`urlRewrite`)")),
    ErrorCase("a header changed twice", routeRule("{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: \"1\"}], remove: [X-A]}}]}"),
              (6, 117, "the header \"X-A\" appears twice in `spec.rules[0].filters[0].requestHeaderModifier` (ignoring case; first at line 6); the Gateway API allows one change per header, so keep one")),
    ErrorCase("session persistence", routeRule("{sessionPersistence: {sessionName: s}}"),
              (6, 12, "`spec.rules[0].sessionPersistence` is not supported by Weft: it is deprecated; keep a client on one endpoint with a DestinationRule")),
    ErrorCase("retry attempts out of range", routeRule("{retry: {attempts: 11}}"),
              (6, 30, "`spec.rules[0].retry.attempts` is 11; it must be an integer from 0 to 10 (the retries after the first attempt; 0 retries nothing)")),
    ErrorCase("retry attempts in quotes", routeRule("{retry: {attempts: \"3\"}}"),
              (6, 30, "`spec.rules[0].retry.attempts` must be an integer from 0 to 10 (the retries after the first attempt; 0 retries nothing), not the quoted string \"3\"; remove the quotes")),
    ErrorCase("a retry backoff Go reads but the Gateway API does not", routeRule("{retry: {backoff: 1.5s}}"),
              (6, 29, "`spec.rules[0].retry.backoff` is \"1.5s\", which is not a Gateway API duration; write 1 to 4 parts of up to 5 digits, each followed by h, m, s or ms, such as 25ms or 1s")),
    ErrorCase("a retry backoff of zero", routeRule("{retry: {backoff: 0s}}"),
              (6, 29, "`spec.rules[0].retry.backoff` is 0s; the backoff between attempts must be from 1ms to 10s")),
    ErrorCase("a retry backoff over ten seconds", routeRule("{retry: {backoff: 10s1ms}}"),
              (6, 29, "`spec.rules[0].retry.backoff` is 10001ms; the backoff between attempts must be from 1ms to 10s")),
    ErrorCase("a retry backoff without a unit", routeRule("{retry: {backoff: 25}}"),
              (6, 29, "`spec.rules[0].retry.backoff` must be a duration from 1ms to 10s, such as 25ms or 1s, not `25`")),
    ErrorCase("retry codes out of range and repeated", routeRule("{retry: {codes: [200, 503, 503, 600, \"502\"]}}"),
              (6, 28, "`spec.rules[0].retry.codes[0]` is 200; it must be an integer from 400 to 599 (an HTTP status of a client or server error)"),
              (6, 38, "the status 503 appears twice in `spec.rules[0].retry.codes` (first at line 6); give each status once, so remove one"),
              (6, 43, "`spec.rules[0].retry.codes[3]` is 600; it must be an integer from 400 to 599"),
              (6, 48, "`spec.rules[0].retry.codes[4]` must be an integer from 400 to 599 (an HTTP status of a client or server error), not the quoted string \"502\"; remove the quotes")),
    ErrorCase("too many retry codes", routeRule("{retry: {codes: [" + (400...416).map(String.init).joined(separator: ", ") + "]}}"),
              (6, 27, "`spec.rules[0].retry.codes` has 17 statuses; Weft retries on at most 16, so keep the ones a retry can help with, such as 502, 503 and 504")),
    ErrorCase("retry codes that are not a list", routeRule("{retry: {codes: 503}}"),
              (6, 27, "`spec.rules[0].retry.codes` must be a list of HTTP statuses from 400 to 599, such as [502, 503], not `503`")),
    ErrorCase("a misspelt retry field", routeRule("{retry: {attempt: 2}}"),
              (6, 20, "unknown field `spec.rules[0].retry.attempt` (did you mean `attempts`?)")),
    ErrorCase("a retry field of another API", routeRule("{retry: {perTryTimeout: 1s}}"),
              (6, 20, "unknown field `spec.rules[0].retry.perTryTimeout`; `spec.rules[0].retry` has the fields codes, attempts, backoff")),
    ErrorCase("retry is not a mapping", routeRule("{retry: 3}"),
              (6, 19, "`spec.rules[0].retry` must be a mapping of field names to values, not `3`")),
    ErrorCase("too many rules", httpRoute("  parentRefs: [\(parentWeb)]", "  rules: [" + Array(repeating: "{}", count: 17).joined(separator: ", ") + "]"),
              (6, 10, "`spec.rules` has 17 rules; the Gateway API allows at most 16 in one route, so split it")),
    ErrorCase("a host name that is not one", httpRoute("  parentRefs: [\(parentWeb)]", "  hostnames: [\"Reviews.example\", \"*.example.com\", \"10.0.0.1.\"]"),
              (6, 15, "`spec.hostnames[0]` is \"Reviews.example\", which is not a host name; write lowercase letters, digits, '-' and '.'"),
              (6, 51, "`spec.hostnames[2]` is \"10.0.0.1.\", which is not a host name")),

    // DestinationRule.
    ErrorCase("PASSTHROUGH", trafficPolicy("{loadBalancer: {simple: PASSTHROUGH}}"),
              (6, 42, "`spec.trafficPolicy.loadBalancer.simple` is PASSTHROUGH, which is not supported: it sends each connection to the address the client dialled, without balancing, which is not a Service's endpoints; choose ROUND_ROBIN, LEAST_REQUEST or RANDOM")),
    ErrorCase("TLS settings", trafficPolicy("{tls: {mode: ISTIO_MUTUAL}}"),
              (6, 19, "`spec.trafficPolicy.tls` is not supported by Weft: the mesh does mTLS itself (the Sidecar's spec.mesh and the PeerAuthentications decide it), and Weft originates no other TLS; remove it")),
    ErrorCase("a host that matches no Service", destinationRule("  host: reviews"),
              (5, 9, "`spec.host` names the Service shop/reviews, which the configuration does not have; add a Service document for it, or name one of the configuration's Services")),
    ErrorCase("a host with a dot that is not fully qualified", destinationRule("  host: web.shop"),
              (5, 9, "`spec.host` is \"web.shop\": it names no Service: Istio reads a host with a dot as a fully qualified name, and Weft knows only the configuration's Services; write the Service's name (reviews, in the rule's namespace) or its fully qualified name (reviews.shop.svc.cluster.local)")),
    ErrorCase("a wildcard host", destinationRule("  host: \"*.shop.svc.cluster.local\""),
              (5, 9, "`spec.host` is \"*.shop.svc.cluster.local\": a wildcard host is not supported: Weft applies a DestinationRule to one Service")),
    ErrorCase("a subset named twice", destinationRule("  host: web.shop.svc.cluster.local", "  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]"),
              (6, 48, "the subset name \"v1\" appears twice in `spec.subsets` (first at line 6); routes pick a subset by name, so rename one")),
    ErrorCase("an interval below Istio's millisecond", trafficPolicy("{outlierDetection: {interval: 500us, baseEjectionTime: 1.0005s, maxEjectionPercent: 150}}"),
              (6, 48, "`spec.trafficPolicy.outlierDetection.interval` is 500us; Istio requires at least 1ms"),
              (6, 73, "`spec.trafficPolicy.outlierDetection.baseEjectionTime` is 1000500us; Istio takes durations in whole milliseconds, such as 1500ms"),
              (6, 102, "`spec.trafficPolicy.outlierDetection.maxEjectionPercent` is 150; it must be an integer from 0 to 100 (a percentage)")),
    ErrorCase("a Maglev table that is not prime", trafficPolicy("{loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65536}}}}"),
              (6, 90, "`spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize` is 65536, which is not a prime; a Maglev table's size is prime")),
    ErrorCase("a cookie without a ttl", trafficPolicy("{loadBalancer: {consistentHash: {httpCookie: {name: user}}}}"),
              (6, 63, "`spec.trafficPolicy.loadBalancer.consistentHash.httpCookie` needs `name` and `ttl` (0s for a session cookie), as Istio requires")),
    ErrorCase("two hash keys", trafficPolicy("{loadBalancer: {consistentHash: {httpHeaderName: x-user, useSourceIp: true}}}"),
              (6, 75, "`spec.trafficPolicy.loadBalancer.consistentHash` has 2 hash keys (httpHeaderName, useSourceIp); Istio hashes on one, so keep one")),
    ErrorCase("simple and consistent hashing", trafficPolicy("{loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}"),
              (6, 50, "`spec.trafficPolicy.loadBalancer` has both `simple` and `consistentHash`; Istio takes one of them, so remove the other")),
    ErrorCase("an empty traffic policy", trafficPolicy("{}"),
              (6, 18, "`spec.trafficPolicy` has no field; Istio requires at least one of loadBalancer, connectionPool, outlierDetection, portLevelSettings")),
    ErrorCase("a connection limit of zero", trafficPolicy("{connectionPool: {tcp: {maxConnections: 0, tcpKeepalive: {time: 7200s}}}}"),
              (6, 58, "`spec.trafficPolicy.connectionPool.tcp.maxConnections` is 0; it must be an integer from 1 to 2147483647 (0 is Istio's unset, so remove the line for no limit)"),
              (6, 61, "`spec.trafficPolicy.connectionPool.tcp.tcpKeepalive` is not supported by Weft: Weft does not set TCP keepalive on upstream connections")),
    ErrorCase("port-level settings twice for one port",
              trafficPolicy("{portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}, {port: {number: 80}, loadBalancer: {simple: ROUND_ROBIN}}]}"),
              (6, 93, "port 80 appears twice in `spec.trafficPolicy.portLevelSettings` (first at line 6); give each port one entry")),
    ErrorCase("port-level settings for a port the Service does not have", trafficPolicy("{portLevelSettings: [{port: {number: 8080}, loadBalancer: {simple: RANDOM}}]}"),
              (6, 55, "`spec.trafficPolicy.portLevelSettings[0].port.number` is 8080, but Service shop/web (at a.yaml:8:1) has no port 8080; its ports are 80 (http), 9090 (admin)")),
    ErrorCase("a second DestinationRule for one Service", destinationRule("  host: web") + "---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: y, namespace: shop}\nspec: {host: web.shop.svc.cluster.local}\n",
              (25, 14, "DestinationRule shop/x (at a.yaml:1:1) is already for Service shop/web; Istio would merge the two only in part, so keep one DestinationRule per Service")),
    ErrorCase("exportTo", destinationRule("  host: web", "  exportTo: [\".\"]"),
              (6, 3, "`spec.exportTo` is not supported by Weft: Weft applies every DestinationRule of its configuration")),
]
