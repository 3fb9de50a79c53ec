import Addresses

/// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
/// Balancer", NSDI 2016, §3.4; Envoy's `MAGLEV`, Istio's `consistentHash.maglev`): a lookup table
/// of prime size M in which every endpoint owns an almost equal share of slots (within one slot, or
/// in proportion to its weight); a key goes to the owner of slot `key mod M`. Faster to look up than
/// a ring and more even, at the price of slightly more disruption on a membership change.
///
/// Each endpoint walks its own permutation of the slots (offset and skip from two hashes of its
/// stable identity) and the endpoints take turns claiming their next free slot; heavier endpoints
/// take turns more often (Envoy's weighted variant). Because the permutations depend only on the
/// identities, rebuilding without one endpoint moves little more than that endpoint's keys.
///
/// An unavailable endpoint's slots are skipped: the key probes the following slots until one
/// belongs to an eligible endpoint, so no other endpoint's keys move while it is out.
public struct MaglevBalancer: Sendable, Equatable {
    /// Each endpoint's stable identity, as given.
    public let endpointKeys: [UInt64]
    /// Each endpoint's weight, at least 1.
    public let weights: [UInt32]
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    // The lookup table: the endpoint owning each slot (empty when there are no endpoints).
    private let table: [Int32]

    /// A table for endpoints identified by `endpointKeys` (distinct, stable across rebuilds: use
    /// `StableHash.hash(_:)` of the address), weighted by `weights` (default all 1). `tableSize`
    /// must be prime and at least the number of endpoints (Envoy's default, 65537, gives each of
    /// 100 endpoints its share within 0.2%); see `isValidTableSize(_:endpoints:)`.
    public init(endpointKeys: [UInt64], weights: [UInt32]? = nil, tableSize: Int = 65537, panicThreshold: Int = 50) {
        let weights = weights ?? Array(repeating: 1, count: endpointKeys.count)
        precondition(weights.count == endpointKeys.count, "one weight per endpoint")
        precondition(Self.isValidTableSize(tableSize, endpoints: endpointKeys.count), "a Maglev table size must be a prime, at least the number of endpoints")
        BalancerChecks.balancerWeights(weights)
        BalancerChecks.panicThreshold(panicThreshold)
        self.endpointKeys = endpointKeys
        self.weights = weights
        self.panicThreshold = panicThreshold
        table = endpointKeys.isEmpty ? [] : Self.populate(keys: endpointKeys, weights: weights, size: tableSize)
    }

    /// A table for the given endpoint addresses, identified by `StableHash.hash(_:)` of each.
    public init(addresses: [SocketAddress], weights: [UInt32]? = nil, tableSize: Int = 65537, panicThreshold: Int = 50) {
        self.init(endpointKeys: addresses.map(StableHash.hash), weights: weights, tableSize: tableSize, panicThreshold: panicThreshold)
    }

    /// Whether `size` can be a table for `endpoints` endpoints: a prime (so every skip walks
    /// all slots) no smaller than the number of endpoints (so each gets a slot). For the Config
    /// target to validate `tableSize` before it gets here.
    public static func isValidTableSize(_ size: Int, endpoints: Int) -> Bool {
        guard size >= 2, size >= endpoints else { return false }
        var divisor = 2
        while divisor * divisor <= size {
            if size % divisor == 0 { return false }
            divisor += 1
        }
        return true
    }

    /// The number of endpoints.
    public var count: Int { endpointKeys.count }

    /// The number of slots in the table.
    public var tableSize: Int { table.count }

    /// How many slots `endpoint` owns (its share of keys is this over `tableSize`).
    public func slots(of endpoint: Int) -> Int {
        table.reduce(0) { $0 + (Int($1) == endpoint ? 1 : 0) }
    }

    /// The endpoint that owns `key` (a hash of the request's header, cookie or source address:
    /// see `StableHash`), skipping unavailable endpoints unless in panic mode; nil when there is
    /// none to pick. The key is mixed (`StableHash.mix`) before it is reduced modulo the table size.
    public func pick(key: UInt64, available: Availability? = nil) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        let slot = Int(StableHash.mix(key) % UInt64(table.count))
        if eligible.isEveryone { return Int(table[slot]) }
        for step in 0..<table.count {
            let owner = Int(table[(slot + step) % table.count])
            if eligible.contains(owner) { return owner }
        }
        // Only reachable when weights are so uneven that an eligible endpoint owns no slot.
        return eligible.nth(Int(StableHash.mix(key) % UInt64(eligible.count)))
    }

    /// Fills the table: the endpoints take turns, each claiming the next free slot of its
    /// permutation `(offset + j·skip) mod size`; an endpoint of weight w takes a turn in w of
    /// every `maxWeight` rounds.
    private static func populate(keys: [UInt64], weights: [UInt32], size: Int) -> [Int32] {
        let tableSize = UInt64(size)
        // Two independent hashes of the identity (seeds 0 and 1, as Envoy) give offset and skip;
        // skip is in 1..<size, so with a prime size each permutation visits every slot.
        let offsets = keys.map { StableHash.xxHash64($0, seed: 0) % tableSize }
        let skips = keys.map { StableHash.xxHash64($0, seed: 1) % (tableSize - 1) + 1 }
        let maxWeight = UInt64(weights.max() ?? 1)
        var next = Array(repeating: UInt64(0), count: keys.count)
        var turnsTaken = Array(repeating: UInt64(0), count: keys.count)
        var table = Array(repeating: Int32(-1), count: size)
        var filled = 0
        var round: UInt64 = 1
        // Turns go in the order of the identities, not of the list, so that proxies handed the
        // same endpoints in another order build the same table.
        let turnOrder = keys.indices.sorted { keys[$0] < keys[$1] }
        while filled < size {
            for endpoint in turnOrder where filled < size {
                // Endpoint takes a turn this round if round × weight has caught up with the
                // turns it has taken × maxWeight: every round at full weight, every third round
                // at a third of it.
                guard round * UInt64(weights[endpoint]) >= turnsTaken[endpoint] * maxWeight else { continue }
                turnsTaken[endpoint] += 1
                var slot = Int((offsets[endpoint] + next[endpoint] * skips[endpoint]) % tableSize)
                while table[slot] >= 0 {
                    next[endpoint] += 1
                    slot = Int((offsets[endpoint] + next[endpoint] * skips[endpoint]) % tableSize)
                }
                table[slot] = Int32(endpoint)
                next[endpoint] += 1
                filled += 1
            }
            round += 1
        }
        return table
    }
}
