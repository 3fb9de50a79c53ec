import Glibc

/// Why a whole-file read failed.
public enum FileReadError: Error, Sendable, Equatable {
    /// A syscall failed (ENOENT, EACCES, EISDIR, ...).
    case system(SyscallError)
    /// The path is not a regular file (a directory, a device, a socket).
    case notRegularFile
    /// The file is larger than the limit the caller gave.
    case tooLarge(limit: Int)
}

extension SyscallError: Equatable {
    public static func == (lhs: SyscallError, rhs: SyscallError) -> Bool {
        "\(lhs.call)" == "\(rhs.call)" && lhs.errno == rhs.errno
    }
}

/// A file's identity and version as stat(2) reports it after following symlinks. Two equal
/// fingerprints mean "probably unchanged": a rewrite changes mtime or size, an atomic rename or
/// a Kubernetes `..data` symlink swap changes the inode, chmod changes ctime.
public struct FileFingerprint: Hashable, Sendable {
    public var device: UInt64 = 0
    public var inode: UInt64 = 0
    public var size: Int64 = 0
    public var modified: Int64 = 0
    public var changed: Int64 = 0
    /// The errno of a failed stat (nil when it succeeded).
    public var error: Errno?
}

/// File system calls for configuration and credential files (never on a data-path worker).
/// Same conventions as the socket wrappers: EINTR retried, errno as a typed `SyscallError`.
public enum FileSystem {
    /// Wraps open/fstat/read: the whole regular file at `path` (following symlinks), at most
    /// `limit` bytes.
    @inline(never)
    public static func readRegularFile(_ path: String, limit: Int) throws(FileReadError) -> [UInt8] {
        let fd: Int32
        do { fd = try retryingEINTR("open") { open(path, O_RDONLY | O_CLOEXEC) } } catch { throw .system(error) }
        defer { Descriptor(rawValue: fd).close() }
        var info = stat()
        do { _ = try retryingEINTR("fstat") { fstat(fd, &info) } } catch { throw .system(error) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count: Int
            do {
                count = try retryingEINTR("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            } catch {
                throw .system(error)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > limit { throw .tooLarge(limit: limit) }
        }
    }

    /// Wraps stat(2) (following symlinks).
    @inline(never)
    public static func fingerprint(_ path: String) -> FileFingerprint {
        var info = stat()
        while stat(path, &info) == -1 {
            let code = errno
            if code != EINTR { return FileFingerprint(error: Errno(rawValue: code)) }
        }
        return FileFingerprint(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_ctim.tv_nsec)
        )
    }

    /// Wraps lstat(2): whether anything (file, directory, dangling link) exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Wraps realpath(3): `path` with every symlink, `.` and `..` resolved; nil when it cannot be
    /// resolved (a missing file, a dangling link, a directory the process may not search).
    @inline(never)
    public static func resolvedPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// Wraps mkdir(2) for `path` and any missing parents (`mkdir -p`). Parents get 0755; the last
    /// directory gets `mode` if it is created here. EEXIST on a path that is not a directory is
    /// thrown; an existing directory is fine.
    @inline(never)
    public static func makeDirectories(_ path: String, mode: UInt32) throws(SyscallError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            let isLast = index == components.count - 1
            if mkdir(prefix, isLast ? mode_t(mode) : 0o755) == 0 { continue }
            let error = Errno.current
            guard error == .exists, isDirectory(prefix) else { throw SyscallError("mkdir", error) }
        }
    }

    /// Creates the new file `path` (O_EXCL|O_NOFOLLOW: it must not exist) with exactly `mode`
    /// (fchmod, so the umask cannot change it: a key is never readable by others, not even for an
    /// instant), writes `bytes` and fsyncs. On failure the partial file is removed.
    @inline(never)
    public static func createNewFile(_ path: String, bytes: [UInt8], mode: UInt32) throws(SyscallError) {
        let fd = try retryingEINTR("open") { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode)) }
        let descriptor = Descriptor(rawValue: fd)
        do {
            _ = try retryingEINTR("fchmod") { fchmod(fd, mode_t(mode)) }
            var offset = 0
            while offset < bytes.count {
                offset += try retryingEINTR("write") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) } }
            }
            _ = try retryingEINTR("fsync") { fsync(fd) }
        } catch {
            descriptor.close()
            Glibc.unlink(path)
            throw error
        }
        descriptor.close()
    }

    /// Wraps rename(2): atomic within a file system (a reader opens either the old or the new file).
    @inline(never)
    public static func rename(_ source: String, to target: String) throws(SyscallError) {
        _ = try retryingEINTR("rename") { Glibc.rename(source, target) }
    }

    /// Wraps link(2): like rename, but EEXIST instead of replacing an existing target.
    @inline(never)
    public static func link(_ source: String, to target: String) throws(SyscallError) {
        _ = try retryingEINTR("link") { Glibc.link(source, target) }
    }

    /// Wraps unlink(2); a missing file is not an error.
    @inline(never)
    public static func removeFile(_ path: String) {
        _ = Glibc.unlink(path)
    }

    /// fsyncs the directory `path`, making renames in it durable.
    @inline(never)
    public static func syncDirectory(_ path: String) throws(SyscallError) {
        let fd = try retryingEINTR("open") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Descriptor(rawValue: fd).close() }
        _ = try retryingEINTR("fsync") { fsync(fd) }
    }
}

extension Clock {
    /// nanosleep(2), resumed after signals (for watcher threads, never a worker).
    public static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1, errno == EINTR { request = remaining }
    }
}
