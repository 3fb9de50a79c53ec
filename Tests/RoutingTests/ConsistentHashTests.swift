import Addresses
import Routing
import Testing

/// Ring hash and Maglev behind one interface: built from endpoint identities, looked up by key.
enum HashKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case ringHash, maglev

    var testDescription: String { rawValue }

    func make(_ keys: [UInt64], weights: [UInt32]? = nil) -> (UInt64, Availability?) -> Int? {
        switch self {
        case .ringHash:
            let ring = RingHashBalancer(endpointKeys: keys, weights: weights)
            return { ring.pick(key: $0, available: $1) }
        case .maglev:
            let table = MaglevBalancer(endpointKeys: keys, weights: weights)
            return { table.pick(key: $0, available: $1) }
        }
    }
}

/// Request keys as a proxy would make them: hashes of a header value.
let requestKeys = (0..<10_000).map { StableHash.xxHash64("user-\($0)") }

@Suite struct ConsistentHashing {
    @Test(arguments: HashKind.allCases)
    func theSameKeyAlwaysGoesToTheSameEndpoint(kind: HashKind) {
        let keys = endpointKeys(10)
        let pick = kind.make(keys)
        let first = requestKeys.map { pick($0, nil) }
        #expect(requestKeys.map { pick($0, nil) } == first)
        // Another proxy, handed the endpoints in another order, sends each key to the same address.
        let order = Array((0..<10).reversed())
        let other = kind.make(order.map { keys[$0] })
        #expect(requestKeys.map { other($0, nil).map { order[$0] } } == first)
    }

