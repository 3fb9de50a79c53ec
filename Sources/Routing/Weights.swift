/// Checks shared by the balancers' initialisers. Configuration (DestinationRule, EndpointSlice)
/// is validated by the Config target with file:line errors; a bad value reaching here is a
/// programming error, hence preconditions rather than thrown errors.
enum BalancerChecks {
    /// Balancer weights are 1 or more: an endpoint that should get no traffic is left out of the
    /// set or marked unavailable, not given weight 0.
    static func balancerWeights(_ weights: [UInt32]) {
        precondition(weights.allSatisfy { $0 > 0 }, "balancer weights must be at least 1")
    }

    /// A panic threshold is a percentage.
    static func panicThreshold(_ percent: Int) {
        precondition((0...100).contains(percent), "a panic threshold is a percentage, 0...100")
    }
}

/// The running sums of `weights`: `sums[i]` is the total weight of endpoints `0...i`, so a
/// random number in `0..<sums.last` falls on endpoint `i` with probability `weights[i] / total`.
func runningSums(_ weights: [UInt32]) -> [UInt64] {
    var total: UInt64 = 0
    return weights.map { weight in
        total += UInt64(weight)
        return total
    }
}

/// The first index whose running sum exceeds `point` (binary search; `point < sums.last`).
func weightedIndex(in sums: [UInt64], containing point: UInt64) -> Int {
    var low = 0
    var high = sums.count - 1
    while low < high {
        let middle = (low + high) / 2
        if sums[middle] > point { high = middle } else { low = middle + 1 }
    }
    return low
}
