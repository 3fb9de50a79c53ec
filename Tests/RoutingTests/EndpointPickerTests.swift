import Addresses
import Routing
import Testing

typealias PickerPolicy = DestinationRule.TrafficPolicy

/// `count` endpoints 10.0.0.1:8080, 10.0.0.2:8080, …, those in `notReady` not ready.
private func endpoints(_ count: Int, notReady: Set<Int> = []) -> [ResolvedEndpoint] {
    (0..<count).map { ResolvedEndpoint(address: SocketAddress(IPv4Address(10, 0, 0, UInt8($0 + 1)), port: 8080), ready: !notReady.contains($0)) }
}

/// `picks` picks at `now` (hash key: the pick's number, for hash policies), each finished at once
/// with success, counted per endpoint.
private func histogram(_ picker: inout EndpointPicker, picks: Int = 1000, now: UInt64 = 0, seed: UInt64 = 1) -> Histogram {
    var rng = SplitMix64(seed: seed)
    var histogram = Histogram(count: picker.endpoints.count)
    for request in 0..<picks {
        let pick = picker.pick(now: now, hashKey: UInt64(request), using: &rng)
        histogram.add(pick)
        if let pick {
            picker.started(pick, now: now)
            picker.finished(pick, outcome: .success, latency: millisecond, now: now)
        }
    }
    return histogram
}

private let ringHash = PickerPolicy(loadBalancer: .consistentHash(.init(key: .httpHeaderName("x-user"))))
private let maglev = PickerPolicy(loadBalancer: .consistentHash(.init(key: .sourceIP, algorithm: .maglev(tableSize: 65537))))

/// Every policy's balancer, for the properties they must all have.
private let everyPolicy: [PickerPolicy?] = [nil, PickerPolicy(), PickerPolicy(loadBalancer: .roundRobin), PickerPolicy(loadBalancer: .leastRequest), PickerPolicy(loadBalancer: .random), ringHash, maglev]

@Suite struct EndpointPickerBalancing {
    @Test func roundRobinCyclesThroughTheEndpoints() {
        var picker = EndpointPicker(endpoints: endpoints(3), policy: PickerPolicy(loadBalancer: .roundRobin), now: 0)
        var rng = SplitMix64(seed: 7)
        let picks = (0..<9).map { _ in picker.pick(now: 0, hashKey: nil, using: &rng) }
        #expect(picks == [0, 1, 2, 0, 1, 2, 0, 1, 2])
    }