    @Test(arguments: HashKind.allCases)
    func removingOneOfTenEndpointsRemapsAboutATenth(kind: HashKind) {
        let keys = endpointKeys(10)
        let before = kind.make(keys)
        let removed = 3
        let survivors = keys.indices.filter { $0 != removed }
        let after = kind.make(survivors.map { keys[$0] })
        var moved = 0
        var movedFromSurvivors = 0
        for key in requestKeys {
            let old = before(key, nil)!
            let new = survivors[after(key, nil)!]
            if old != new {
                moved += 1
                if old != removed { movedFromSurvivors += 1 }
            }
        }
        let share = Double(moved) / Double(requestKeys.count)
        #expect(share > 0.05 && share < 0.15)
        // A ring moves only the removed endpoint's keys; Maglev may move a few more.
        if kind == .ringHash { #expect(movedFromSurvivors == 0) }
        #expect(Double(movedFromSurvivors) / Double(requestKeys.count) < 0.03)
    }

    @Test(arguments: HashKind.allCases)
    func anUnavailableEndpointHandsOnOnlyItsOwnKeys(kind: HashKind) {
        let pick = kind.make(endpointKeys(10))
        let available = Availability(count: 10, unavailable: [3])
        var moved = 0
        for key in requestKeys {
            let old = pick(key, nil)!
            let new = pick(key, available)!
            #expect(new != 3)
            if old != 3 { #expect(new == old) } else { moved += 1 }
        }
        #expect(Double(moved) / Double(requestKeys.count) < 0.15)
        // The orphaned keys spread over the others rather than piling onto one neighbour.
        var heirs = Histogram(count: 10)
        for key in requestKeys where pick(key, nil) == 3 { heirs.add(pick(key, available)) }
        #expect(heirs.picked.count >= 5)
    }

    @Test(arguments: HashKind.allCases)
    func weightsScaleAnEndpointsShareOfKeys(kind: HashKind) {
        let pick = kind.make(endpointKeys(4), weights: [1, 1, 1, 3])
        var histogram = Histogram(count: 4)
        for key in requestKeys { histogram.add(pick(key, nil)) }
        #expect(abs(histogram.share(3) - 0.5) < 0.1)
    }
}

@Suite struct RingHash {
    @Test(arguments: [(1, 1024), (10, 1024), (3, 100), (10, 4096)])
    func theRingHasAtLeastTheMinimumSizeAndAllEndpoints(count: Int, minimum: Int) {
        let ring = RingHashBalancer(endpointKeys: endpointKeys(count), minimumRingSize: minimum)
        #expect(ring.ringSize >= minimum && ring.ringSize < 2 * minimum)
        #expect(ring.ringSize % count == 0)
        var histogram = Histogram(count: count)
        for key in requestKeys { histogram.add(ring.pick(key: key)) }
        #expect(histogram.picked == Set(0..<count))
    }

    @Test func nodesAreWeightTimesAPowerOfTwo() {
        // Weight 1 of 101 still gets 16 nodes; the ring is 101 × 16 nodes, at least 1024.
        #expect(RingHashBalancer(endpointKeys: endpointKeys(2), weights: [1, 100]).ringSize == 1616)
        // The maximum halves the nodes per weight, down to one.
        #expect(RingHashBalancer(endpointKeys: endpointKeys(2), weights: [1, 100], maximumRingSize: 1100).ringSize == 808)
        #expect(RingHashBalancer(endpointKeys: endpointKeys(2), weights: [1, 2000], maximumRingSize: 1100).ringSize == 2001)
    }

    /// The node count per endpoint does not change when one of ten leaves, which is what keeps
    /// the other endpoints' keys in place (Envoy's exact-size ring would move some of them).
    @Test func membershipChangesKeepTheNodesPerEndpoint() {
        #expect(RingHashBalancer(endpointKeys: endpointKeys(10)).ringSize == 10 * 128)
        #expect(RingHashBalancer(endpointKeys: endpointKeys(9)).ringSize == 9 * 128)
        #expect(RingHashBalancer(endpointKeys: endpointKeys(11)).ringSize == 11 * 128)
    }

    @Test func addressesAreIdentifiedByTheirText() throws {
        let addresses = try ["10.0.0.1:8080", "10.0.0.2:8080", "[fd00::3]:8080"].map { try SocketAddress(parsing: $0) }
        let byAddress = RingHashBalancer(addresses: addresses)
        let byKey = RingHashBalancer(endpointKeys: addresses.map { StableHash.xxHash64($0.description) })
        #expect(requestKeys.prefix(1000).allSatisfy { byAddress.pick(key: $0) == byKey.pick(key: $0) })
    }
}

@Suite struct Maglev {
    @Test func everyEndpointOwnsAnEqualShareOfTheTable() {
        let table = MaglevBalancer(endpointKeys: endpointKeys(10))
        #expect(table.tableSize == 65537)
        let slots = (0..<10).map { table.slots(of: $0) }
        #expect(slots.reduce(0, +) == 65537)
        #expect(slots.max()! - slots.min()! <= 1)
    }

    @Test func keysSpreadWithinTenPercent() {
        let table = MaglevBalancer(endpointKeys: endpointKeys(10))
        var histogram = Histogram(count: 10)
        for key in UInt64(0)..<100_000 { histogram.add(table.pick(key: key)) }
        #expect(histogram.counts.allSatisfy { abs($0 - 10_000) < 1_000 })
    }

    @Test func weightsScaleTheSlots() {
        let table = MaglevBalancer(endpointKeys: endpointKeys(3), weights: [1, 2, 5], tableSize: 65537)
        for (endpoint, weight) in [(0, 1.0), (1, 2.0), (2, 5.0)] {
            #expect(abs(Double(table.slots(of: endpoint)) / 65537 - weight / 8) < 0.005)
        }
    }

    @Test(arguments: [(65537, 10, true), (65536, 10, false), (7, 10, false), (11, 10, true), (2, 1, true), (1, 0, false), (4099, 4099, true)])
    func tableSizesMustBePrimeAndLargeEnough(size: Int, endpoints: Int, valid: Bool) {
        #expect(MaglevBalancer.isValidTableSize(size, endpoints: endpoints) == valid)
    }
}
