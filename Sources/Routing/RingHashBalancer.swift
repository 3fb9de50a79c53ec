import Addresses

/// Consistent hashing on a ring (Karger et al.; Envoy's `RING_HASH`, Istio's
/// `consistentHash.ringHash`): each endpoint owns virtual nodes at hashed points of a 64-bit ring,
/// and a key goes to the first node at or after its own point. Removing one endpoint of n hands
/// only its keys (about 1/n) to its neighbours; every other key stays.
///
/// Nodes are placed by hashing the endpoint's stable identity (`StableHash.hash(_:)` of its
/// address), never its index, so rebuilding the ring after a membership change keeps every
/// surviving endpoint's nodes where they were. Each endpoint gets `weight × k` nodes, where k is
/// the power of two that brings the ring to between `minimumRingSize` and twice that (see
/// `nodesPerWeight` for why this differs from Envoy's sizing), and smaller while the ring would
/// pass `maximumRingSize` (down to one node per unit of weight).
///
/// An unavailable endpoint's nodes are skipped (the key walks on to the next node), which is
/// exactly the ring without that endpoint: its keys move, no other key does.
public struct RingHashBalancer: Sendable, Equatable {
    /// Each endpoint's stable identity, as given.
    public let endpointKeys: [UInt64]
    /// Each endpoint's weight, at least 1.
    public let weights: [UInt32]
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    // The ring: node points in ascending order, and the endpoint owning each.
    private let points: [UInt64]
    private let owners: [Int32]

    /// A ring for endpoints identified by `endpointKeys` (distinct, stable across rebuilds: use
    /// `StableHash.hash(_:)` of the address), weighted by `weights` (default all 1). Envoy's
    /// defaults: `minimumRingSize` 1024, `maximumRingSize` 8 Mi nodes.
    public init(
        endpointKeys: [UInt64],
        weights: [UInt32]? = nil,
        minimumRingSize: Int = 1024,
        maximumRingSize: Int = 8 * 1024 * 1024,
        panicThreshold: Int = 50
    ) {
        let weights = weights ?? Array(repeating: 1, count: endpointKeys.count)
        precondition(weights.count == endpointKeys.count, "one weight per endpoint")
        precondition(endpointKeys.count <= Int(Int32.max), "too many endpoints for a ring")
        precondition(minimumRingSize >= 1 && maximumRingSize >= minimumRingSize, "ring sizes must satisfy 1 <= minimum <= maximum")
        BalancerChecks.balancerWeights(weights)
        BalancerChecks.panicThreshold(panicThreshold)
        self.endpointKeys = endpointKeys
        self.weights = weights
        self.panicThreshold = panicThreshold

        let totalWeight = weights.reduce(0) { $0 + Int($1) }
        let perWeight = Self.nodesPerWeight(totalWeight: totalWeight, minimum: minimumRingSize, maximum: maximumRingSize)
        var nodes: [(point: UInt64, owner: Int32)] = []
        nodes.reserveCapacity(totalWeight * perWeight)
        for (endpoint, key) in endpointKeys.enumerated() {
            for replica in 0..<(Int(weights[endpoint]) * perWeight) {
                nodes.append((Self.nodePoint(endpointKey: key, replica: UInt64(replica)), Int32(endpoint)))
            }
        }
        // Equal points (a 2^-64 chance per pair) are ordered by owner so the ring is the same
        // however the endpoints were listed.
        nodes.sort { $0.point != $1.point ? $0.point < $1.point : endpointKeys[Int($0.owner)] < endpointKeys[Int($1.owner)] }
        points = nodes.map(\.point)
        owners = nodes.map(\.owner)
    }

    /// A ring for the given endpoint addresses, identified by `StableHash.hash(_:)` of each.
    public init(addresses: [SocketAddress], weights: [UInt32]? = nil, minimumRingSize: Int = 1024, panicThreshold: Int = 50) {
        self.init(endpointKeys: addresses.map(StableHash.hash), weights: weights, minimumRingSize: minimumRingSize, panicThreshold: panicThreshold)
    }

    /// The number of endpoints.
    public var count: Int { endpointKeys.count }

    /// The number of virtual nodes on the ring (Envoy reports it as `ring_hash_lb.size`).
    public var ringSize: Int { points.count }

    /// The endpoint that owns `key` (a hash of the request's header, cookie or source address:
    /// see `StableHash`), skipping unavailable endpoints unless in panic mode; nil when there is
    /// none to pick. The key is mixed (`StableHash.mix`) before it is placed on the ring.
    public func pick(key: UInt64, available: Availability? = nil) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        let point = StableHash.mix(key)
        // The first node at or after the point, wrapping past the top of the ring.
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle] < point { low = middle + 1 } else { high = middle }
        }
        for step in 0..<points.count {
            let owner = Int(owners[(low + step) % points.count])
            if eligible.contains(owner) { return owner }
        }
        preconditionFailure("every endpoint has a node on the ring")
    }

    /// Virtual nodes per unit of weight: the smallest power of two that makes the ring at least
    /// `minimum` nodes, halved (down to 1) while the ring would exceed `maximum`.
    ///
    /// Envoy scales nodes so that the ring is exactly the minimum size, which changes every
    /// endpoint's node count whenever one comes or goes, and so moves keys between endpoints that
    /// stayed (about 17% of keys when 1 of 10 leaves, not 10%). A power of two only changes when
    /// the total weight crosses one, so ordinary membership changes move only the keys they must,
    /// for a ring between one and two times the minimum.
    private static func nodesPerWeight(totalWeight: Int, minimum: Int, maximum: Int) -> Int {
        guard totalWeight > 0 else { return 1 }
        var perWeight = 1
        while totalWeight * perWeight < minimum { perWeight *= 2 }
        while perWeight > 1 && totalWeight * perWeight > maximum { perWeight /= 2 }
        return perWeight
    }

    /// The ring point of one virtual node: xxHash64 of the endpoint's key and the replica number.
    private static func nodePoint(endpointKey: UInt64, replica: UInt64) -> UInt64 {
        var state = XXHash64(seed: 0)
        state.update(littleEndian: endpointKey)
        state.update(littleEndian: replica)
        return state.finish()
    }
}