    /// With two endpoints power of two choices compares both, so the busy one is never picked.
    @Test func leastRequestAvoidsALoadedEndpoint() {
        var picker = EndpointPicker(endpoints: endpoints(2), policy: PickerPolicy(loadBalancer: .leastRequest), now: 0)
        for _ in 0..<3 { picker.started(0, now: 0) }
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 { #expect(picker.pick(now: 0, hashKey: nil, using: &rng) == 1) }
        // Once its requests finish it is as good as the other and gets its share again.
        for _ in 0..<3 { picker.finished(0, outcome: .success, latency: millisecond, now: 0) }
        let after = histogram(&picker, picks: 200)
        #expect(after.picked == [0, 1])
    }

    @Test func randomSpreadsEvenly() {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: PickerPolicy(loadBalancer: .random), now: 0)
        let histogram = histogram(&picker, picks: 8000)
        #expect(histogram.none == 0)
        for endpoint in 0..<4 { #expect(abs(histogram.share(endpoint) - 0.25) < 0.03) }
    }

    /// No DestinationRule, or one without `loadBalancer`: Peak EWMA, which steers around an
    /// endpoint whose latency went up even though nothing is in flight.
    @Test(arguments: [nil, PickerPolicy(outlierDetection: .defaults)])
    func theDefaultIsPeakEWMAAndAvoidsASlowEndpoint(policy: PickerPolicy?) {
        var picker = EndpointPicker(endpoints: endpoints(2), policy: policy, now: 0)
        #expect(picker.hashSource == nil)
        picker.started(0, now: 0)
        picker.finished(0, outcome: .success, latency: 800 * millisecond, now: 1 * millisecond)
        picker.started(1, now: 0)
        picker.finished(1, outcome: .success, latency: 2 * millisecond, now: 1 * millisecond)
        var rng = SplitMix64(seed: 11)
        for _ in 0..<200 { #expect(picker.pick(now: 2 * millisecond, hashKey: nil, using: &rng) == 1) }
    }

    /// Same key, same endpoint (whatever the generator), and different keys spread.
    @Test(arguments: [ringHash, maglev])
    func consistentHashSendsAKeyToOneEndpoint(policy: PickerPolicy) {
        var picker = EndpointPicker(endpoints: endpoints(5), policy: policy, now: 0)
        for key in ["alice", "bob", "carol"] {
            let hash = EndpointPicker.hashKey(header: key)
            let picks = Set((0..<20).map { seed in
                var rng = SplitMix64(seed: UInt64(seed))
                return picker.pick(now: 0, hashKey: hash, using: &rng)
            })
            #expect(picks.count == 1)
            #expect(picks.first! != nil)
        }
        #expect(histogram(&picker, picks: 2000).picked == Set(0..<5))
    }

    @Test func hashSourceFollowsThePolicysKey() {
        let cases: [(DestinationRule.ConsistentHash.Key, EndpointPicker.HashSource)] = [
            (.httpHeaderName("x-user"), .header("x-user")),
            (.httpCookie(name: "session", path: "/", ttl: .seconds(60)), .cookie(name: "session")),
            (.sourceIP, .sourceIP),
            (.httpQueryParameterName("user"), .queryParameter("user")),
        ]
        for (key, source) in cases {
            let picker = EndpointPicker(endpoints: endpoints(3), policy: PickerPolicy(loadBalancer: .consistentHash(.init(key: key))), now: 0)
            #expect(picker.hashSource == source)
        }
        #expect(EndpointPicker(endpoints: endpoints(3), policy: PickerPolicy(loadBalancer: .roundRobin), now: 0).hashSource == nil)
    }

    /// The same client keeps its endpoint whether the listener reports it as IPv4 or as an
    /// IPv4-mapped IPv6 address; clients spread over the endpoints.
    @Test func sourceIPKeysPinAClient() throws {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: maglev, now: 0)
        var rng = SplitMix64(seed: 5)
        let v4 = EndpointPicker.hashKey(sourceIP: try IPAddress(parsing: "192.168.1.20"))
        let mapped = EndpointPicker.hashKey(sourceIP: try IPAddress(parsing: "::ffff:192.168.1.20"))
        #expect(v4 == mapped)
        let first = picker.pick(now: 0, hashKey: v4, using: &rng)
        for _ in 0..<10 { #expect(picker.pick(now: 0, hashKey: mapped, using: &rng) == first) }
        var clients = Histogram(count: 4)
        for host in 1...200 {
            let key = EndpointPicker.hashKey(sourceIP: .v4(IPv4Address(172, 16, 0, UInt8(host))))
            clients.add(picker.pick(now: 0, hashKey: key, using: &rng))
        }
        #expect(clients.picked == Set(0..<4))
    }

    @Test func headerKeys() {
        #expect(EndpointPicker.hashKey(header: nil) == nil)
        #expect(EndpointPicker.hashKey(header: "alice") == StableHash.xxHash64("alice"))
        #expect(EndpointPicker.hashKey(header: "alice") != EndpointPicker.hashKey(header: "bob"))
    }

    /// A request without the header cannot be hashed and goes to a random endpoint.
    @Test(arguments: [ringHash, maglev])
    func aMissingHashKeyFallsBackToRandom(policy: PickerPolicy) {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: policy, now: 0)
        var rng = SplitMix64(seed: 9)
        var histogram = Histogram(count: 4)
        for _ in 0..<400 { histogram.add(picker.pick(now: 0, hashKey: EndpointPicker.hashKey(header: nil), using: &rng)) }
        #expect(histogram.picked == Set(0..<4))
        #expect(histogram.none == 0)
    }

    @Test(arguments: everyPolicy)
    func noEndpointsPickNothing(policy: PickerPolicy?) {
        var picker = EndpointPicker(endpoints: [], policy: policy, now: 0)
        var rng = SplitMix64(seed: 1)
        #expect(picker.pick(now: 0, hashKey: 1, using: &rng) == nil)
    }
}

@Suite struct EndpointPickerAvailability {
    /// One of four not ready (75% ready, above the 50% panic threshold): never picked.
    @Test(arguments: everyPolicy)
    func notReadyEndpointsAreSkipped(policy: PickerPolicy?) {
        var picker = EndpointPicker(endpoints: endpoints(4, notReady: [1]), policy: policy, now: 0)
        #expect(!picker.availability[1])
        let histogram = histogram(&picker, picks: 600)
        #expect(histogram.picked == [0, 2, 3])
        #expect(histogram.none == 0)
    }

