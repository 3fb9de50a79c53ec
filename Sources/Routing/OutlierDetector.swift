/// Ejects endpoints that keep failing, with Istio's DestinationRule `outlierDetection` semantics
/// (carried out by Envoy's outlier detector):
/// - `consecutive5xxErrors` 5xx answers in a row eject an endpoint; `consecutiveGatewayErrors`
///   502, 503 or 504 answers in a row do too. A failed connection counts as both (Envoy maps it
///   to 503), which is what Istio documents for opaque TCP. A non-5xx answer resets the 5xx count;
///   any answer that is not 502/503/504 (a 500 included) resets the gateway count.
/// - The n-th ejection lasts `baseEjectionTime × n`, at most `maxEjectionTime` (or
///   `baseEjectionTime` if that is larger); n falls by one for every `interval` an endpoint spends
///   back in service, so a long-recovered endpoint starts again from one base period.
/// - At most `maxEjectionPercent` of the endpoints are out at once, except that one endpoint may
///   always be ejected when there are several (Envoy's rule, so small pools still get protection);
///   the last endpoint of a pool of one is ejected only when the percentage is 100.
///
/// The detector is a value the caller owns, with no timer: the caller reports outcomes with
/// `record(_:endpoint:now:)`, calls `refresh(now:)` before picking (one comparison when nothing
/// is due, or when `nextReturnTime` passes) to bring ejected endpoints back, and passes
/// `availability` to the balancer. Both report what changed, for logs and metrics.
public struct OutlierDetector: Sendable, Equatable {
    /// Istio's `outlierDetection` fields; durations in nanoseconds.
    public struct Settings: Sendable, Equatable {
        /// 5xx answers in a row that eject an endpoint; 0 turns this check off. Istio: 5.
        public var consecutive5xxErrors: Int
        /// 502/503/504 answers in a row that eject an endpoint; 0 turns this check off (Istio's
        /// default). Gateway errors are 5xx errors too, so this only matters when it is lower
        /// than `consecutive5xxErrors`.
        public var consecutiveGatewayErrors: Int
        /// The first ejection's length. Istio: 30 s.
        public var baseEjectionTime: UInt64
        /// The longest ejection. Envoy: 300 s (Istio does not set it).
        public var maxEjectionTime: UInt64
        /// The largest share of endpoints ejected at once, as a percentage. Istio: 10.
        public var maxEjectionPercent: Int
        /// How long an endpoint must stay in service to shed one past ejection. Istio: 10 s.
        public var interval: UInt64

        /// Settings with Istio's defaults for whatever is not given.
        public init(
            consecutive5xxErrors: Int = 5,
            consecutiveGatewayErrors: Int = 0,
            baseEjectionTime: UInt64 = 30 * nanosecondsPerSecond,
            maxEjectionTime: UInt64 = 300 * nanosecondsPerSecond,
            maxEjectionPercent: Int = 10,
            interval: UInt64 = 10 * nanosecondsPerSecond
        ) {
            precondition(consecutive5xxErrors >= 0 && consecutiveGatewayErrors >= 0, "error counts cannot be negative")
            precondition((0...100).contains(maxEjectionPercent), "maxEjectionPercent is a percentage, 0...100")
            precondition(interval > 0, "the interval must be positive")
            self.consecutive5xxErrors = consecutive5xxErrors
            self.consecutiveGatewayErrors = consecutiveGatewayErrors
            self.baseEjectionTime = baseEjectionTime
            self.maxEjectionTime = maxEjectionTime
            self.maxEjectionPercent = maxEjectionPercent
            self.interval = interval
        }
    }

    /// How one request or connection to an endpoint ended.
    public enum Outcome: Sendable, Equatable {
        /// An HTTP response with this status arrived.
        case response(status: Int)
        /// The connection could not be made (refused, timed out, reset during connect); counts
        /// as a 503, a gateway error.
        case connectFailure
        /// An opaque TCP connection was made; counts as a success.
        case connected
    }

    /// Which check ejected an endpoint.
    public enum Reason: Sendable, Equatable {
        case consecutive5xxErrors
        case consecutiveGatewayErrors
    }

    /// What `record(_:endpoint:now:)` changed.
    public enum Event: Sendable, Equatable {
        /// `endpoint` is ejected until `until` (monotonic nanoseconds); this is its `ejections`-th
        /// ejection in a row (the multiplier of the base time).
        case ejected(endpoint: Int, reason: Reason, until: UInt64, ejections: Int)
        /// `endpoint` failed enough to be ejected, but `maxEjectionPercent` is reached (Envoy's
        /// `ejections_overflow`); it stays in service and is tried again at its next failure.
        case ejectionRefused(endpoint: Int, reason: Reason)
    }

