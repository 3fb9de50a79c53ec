/// Least request by the power of two choices (Mitzenmacher): draw `choiceCount` eligible endpoints
/// at random and take the one with the fewest requests in flight. Envoy's `LEAST_REQUEST` with
/// its default `choice_count` of 2, Istio's `simple: LEAST_REQUEST`. Comparing two random
/// endpoints avoids the herd that "the global least loaded" causes when many proxies see the same
/// counts, at O(1) per pick.
///
/// The first two candidates are always distinct, so with two endpoints the busier one never wins
/// by chance; any further candidates are drawn independently, as Envoy does. All endpoints weigh
/// the same here: Envoy's weighted variant is a different (EDF) scheduler.
///
/// The caller reports each request: `started(endpoint:)` when it is sent, `finished(endpoint:)`
/// when it completes or fails.
public struct LeastRequestBalancer: Sendable, Equatable {
    /// How many random endpoints each pick compares, at least 1.
    public let choiceCount: Int
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    /// Requests in flight to each endpoint.
    public private(set) var activeRequests: [Int]

    /// `count` endpoints, none busy.
    public init(count: Int, choiceCount: Int = 2, panicThreshold: Int = 50) {
        precondition(choiceCount >= 1, "least request compares at least one endpoint")
        BalancerChecks.panicThreshold(panicThreshold)
        self.choiceCount = choiceCount
        self.panicThreshold = panicThreshold
        activeRequests = Array(repeating: 0, count: count)
    }

    /// The number of endpoints.
    public var count: Int { activeRequests.count }

    /// The least busy of `choiceCount` random available endpoints (all when `available` is nil or
    /// in panic mode); nil when there is none to pick. Picking does not count a request: call
    /// `started(endpoint:)` when it is sent.
    public func pick(available: Availability? = nil, using rng: inout some RandomNumberGenerator) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        let (first, second) = eligible.randomPair(using: &rng)
        var best = first
        guard choiceCount > 1, let second else { return best }
        if activeRequests[second] < activeRequests[best] { best = second }
        for _ in 2..<max(2, choiceCount) {
            let candidate = eligible.random(using: &rng)
            if activeRequests[candidate] < activeRequests[best] { best = candidate }
        }
        return best
    }

    /// A request to `endpoint` was sent.
    public mutating func started(endpoint: Int) {
        activeRequests[endpoint] += 1
    }

    /// A request to `endpoint` completed or failed. More finishes than starts are ignored (the
    /// count stays at 0) rather than trusted.
    public mutating func finished(endpoint: Int) {
        if activeRequests[endpoint] > 0 { activeRequests[endpoint] -= 1 }
    }
}
