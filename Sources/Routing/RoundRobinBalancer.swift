/// Weighted round robin, smooth: nginx's algorithm (`ngx_http_upstream_get_peer`, in
/// `ngx_http_upstream_round_robin.c`), so endpoints of weights 5, 1, 1 get a, a, b, a, c, a, a
/// rather than five a's in a row. Istio's `simple: ROUND_ROBIN`.
///
/// Each pick adds every eligible endpoint's weight to its running score, takes the endpoint with
/// the highest score (the first on ties) and subtracts the eligible total from it. Over any run of
/// total-weight picks each endpoint is chosen exactly weight times. O(n) per pick, as in nginx,
/// which is cheap for the tens or hundreds of endpoints a service has.
public struct RoundRobinBalancer: Sendable, Equatable {
    /// Each endpoint's weight, at least 1.
    public let weights: [UInt32]
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    private var scores: [Int64]

    /// `count` endpoints of weight 1.
    public init(count: Int, panicThreshold: Int = 50) {
        self.init(weights: Array(repeating: 1, count: count), panicThreshold: panicThreshold)
    }

    /// Endpoints with the given weights (each at least 1).
    public init(weights: [UInt32], panicThreshold: Int = 50) {
        BalancerChecks.balancerWeights(weights)
        BalancerChecks.panicThreshold(panicThreshold)
        self.weights = weights
        self.panicThreshold = panicThreshold
        scores = Array(repeating: 0, count: weights.count)
    }

    /// The number of endpoints.
    public var count: Int { weights.count }

    /// The next endpoint in turn among the available ones (all when `available` is nil or in
    /// panic mode); nil when there is none to pick. An unavailable endpoint keeps its score, so it
    /// rejoins the rotation where it left off.
    public mutating func pick(available: Availability? = nil) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        var best = -1
        var total: Int64 = 0
        for endpoint in 0..<count where eligible.contains(endpoint) {
            let weight = Int64(weights[endpoint])
            scores[endpoint] += weight
            total += weight
            if best < 0 || scores[endpoint] > scores[best] { best = endpoint }
        }
        scores[best] -= total
        return best
    }
}
