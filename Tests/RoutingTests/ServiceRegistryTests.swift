import Addresses
import Routing
import Testing

private func ip(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }
private func addr(_ text: String) -> SocketAddress { try! SocketAddress(parsing: text) }

/// `reviews` in `shop`, dual-stack: `http` 80 → the container port named `http-web`, `grpc`
/// 9090 → 19090.
private let reviews = Service(
    name: "reviews", namespace: "shop", clusterIPs: [ip("10.96.0.10"), ip("fd00::10")],
    ports: [
        ServicePort(name: "http", port: 80, targetPort: .named("http-web")),
        ServicePort(name: "grpc", port: 9090, targetPort: .number(19090)),
    ])
/// `ratings` in `shop`: one unnamed port, 9080.
private let ratings = Service(name: "ratings", namespace: "shop", clusterIPs: [ip("10.96.0.11")], ports: [ServicePort(port: 9080)])
/// `details` in `web`, port 80.
private let details = Service(name: "details", namespace: "web", clusterIPs: [ip("10.96.0.20")], ports: [ServicePort(name: "http", port: 80)])

private let reviewsV1 = EndpointSlice(
    name: "reviews-v1", namespace: "shop", serviceName: "reviews",
    ports: [EndpointSlice.Port(name: "http", port: 8080)],
    endpoints: [
        EndpointSlice.Endpoint(addresses: [ip("10.0.0.2")], zone: "zone-b"),
        EndpointSlice.Endpoint(addresses: [ip("10.0.0.1")], ready: false, zone: "zone-a"),
    ],
    labels: [EndpointSlice.serviceNameLabel: "reviews", "version": "v1"])
private let reviewsV2 = EndpointSlice(
    name: "reviews-v2", namespace: "shop", serviceName: "reviews",
    ports: [EndpointSlice.Port(name: "http", port: 8080), EndpointSlice.Port(name: "grpc", port: 9091)],
    endpoints: [EndpointSlice.Endpoint(addresses: [ip("10.0.0.3")])],
    labels: [EndpointSlice.serviceNameLabel: "reviews", "version": "v2"])
private let reviewsV6 = EndpointSlice(
    name: "reviews-v6", namespace: "shop", serviceName: "reviews", addressType: .ipv6,
    ports: [EndpointSlice.Port(name: "http", port: 8080)],
    endpoints: [EndpointSlice.Endpoint(addresses: [ip("fd00::1:2"), ip("fd00::1:1")])],
    labels: [EndpointSlice.serviceNameLabel: "reviews", "version": "v2"])
/// A slice of another namespace's `reviews`: never an endpoint of `shop/reviews`.
private let otherReviews = EndpointSlice(
    name: "reviews-x", namespace: "web", serviceName: "reviews",
    ports: [EndpointSlice.Port(name: "http", port: 8080)], endpoints: [EndpointSlice.Endpoint(addresses: [ip("10.9.9.9")])])
private let ratingsSlice = EndpointSlice(
    name: "ratings-abc", namespace: "shop", serviceName: "ratings",
    ports: [EndpointSlice.Port(port: 9081)], endpoints: [EndpointSlice.Endpoint(addresses: [ip("10.0.1.1")])])

private let reviewsRule = DestinationRule(
    name: "reviews", namespace: "shop", host: "reviews",
    subsets: [
        DestinationRule.Subset(name: "v1", labels: ["version": "v1"]),
        DestinationRule.Subset(name: "v2", labels: ["version": "v2"]),
    ])

private func route(_ name: String, namespace: String = "shop", _ parents: HTTPRoute.ParentRef...) -> HTTPRoute {
    HTTPRoute(name: name, namespace: namespace, parentRefs: parents)
}

private let allPorts = route("all", HTTPRoute.ParentRef(name: "reviews", namespace: "shop"))
private let grpcOnly = route("grpc-only", HTTPRoute.ParentRef(name: "reviews", namespace: "shop", port: 9090))
private let httpByName = route("http-by-name", HTTPRoute.ParentRef(name: "reviews", namespace: "shop", sectionName: "http"))
/// A consumer route in `web` for `shop/reviews`.
private let consumer = route("consumer", namespace: "web", HTTPRoute.ParentRef(name: "reviews", namespace: "shop", port: 80))
/// Names `web/reviews`, which is not `shop/reviews`.
private let otherNamespace = route("other", HTTPRoute.ParentRef(name: "reviews", namespace: "web"))
private let detailsRoute = route("details", namespace: "web", HTTPRoute.ParentRef(name: "details", namespace: "web"))

