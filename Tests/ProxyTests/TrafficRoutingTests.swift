import Addresses
import Config
import HTTP
import LinuxSys
import Routing
import Testing
@testable import Proxy

@Suite struct RequestRewritingTests {
    @Test(arguments: [
        ("reviews", "reviews", nil),
        ("reviews:9080", "reviews", 9080),
        ("10.96.0.10:9080", "10.96.0.10", 9080),
        ("[fd00::1]:80", "fd00::1", 80),
        ("[fd00::1]", "fd00::1", nil),
    ] as [(String, String, UInt16?)])
    func authoritiesSplitIntoHostAndPort(authority: String, host: String, port: UInt16?) throws {
        let (gotHost, gotPort) = try #require(Worker.splitAuthority(authority))
        #expect(gotHost == host && gotPort == port)
    }

    @Test(arguments: ["reviews:http", "[fd00::1", "[fd00::1]x", "a:99999"])
    func malformedAuthoritiesSplitToNothing(authority: String) {
        #expect(Worker.splitAuthority(authority) == nil)
    }

    /// The Gateway API's ReplacePrefixMatch examples (HTTPPathModifier documentation).
    @Test(arguments: [
        ("/foo", "/xyz", "/foo/bar", "/xyz/bar"),
        ("/foo", "/xyz/", "/foo/bar", "/xyz/bar"),
        ("/foo/", "/xyz", "/foo/bar", "/xyz/bar"),
        ("/foo/", "/xyz/", "/foo/bar", "/xyz/bar"),
        ("/foo", "/xyz", "/foo", "/xyz"),
        ("/foo", "/xyz", "/foo/", "/xyz/"),
        ("/foo", "/", "/foo/bar", "/bar"),
        ("/", "/xyz", "/bar", "/xyz/bar"),
    ])
    func prefixReplacementFollowsTheGatewayAPIExamples(prefix: String, replacement: String, path: String, expected: String) {
        let match = HTTPRouteMatch(path: .pathPrefix(prefix))
        #expect(Worker.rewrittenPath(.replacePrefixMatch(replacement), original: path, match: match) == expected)
    }

    @Test func fullPathReplacementIgnoresTheMatch() {
        #expect(Worker.rewrittenPath(.replaceFullPath("/new"), original: "/old/x", match: HTTPRouteMatch()) == "/new")
    }

    @Test func redirectsReplaceOnlyTheGivenParts() {
        let head = HTTPRequestHead(method: .GET, target: "/v1/items?page=2")
        let match = HTTPRouteMatch(path: .pathPrefix("/v1"))
        let https = HTTPRequestRedirectFilter(scheme: .https, statusCode: 301)
        #expect(Worker.redirectLocation(https, head: head, authority: "shop:8080", path: "/v1/items", match: match) == "https://shop/v1/items?page=2",
                "a new scheme without a port uses the scheme's well-known port")
        let moved = HTTPRequestRedirectFilter(hostname: "shop.example", path: .replacePrefixMatch("/v2"))
        #expect(Worker.redirectLocation(moved, head: head, authority: "shop:8080", path: "/v1/items", match: match) == "http://shop.example:8080/v2/items?page=2")
        let ported = HTTPRequestRedirectFilter(port: 80)
        #expect(Worker.redirectLocation(ported, head: head, authority: "[fd00::1]:8080", path: "/v1/items", match: match) == "http://[fd00::1]/v1/items?page=2")
    }

    @Test func cookiesAndQueryParametersAreFoundByName() {
        var headers = HTTPHeaders()
        headers.add(name: "Cookie", value: "a=1; session=abc; z=")
        headers.add(name: "cookie", value: "late=2")
        #expect(Worker.cookie("session", in: headers) == "abc")
        #expect(Worker.cookie("late", in: headers) == "2")
        #expect(Worker.cookie("z", in: headers) == "")
        #expect(Worker.cookie("sess", in: headers) == nil)
        #expect(Worker.queryParameter("user", in: "/a?x=1&user=bob&y") == "bob")
        #expect(Worker.queryParameter("y", in: "/a?x=1&user=bob&y") == "")
        #expect(Worker.queryParameter("user", in: "/a") == nil)
    }

    @Test func backendsAreChosenByWeightWithoutTheExcludedOrWeightless() {
        let backends = [
            HTTPBackendRef(name: "v1", namespace: "default", port: 80, weight: 80),
            HTTPBackendRef(name: "v2", namespace: "default", port: 80, weight: 20),
            HTTPBackendRef(name: "v3", namespace: "default", port: 80, weight: 0),
        ]
        var rng = SplitMix64(seed: 7)
        var counts: [String: Int] = [:]
        for _ in 0..<10_000 { counts[Worker.weightedBackend(backends, excluding: [], using: &rng)!.name, default: 0] += 1 }
        #expect(counts["v3"] == nil)
        #expect((7_800...8_200).contains(counts["v1"] ?? 0), "\(counts)")
        for _ in 0..<100 { #expect(Worker.weightedBackend(backends, excluding: ["v1"], using: &rng)?.name == "v2") }
        #expect(Worker.weightedBackend(backends, excluding: ["v1", "v2"], using: &rng) == nil, "weight 0 is never chosen")
    }
}

