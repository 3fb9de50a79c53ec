/// A small, fast, seeded random number generator (Steele, Lea and Flood's SplitMix64, the
/// generator Java's `SplittableRandom` uses), so balancers and backoff are deterministic under
/// test and cheap on the data path.
///
/// Not cryptographic: it only spreads load. Give each worker thread its own generator, seeded
/// differently (for example from the worker index and the process start time), so proxies and
/// workers do not make the same choices in lock step.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    /// The generator's whole state; every call to `next()` advances it by a fixed odd constant.
    public var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix(state)
    }
}
