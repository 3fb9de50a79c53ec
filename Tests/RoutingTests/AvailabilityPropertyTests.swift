import Routing
import Testing

/// Properties every balancer must have, checked for each.
@Suite struct EveryBalancer {
    @Test(arguments: BalancerKind.allCases)
    func neverPicksAnUnavailableEndpointOutsidePanic(kind: BalancerKind) {
        let out: Set<Int> = [1, 4, 7]
        let available = Availability(count: 10, unavailable: out)
        let pick = kind.make(count: 10)
        var rng = SplitMix64(seed: 1)
        var histogram = Histogram(count: 10)
        for request in UInt64(0)..<5000 { histogram.add(pick(available, &rng, request)) }
        #expect(histogram.none == 0)
        #expect(histogram.picked == Set(0..<10).subtracting(out))
    }

    @Test(arguments: BalancerKind.allCases)
    func inPanicPicksAmongAllEndpoints(kind: BalancerKind) {
        // 4 of 10 available is below the default 50%: Envoy spreads over every endpoint.
        let available = Availability(count: 10, unavailable: [0, 2, 3, 5, 6, 8])
        let pick = kind.make(count: 10)
        var rng = SplitMix64(seed: 2)
        var histogram = Histogram(count: 10)
        for request in UInt64(0)..<5000 { histogram.add(pick(available, &rng, request)) }
        #expect(histogram.none == 0)
        #expect(histogram.picked == Set(0..<10))
    }

    @Test(arguments: BalancerKind.allCases)
    func withNothingAvailablePanicStillPicks(kind: BalancerKind) {
        let pick = kind.make(count: 5)
        var rng = SplitMix64(seed: 3)
        var histogram = Histogram(count: 5)
        for request in UInt64(0)..<1000 { histogram.add(pick(Availability(count: 5, unavailable: 0..<5), &rng, request)) }
        #expect(histogram.none == 0)
        #expect(histogram.picked == Set(0..<5))
    }

    @Test(arguments: BalancerKind.allCases)
    func withPanicDisabledOnlyAvailableEndpointsAreEverPicked(kind: BalancerKind) {
        let pick = kind.make(count: 10, panicThreshold: 0)
        var rng = SplitMix64(seed: 4)
        // One survivor of ten takes everything.
        for request in UInt64(0)..<500 { #expect(pick(Availability(count: 10, unavailable: [0, 1, 2, 3, 4, 5, 6, 8, 9]), &rng, request) == 7) }
        // None at all: the request fails rather than going to endpoints known to be bad.
        #expect(pick(Availability(count: 10, unavailable: 0..<10), &rng, 0) == nil)
    }

    @Test(arguments: BalancerKind.allCases)
    func anEmptySetPicksNothing(kind: BalancerKind) {
        let pick = kind.make(count: 0)
        var rng = SplitMix64(seed: 5)
        #expect(pick(nil, &rng, 1) == nil)
        #expect(pick(Availability(count: 0), &rng, 1) == nil)
    }

    @Test(arguments: BalancerKind.allCases)
    func withoutAMaskEveryEndpointIsUsed(kind: BalancerKind) {
        let pick = kind.make(count: 7)
        var rng = SplitMix64(seed: 6)
        var histogram = Histogram(count: 7)
        for request in UInt64(0)..<3000 { histogram.add(pick(nil, &rng, request)) }
        #expect(histogram.picked == Set(0..<7))
    }
}
