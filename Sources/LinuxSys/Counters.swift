internal import CLinuxShims

/// A fixed set of 64-bit counters written by exactly one thread (a worker) and read by others
/// (the metrics scrape). Increments are relaxed atomic loads and stores, not locked
/// read-modify-writes: the writer never contends with anyone, and readers see each counter's
/// latest value without tearing.
public final class CounterBlock: @unchecked Sendable {
    // @unchecked: the storage is only touched through the relaxed atomic shims below.
    private let storage: UnsafeMutablePointer<UInt64>
    public let count: Int

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        storage.deallocate()
    }

    /// Adds `amount` to counter `index`. Only the owning thread may call this.
    @inline(__always)
    public func add(_ index: Int, _ amount: UInt64 = 1) {
        precondition(index >= 0 && index < count, "counter index \(index) out of 0..<\(count)")
        CLinuxShims_counter_add(storage + index, amount)
    }

    /// The current value of counter `index`, from any thread.
    public func load(_ index: Int) -> UInt64 {
        precondition(index >= 0 && index < count, "counter index \(index) out of 0..<\(count)")
        return CLinuxShims_counter_load(storage + index)
    }
}
