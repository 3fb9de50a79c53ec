// Times in this target are monotonic nanoseconds (UInt64) from the caller's clock; these name the
// units the defaults are written in. `@usableFromInline` because public default arguments use them.
@usableFromInline let nanosecondsPerMillisecond: UInt64 = 1_000_000
@usableFromInline let nanosecondsPerSecond: UInt64 = 1_000_000_000
