/// The pause before a retry: exponential backoff with full jitter (AWS Architecture Blog,
/// "Exponential Backoff And Jitter"), as Envoy's `JitteredExponentialBackOffStrategy`. The n-th
/// retry waits a uniformly random time in `0..<ceiling(n)`, where the ceiling starts at `base` and
/// doubles per retry up to `maximum`. Jitter spreads the retries of many clients that failed
/// together, so they do not hit the recovering endpoint in one wave.
///
/// Envoy's defaults: base 25 ms, maximum 10 × base (250 ms). Durations are nanoseconds.
public struct Backoff: Sendable, Equatable {
    /// The first retry's ceiling, in nanoseconds, at least 1.
    public let base: UInt64
    /// The largest ceiling, in nanoseconds, at least `base`.
    public let maximum: UInt64

    /// Backoff from `base`, doubling to `maximum` (default 10 × `base`, as Envoy).
    public init(base: UInt64 = 25 * nanosecondsPerMillisecond, maximum: UInt64? = nil) {
        precondition(base >= 1, "a backoff base must be positive")
        let (tenfold, overflow) = base.multipliedReportingOverflow(by: 10)
        let maximum = maximum ?? (overflow ? .max : tenfold)
        precondition(maximum >= base, "a backoff maximum must be at least its base")
        self.base = base
        self.maximum = maximum
    }

    /// The upper bound (exclusive) of the wait before retry `retry` (1 for the first retry):
    /// `min(maximum, base × 2^(retry − 1))`.
    public func ceiling(retry: Int) -> UInt64 {
        precondition(retry >= 1, "retries are counted from 1")
        let doublings = retry - 1
        // Past 63 doublings (or once the product overflows) the maximum has long been reached.
        guard doublings < 63 else { return maximum }
        let (product, overflow) = base.multipliedReportingOverflow(by: 1 << UInt64(doublings))
        return overflow ? maximum : min(product, maximum)
    }

    /// How long to wait before retry `retry` (1 for the first), in nanoseconds: uniform in
    /// `0..<ceiling(retry:)`, drawn from `rng`.
    public func delay(retry: Int, using rng: inout some RandomNumberGenerator) -> UInt64 {
        rng.next(upperBound: ceiling(retry: retry))
    }
}
