import Routing
import Testing

let millisecond: UInt64 = 1_000_000
let second: UInt64 = 1_000_000_000

/// How many times each of `count` endpoints came out of `picks` draws (nil draws are counted
/// apart, so a test can insist there were none).
struct Histogram {
    var counts: [Int]
    var none = 0

    init(count: Int) { counts = Array(repeating: 0, count: count) }

    mutating func add(_ pick: Int?) {
        if let pick { counts[pick] += 1 } else { none += 1 }
    }

    var total: Int { counts.reduce(0, +) + none }

    /// The share of draws that went to `endpoint`, 0...1.
    func share(_ endpoint: Int) -> Double { Double(counts[endpoint]) / Double(total) }

    /// The endpoints picked at least once.
    var picked: Set<Int> { Set(counts.indices.filter { counts[$0] > 0 }) }
}

/// Stable identities for `count` endpoints 10.0.0.1:8080, 10.0.0.2:8080, …
func endpointKeys(_ count: Int) -> [UInt64] {
    (0..<count).map { StableHash.xxHash64("10.0.\($0 / 250).\($0 % 250 + 1):8080") }
}

/// The balancers behind one interface, so that properties every balancer must have (skipping
/// unavailable endpoints, panic mode) are checked once for all of them.
enum BalancerKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case random, weightedRandom, roundRobin, weightedRoundRobin, leastRequest, peakEWMA, ringHash, maglev

    var testDescription: String { rawValue }

    /// A picker over `count` endpoints with the given panic threshold; each call takes the
    /// availability, the generator and a request number (used as the hash key, or as the time).
    func make(count: Int, panicThreshold: Int = 50) -> (Availability?, inout SplitMix64, UInt64) -> Int? {
        let weights = (0..<count).map { UInt32($0 % 3 + 1) }
        switch self {
        case .random:
            let balancer = RandomBalancer(count: count, panicThreshold: panicThreshold)
            return { available, rng, _ in balancer.pick(available: available, using: &rng) }
        case .weightedRandom:
            let balancer = RandomBalancer(weights: weights, panicThreshold: panicThreshold)
            return { available, rng, _ in balancer.pick(available: available, using: &rng) }
        case .roundRobin:
            var balancer = RoundRobinBalancer(count: count, panicThreshold: panicThreshold)
            return { available, _, _ in balancer.pick(available: available) }
        case .weightedRoundRobin:
            var balancer = RoundRobinBalancer(weights: weights, panicThreshold: panicThreshold)
            return { available, _, _ in balancer.pick(available: available) }
        case .leastRequest:
            var balancer = LeastRequestBalancer(count: count, panicThreshold: panicThreshold)
            return { available, rng, request in
                let pick = balancer.pick(available: available, using: &rng)
                // Keep some requests in flight so the counts matter.
                if let pick {
                    balancer.started(endpoint: pick)
                    if request % 2 == 0 { balancer.finished(endpoint: pick) }
                }
                return pick
            }
        case .peakEWMA:
            var balancer = PeakEWMABalancer(count: count, now: 0, panicThreshold: panicThreshold)
            return { available, rng, request in
                let now = request * 10 * millisecond
                let pick = balancer.pick(now: now, available: available, using: &rng)
                if let pick {
                    balancer.started(endpoint: pick)
                    balancer.finished(endpoint: pick, latency: 5 * millisecond, now: now)
                }
                return pick
            }
        case .ringHash:
            let balancer = RingHashBalancer(endpointKeys: endpointKeys(count), weights: weights, panicThreshold: panicThreshold)
            return { available, _, request in balancer.pick(key: request, available: available) }
        case .maglev:
            let balancer = MaglevBalancer(endpointKeys: endpointKeys(count), weights: weights, tableSize: 4099, panicThreshold: panicThreshold)
            return { available, _, request in balancer.pick(key: request, available: available) }
        }
    }
}