    /// Without outlier detection the threshold is Envoy's 50%: with fewer ready, every endpoint
    /// takes traffic.
    @Test(arguments: everyPolicy.filter { $0?.outlierDetection == nil })
    func tooFewReadyPanics(policy: PickerPolicy?) {
        for notReady in [Set([0, 1, 2]), [0, 1]] {
            var picker = EndpointPicker(endpoints: endpoints(3, notReady: notReady), policy: policy, now: 0)
            let histogram = histogram(&picker, picks: 600)
            #expect(histogram.picked == [0, 1, 2])
        }
    }

    /// With outlier detection Istio sets the panic threshold to `minHealthPercent`, 0 by default:
    /// no panic, so nothing ready means nothing to pick.
    @Test func minHealthPercentZeroNeverPanics() {
        var picker = EndpointPicker(endpoints: endpoints(3, notReady: [0, 1, 2]), policy: PickerPolicy(loadBalancer: .random, outlierDetection: .defaults), now: 0)
        #expect(picker.panicThreshold == 0)
        #expect(histogram(&picker, picks: 50).none == 50)
    }
}

@Suite struct EndpointPickerOutlierDetection {
    private static let threeStrikes = PickerPolicy(
        loadBalancer: .roundRobin,
        outlierDetection: .init(consecutive5xxErrors: 3, baseEjectionTime: .seconds(30), maxEjectionPercent: 50))

    @Test func consecutive5xxEjectUntilTheBaseEjectionTimeIsUp() {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: Self.threeStrikes, now: 0)
        let start = 100 * second
        for _ in 0..<2 { #expect(picker.finished(2, outcome: .serverError, latency: millisecond, now: start) == nil) }
        #expect(!picker.isEjected(2))
        let event = picker.finished(2, outcome: .init(status: 500), latency: millisecond, now: start)
        #expect(event == .ejected(endpoint: 2, reason: .consecutive5xxErrors, until: start + 30 * second, ejections: 1))
        #expect(picker.isEjected(2))

        let during = histogram(&picker, picks: 90, now: start + 29 * second)
        #expect(during.picked == [0, 1, 3])
        #expect(picker.isEjected(2))

        let after = histogram(&picker, picks: 90, now: start + 30 * second)
        #expect(!picker.isEjected(2))
        #expect(picker.availability[2])
        #expect(after.picked == Set(0..<4))
    }

    /// A success in between resets the count.
    @Test func errorsMustBeConsecutive() {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: Self.threeStrikes, now: 0)
        for _ in 0..<5 {
            picker.finished(0, outcome: .serverError, latency: millisecond, now: 0)
            picker.finished(0, outcome: .gatewayError, latency: millisecond, now: 0)
            #expect(picker.finished(0, outcome: .success, latency: millisecond, now: 0) == nil)
        }
        #expect(!picker.isEjected(0))
    }

    /// A not-ready endpoint that was ejected stays unavailable when the ejection ends.
    @Test func aReturningEndpointIsStillNotReady() {
        var picker = EndpointPicker(endpoints: endpoints(4, notReady: [3]), policy: Self.threeStrikes, now: 0)
        for _ in 0..<3 { picker.finished(3, outcome: .serverError, latency: millisecond, now: 0) }
        #expect(picker.isEjected(3))
        #expect(histogram(&picker, picks: 60, now: 31 * second).picked == [0, 1, 2])
        #expect(!picker.isEjected(3))
        #expect(!picker.availability[3])
    }

