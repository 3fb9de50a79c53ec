/// Which endpoints of a set `0..<count` may be picked: the caller (outlier detection, readiness
/// from an EndpointSlice) marks some unavailable, and every balancer skips those.
///
/// Endpoints are indices; the caller keeps the array that maps an index to an address. A bitset,
/// so that a balancer can count the available endpoints (for panic mode) without a scan and find
/// the n-th available one by counting bits a word at a time.
public struct Availability: Sendable, Equatable {
    /// How many endpoints the set has, available or not.
    public let count: Int
    /// How many of them are available.
    public private(set) var availableCount: Int
    // Bit i of words[i / 64] is set when endpoint i is available; bits past `count` stay clear so
    // that counting bits counts endpoints.
    private var words: [UInt64]

    /// `count` endpoints, all available.
    public init(count: Int) {
        precondition(count >= 0, "an endpoint count cannot be negative")
        self.count = count
        availableCount = count
        words = Array(repeating: .max, count: (count + 63) / 64)
        if count % 64 != 0 { words[words.count - 1] = (1 << UInt64(count % 64)) - 1 }
    }

    /// `count` endpoints, all available except those listed.
    public init(count: Int, unavailable: some Sequence<Int>) {
        self.init(count: count)
        for endpoint in unavailable { self[endpoint] = false }
    }

    /// Whether `endpoint` (in `0..<count`) is available; setting it marks it so.
    public subscript(endpoint: Int) -> Bool {
        get {
            precondition(endpoint >= 0 && endpoint < count, "endpoint \(endpoint) is not in 0..<\(count)")
            return words[endpoint >> 6] & (1 << UInt64(endpoint & 63)) != 0
        }
        set {
            precondition(endpoint >= 0 && endpoint < count, "endpoint \(endpoint) is not in 0..<\(count)")
            let bit: UInt64 = 1 << UInt64(endpoint & 63)
            let wasSet = words[endpoint >> 6] & bit != 0
            guard wasSet != newValue else { return }
            if newValue {
                words[endpoint >> 6] |= bit
                availableCount += 1
            } else {
                words[endpoint >> 6] &= ~bit
                availableCount -= 1
            }
        }
    }

    /// Whether balancers using `threshold` (a percentage, 0...100) are in panic mode: fewer than
    /// `threshold` percent of the endpoints are available. Envoy's rule
    /// (`healthy_panic_threshold`): when too few endpoints are left, the survivors would be
    /// overloaded, so traffic goes to every endpoint, available or not. A threshold of 0 never
    /// panics; an empty set never panics (there is nothing to pick either way).
    public func isPanicking(threshold: Int) -> Bool {
        count > 0 && availableCount * 100 < threshold * count
    }

    /// The index of the `n`-th available endpoint (counting from 0); `n < availableCount`.
    func nthAvailable(_ n: Int) -> Int {
        var remaining = n
        for (index, word) in words.enumerated() {
            let bits = word.nonzeroBitCount
            if remaining >= bits {
                remaining -= bits
                continue
            }
            var word = word
            // Clear the lowest set bit `remaining` times; the lowest bit left is the one wanted.
            for _ in 0..<remaining { word &= word - 1 }
            return index * 64 + word.trailingZeroBitCount
        }
        preconditionFailure("asked for available endpoint \(n) of \(availableCount)")
    }
}

/// The endpoints one pick may choose from, once panic mode is decided: either every endpoint
/// (nothing marked, or panic) or the available ones.
struct Eligible {
    /// The mask to honour, or nil when every endpoint is eligible.
    private let mask: Availability?
    /// How many endpoints are eligible; at least 1.
    let count: Int
    /// How many endpoints there are in all.
    let total: Int

    /// The eligible endpoints among `total`, or nil when none may be picked: the set is empty, or
    /// nothing is available and `panicThreshold` is 0 (panic disabled, so the request fails
    /// rather than going to endpoints known to be bad).
    init?(total: Int, available: Availability?, panicThreshold: Int) {
        if let available {
            precondition(available.count == total, "availability is for \(available.count) endpoints, the balancer has \(total)")
        }
        guard total > 0 else { return nil }
        self.total = total
        if let available, available.availableCount < total, !available.isPanicking(threshold: panicThreshold) {
            guard available.availableCount > 0 else { return nil }
            mask = available
            count = available.availableCount
        } else {
            mask = nil
            count = total
        }
    }

    /// Whether every endpoint is eligible (so index arithmetic needs no mask).
    var isEveryone: Bool { mask == nil }

    func contains(_ endpoint: Int) -> Bool { mask?[endpoint] ?? true }

    /// The `n`-th eligible endpoint, `n < count`.
    func nth(_ n: Int) -> Int { mask?.nthAvailable(n) ?? n }

    /// A uniformly random eligible endpoint.
    func random(using rng: inout some RandomNumberGenerator) -> Int {
        nth(Int.random(in: 0..<count, using: &rng))
    }

    /// Two eligible endpoints drawn uniformly without replacement (the second is nil when only
    /// one is eligible), for power-of-two-choices balancers: with two endpoints both are always
    /// compared, so the busier one is never chosen by a coin toss.
    func randomPair(using rng: inout some RandomNumberGenerator) -> (Int, Int?) {
        let first = Int.random(in: 0..<count, using: &rng)
        guard count > 1 else { return (nth(first), nil) }
        var second = Int.random(in: 0..<(count - 1), using: &rng)
        if second >= first { second += 1 }
        return (nth(first), nth(second))
    }
}