private func registry(slices: [EndpointSlice] = [reviewsV1, reviewsV2, reviewsV6, otherReviews, ratingsSlice]) -> ServiceRegistry {
    ServiceRegistry(
        services: [reviews, ratings, details], endpointSlices: slices,
        routes: [allPorts, grpcOnly, otherNamespace, httpByName, consumer, detailsRoute], destinationRules: [reviewsRule])
}

/// `namespace/name:port` of a lookup's result, so a table can say what it expects.
private func describe(_ found: (Service, ServicePort)?) -> String? {
    found.map { "\($0.0.qualifiedName):\($0.1.port)" }
}

@Suite struct ServiceRegistryTests {
    @Test(arguments: [
        ("10.96.0.10:80", "shop/reviews:80"),
        ("10.96.0.10:9090", "shop/reviews:9090"),
        ("[fd00::10]:80", "shop/reviews:80"),
        ("[fd00::10]:9090", "shop/reviews:9090"),
        ("[::ffff:10.96.0.10]:9090", "shop/reviews:9090"),
        ("[::ffff:10.96.0.11]:9080", "shop/ratings:9080"),
        ("10.96.0.20:80", "web/details:80"),
    ])
    func clusterIPAndPortFindTheService(destination: String, expected: String) {
        #expect(describe(registry().service(forDestination: addr(destination))) == expected)
    }

    @Test(arguments: [
        "10.96.0.10:81",  // a port the Service does not offer
        "10.96.0.99:80",  // no Service's cluster IP
        "10.0.0.1:8080",  // an endpoint, not a cluster IP
        "[fd00::11]:80",
        "[::ffff:10.96.0.99]:80",
    ])
    func otherDestinationsFindNothing(destination: String) {
        #expect(registry().service(forDestination: addr(destination)) == nil)
    }

    @Test(arguments: [
        ("10.0.0.2:8080", "shop/reviews:80"),
        ("10.0.0.1:8080", "shop/reviews:80"),  // not ready: still that Service's pod
        ("10.0.0.3:9091", "shop/reviews:9090"),
        ("[fd00::1:1]:8080", "shop/reviews:80"),
        ("[::ffff:10.0.0.2]:8080", "shop/reviews:80"),
        ("10.0.1.1:9081", "shop/ratings:9080"),
    ])
    func anEndpointFindsTheServiceItServes(endpoint: String, expected: String) {
        #expect(describe(registry().service(forEndpoint: addr(endpoint))) == expected)
    }

    @Test(arguments: [
        "10.9.9.9:8080",  // a slice naming a Service that does not exist in its namespace
        "10.0.0.2:9999",  // the pod, another port
        "10.96.0.10:80",  // a cluster IP, not an endpoint
    ])
    func otherAddressesServeNoService(endpoint: String) {
        #expect(registry().service(forEndpoint: addr(endpoint)) == nil)
    }

    @Test(arguments: [
        ("reviews", "shop", 80, "shop/reviews:80"),
        ("reviews.shop", "web", 80, "shop/reviews:80"),
        ("reviews.shop.svc", "web", 9090, "shop/reviews:9090"),
        ("reviews.shop.svc.cluster.local", "web", 80, "shop/reviews:80"),
        ("reviews.shop.svc.cluster.local.", "web", 80, "shop/reviews:80"),
        ("reviews.shop.", "web", 80, "shop/reviews:80"),
        ("reviews.shop.svc.", "web", 80, "shop/reviews:80"),
        ("reviews.", "shop", 80, "shop/reviews:80"),
        ("Reviews.SHOP.Svc.Cluster.Local", "web", 80, "shop/reviews:80"),
        ("REVIEWS", "shop", 80, "shop/reviews:80"),
        ("ratings", "shop", 9080, "shop/ratings:9080"),
        ("details", "web", 80, "web/details:80"),
        ("details.web.svc.cluster.local", "shop", 80, "web/details:80"),
    ])
    func hostFormsFindTheService(host: String, clientNamespace: String, port: UInt16, expected: String) {
        #expect(describe(registry().service(forHost: host, port: port, clientNamespace: clientNamespace)) == expected)
    }