@Suite struct TrafficStateTests {
    private func documents(weight: Int) -> TrafficSnapshotDocuments {
        let service = Service(name: "reviews", namespace: "default", clusterIPs: [.v4(IPv4Address(10, 96, 0, 10))], ports: [ServicePort(port: 9080)])
        let route = HTTPRoute(
            name: "reviews", namespace: "default", parentRefs: [HTTPRoute.ParentRef(name: "reviews", namespace: "default")],
            rules: [HTTPRouteRule(backendRefs: [HTTPBackendRef(name: "reviews", namespace: "default", port: 9080, weight: weight)])])
        return TrafficSnapshotDocuments(services: [service], endpointSlices: [], httpRoutes: [route], destinationRules: [])
    }

    @Test func aStoreSwapsWholeSnapshotsAndKeepsTheOldOneOnARefusedChange() {
        let store = TrafficStore(documents(weight: 1))
        let first = store.current
        #expect(store.version == 1 && first.registry.services.count == 1)
        let refused = store.update { (_: TrafficSnapshot) -> TrafficSnapshotDocuments? in nil }
        #expect(refused == nil && store.version == 1 && store.current === first)
        let swapped = store.update { (_: TrafficSnapshot) -> TrafficSnapshotDocuments? in self.documents(weight: 5) }
        #expect(swapped?.old === first && swapped?.new.version == 2 && store.version == 2)
        #expect(first.documents.httpRoutes[0].rules[0].backendRefs[0].weight == 1, "the old snapshot is unchanged for requests still using it")
    }

    @Test func changesAreDescribedByKindAndName() {
        let old = documents(weight: 1)
        var new = documents(weight: 5)
        new.services[0].origin = "elsewhere.yaml:3"
        new.httpRoutes[0].origin = "elsewhere.yaml:9"
        #expect(TrafficControl.describeChanges(from: old, to: new) == ["HTTPRoute default/reviews changed"])
        var moved = old
        moved.services[0].origin = "other.yaml:1"
        #expect(TrafficControl.describeChanges(from: old, to: moved).isEmpty, "a document read from elsewhere is the same document")
        var twoRoutes = old
        var second = old.httpRoutes[0]
        second.name = "ratings"
        twoRoutes.httpRoutes.append(second)
        var swapped = twoRoutes
        swapped.httpRoutes.reverse()
        #expect(TrafficControl.describeChanges(from: twoRoutes, to: swapped) == ["documents reordered"])
        var removed = old
        removed.httpRoutes = []
        #expect(TrafficControl.describeChanges(from: old, to: removed) == ["HTTPRoute default/reviews removed"])
        #expect(TrafficControl.describeChanges(from: removed, to: old) == ["HTTPRoute default/reviews added"])
        #expect(TrafficControl.describeChanges(from: old, to: old).isEmpty)
    }

    @Test func theBoardSaysEjectedWhileAnyWorkerHasTheEndpointEjected() {
        let board = EndpointStatusBoard()
        let key = EndpointStatusBoard.Key(service: "default/reviews:9080", endpoint: SocketAddress(IPv4Address(10, 0, 0, 1), port: 8080))
        #expect(board.status(of: key, now: 0) == (0, false))
        board.recordEjection(key, worker: 1, until: 100)
        board.recordEjection(key, worker: 0, until: 50)
        #expect(board.status(of: key, now: 10) == (2, true))
        #expect(board.status(of: key, now: 60) == (2, true), "worker 1 still has it ejected")
        #expect(board.status(of: key, now: 100) == (2, false), "back in service on every worker")
        board.recordEjection(key, worker: 0, until: 300) // ejected again, for longer
        #expect(board.status(of: key, now: 200) == (3, true))
        #expect(board.all(now: 200).map(\.ejections) == [3])
    }
}

@Suite struct RoutedRequestTests {
    @Test func theNextDeadlineIsTheEarliestOneSetAndZeroWhenNone() {
        let head = HTTPRequestHead(method: .GET, target: "/", headers: ["Host": "reviews"])
        let target = UpstreamTarget(address: SocketAddress(IPv4Address(10, 0, 0, 1), port: 80), mutualTLS: false, expectedPeer: nil)
        let none = RoutedRequest(head: head, target: target, balancer: nil, budgetOwner: PassthroughBudget(), endpointIndex: nil, retry: nil,
                                 requestTimeout: nil, tryTimeout: nil, now: 1000, routeName: nil)
        #expect(none.nextDeadline == 0)
        none.backoffUntil = 5000
        #expect(none.nextDeadline == 5000)
        none.tryDeadline = 3000
        #expect(none.nextDeadline == 3000)
        let timed = RoutedRequest(head: head, target: target, balancer: nil, budgetOwner: PassthroughBudget(), endpointIndex: nil, retry: nil,
                                  requestTimeout: .nanoseconds(500), tryTimeout: nil, now: 1000, routeName: nil)
        #expect(timed.nextDeadline == 1500)
        timed.backoffUntil = 1200
        #expect(timed.nextDeadline == 1200)
        timed.backoffUntil = 0
        timed.tryDeadline = .max
        #expect(timed.nextDeadline == 1500)
    }
}

