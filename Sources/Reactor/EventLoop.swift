import LinuxSys

/// A worker's event loop: one epoll instance, an eventfd other threads use to wake it, and the
/// worker's deadlines. Owned and driven by exactly one thread; only `wake()` may be called from
/// others.
public final class EventLoop: @unchecked Sendable {
    // @unchecked: everything but `waker` is confined to the owning thread; `wake()` only writes
    // to an eventfd, which the kernel serialises.
    public let epoll: Epoll
    private let waker: EventCounter
    /// Deadlines keyed by the owner's slot numbers.
    public var timers = TimerQueue()
    /// The monotonic time (ns) read once after each wait; handlers use it instead of reading the
    /// clock per event.
    public private(set) var now: UInt64

    /// The token the waker's events carry. Owners must not use it for their own descriptors.
    public static let wakerToken: UInt64 = .max

    /// Creates the epoll instance and registers the waker. `capacity`: events per wait.
    public init(capacity: Int = 256) throws(SyscallError) {
        epoll = try Epoll(capacity: capacity)
        waker = try EventCounter()
        now = Clock.monotonicNanoseconds()
        try epoll.add(waker.descriptor, events: [.readable, .edgeTriggered], token: Self.wakerToken)
    }

    deinit {
        waker.descriptor.close()
    }

    /// Wakes the loop from another thread (its next `wait` returns the waker token).
    public func wake() { waker.signal() }

    /// Acknowledges a wakeup so the next `wake()` produces a new edge.
    public func acknowledgeWake() { _ = waker.drain() }

    /// Waits for events until the earliest timer deadline (or `maximumMilliseconds`, negative
    /// for no limit but the timers, or at once when `immediately`), then refreshes `now`.
    /// Returns how many events `epoll` holds.
    public func wait(maximumMilliseconds: Int32 = 1000, immediately: Bool = false) -> Int {
        var timeout = maximumMilliseconds < 0 ? -1 : maximumMilliseconds
        if immediately {
            timeout = 0
        } else if let deadline = timers.nextDeadline {
            let current = Clock.monotonicNanoseconds()
            // Round up so a timer is never polled a few microseconds early and spun on.
            let remaining = deadline > current ? (deadline - current + 999_999) / 1_000_000 : 0
            timeout = Int32(min(timeout < 0 ? UInt64(Int32.max) : UInt64(timeout), remaining))
        }
        let count = epoll.wait(timeoutMilliseconds: timeout)
        now = Clock.monotonicNanoseconds()
        return count
    }
}
