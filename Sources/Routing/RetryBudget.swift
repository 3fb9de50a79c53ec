/// Limits retries to a share of the traffic, so that retrying cannot multiply the load on a
/// cluster that is failing because it is overloaded (Envoy's `retry_budget`, Linkerd's retry
/// budgets). Retries in flight may not exceed `budgetPercent` of the requests in flight, but at
/// least `minRetryConcurrency` retries are always allowed so that a quiet service can retry at
/// all. Envoy's defaults: 20% and 3.
///
/// Counting is by concurrency, as Envoy does, rather than over a time window: it needs no clock
/// and adapts as fast as load changes. "Requests in flight" are the requests being forwarded to
/// the cluster, each counted once however many attempts it takes; "retries in flight" are the
/// extra attempts under way. One budget per cluster and worker.
public struct RetryBudget: Sendable, Equatable {
    /// The share of requests in flight that may be retries at once, as a percentage.
    public let budgetPercent: Int
    /// Retries allowed in flight whatever the request count.
    public let minRetryConcurrency: Int
    /// Requests in flight.
    public private(set) var activeRequests = 0
    /// Retries in flight.
    public private(set) var activeRetries = 0

    /// A budget of `budgetPercent` percent (0...100) with a floor of `minRetryConcurrency`.
    public init(budgetPercent: Int = 20, minRetryConcurrency: Int = 3) {
        precondition((0...100).contains(budgetPercent), "a retry budget is a percentage, 0...100")
        precondition(minRetryConcurrency >= 0, "a minimum retry concurrency cannot be negative")
        self.budgetPercent = budgetPercent
        self.minRetryConcurrency = minRetryConcurrency
    }

    /// How many retries may be in flight now: `max(minRetryConcurrency, activeRequests ×
    /// budgetPercent / 100)`, rounded down.
    public var retryLimit: Int {
        max(minRetryConcurrency, activeRequests * budgetPercent / 100)
    }

    /// A request began (its first attempt).
    public mutating func requestStarted() {
        activeRequests += 1
    }

    /// A request ended, with whatever attempt; extra calls are ignored.
    public mutating func requestFinished() {
        if activeRequests > 0 { activeRequests -= 1 }
    }

    /// Asks to start a retry: true (and the retry is counted in flight) when the budget has room,
    /// false when the request must fail with what it has (Envoy counts this as
    /// `upstream_rq_retry_overflow`). A granted retry ends with `retryFinished()`.
    public mutating func tryStartRetry() -> Bool {
        guard activeRetries < retryLimit else { return false }
        activeRetries += 1
        return true
    }

    /// A retry granted by `tryStartRetry()` ended; extra calls are ignored.
    public mutating func retryFinished() {
        if activeRetries > 0 { activeRetries -= 1 }
    }
}
