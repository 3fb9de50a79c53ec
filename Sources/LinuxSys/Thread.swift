internal import CLinuxShims
import Glibc

/// A POSIX thread. The proxy's workers are threads, not Swift tasks: each owns an epoll loop and
/// blocks in epoll_wait, which must never happen on the cooperative pool.
public final class OSThread: @unchecked Sendable {
    // Written once by `spawn` before the thread handle escapes; read by `join` on one thread.
    private var handle = pthread_t()
    private var joined = false

    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    private init() {}

    /// Wraps pthread_create(3); `name` (at most 15 bytes are kept) shows in `top -H` and /proc.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(SyscallError) -> OSThread {
        let thread = OSThread()
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        let result = pthread_create(&thread.handle, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            CLinuxShims_set_thread_name(start.name)
            start.body()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw SyscallError("pthread_create", Errno(rawValue: result))
        }
        return thread
    }

    /// Wraps pthread_join(3). Call at most once.
    public func join() {
        precondition(!joined, "OSThread joined twice")
        joined = true
        pthread_join(handle, nil)
    }
}

/// Termination signals, handled synchronously: blocked in every thread and collected by one
/// thread (with sigtimedwait, or by reading a `Receiver`), so no async-signal-safety rules apply
/// to what happens next.
public enum TerminationSignals {
    /// SIGTERM (orchestrator stop), SIGINT (Ctrl-C), SIGQUIT.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGQUIT]

    fileprivate static func set() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }

    /// Blocks the termination signals in the calling thread; threads spawned afterwards inherit the
    /// mask. Call before starting workers.
    public static func block() {
        var mask = set()
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// Waits up to `timeoutMilliseconds` for a blocked termination signal; returns its number, or
    /// nil on timeout.
    public static func wait(timeoutMilliseconds: Int) -> Int32? {
        var mask = set()
        var timeout = timespec(tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&mask, nil, &timeout)
        return signal > 0 ? signal : nil
    }

    /// A signalfd(2) for the termination signals, so a thread can wait for a signal and for other
    /// descriptors (a `Wakeup`, an inotify watch) in one `Poll.waitReadable`, without waking on a
    /// timeout to look elsewhere. The signals must be blocked in every thread first (`block()`):
    /// a blocked signal stays pending until a read takes it, exactly as for `wait`. Owns the
    /// descriptor.
    public final class Receiver: Sendable {
        public let descriptor: Descriptor

        /// Throws what signalfd(2) reports (EMFILE/ENFILE: out of descriptors, ENOMEM).
        public init() throws(SyscallError) {
            var mask = TerminationSignals.set()
            descriptor = Descriptor(rawValue: try retryingEINTR("signalfd") { CLinuxShims_signalfd_nonblock(&mask) })
        }

        deinit { descriptor.close() }

        /// Takes one pending termination signal; nil when none is pending (EAGAIN).
        @inline(never)
        public func take() -> Int32? {
            while true {
                let signal = CLinuxShims_signalfd_read_signal(descriptor.rawValue)
                if signal > 0 { return signal }
                let code = errno
                if code == EINTR { continue }
                // A signalfd read fails only with EAGAIN (nothing pending) or for a bad descriptor
                // or buffer, which are bugs here.
                precondition(code == EAGAIN, "read(signalfd): \(Errno(rawValue: code))")
                return nil
            }
        }
    }

    /// The signal's name for log lines.
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        default: return "signal \(signal)"
        }
    }
}