    @Test(arguments: [
        ("reviews", "web", 80),  // a bare name is looked up in the client's namespace only
        ("reviews.web", "shop", 80),  // no reviews in web
        ("details", "shop", 80),
        ("reviews.shop", "shop", 81),  // no such port
        ("unknown", "shop", 80),
        ("unknown.shop.svc.cluster.local", "shop", 80),
        ("reviews.shop.cluster.local", "shop", 80),  // svc missing
        ("reviews.shop.svc.cluster", "shop", 80),
        ("reviews.shop.svc.cluster.local.example", "shop", 80),
        ("reviews.shop.svc..", "shop", 80),
        ("reviews.shop.svc.other.domain", "shop", 80),
        ("reviews..svc", "shop", 80),
        (".shop", "shop", 80),
        ("", "shop", 80),
        (".", "shop", 80),
        ("reviews:80", "shop", 80),  // the caller strips the port
        ("10.96.0.10", "shop", 80),
    ])
    func otherHostsFindNothing(host: String, clientNamespace: String, port: UInt16) {
        #expect(registry().service(forHost: host, port: port, clientNamespace: clientNamespace) == nil)
    }

    @Test func anotherClusterDomainIsHonoured() {
        let registry = ServiceRegistry(
            services: [reviews], endpointSlices: [], routes: [], destinationRules: [], clusterDomain: "Corp.Example.")
        #expect(describe(registry.service(forHost: "reviews.shop.svc.corp.example", port: 80, clientNamespace: "x")) == "shop/reviews:80")
        #expect(registry.service(forHost: "reviews.shop.svc.cluster.local", port: 80, clientNamespace: "x") == nil)
        #expect(registry.clusterDomain == "corp.example")
    }