@Suite struct UpstreamPoolTests {
    private let target = UpstreamTarget(address: SocketAddress(IPv4Address(10, 0, 0, 1), port: 8080), mutualTLS: false, expectedPeer: nil)

    private func socket() -> Descriptor { try! Socket.makeTCP(.ipv4) }

    @Test func idleConnectionsAreReusedNewestFirstAndExpire() {
        let pools = UpstreamPools()
        let a = pools.add(target: target, descriptor: socket(), now: 0)
        let b = pools.add(target: target, descriptor: socket(), now: 0)
        a.becomeReady(now: 0)
        b.becomeReady(now: 0)
        #expect(pools.live(target) == 2 && pools.count == 2)
        pools.putIdle(a, now: 10)
        pools.putIdle(b, now: 20)
        #expect(pools.takeIdle(target, now: 30, idleTimeout: 100) === b, "the most recently used first")
        // a has been idle 100 by now: closed on the way, nothing to reuse.
        #expect(pools.takeIdle(target, now: 110, idleTimeout: 100) == nil)
        #expect(pools.live(target) == 1 && pools.count == 1)
        pools.close(b)
        #expect(pools.live(target) == 0 && pools.existingPool(target) == nil && pools.count == 0)
        #expect(pools.connection(slot: b.slot, generation: b.generation) == nil, "a closed slot's token names nothing")
    }

    @Test func hungUpIdleConnectionsAreNeverHandedOut() {
        let pools = UpstreamPools()
        let a = pools.add(target: target, descriptor: socket(), now: 0)
        a.becomeReady(now: 0)
        pools.putIdle(a, now: 0)
        a.hungUp = true
        #expect(pools.takeIdle(target, now: 1, idleTimeout: 100) == nil)
        #expect(pools.count == 0)
    }

    @Test func aTargetsPoolLastsWhileItHasConnectionsOrWaitersAndItsConnectionsComeBackToIt() {
        let pools = UpstreamPools()
        let other = UpstreamTarget(address: SocketAddress(IPv4Address(10, 0, 0, 2), port: 8080), mutualTLS: false, expectedPeer: nil)
        let a = pools.add(target: target, descriptor: socket(), now: 0)
        let b = pools.add(target: other, descriptor: socket(), now: 0)
        a.becomeReady(now: 0)
        b.becomeReady(now: 0)
        #expect(a.pool === pools.existingPool(target) && b.pool === pools.existingPool(other) && a.pool !== b.pool)
        pools.putIdle(a, now: 1)
        #expect(pools.takeIdle(other, now: 2, idleTimeout: 100) == nil, "another target's idle connection is never handed out")
        #expect(pools.takeIdle(from: a.pool, now: 2, idleTimeout: 100) === a)
        pools.close(a)
        #expect(pools.existingPool(target) == nil, "no connection and no waiter: forgotten")
        let c = pools.add(target: other, descriptor: socket(), now: 3)
        #expect(c.pool === b.pool)
        pools.close(b)
        #expect(pools.existingPool(other) === c.pool)
        pools.close(c)
        #expect(pools.existingPool(other) == nil && pools.count == 0)
    }

    @Test func aBalancerRemembersItsEndpointsPoolsUntilThePoolsForgetThem() {
        let pools = UpstreamPools()
        let endpoints = [ResolvedEndpoint(address: target.address), ResolvedEndpoint(address: SocketAddress(IPv4Address(10, 0, 0, 2), port: 8080))]
        let balancer = BalancerState(picker: EndpointPicker(endpoints: endpoints, policy: nil, now: 0), policy: nil, version: 1,
                                     serviceName: "shop/reviews", port: 80)
        #expect(balancer.pool(of: 0) == nil)
        let a = pools.add(target: target, descriptor: socket(), now: 0)
        balancer.note(a.pool, of: 0)
        #expect(balancer.pool(of: 0) === pools.existingPool(target) && balancer.pool(of: 1) == nil)
        pools.close(a)
        #expect(balancer.pool(of: 0) == nil, "a pool dropped for having no connection is not handed out again")
    }

    @Test func closeIdleWithZeroClosesEveryIdleConnection() {
        let pools = UpstreamPools()
        let busy = pools.add(target: target, descriptor: socket(), now: 0)
        let idle = pools.add(target: target, descriptor: socket(), now: 0)
        idle.becomeReady(now: 0)
        pools.putIdle(idle, now: 5)
        pools.closeIdle(now: 6, olderThan: 0)
        #expect(pools.count == 1 && pools.idleCount == 0)
        pools.close(busy)
    }
}
