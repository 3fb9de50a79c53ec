import Glibc
import LinuxSys

/// The few file system calls credential loading needs, in the style of LinuxSys (errno as a typed
/// `SyscallError`, EINTR retried). They live here rather than in LinuxSys because only the
/// credential files use them, and never on a worker thread.
enum CredentialFiles {
    /// Credential files are a few KiB; anything larger is a wrong path (a log, a device).
    static let sizeLimit = 1 << 20

    /// Reads the whole file at `path` (following symlinks, as Kubernetes Secret volumes are
    /// symlinks into a `..data` directory). Throws the failing call and errno; a file over
    /// `sizeLimit` is EFBIG.
    @inline(never)
    static func read(_ path: String) throws(SyscallError) -> [UInt8] {
        let fd = try retrying("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var info = stat()
        _ = try retrying("fstat") { fstat(fd, &info) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw SyscallError("read", Errno(rawValue: EISDIR)) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = try retrying("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > sizeLimit { throw SyscallError("read", Errno(rawValue: EFBIG)) }
        }
    }

    /// What stat(2) says about `path` after following symlinks, or the errno that stopped it.
    /// Two equal fingerprints mean "probably unchanged": a rewrite changes mtime or size, an
    /// atomic rename or a `..data` symlink swap changes the inode, chmod changes ctime.
    @inline(never)
    static func fingerprint(_ path: String) -> FileFingerprint {
        var info = stat()
        while stat(path, &info) == -1 {
            let code = errno
            if code != EINTR { return FileFingerprint(error: code) }
        }
        return FileFingerprint(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_ctim.tv_nsec)
        )
    }

    /// The symbolic name of an errno that opening and reading a file can produce (LinuxSys'
    /// `Errno.name` knows the socket ones), e.g. `EISDIR`.
    static func errnoName(_ errno: Errno) -> String {
        switch errno.rawValue {
        case EISDIR: return "EISDIR"
        case ENOTDIR: return "ENOTDIR"
        case ELOOP: return "ELOOP"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case EFBIG: return "EFBIG"
        case EIO: return "EIO"
        case EROFS: return "EROFS"
        case ENXIO: return "ENXIO"
        default: return errno.name
        }
    }

    @inline(__always)
    private static func retrying<T: BinaryInteger>(_ call: StaticString, _ body: () -> T) throws(SyscallError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code != EINTR { throw SyscallError(call, Errno(rawValue: code)) }
        }
    }
}

/// A file's identity and version as stat(2) reports it.
struct FileFingerprint: Hashable, Sendable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var size: Int64 = 0
    var modified: Int64 = 0
    var changed: Int64 = 0
    /// The errno of a failed stat (0 when it succeeded).
    var error: Int32 = 0

    init(device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.changed = changed
    }

    init(error: Int32) {
        self.error = error
    }
}

/// Wall-clock time for certificate validity, which is defined in UTC seconds (RFC 5280 §4.1.2.5).
enum WallClock {
    static func now() -> Int { Clock.wallClock().seconds }

    /// `2026-11-28T01:02:03Z`.
    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }

    /// timegm(3): broken-down UTC time to seconds since the epoch.
    static func seconds(_ parts: inout tm) -> Int { Int(timegm(&parts)) }
}

extension WallClock {
    /// nanosleep(2) for the credential watcher's poll interval (its own thread, never a worker).
    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1, errno == EINTR { request = remaining }
    }
}
