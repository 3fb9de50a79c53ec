import Routing
import Testing

@Suite struct RetryBudgets {
    /// Retries in flight stop at max(minimum, percent of requests in flight).
    @Test(arguments: [(100, 20, 3, 20), (5, 20, 3, 3), (0, 20, 3, 3), (1000, 20, 3, 200), (14, 20, 3, 3), (20, 20, 3, 4), (100, 50, 0, 50), (100, 0, 0, 0)])
    func retriesAreCappedByTheBudget(active: Int, percent: Int, minimum: Int, allowed: Int) {
        var budget = RetryBudget(budgetPercent: percent, minRetryConcurrency: minimum)
        for _ in 0..<active { budget.requestStarted() }
        let granted = (0..<(active + 10)).filter { _ in budget.tryStartRetry() }.count
        #expect(granted == allowed)
        #expect(budget.activeRetries == allowed)
        #expect(budget.retryLimit == allowed)
    }

    @Test func finishingARetryMakesRoomForAnother() {
        var budget = RetryBudget()
        for _ in 0..<100 { budget.requestStarted() }
        for _ in 0..<20 { #expect(retry(&budget)) }
        #expect(!retry(&budget))
        budget.retryFinished()
        #expect(retry(&budget))
        #expect(!retry(&budget))
    }

    @Test func theBudgetShrinksWithTraffic() {
        var budget = RetryBudget()
        for _ in 0..<100 { budget.requestStarted() }
        for _ in 0..<20 { _ = budget.tryStartRetry() }
        for _ in 0..<50 { budget.requestFinished() }
        // 50 requests allow 10 retries: none more until the 20 in flight drop below 10.
        #expect(!retry(&budget))
        for _ in 0..<11 { budget.retryFinished() }
        #expect(retry(&budget))
        #expect(!retry(&budget))
    }

    @Test func extraFinishesAreIgnored() {
        var budget = RetryBudget()
        budget.requestFinished()
        budget.retryFinished()
        #expect(budget.activeRequests == 0 && budget.activeRetries == 0)
    }
}

@Suite struct Backoffs {
    @Test func ceilingsDoubleFromTheBaseToTheMaximum() {
        let backoff = Backoff()
        #expect(backoff.base == 25 * millisecond && backoff.maximum == 250 * millisecond)
        #expect((1...7).map { backoff.ceiling(retry: $0) / millisecond } == [25, 50, 100, 200, 250, 250, 250])
        #expect(backoff.ceiling(retry: 64) == backoff.maximum)
        #expect(backoff.ceiling(retry: 10_000) == backoff.maximum)
        #expect(Backoff(base: .max / 2, maximum: .max).ceiling(retry: 3) == .max)
    }

    /// Full jitter: uniform over the whole interval below the ceiling.
    @Test(arguments: [(Backoff(), 1), (Backoff(), 3), (Backoff(), 10), (Backoff(base: 1, maximum: 1), 1), (Backoff(base: 100 * millisecond, maximum: 1 * second), 5)])
    func delaysStayWithinBoundsAndUseTheWholeRange(backoff: Backoff, retry: Int) {
        var rng = SplitMix64(seed: UInt64(retry))
        let ceiling = backoff.ceiling(retry: retry)
        let delays = (0..<2000).map { _ in backoff.delay(retry: retry, using: &rng) }
        #expect(delays.allSatisfy { $0 < ceiling && $0 <= backoff.maximum })
        if ceiling > 1 {
            #expect(Double(delays.max()!) > 0.95 * Double(ceiling))
            #expect(Double(delays.min()!) < 0.05 * Double(ceiling))
            let mean = Double(delays.reduce(0, +)) / Double(delays.count)
            #expect(abs(mean / Double(ceiling) - 0.5) < 0.05)
        }
    }

    @Test func theSameSeedGivesTheSameDelays() {
        let backoff = Backoff()
        var a = SplitMix64(seed: 61)
        var b = SplitMix64(seed: 61)
        var c = SplitMix64(seed: 62)
        let first = (1...20).map { backoff.delay(retry: $0, using: &a) }
        #expect((1...20).map { backoff.delay(retry: $0, using: &b) } == first)
        #expect((1...20).map { backoff.delay(retry: $0, using: &c) } != first)
    }
}

/// `tryStartRetry()` outside `#expect`, which cannot call a mutating method itself.
private func retry(_ budget: inout RetryBudget) -> Bool { budget.tryStartRetry() }
