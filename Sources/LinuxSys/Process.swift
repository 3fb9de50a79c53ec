import Glibc

/// Clocks. Monotonic time drives timeouts; wall time is only for log lines.
public enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// CLOCK_REALTIME as (seconds, nanoseconds) since the epoch.
    public static func wallClock() -> (seconds: Int, nanoseconds: Int) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return (Int(time.tv_sec), Int(time.tv_nsec))
    }

    /// `2026-11-28T01:02:03.456Z` for the current wall-clock time.
    public static func timestamp() -> String {
        timestamp(wall: wallClock())
    }

    /// `2026-11-28T01:02:03.456Z` for a time read earlier with `wallClock()` (read the clock on
    /// the data path, format only when a line is written).
    public static func timestamp(wall: (seconds: Int, nanoseconds: Int)) -> String {
        timestamp(seconds: wall.seconds, milliseconds: wall.nanoseconds / 1_000_000)
    }

    /// RFC 3339 UTC text for a Unix time: `2026-11-28T01:02:03Z`, or with `.456` when
    /// `milliseconds` is given.
    public static func timestamp(seconds: Int, milliseconds: Int? = nil) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let fraction = milliseconds.map { ".\(pad(Int32($0), 3))" } ?? ""
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))\(fraction)Z"
    }
}

/// Process-wide settings and facts.
public enum ProcessInfo {
    /// Ignores SIGPIPE: a write to a reset peer must come back as EPIPE, not kill the proxy.
    public static func ignoreBrokenPipeSignal() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// The RLIMIT_NOFILE soft and hard limits.
    public static func descriptorLimit() -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the RLIMIT_NOFILE soft limit to the hard limit (what a proxy with many connections
    /// wants; raising the hard limit would need CAP_SYS_RESOURCE). Returns the new soft limit.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// How many descriptors are open now (entries of /proc/self/fd), or nil if /proc is absent.
    public static func openDescriptorCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count - 1 // the directory stream's own descriptor
    }

    /// The number of online CPUs.
    public static func processorCount() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public static var userID: UInt32 { getuid() }
    public static var effectiveUserID: UInt32 { geteuid() }
    public static var processID: Int32 { getpid() }

    /// The inode of a /proc namespace link such as `/proc/self/ns/net`, or the errno that prevented
    /// reading it.
    public static func namespaceInode(_ path: String) -> Result<UInt64, SyscallError> {
        var info = stat()
        if stat(path, &info) == 0 { return .success(UInt64(info.st_ino)) }
        return .failure(SyscallError("stat", Errno.current))
    }

    /// Reads a small text file (a /proc or /sys entry); nil if it cannot be read.
    public static func readSmallFile(_ path: String, limit: Int = 65536) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if count > 0 { bytes += chunk[0..<count]; continue }
            if count == -1, errno == EINTR { continue }
            if count < 0 { return nil }
            break
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
