import Glibc

/// Watches a directory for changes to its entries with inotify(7): files written and closed,
/// created, deleted or renamed in or out (editors and Kubernetes ConfigMap mounts replace files
/// by renaming, which a watch on the file itself would lose). Owned by one thread.
public final class FileWatcher {
    private let descriptor: Descriptor

    /// Watches `directory` (not its subdirectories).
    public init(directory: String) throws(SyscallError) {
        let fd = try retryingEINTR("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        descriptor = Descriptor(rawValue: fd)
        let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        do {
            _ = try retryingEINTR("inotify_add_watch") { inotify_add_watch(fd, directory, mask) }
        } catch {
            descriptor.close()
            throw error
        }
    }

    deinit { descriptor.close() }

    /// Waits up to `timeoutMilliseconds` for a change; true when one (or more) happened. The
    /// queued events are consumed: a burst of changes (a file rewritten in several writes, a
    /// ConfigMap's symlink swap) reads as one.
    public func waitForChange(timeoutMilliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, timeoutMilliseconds) > 0 else { return false }
        var changed = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor.rawValue, $0.baseAddress, $0.count) }
            if count > 0 {
                changed = true
                continue
            }
            if count < 0, errno == EINTR { continue }
            return changed // EAGAIN: drained
        }
    }
}
