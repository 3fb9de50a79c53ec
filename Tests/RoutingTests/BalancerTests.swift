import Routing
import Testing

@Suite struct Random {
    @Test(arguments: [[80, 20], [1, 1, 1, 1], [1, 2, 3, 4], [1000, 1], [5]] as [[UInt32]])
    func picksInProportionToWeight(weights: [UInt32]) {
        let balancer = RandomBalancer(weights: weights)
        var rng = SplitMix64(seed: 11)
        var histogram = Histogram(count: weights.count)
        for _ in 0..<10_000 { histogram.add(balancer.pick(using: &rng)) }
        let total = Double(weights.reduce(0, +))
        for endpoint in weights.indices {
            // ±2 percentage points over 10 000 draws (the standard error is at most 0.5 point).
            #expect(abs(histogram.share(endpoint) - Double(weights[endpoint]) / total) < 0.02)
        }
    }

    @Test func unavailableWeightIsSharedByTheRestInProportion() {
        let balancer = RandomBalancer(weights: [1, 2, 3, 4])
        var rng = SplitMix64(seed: 12)
        var histogram = Histogram(count: 4)
        let available = Availability(count: 4, unavailable: [3])
        for _ in 0..<10_000 { histogram.add(balancer.pick(available: available, using: &rng)) }
        #expect(histogram.counts[3] == 0)
        for endpoint in 0..<3 { #expect(abs(histogram.share(endpoint) - Double(endpoint + 1) / 6) < 0.02) }
    }
}

@Suite struct RoundRobin {
    /// nginx's own example (`ngx_http_upstream_round_robin.c`): weights 5, 1, 1 give a a b a c a a.
    @Test func smoothWeightsInterleaveAsNginxDocuments() {
        var balancer = RoundRobinBalancer(weights: [5, 1, 1])
        let names = ["a", "b", "c"]
        let sequence = (0..<14).map { _ in names[balancer.pick()!] }
        #expect(sequence == ["a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a"])
    }

    /// Every run of total-weight picks gives each endpoint exactly its weight.
    @Test(arguments: [[1, 1, 1], [5, 1, 1], [3, 2], [2, 7, 4, 1], [10]] as [[UInt32]])
    func everyCycleHonoursTheWeights(weights: [UInt32]) {
        var balancer = RoundRobinBalancer(weights: weights)
        let total = Int(weights.reduce(0, +))
        let picks = (0..<(total * 5)).map { _ in balancer.pick()! }
        for cycle in 0..<5 {
            var histogram = Histogram(count: weights.count)
            for pick in picks[(cycle * total)..<((cycle + 1) * total)] { histogram.add(pick) }
            #expect(histogram.counts == weights.map(Int.init))
        }
    }

    @Test func anUnavailableEndpointIsSkippedAndTheOthersKeepTheirRatio() {
        var balancer = RoundRobinBalancer(weights: [2, 1, 1, 1])
        let available = Availability(count: 4, unavailable: [1])
        var histogram = Histogram(count: 4)
        for _ in 0..<400 { histogram.add(balancer.pick(available: available)) }
        #expect(histogram.counts == [200, 0, 100, 100])
    }
}

@Suite struct LeastRequest {
    @Test(arguments: [2, 3, 10])
    func aBusyEndpointGetsLittle(count: Int) {
        var balancer = LeastRequestBalancer(count: count)
        for _ in 0..<50 { balancer.started(endpoint: 0) }
        for endpoint in 1..<count { for _ in 0..<(endpoint % 3) { balancer.started(endpoint: endpoint) } }
        var rng = SplitMix64(seed: 21)
        var histogram = Histogram(count: count)
        for _ in 0..<10_000 { histogram.add(balancer.pick(using: &rng)) }
        // The busy endpoint wins only when it is compared with itself, which two distinct choices
        // never do.
        #expect(histogram.share(0) < 0.10)
        #expect(histogram.counts[0] == 0)
    }

    @Test func loadEvensOutUnderSustainedTraffic() {
        // Requests that never finish: P2C keeps the in-flight counts within a small spread.
        var balancer = LeastRequestBalancer(count: 10)
        var rng = SplitMix64(seed: 22)
        for _ in 0..<1000 { balancer.started(endpoint: balancer.pick(using: &rng)!) }
        #expect(balancer.activeRequests.reduce(0, +) == 1000)
        #expect(balancer.activeRequests.max()! - balancer.activeRequests.min()! <= 4)
    }

    @Test func moreChoicesFavourTheIdlestMore() {
        var rng = SplitMix64(seed: 23)
        var shares: [Double] = []
        for choices in [1, 2, 4] {
            var balancer = LeastRequestBalancer(count: 10, choiceCount: choices)
            for endpoint in 0..<10 { for _ in 0..<endpoint { balancer.started(endpoint: endpoint) } }
            var histogram = Histogram(count: 10)
            for _ in 0..<10_000 { histogram.add(balancer.pick(using: &rng)) }
            shares.append(histogram.share(0))
        }
        // Random (1 choice) gives the idlest endpoint about 10%, two choices about 19%, four more.
        #expect(abs(shares[0] - 0.10) < 0.02)
        #expect(shares[1] > 0.15)
        #expect(shares[2] > shares[1] + 0.05)
    }

    @Test func finishingMoreThanStartedNeverGoesNegative() {
        var balancer = LeastRequestBalancer(count: 2)
        balancer.started(endpoint: 1)
        balancer.finished(endpoint: 1)
        balancer.finished(endpoint: 1)
        #expect(balancer.activeRequests == [0, 0])
    }
}
