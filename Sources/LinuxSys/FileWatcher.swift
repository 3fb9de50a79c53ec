import Glibc

/// Watches directories for changes to their entries with inotify(7): files written and closed,
/// created, deleted or renamed in or out (editors and Kubernetes ConfigMap and Secret mounts
/// replace files by renaming, or by swapping the `..data` symlink, which a watch on the file
/// itself would lose). Owned by one thread; `Wakeup` ends its waits from others.
public final class FileWatcher {
    /// The inotify descriptor: readable while events are queued (for `Poll.waitReadable` with
    /// other descriptors; `consumeEvents()` empties it).
    public let descriptor: Descriptor
    /// Watch descriptors by the directory they were added for.
    private var watches: [String: Int32] = [:]

    /// Entries changing in a directory, and the directory itself going away (its watch ends
    /// with it: IN_IGNORED follows).
    private static let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

    /// Wraps inotify_init1(IN_NONBLOCK|IN_CLOEXEC): watches nothing until `watch(directories:)`.
    /// Throws EMFILE when the user's `fs.inotify.max_user_instances` is reached.
    public init() throws(SyscallError) {
        descriptor = Descriptor(rawValue: try retryingEINTR("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) })
    }

    /// Watches `directory` (not its subdirectories), which must exist (ENOENT otherwise).
    public convenience init(directory: String) throws(SyscallError) {
        try self.init()
        watches[directory] = try Self.addWatch(descriptor, directory) // on failure deinit closes
    }

    deinit { descriptor.close() }

    /// Watches each of `directories` (not their subdirectories) and, while one does not exist,
    /// its nearest existing ancestor instead, so that its creation is seen: call again after
    /// each change to follow directories as they appear and disappear. Watches of earlier calls
    /// that are no longer needed are removed. Returns the directories watched now.
    ///
    /// Throws what inotify_add_watch(2) reports other than a missing directory: ENOSPC when the
    /// user's `fs.inotify.max_user_watches` is reached, EACCES for a directory the process may
    /// not read (its files may still be readable by path). The caller should then look at its
    /// files on a timer instead.
    public func watch(directories: [String]) throws(SyscallError) -> [String] {
        var wanted: [String: Int32] = [:]
        for directory in directories {
            var candidate = directory
            while true {
                do {
                    wanted[candidate] = try Self.addWatch(descriptor, candidate)
                    break
                } catch {
                    guard error.errno == .noSuchFile || error.errno == Errno(rawValue: ENOTDIR),
                          let parent = Self.parentDirectory(of: candidate) else { throw error }
                    candidate = parent
                }
            }
        }
        // Two paths can name one directory (a symlink, `a/../a`): inotify hands out one watch
        // descriptor per inode, so removal goes by descriptor, never by path.
        let kept = Set(wanted.values)
        for (_, watch) in watches where !kept.contains(watch) {
            // EINVAL: the kernel already ended it (the directory was deleted); nothing to undo.
            _ = inotify_rm_watch(descriptor.rawValue, watch)
        }
        watches = wanted
        return wanted.keys.sorted()
    }

    /// The directory holding `path` (`/a/b` → `/a`, `/a` → `/`, `b` → `.`); nil for `/` and `.`,
    /// which have none to fall back to.
    public static func parentDirectory(of path: String) -> String? {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed == "/" || trimmed == "." || trimmed.isEmpty { return nil }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Wraps inotify_add_watch(2) with the directory mask (adding a watched inode again returns
    /// its descriptor).
    @inline(never)
    private static func addWatch(_ descriptor: Descriptor, _ directory: String) throws(SyscallError) -> Int32 {
        try retryingEINTR("inotify_add_watch") { inotify_add_watch(descriptor.rawValue, directory, mask) }
    }

    /// Reads every queued event; true when there was at least one. A burst of changes (a file
    /// rewritten in several writes, a Secret's symlink swap) reads as one. IN_IGNORED alone is
    /// not a change: it ends a watch that `watch(directories:)` removed (a deleted directory
    /// reports IN_DELETE_SELF before it).
    @inline(never)
    public func consumeEvents() -> Bool {
        var changed = false
        // inotify(7): records of a struct inotify_event followed by `len` bytes of name; a read
        // returns whole records only.
        let header = MemoryLayout<inotify_event>.size
        let maskOffset = MemoryLayout<inotify_event>.offset(of: \.mask)!
        let lengthOffset = MemoryLayout<inotify_event>.offset(of: \.len)!
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor.rawValue, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset + header <= count {
                        let mask = bytes.loadUnaligned(fromByteOffset: offset + maskOffset, as: UInt32.self)
                        let length = bytes.loadUnaligned(fromByteOffset: offset + lengthOffset, as: UInt32.self)
                        if mask != UInt32(IN_IGNORED) { changed = true }
                        offset += header + Int(length)
                    }
                }
                continue
            }
            if count < 0, errno == EINTR { continue }
            return changed // EAGAIN: drained
        }
    }

    /// What ended a wait.
    public enum WaitOutcome: Sendable, Equatable {
        /// Something changed in a watched directory (the events are consumed).
        case changed
        /// The `Wakeup` was signalled (and is drained).
        case woken
        case timedOut
    }

    /// Waits up to `timeoutMilliseconds` (negative: without a limit) for a change, or until
    /// `wakeup` is signalled. A wakeup wins over changes that arrived with it.
    public func waitForChange(timeoutMilliseconds: Int32, wakeup: Wakeup? = nil) -> WaitOutcome {
        let descriptors = [descriptor] + (wakeup.map { [$0.descriptor] } ?? [])
        let deadline = timeoutMilliseconds < 0 ? nil : Clock.monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        var remaining = timeoutMilliseconds
        while true {
            let ready = Poll.waitReadable(descriptors, timeoutMilliseconds: remaining)
            if ready.count > 1, ready[1] {
                wakeup?.drain()
                return .woken
            }
            if ready[0], consumeEvents() { return .changed }
            // A timeout, EINTR or only the end of a removed watch: wait for what is left.
            guard let deadline else { continue }
            let now = Clock.monotonicNanoseconds()
            if now >= deadline { return .timedOut }
            remaining = Int32((deadline - now + 999_999) / 1_000_000)
        }
    }
}
