import Routing
import Testing

@Suite struct PeakEWMA {
    @Test func newEndpointsStartAtTheDefaultRTTWhichDecays() {
        var balancer = PeakEWMABalancer(count: 2, now: 5 * second, defaultRTT: 30 * millisecond)
        #expect(balancer.latencyEstimate(of: 0, now: 5 * second) == Double(30 * millisecond))
        balancer.started(endpoint: 0)
        balancer.started(endpoint: 0)
        #expect(balancer.cost(of: 0, now: 5 * second) == Double(90 * millisecond))
        #expect(balancer.cost(of: 1, now: 5 * second) == Double(30 * millisecond))
        // Unsampled, the prior fades like an estimate, so a new endpoint is soon tried.
        #expect(abs(balancer.latencyEstimate(of: 1, now: 15 * second) / Double(30 * millisecond) - 0.36787944117144233) < 1e-12)
    }

    @Test func aLowSampleIsAveragedWithThePriorNotTrustedAlone() {
        var balancer = PeakEWMABalancer(count: 1, now: 0, defaultRTT: 30 * millisecond)
        balancer.finished(endpoint: 0, latency: 1 * millisecond, now: 100 * millisecond)
        let estimate = balancer.latencyEstimate(of: 0, now: 100 * millisecond)
        #expect(estimate > Double(28 * millisecond) && estimate < Double(30 * millisecond))
    }

    @Test func aHigherSampleReplacesTheEstimateAtOnce() {
        var balancer = PeakEWMABalancer(count: 1, now: 0, defaultRTT: 30 * millisecond)
        balancer.finished(endpoint: 0, latency: 40 * millisecond, now: 1 * second)
        #expect(balancer.latencyEstimate(of: 0, now: 1 * second) == Double(40 * millisecond))
        balancer.finished(endpoint: 0, latency: 50 * millisecond, now: 1 * second + 1)
        #expect(balancer.latencyEstimate(of: 0, now: 1 * second + 1) == Double(50 * millisecond))
    }

    @Test func aLowerSampleMovesTheEstimateByHowMuchTimePassed() {
        var soon = PeakEWMABalancer(count: 1, now: 0)
        soon.finished(endpoint: 0, latency: 50 * millisecond, now: 0)
        soon.finished(endpoint: 0, latency: 10 * millisecond, now: 1 * millisecond)
        let afterAMillisecond = soon.latencyEstimate(of: 0, now: 1 * millisecond)
        #expect(afterAMillisecond < Double(50 * millisecond))
        #expect(afterAMillisecond > Double(49 * millisecond))

        var late = PeakEWMABalancer(count: 1, now: 0)
        late.finished(endpoint: 0, latency: 50 * millisecond, now: 0)
        late.finished(endpoint: 0, latency: 10 * millisecond, now: 10 * second)
        // One time constant: the old value keeps e^-1 of its weight.
        let expected = 50 * 0.36787944117144233 + 10 * (1 - 0.36787944117144233)
        #expect(abs(late.latencyEstimate(of: 0, now: 10 * second) / Double(millisecond) - expected) < 1e-9)
    }

    /// Idle, the estimate decays as e^(-t/τ), so a slow endpoint is eventually tried again.
    @Test(arguments: [
        (5 * second, 0.6065306597126334), (10 * second, 0.36787944117144233), (20 * second, 0.1353352832366127),
        (100 * second, 4.5399929762484854e-05), (1000 * second, 3.720075976020836e-44), (7000 * second, 9.85967654375977e-305),
    ])
    func idleEstimatesDecayExponentially(elapsed: UInt64, factor: Double) {
        var balancer = PeakEWMABalancer(count: 1, now: 0, decayTime: 10 * second)
        balancer.finished(endpoint: 0, latency: 100 * millisecond, now: 1 * second)
        let estimate = balancer.latencyEstimate(of: 0, now: 1 * second + elapsed)
        #expect(abs(estimate / (Double(100 * millisecond) * factor) - 1) < 1e-12)
    }

    @Test func theCheaperOfTwoIsPickedUntilLoadOutweighsLatency() {
        var balancer = PeakEWMABalancer(count: 2, now: 0, defaultRTT: 1 * millisecond)
        balancer.finished(endpoint: 0, latency: 10 * millisecond, now: 0)
        balancer.finished(endpoint: 1, latency: 100 * millisecond, now: 0)
        var rng = SplitMix64(seed: 31)
        // Fast endpoint with 8 in flight costs 90 ms, the idle slow one 100 ms.
        for _ in 0..<8 { balancer.started(endpoint: 0) }
        for _ in 0..<100 { #expect(balancer.pick(now: 0, using: &rng) == 0) }
        // With 10 in flight it costs 110 ms.
        for _ in 0..<2 { balancer.started(endpoint: 0) }
        for _ in 0..<100 { #expect(balancer.pick(now: 0, using: &rng) == 1) }
    }

    /// The property Linkerd relies on: under steady load, an endpoint ten times slower than its
    /// peers gets only a small minority of requests once the estimates have warmed up, yet is
    /// still probed now and then as its estimate decays.
    @Test func aTenTimesSlowerEndpointGetsASmallMinority() {
        let latencies: [UInt64] = [10, 10, 10, 10, 100].map { $0 * millisecond }
        var balancer = PeakEWMABalancer(count: latencies.count, now: 0)
        var rng = SplitMix64(seed: 32)
        var inFlight: [(finishesAt: UInt64, endpoint: Int)] = []
        var afterWarmUp = Histogram(count: latencies.count)
        // One request every 2 ms for 60 s of simulated time.
        for request in UInt64(0)..<30_000 {
            let now = request * 2 * millisecond
            inFlight.removeAll { done in
                guard done.finishesAt <= now else { return false }
                balancer.finished(endpoint: done.endpoint, latency: latencies[done.endpoint], now: done.finishesAt)
                return true
            }
            let endpoint = balancer.pick(now: now, using: &rng)!
            balancer.started(endpoint: endpoint)
            inFlight.append((now + latencies[endpoint], endpoint))
            if now >= 5 * second { afterWarmUp.add(endpoint) }
        }
        #expect(afterWarmUp.share(4) < 0.15)
        #expect(afterWarmUp.counts[4] > 0)
        for fast in 0..<4 { #expect(afterWarmUp.share(fast) > 0.15) }
    }
}
