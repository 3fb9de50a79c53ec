/// Peak-EWMA load balancing, Linkerd's default (from Finagle, and tower's `PeakEwma`): power of
/// two choices over a cost = latency estimate × (requests in flight + 1), so a slow endpoint and a
/// busy one both look expensive, and the cheaper of two random endpoints is taken.
///
/// The latency estimate of each endpoint is an exponentially weighted moving average with a time
/// constant (`decayTime`, 10 s as in Finagle and Linkerd) rather than a sample count, so it means
/// the same at any request rate:
/// - a sample higher than the estimate replaces it at once ("peak"), so a slowdown is felt on the
///   next request rather than after many;
/// - a lower sample `x`, `Δ` after the last update, moves it to `estimate·w + x·(1 − w)` with
///   `w = e^(−Δ/decayTime)`;
/// - between samples the estimate decays toward zero (`estimate·e^(−Δ/decayTime)`), as in Finagle
///   and tower, so an endpoint that was slow once is tried again after a while instead of being
///   shunned forever.
///
/// Endpoints start with `defaultRTT` (30 ms, Linkerd's default) as their estimate, dated when the
/// balancer is made, as tower does: a new endpoint is neither flooded (it is not free) nor starved
/// (the prior decays like any estimate, so it is soon tried), and its first samples are averaged
/// with the prior rather than trusted alone.
///
/// Times are monotonic nanoseconds from the caller's clock; the balancer reads no clock itself.
public struct PeakEWMABalancer: Sendable, Equatable {
    /// The EWMA time constant, in nanoseconds.
    public let decayTime: UInt64
    /// The latency assumed for an endpoint with no sample, in nanoseconds.
    public let defaultRTT: UInt64
    /// Panic mode's threshold, a percentage (see `Availability.isPanicking(threshold:)`).
    public let panicThreshold: Int
    /// Requests in flight to each endpoint.
    public private(set) var activeRequests: [Int]
    // Per endpoint: the estimate in nanoseconds when last updated, and when.
    private var estimates: [Double]
    private var updatedAt: [UInt64]

    /// `count` endpoints discovered at `now`, with nothing in flight and `defaultRTT` as their
    /// estimate.
    public init(
        count: Int,
        now: UInt64,
        decayTime: UInt64 = 10 * nanosecondsPerSecond,
        defaultRTT: UInt64 = 30 * nanosecondsPerMillisecond,
        panicThreshold: Int = 50
    ) {
        precondition(decayTime > 0, "the decay time must be positive")
        BalancerChecks.panicThreshold(panicThreshold)
        self.decayTime = decayTime
        self.defaultRTT = defaultRTT
        self.panicThreshold = panicThreshold
        activeRequests = Array(repeating: 0, count: count)
        estimates = Array(repeating: Double(defaultRTT), count: count)
        updatedAt = Array(repeating: now, count: count)
    }

    /// The number of endpoints.
    public var count: Int { activeRequests.count }

    /// The cheaper of two random available endpoints (all when `available` is nil or in panic
    /// mode) at time `now`; nil when there is none to pick. Picking does not count a request:
    /// call `started(endpoint:)` when it is sent.
    public func pick(now: UInt64, available: Availability? = nil, using rng: inout some RandomNumberGenerator) -> Int? {
        guard let eligible = Eligible(total: count, available: available, panicThreshold: panicThreshold) else { return nil }
        let (first, second) = eligible.randomPair(using: &rng)
        guard let second else { return first }
        return cost(of: second, now: now) < cost(of: first, now: now) ? second : first
    }

    /// The latency estimate of `endpoint` at `now`, in nanoseconds: the EWMA, decayed for the
    /// time since its last update.
    public func latencyEstimate(of endpoint: Int, now: UInt64) -> Double {
        estimates[endpoint] * decayFactor(elapsed: now &- min(now, updatedAt[endpoint]), timeConstant: decayTime)
    }

    /// What sending one more request to `endpoint` is expected to cost at `now`: the latency
    /// estimate × (requests in flight + 1).
    public func cost(of endpoint: Int, now: UInt64) -> Double {
        latencyEstimate(of: endpoint, now: now) * Double(activeRequests[endpoint] + 1)
    }

    /// A request to `endpoint` was sent.
    public mutating func started(endpoint: Int) {
        activeRequests[endpoint] += 1
    }

    /// A request to `endpoint` finished at `now` after `latency` nanoseconds (until the response
    /// head, or until connected for opaque TCP). Failures count too, with their latency: a
    /// failing endpoint is for outlier detection to eject.
    public mutating func finished(endpoint: Int, latency: UInt64, now: UInt64) {
        if activeRequests[endpoint] > 0 { activeRequests[endpoint] -= 1 }
        let sample = Double(latency)
        let estimate = estimates[endpoint]
        if sample > estimate {
            estimates[endpoint] = sample
        } else {
            // A clock that went backwards (samples from another worker) counts as no time passed.
            let weight = decayFactor(elapsed: now &- min(now, updatedAt[endpoint]), timeConstant: decayTime)
            estimates[endpoint] = estimate * weight + sample * (1 - weight)
        }
        updatedAt[endpoint] = max(now, updatedAt[endpoint])
    }
}
