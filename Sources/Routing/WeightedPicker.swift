/// Chooses among a route's backends by weight: Gateway API `HTTPRoute` `backendRefs[].weight`
/// (an 80/20 canary is weights 80 and 20). A backend of weight 0 is never chosen; when every
/// weight is 0 there is nothing to choose and the route answers 500, as the Gateway API asks.
///
/// Unlike the endpoint balancers it has no availability mask: the Gateway API sends a broken
/// backend's share of requests to an error rather than to the other backends, so the split stays
/// what the route says.
public struct WeightedPicker: Sendable, Equatable {
    /// Each backend's weight, as given; 0 means never.
    public let weights: [UInt32]
    private let sums: [UInt64]

    /// A picker over backends `0..<weights.count` with these weights.
    public init(weights: [UInt32]) {
        self.weights = weights
        sums = runningSums(weights)
    }

    /// The sum of the weights.
    public var totalWeight: UInt64 { sums.last ?? 0 }

    /// A backend chosen with probability `weight / totalWeight`; nil when the total is 0.
    public func pick(using rng: inout some RandomNumberGenerator) -> Int? {
        guard totalWeight > 0 else { return nil }
        // Zero-weight backends add nothing to the running sum, so no point falls on them.
        return weightedIndex(in: sums, containing: rng.next(upperBound: totalWeight))
    }
}