    @Test func endpointPortResolvesByNameAndNumericTargetPort() {
        let registry = registry(slices: [reviewsV1, reviewsV2])
        // http: targetPort is the name http-web, but each slice lists the port under the Service
        // port's name, http, with the resolved number.
        #expect(registry.endpoints(of: reviews, port: reviews.ports[0]).map(\.address) == [
            addr("10.0.0.1:8080"), addr("10.0.0.2:8080"), addr("10.0.0.3:8080"),
        ])
        // grpc: reviews-v2 names it (9091); reviews-v1 does not, so the numeric targetPort applies.
        #expect(registry.endpoints(of: reviews, port: reviews.ports[1]).map(\.address) == [
            addr("10.0.0.1:19090"), addr("10.0.0.2:19090"), addr("10.0.0.3:9091"),
        ])
    }

    @Test func singleUnnamedPortResolvesToTheSliceUnnamedPort() {
        #expect(registry().endpoints(of: ratings, port: ratings.ports[0]) == [ResolvedEndpoint(address: addr("10.0.1.1:9081"))])
    }

    @Test func namedTargetPortWithoutMatchingSlicePortGivesNothing() {
        let web = Service(name: "web", namespace: "shop", ports: [ServicePort(name: "http", port: 80, targetPort: .named("web"))])
        let slice = EndpointSlice(
            name: "web-1", namespace: "shop", serviceName: "web", ports: [EndpointSlice.Port(name: "metrics", port: 9100)],
            endpoints: [EndpointSlice.Endpoint(addresses: [ip("10.0.2.1")])])
        let registry = ServiceRegistry(services: [web], endpointSlices: [slice], routes: [], destinationRules: [])
        #expect(registry.endpoints(of: web, port: web.ports[0]).isEmpty)
    }

    @Test func notReadyEndpointsAreKeptAndMarked() {
        let endpoints = registry(slices: [reviewsV1]).endpoints(of: reviews, port: reviews.ports[0])
        #expect(endpoints == [
            ResolvedEndpoint(address: addr("10.0.0.1:8080"), ready: false, zone: "zone-a"),
            ResolvedEndpoint(address: addr("10.0.0.2:8080"), ready: true, zone: "zone-b"),
        ])
    }

    @Test func duplicatesComeOnceSortedIPv4FirstWhateverTheSliceOrder() {
        // The same pod listed again by a second slice, ready there: once, and ready.
        let copy = EndpointSlice(
            name: "reviews-copy", namespace: "shop", serviceName: "reviews", ports: [EndpointSlice.Port(name: "http", port: 8080)],
            endpoints: [EndpointSlice.Endpoint(addresses: [ip("10.0.0.1"), ip("10.0.0.3")])])
        let slices = [reviewsV6, copy, reviewsV2, reviewsV1, otherReviews]
        let expected = [
            ResolvedEndpoint(address: addr("10.0.0.1:8080"), ready: true, zone: "zone-a"),
            ResolvedEndpoint(address: addr("10.0.0.2:8080"), ready: true, zone: "zone-b"),
            ResolvedEndpoint(address: addr("10.0.0.3:8080")),
            ResolvedEndpoint(address: addr("[fd00::1:1]:8080")),
            ResolvedEndpoint(address: addr("[fd00::1:2]:8080")),
        ]
        #expect(registry(slices: slices).endpoints(of: reviews, port: reviews.ports[0]) == expected)
        #expect(registry(slices: slices.reversed()).endpoints(of: reviews, port: reviews.ports[0]) == expected)
    }

    @Test func subsetsSelectSlicesByTheirLabels() {
        let registry = registry()
        #expect(registry.endpoints(of: reviews, port: reviews.ports[0], subset: "v1").map(\.address) == [
            addr("10.0.0.1:8080"), addr("10.0.0.2:8080"),
        ])
        #expect(registry.endpoints(of: reviews, port: reviews.ports[0], subset: "v2").map(\.address) == [
            addr("10.0.0.3:8080"), addr("[fd00::1:1]:8080"), addr("[fd00::1:2]:8080"),
        ])
        #expect(registry.endpoints(of: reviews, port: reviews.ports[1], subset: "v2").map(\.address) == [
            addr("10.0.0.3:9091"), addr("[fd00::1:1]:19090"), addr("[fd00::1:2]:19090"),
        ])
    }

    @Test func unknownSubsetServiceOrPortGivesNothing() {
        let registry = registry()
        #expect(registry.endpoints(of: reviews, port: reviews.ports[0], subset: "v3").isEmpty)
        // ratings has no DestinationRule, so no subsets.
        #expect(registry.endpoints(of: ratings, port: ratings.ports[0], subset: "v1").isEmpty)
        let stranger = Service(name: "stranger", namespace: "shop", ports: [ServicePort(port: 80)])
        #expect(registry.endpoints(of: stranger, port: stranger.ports[0]).isEmpty)
        #expect(registry.endpoints(of: reviews, port: ServicePort(name: "http", port: 81)).isEmpty)
    }

    @Test func destinationRuleIsFoundByService() {
        let registry = registry()
        #expect(registry.destinationRule(for: reviews) == reviewsRule)
        #expect(registry.destinationRule(for: ratings) == nil)
        #expect(registry.destinationRule(for: Service(name: "reviews", namespace: "web")) == nil)
    }

    @Test func routeTableHoldsTheRoutesAttachedToThePortOldestFirst() throws {
        let registry = registry()
        let http = try #require(registry.routeTable(for: reviews, port: reviews.ports[0]))
        #expect(http.routes.map(\.qualifiedName) == ["shop/all", "shop/http-by-name", "web/consumer"])
        let grpc = try #require(registry.routeTable(for: reviews, port: reviews.ports[1]))
        #expect(grpc.routes.map(\.qualifiedName) == ["shop/all", "shop/grpc-only"])
        let detailsTable = try #require(registry.routeTable(for: details, port: details.ports[0]))
        #expect(detailsTable.routes.map(\.qualifiedName) == ["web/details"])
    }

    @Test func serviceWithoutRoutesHasNoTable() {
        let registry = registry()
        #expect(registry.routeTable(for: ratings, port: ratings.ports[0]) == nil)
        #expect(registry.routeTable(for: reviews, port: ServicePort(name: "http", port: 81)) == nil)
        #expect(registry.routeTable(for: Service(name: "reviews", namespace: "web", ports: [ServicePort(port: 80)]), port: ServicePort(port: 80)) == nil)
    }
}
