internal import CLinuxShims
import Glibc

/// Readiness bits of an epoll registration or event.
public struct EpollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    // The kernel's values (include/uapi/linux/eventpoll.h; shims.c asserts glibc's agree), as
    // literals: a member made from a C `extern const` is initialized lazily, and every test of an
    // event against it — several per event — paid the check that it was.
    public static let readable = EpollEvents(rawValue: 0x001)
    public static let writable = EpollEvents(rawValue: 0x004)
    /// The peer shut down its write side (FIN received).
    public static let readHangup = EpollEvents(rawValue: 0x2000)
    public static let error = EpollEvents(rawValue: 0x008)
    public static let hangup = EpollEvents(rawValue: 0x010)
    public static let edgeTriggered = EpollEvents(rawValue: 1 << 31)
}

/// One epoll instance and the buffer its events are read into. Not thread-safe: one per worker.
public final class Epoll {
    public let descriptor: Descriptor
    private let events: UnsafeMutablePointer<epoll_event>
    public let capacity: Int

    /// Wraps epoll_create1(EPOLL_CLOEXEC). `capacity`: the most events one `wait` returns.
    public init(capacity: Int = 256) throws(SyscallError) {
        descriptor = Descriptor(rawValue: try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
        self.capacity = capacity
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        descriptor.close()
    }

    /// EPOLL_CTL_ADD. `token` comes back with every event of `fd`.
    @inline(never)
    public func add(_ fd: Descriptor, events mask: EpollEvents, token: UInt64) throws(SyscallError) {
        var event = epoll_event(events: mask.rawValue, data: epoll_data_t(u64: token))
        _ = try retryingEINTR("epoll_ctl(ADD)") { epoll_ctl(descriptor.rawValue, EPOLL_CTL_ADD, fd.rawValue, &event) }
    }

    /// EPOLL_CTL_MOD. Re-arming also re-checks readiness, so an edge-triggered registration that
    /// is modified reports a condition that is already true (used to resume a paused listener).
    @inline(never)
    public func modify(_ fd: Descriptor, events mask: EpollEvents, token: UInt64) throws(SyscallError) {
        var event = epoll_event(events: mask.rawValue, data: epoll_data_t(u64: token))
        _ = try retryingEINTR("epoll_ctl(MOD)") { epoll_ctl(descriptor.rawValue, EPOLL_CTL_MOD, fd.rawValue, &event) }
    }

    /// EPOLL_CTL_DEL. Closing a descriptor also removes it; this is for descriptors that stay open.
    @inline(never)
    public func remove(_ fd: Descriptor) throws(SyscallError) {
        var event = epoll_event()
        _ = try retryingEINTR("epoll_ctl(DEL)") { epoll_ctl(descriptor.rawValue, EPOLL_CTL_DEL, fd.rawValue, &event) }
    }

    /// Wraps epoll_wait(2): waits up to `timeoutMilliseconds` (-1: forever) and returns how many
    /// events `token(at:)`/`events(at:)` can read. EINTR returns 0 events.
    @inline(never)
    public func wait(timeoutMilliseconds: Int32) -> Int {
        let count = epoll_wait(descriptor.rawValue, events, Int32(capacity), timeoutMilliseconds)
        if count >= 0 { return Int(count) }
        let code = errno
        precondition(code == EINTR, "epoll_wait: \(Errno(rawValue: code))")
        return 0
    }

    @inline(__always)
    public func token(at index: Int) -> UInt64 { events[index].data.u64 }

    @inline(__always)
    public func events(at index: Int) -> EpollEvents { EpollEvents(rawValue: events[index].events) }
}

/// An eventfd(2) used to wake a worker's epoll loop from another thread.
public struct EventCounter: Sendable {
    public let descriptor: Descriptor

    /// Wraps eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC).
    public init() throws(SyscallError) {
        descriptor = Descriptor(rawValue: try retryingEINTR("eventfd") { eventfd(0, CLinuxShims_EFD_NONBLOCK_CLOEXEC) })
    }

    /// Adds one; the descriptor becomes readable. Safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(descriptor.rawValue, &one, 8)
    }

    /// Reads and resets the counter; returns how many signals arrived since the last drain.
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        return Glibc.read(descriptor.rawValue, &value, 8) == 8 ? value : 0
    }
}
