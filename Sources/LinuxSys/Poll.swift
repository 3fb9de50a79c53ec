import Glibc

/// poll(2) for the helper threads (the signal thread, the certificate and configuration
/// watchers), which wait on two or three descriptors at most and should sleep until one of them
/// has something to say. Workers use `Epoll`.
public enum Poll {
    /// Wraps poll(2): waits up to `timeoutMilliseconds` (negative: without a limit) until one of
    /// `descriptors` is readable, hung up or in error, and returns, in the order given, whether
    /// each one is. EINTR returns none ready: the caller looks at its state again, as after a
    /// timeout.
    @inline(never)
    public static func waitReadable(_ descriptors: [Descriptor], timeoutMilliseconds: Int32) -> [Bool] {
        var entries = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        let result = entries.withUnsafeMutableBufferPointer { buffer in
            Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds < 0 ? -1 : timeoutMilliseconds)
        }
        if result == -1 {
            let code = errno
            // The other failures cannot happen here: ENOMEM and EINVAL only for more descriptors
            // than fit on the kernel's stack table or RLIMIT_NOFILE, EFAULT for a bad array.
            precondition(code == EINTR, "poll: \(Errno(rawValue: code))")
            return Array(repeating: false, count: descriptors.count)
        }
        // POLLNVAL: one of the descriptors is not open — a use after close.
        precondition(!entries.contains { $0.revents & Int16(POLLNVAL) != 0 }, "poll: a descriptor is not open")
        return entries.map { $0.revents != 0 }
    }
}

/// An eventfd(2) one thread signals to end another thread's `Poll.waitReadable` at once (a stop
/// request), so the waiting thread needs no short timeout to notice a flag. Owns the
/// descriptor; safe to signal from any thread.
public final class Wakeup: Sendable {
    private let counter: EventCounter

    /// Throws what eventfd(2) reports (EMFILE/ENFILE: out of descriptors).
    public init() throws(SyscallError) {
        counter = try EventCounter()
    }

    deinit { counter.descriptor.close() }

    /// What to poll for readability.
    public var descriptor: Descriptor { counter.descriptor }

    /// Makes the descriptor readable until `drain()`.
    public func signal() { counter.signal() }

    /// Resets the descriptor; returns how many signals arrived since the last drain.
    @discardableResult
    public func drain() -> UInt64 { counter.drain() }
}