    private struct State: Sendable, Equatable {
        var consecutive5xx = 0
        var consecutiveGateway = 0
        /// Past ejections still counted toward the next ejection's length.
        var ejections = 0
        /// When an ejected endpoint returns; nil while in service.
        var ejectedUntil: UInt64?
        /// When it last returned to service.
        var returnedAt: UInt64 = 0
    }

    /// The settings in force.
    public let settings: Settings
    /// The endpoints in service (not ejected), for the balancers.
    public private(set) var availability: Availability
    /// The earliest time an ejected endpoint is due back, or nil when none is ejected: when to
    /// call `refresh(now:)` next.
    public private(set) var nextReturnTime: UInt64?
    private var states: [State]

    /// A detector for endpoints `0..<count`, all in service.
    public init(count: Int, settings: Settings = Settings()) {
        self.settings = settings
        availability = Availability(count: count)
        states = Array(repeating: State(), count: count)
    }

    /// The number of endpoints.
    public var count: Int { states.count }

    /// How many endpoints are ejected.
    public var ejectedCount: Int { count - availability.availableCount }

    /// Whether `endpoint` is ejected (until the `refresh(now:)` that returns it).
    public func isEjected(_ endpoint: Int) -> Bool { states[endpoint].ejectedUntil != nil }

    /// Counts the outcome of a request or connection to `endpoint` at `now`; returns the
    /// ejection this caused, if any. Outcomes reported for an ejected endpoint (requests that
    /// were in flight, panic-mode traffic) are ignored: it is out already.
    public mutating func record(_ outcome: Outcome, endpoint: Int, now: UInt64) -> Event? {
        guard states[endpoint].ejectedUntil == nil else { return nil }
        let (isError, isGatewayError): (Bool, Bool)
        switch outcome {
        case .response(let status):
            isError = (500...599).contains(status)
            isGatewayError = status == 502 || status == 503 || status == 504
        case .connectFailure:
            (isError, isGatewayError) = (true, true)
        case .connected:
            (isError, isGatewayError) = (false, false)
        }
        var state = states[endpoint]
        state.consecutive5xx = isError ? state.consecutive5xx + 1 : 0
        state.consecutiveGateway = isGatewayError ? state.consecutiveGateway + 1 : 0
        states[endpoint] = state

        // The gateway check first: when both trip at once, it is the more specific reason.
        let reason: Reason
        if settings.consecutiveGatewayErrors > 0, state.consecutiveGateway >= settings.consecutiveGatewayErrors {
            reason = .consecutiveGatewayErrors
        } else if settings.consecutive5xxErrors > 0, state.consecutive5xx >= settings.consecutive5xxErrors {
            reason = .consecutive5xxErrors
        } else {
            return nil
        }
        guard mayEject() else { return .ejectionRefused(endpoint: endpoint, reason: reason) }
        return eject(endpoint, reason: reason, now: now)
    }

    /// Returns to service every endpoint whose ejection has ended by `now`, and lists them (empty,
    /// without allocating, when none is due).
    public mutating func refresh(now: UInt64) -> [Int] {
        guard let due = nextReturnTime, due <= now else { return [] }
        var returned: [Int] = []
        var next: UInt64?
        for endpoint in states.indices {
            guard let until = states[endpoint].ejectedUntil else { continue }
            if until <= now {
                // The return is dated when it was due, not when refresh ran, so the decay of past
                // ejections does not depend on how often the caller refreshes.
                states[endpoint].ejectedUntil = nil
                states[endpoint].returnedAt = until
                availability[endpoint] = true
                returned.append(endpoint)
            } else {
                next = min(next ?? until, until)
            }
        }
        nextReturnTime = next
        return returned
    }

    /// Whether one more endpoint may be ejected under `maxEjectionPercent`.
    private func mayEject() -> Bool {
        let ejected = ejectedCount
        if (ejected + 1) * 100 <= settings.maxEjectionPercent * count { return true }
        // Envoy ejects one endpoint whatever the percentage, but never a pool's only endpoint.
        return ejected == 0 && count > 1
    }

    private mutating func eject(_ endpoint: Int, reason: Reason, now: UInt64) -> Event {
        var state = states[endpoint]
        let served = (now > state.returnedAt ? now - state.returnedAt : 0) / settings.interval
        state.ejections = max(0, state.ejections - Int(clamping: served)) + 1
        let longest = max(settings.maxEjectionTime, settings.baseEjectionTime)
        let (length, overflow) = settings.baseEjectionTime.multipliedReportingOverflow(by: UInt64(state.ejections))
        let (sum, pastEnd) = now.addingReportingOverflow(overflow ? longest : min(length, longest))
        let until = pastEnd ? UInt64.max : sum
        state.ejectedUntil = until
        state.consecutive5xx = 0
        state.consecutiveGateway = 0
        states[endpoint] = state
        availability[endpoint] = false
        nextReturnTime = min(nextReturnTime ?? until, until)
        return .ejected(endpoint: endpoint, reason: reason, until: until, ejections: state.ejections)
    }
}
