/// Picks an endpoint at random, in proportion to its weight (Envoy's `RANDOM`, Istio's
/// `simple: RANDOM`). Keeps no state, so workers share nothing and need no coordination.
public struct RandomBalancer: Sendable, Equatable {
    /// Each endpoint's weight, at least 1.
    public let weights: [UInt32]
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    private let sums: [UInt64]
    private let uniform: Bool

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
        sums = runningSums(weights)
        uniform = weights.allSatisfy { $0 == weights.first }
    }

    /// The number of endpoints.
    public var count: Int { weights.count }

    /// A random endpoint among the available ones (all when `available` is nil or in panic mode),
    /// chosen with probability proportional to its weight; nil when there is none to pick.
    public func pick(available: Availability? = nil, using rng: inout some RandomNumberGenerator) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        if uniform { return eligible.random(using: &rng) }
        if eligible.isEveryone {
            return weightedIndex(in: sums, containing: rng.next(upperBound: sums[count - 1]))
        }
        // Some endpoints are out: sum the eligible weights and walk to the drawn point. O(n),
        // and only while endpoints are out.
        var total: UInt64 = 0
        for endpoint in 0..<count where eligible.contains(endpoint) { total += UInt64(weights[endpoint]) }
        var point = rng.next(upperBound: total)
        for endpoint in 0..<count where eligible.contains(endpoint) {
            let weight = UInt64(weights[endpoint])
            if point < weight { return endpoint }
            point -= weight
        }
        preconditionFailure("the drawn point lies beyond the eligible weights")
    }
}