    /// Gateway errors have their own count only when `consecutiveGatewayErrors` is set; a 500
    /// is not one, a failed connection is.
    @Test func gatewayErrorsCountOnlyWhenConfigured() {
        let off = PickerPolicy(outlierDetection: .init(consecutive5xxErrors: 0, consecutiveGatewayErrors: 0))
        var picker = EndpointPicker(endpoints: endpoints(4), policy: off, now: 0)
        for _ in 0..<20 { #expect(picker.finished(0, outcome: .gatewayError, latency: millisecond, now: 0) == nil) }
        #expect(!picker.isEjected(0))

        let on = PickerPolicy(outlierDetection: .init(consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, maxEjectionPercent: 50))
        picker = EndpointPicker(endpoints: endpoints(4), policy: on, now: 0)
        for _ in 0..<20 { #expect(picker.finished(0, outcome: .serverError, latency: millisecond, now: 0) == nil) }
        #expect(!picker.isEjected(0))
        picker.finished(1, outcome: .init(status: 502), latency: millisecond, now: 0)
        picker.finished(1, outcome: .connectFailure, latency: millisecond, now: 0)
        let event = picker.finished(1, outcome: .init(status: 504), latency: millisecond, now: 0)
        #expect(event == .ejected(endpoint: 1, reason: .consecutiveGatewayErrors, until: 30 * second, ejections: 1))
        #expect(picker.isEjected(1))
    }

    @Test func outcomesOfStatuses() {
        let table: [(Int, EndpointPicker.Outcome)] = [
            (200, .success), (404, .success), (499, .success), (500, .serverError), (501, .serverError),
            (502, .gatewayError), (503, .gatewayError), (504, .gatewayError), (505, .serverError), (599, .serverError),
        ]
        for (status, outcome) in table { #expect(EndpointPicker.Outcome(status: status) == outcome, "status \(status)") }
    }

    /// `maxEjectionPercent` is honoured: a refused ejection is reported and the endpoint stays.
    @Test func ejectionsStopAtMaxEjectionPercent() {
        var picker = EndpointPicker(endpoints: endpoints(4), policy: Self.threeStrikes, now: 0)
        for endpoint in 0..<2 { for _ in 0..<3 { picker.finished(endpoint, outcome: .serverError, latency: millisecond, now: 0) } }
        var last: OutlierDetector.Event?
        for _ in 0..<3 { last = picker.finished(2, outcome: .serverError, latency: millisecond, now: 0) }
        #expect(last == .ejectionRefused(endpoint: 2, reason: .consecutive5xxErrors))
        #expect(!picker.isEjected(2))
        #expect(histogram(&picker, picks: 40, now: 1 * second).picked == [2, 3])
    }

    /// Everything ejected: with `minHealthPercent` 0 nothing is picked; with 50 the balancer
    /// panics and uses every endpoint, ejected or not.
    @Test(arguments: [(0, false), (50, true)])
    func allEjected(minHealthPercent: Int, panics: Bool) {
        let policy = PickerPolicy(
            loadBalancer: .leastRequest,
            outlierDetection: .init(consecutive5xxErrors: 2, maxEjectionPercent: 100, minHealthPercent: minHealthPercent))
        var picker = EndpointPicker(endpoints: endpoints(2), policy: policy, now: 0)
        for endpoint in 0..<2 { for _ in 0..<2 { picker.finished(endpoint, outcome: .connectFailure, latency: millisecond, now: 0) } }
        #expect(picker.isEjected(0) && picker.isEjected(1))
        let histogram = histogram(&picker, picks: 100, now: 1 * second)
        if panics {
            #expect(histogram.picked == [0, 1])
            #expect(histogram.none == 0)
        } else {
            #expect(histogram.none == 100)
        }
    }

    /// One ready endpoint ejected and the other not ready: panic (under 50% available) with
    /// `minHealthPercent` 50 sends traffic to both.
    @Test func ejectedAndUnreadyTogetherPanic() {
        let policy = PickerPolicy(loadBalancer: .roundRobin, outlierDetection: .init(consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 50))
        var picker = EndpointPicker(endpoints: endpoints(2, notReady: [1]), policy: policy, now: 0)
        #expect(histogram(&picker, picks: 10).picked == [0])
        picker.finished(0, outcome: .serverError, latency: millisecond, now: 0)
        #expect(picker.isEjected(0))
        #expect(histogram(&picker, picks: 10, now: 1 * second).counts == [5, 5])
    }
}
