import Identity
import LinuxSys
import Synchronization

/// Something the credential watcher wants an operator to know. Delivered on the watcher's thread.
public enum CredentialEvent: Sendable {
    /// New credentials are in use for new handshakes; `generation` counts successful loads (the
    /// first load, at start, is generation 1 and is not reported).
    case reloaded(TLSCredentials, generation: UInt64)
    /// The files changed but do not load (broken, expired, wrong key...). The previous credentials
    /// stay in use; the load is retried when the files change again and every few seconds.
    /// Reported once per distinct failure, and only after the files stayed as they are for a poll
    /// interval (a rotation caught between two renames is not a failure).
    case reloadFailed(TLSError)
    /// The credentials in use are outside their validity (expired, or not yet valid by this
    /// host's clock): peers will refuse our handshakes until new files arrive. Reported once per
    /// credentials.
    case invalidCredentialsInUse(TLSCredentials)
    /// The files' directories cannot be watched with inotify (the reason: ENOSPC when
    /// `fs.inotify.max_user_watches` is reached, EMFILE for `max_user_instances`, EACCES for a
    /// directory the process may not read): from now on the files are looked at every poll
    /// interval instead. Reported once.
    case notWatched(String)
}

/// The current workload credentials, reloaded when their files change (certificate rotation).
///
/// A thread of its own (`OSThread`, named `weft-certwatch`) sleeps in inotify on the files'
/// directories (`TLSIdentityFiles.watchedDirectories`: a Kubernetes Secret volume's `..data`
/// swap, `weft ca issue`'s renames, a file rewritten in place). When something changed there
/// and stayed quiet for `settleMilliseconds`, it stats the three files (following symlinks) and
/// loads them if any of device, inode, size, mtime or ctime changed. It also looks without an
/// event: every `fallbackMilliseconds` (inotify misses changes behind a symlink into an unwatched
/// directory, or on some network file systems), when a failed load is due to be reported or
/// retried, and when the credentials in use stop being valid. Where inotify is unavailable it
/// looks every `pollInterval`, as it always did, and says so once (`.notWatched`).
///
/// A successful load replaces the credentials for new handshakes; established connections keep
/// the credentials they were made with. A failed load keeps the previous credentials.
///
/// Workers read it without a lock: `generation` is one atomic load; only when it changed does
/// `CredentialView.current()` take the lock to fetch the new credentials.
public final class CredentialStore: Sendable {
    public let files: TLSIdentityFiles
    public let trustDomain: TrustDomain
    private let shared: Shared
    private let watcher: Mutex<OSThread?>

    /// State shared with the watcher thread.
    private final class Shared: Sendable {
        let files: TLSIdentityFiles
        let trustDomain: TrustDomain
        let pollMilliseconds: Int
        let onEvent: @Sendable (CredentialEvent) -> Void
        /// The generation of `current`, published after it (release) so a reader that sees a new
        /// generation (acquire) finds the new credentials under the lock.
        let generation = Atomic<UInt64>(0)
        let current: Mutex<(credentials: TLSCredentials, generation: UInt64)>
        let stopRequested = Atomic<Bool>(false)
        /// Signalled by `stop()` after `stopRequested`, so the sleeping thread returns at once.
        let wakeup: Wakeup

        init(files: TLSIdentityFiles, trustDomain: TrustDomain, pollMilliseconds: Int, wakeup: Wakeup,
             onEvent: @escaping @Sendable (CredentialEvent) -> Void, initial: TLSCredentials) {
            self.files = files
            self.trustDomain = trustDomain
            self.pollMilliseconds = pollMilliseconds
            self.wakeup = wakeup
            self.onEvent = onEvent
            current = Mutex((initial, 1))
            generation.store(1, ordering: .releasing)
        }
    }

    /// How often a failed load is retried although the files did not change (a certificate that
    /// was not yet valid becomes valid with time; a permission fix may not touch ctime of the
    /// symlink target).
    public static let retryMilliseconds = 5000
    /// How often the files are looked at although inotify reported nothing.
    public static let fallbackMilliseconds = 5000
    /// How long the directories must stay quiet after a change before the files are read, so
    /// that one rotation (three renames, or a `..data` swap) is one reload.
    public static let settleMilliseconds = 100
    /// The longest a stream of changes delays reading the files.
    static let maximumSettleMilliseconds = 1000

    /// Loads the credentials now and starts watching the files. Throws the `TLSError` of the first
    /// load (the sidecar cannot serve mTLS without credentials), or `.unreadable` if the watcher
    /// thread cannot be created. `pollInterval` is how often the files are looked at where
    /// inotify is unavailable, and how long they must stay unchanged before a failed load is
    /// reported. `onEvent` runs on the watcher thread and must not block for long.
    public static func start(
        files: TLSIdentityFiles, trustDomain: TrustDomain, pollInterval: Duration = .milliseconds(250),
        onEvent: @escaping @Sendable (CredentialEvent) -> Void
    ) throws(TLSError) -> CredentialStore {
        try start(files: files, trustDomain: trustDomain, pollInterval: pollInterval, useInotify: true, onEvent: onEvent)
    }

    /// `start`, optionally without inotify (tests of the polling fallback).
    static func start(
        files: TLSIdentityFiles, trustDomain: TrustDomain, pollInterval: Duration, useInotify: Bool,
        onEvent: @escaping @Sendable (CredentialEvent) -> Void
    ) throws(TLSError) -> CredentialStore {
        let before = fingerprints(files)
        let initial = try TLSCredentials.load(files, trustDomain: trustDomain)
        var inotify: FileWatcher?
        var unwatched: String?
        if useInotify {
            do {
                let watcher = try FileWatcher()
                _ = try watcher.watch(directories: files.watchedDirectories)
                inotify = watcher
            } catch {
                unwatched = "\(error)"
            }
        }
        // A change after the watch is queued for the thread; one between the load and the watch
        // shows here, and the thread then looks at once instead of at its first timeout.
        let changedMeanwhile = fingerprints(files) != before
        let milliseconds = max(10, Int(pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000))
        let wakeup: Wakeup
        do {
            wakeup = try Wakeup()
        } catch {
            throw TLSError(.unreadable, path: nil, "cannot create the certificate watcher's wakeup: \(error)")
        }
        let shared = Shared(files: files, trustDomain: trustDomain, pollMilliseconds: milliseconds, wakeup: wakeup,
                            onEvent: onEvent, initial: initial)
        nonisolated(unsafe) let handedOver = inotify // only the watcher thread uses it from now on
        let notWatched = unwatched
        let thread: OSThread
        do {
            thread = try OSThread.spawn(name: "weft-certwatch") {
                if let notWatched { shared.onEvent(.notWatched(notWatched)) }
                watch(shared, inotify: handedOver, seen: before, lookAtOnce: changedMeanwhile)
            }
        } catch {
            throw TLSError(.unreadable, path: nil, "cannot start the certificate watcher thread: \(error)")
        }
        return CredentialStore(files: files, trustDomain: trustDomain, shared: shared, watcher: thread)
    }

    private init(files: TLSIdentityFiles, trustDomain: TrustDomain, shared: Shared, watcher: OSThread) {
        self.files = files
        self.trustDomain = trustDomain
        self.shared = shared
        self.watcher = Mutex(watcher)
    }

    deinit { stop() }

    /// Stops the watcher and waits for its thread, which wakes at once (or after the load it is
    /// in). Idempotent.
    public func stop() {
        shared.stopRequested.store(true, ordering: .relaxed)
        shared.wakeup.signal()
        let thread = watcher.withLock { thread -> OSThread? in
            defer { thread = nil }
            return thread
        }
        thread?.join()
    }

    /// Counts successful loads; changes exactly when `current` does. One atomic load: cheap
    /// enough to check for every accepted connection.
    public var generation: UInt64 { shared.generation.load(ordering: .acquiring) }

    /// The credentials new handshakes should use (takes a lock; workers use a `CredentialView`).
    public var current: TLSCredentials { shared.current.withLock { $0.credentials } }

    /// A per-worker reader of this store.
    public func view() -> CredentialView {
        let (credentials, generation) = shared.current.withLock { ($0.credentials, $0.generation) }
        return CredentialView(store: self, credentials: credentials, generation: generation)
    }

    /// The current leaf's notAfter (seconds since the epoch), for the expiry metric.
    public var notAfter: Int { current.notAfter }

    /// Whether the current credentials are within their validity now (readiness: a sidecar with
    /// expired credentials cannot complete a handshake with any peer).
    public var isValidNow: Bool { current.isValidNow }

    fileprivate func snapshot() -> (TLSCredentials, UInt64) {
        shared.current.withLock { ($0.credentials, $0.generation) }
    }

    private static func fingerprints(_ files: TLSIdentityFiles) -> [FileFingerprint] {
        [files.certificateChain, files.privateKey, files.trustBundle].map(FileSystem.fingerprint)
    }

    /// The watcher thread's loop.
    private static func watch(_ shared: Shared, inotify initialWatcher: FileWatcher?, seen initial: [FileFingerprint], lookAtOnce: Bool) {
        var inotify = initialWatcher
        var skipWait = lookAtOnce
        var seen = initial
        // The last load's failure, and whether it was reported. A failure is reported only once
        // the files stayed unchanged for a poll interval after it: a writer that renames the key
        // and then the chain (as `weft ca issue` does) leaves a mismatched pair for an instant,
        // and that is a rotation in progress, not something to alarm anyone with.
        var failure: (error: TLSError, reported: Bool)?
        var lastAttempt = Clock.monotonicNanoseconds()
        var reportedInvalid: UInt64?
        while true {
            let plan = RecheckPlan(
                watching: inotify != nil, pollMilliseconds: shared.pollMilliseconds, fallbackMilliseconds: fallbackMilliseconds,
                retryMilliseconds: retryMilliseconds, sinceAttemptMilliseconds: milliseconds(since: lastAttempt),
                failure: failure.map { $0.reported ? .reported : .unreported } ?? .none,
                untilInvalidMilliseconds: untilInvalid(shared, reported: reportedInvalid))
            let delay = plan.delayMilliseconds
            if skipWait {
                skipWait = false
            } else if let watcher = inotify {
                if watcher.waitForChange(timeoutMilliseconds: delay, wakeup: shared.wakeup) == .changed {
                    settle(watcher, shared)
                    if shared.stopRequested.load(ordering: .relaxed) { return }
                    // Follow directories that appeared or went (a Secret mounted late, a new
                    // `..data` target); a failure here leaves the polling below.
                    do {
                        _ = try watcher.watch(directories: shared.files.watchedDirectories)
                    } catch {
                        shared.onEvent(.notWatched("\(error)"))
                        inotify = nil
                    }
                }
            } else if Poll.waitReadable([shared.wakeup.descriptor], timeoutMilliseconds: delay)[0] {
                shared.wakeup.drain()
            }
            if shared.stopRequested.load(ordering: .relaxed) { return }
            defer { reportInvalidOnce(shared, &reportedInvalid) }

            let sinceAttempt = milliseconds(since: lastAttempt)
            let now = fingerprints(shared.files)
            if now == seen {
                if let pending = failure, !pending.reported, sinceAttempt >= shared.pollMilliseconds {
                    shared.onEvent(.reloadFailed(pending.error))
                    failure = (pending.error, true)
                }
                guard failure != nil, sinceAttempt >= retryMilliseconds else { continue }
            }
            seen = now
            lastAttempt = Clock.monotonicNanoseconds()
            do {
                let credentials = try TLSCredentials.load(shared.files, trustDomain: shared.trustDomain)
                // Published even if a file changed while it was read: what was read passed every
                // check (the key matches the leaf), and the new change is loaded on the next look.
                let generation = shared.current.withLock { state -> UInt64 in
                    state = (credentials, state.generation + 1)
                    return state.generation
                }
                shared.generation.store(generation, ordering: .releasing)
                failure = nil
                shared.onEvent(.reloaded(credentials, generation: generation))
            } catch {
                // The same failure again (a retry) keeps its reported mark: reported once.
                if failure?.error != error { failure = (error, false) }
            }
        }
    }

    /// Waits until the directories stay quiet for `settleMilliseconds` (at most
    /// `maximumSettleMilliseconds` in all) or a stop request.
    private static func settle(_ watcher: FileWatcher, _ shared: Shared) {
        let start = Clock.monotonicNanoseconds()
        while milliseconds(since: start) < maximumSettleMilliseconds,
              watcher.waitForChange(timeoutMilliseconds: Int32(settleMilliseconds), wakeup: shared.wakeup) == .changed {}
    }

    private static func milliseconds(since start: UInt64) -> Int {
        Int((Clock.monotonicNanoseconds() &- start) / 1_000_000)
    }

    /// Milliseconds until the credentials in use stop being valid (0: they are not valid now);
    /// nil once that was reported for them.
    private static func untilInvalid(_ shared: Shared, reported: UInt64?) -> Int? {
        let credentials = shared.current.withLock { $0.credentials }
        guard reported != credentials.loadID else { return nil }
        let wall = Clock.wallClock()
        guard credentials.isValid(at: wall.seconds) else { return 0 }
        // isValid compares whole seconds: invalid from the first instant of second notAfter.
        return (credentials.notAfter - wall.seconds) * 1000 - wall.nanoseconds / 1_000_000
    }

    private static func reportInvalidOnce(_ shared: Shared, _ reported: inout UInt64?) {
        let credentials = shared.current.withLock { $0.credentials }
        if !credentials.isValidNow, reported != credentials.loadID {
            reported = credentials.loadID
            shared.onEvent(.invalidCredentialsInUse(credentials))
        }
    }
}

/// When the certificate watcher looks at the files next although inotify reported nothing: the
/// earliest of the slow fallback look (or the poll interval, without inotify), the report of a
/// failed load once the files stayed unchanged for a poll interval, its retry, and the moment
/// the credentials in use stop being valid.
struct RecheckPlan: Equatable {
    enum Failure: Equatable {
        case none
        /// The last load failed and that was not reported yet.
        case unreported
        case reported
    }

    /// inotify reports changes (false: polling).
    var watching: Bool
    var pollMilliseconds: Int
    var fallbackMilliseconds: Int
    var retryMilliseconds: Int
    /// Since the last load attempt.
    var sinceAttemptMilliseconds: Int
    var failure: Failure
    /// Until the credentials in use stop being valid; nil when there is nothing to report then.
    var untilInvalidMilliseconds: Int?

    /// Milliseconds to wait, 0 to look at once.
    var delayMilliseconds: Int32 {
        var delay = watching ? fallbackMilliseconds : pollMilliseconds
        if failure == .unreported { delay = min(delay, pollMilliseconds - sinceAttemptMilliseconds) }
        if failure != .none { delay = min(delay, retryMilliseconds - sinceAttemptMilliseconds) }
        if let until = untilInvalidMilliseconds { delay = min(delay, until) }
        return Int32(clamping: max(0, delay))
    }
}

extension TLSIdentityFiles {
    /// The directories whose entries changing may mean the files changed: each file's own
    /// directory (where `weft ca issue` renames and a Kubernetes Secret volume swaps its `..data`
    /// symlink) and the directory it resolves to through symlinks (where a file rewritten in
    /// place behind a link changes). In the order of the files, without repeats.
    public var watchedDirectories: [String] {
        Self.watchedDirectories(for: [certificateChain, privateKey, trustBundle], resolve: FileSystem.resolvedPath)
    }

    static func watchedDirectories(for paths: [String], resolve: (String) -> String?) -> [String] {
        var directories: [String] = []
        for path in paths {
            for name in [path, resolve(path)] {
                guard let name, let directory = FileWatcher.parentDirectory(of: name), !directories.contains(directory) else { continue }
                directories.append(directory)
            }
        }
        return directories
    }
}

/// A worker's cached view of a `CredentialStore`: `current()` costs one atomic load while the
/// credentials are unchanged, and a lock only right after a rotation. Owned by one worker.
public struct CredentialView {
    private let store: CredentialStore
    /// The credentials last fetched.
    public private(set) var credentials: TLSCredentials
    /// Their generation.
    public private(set) var generation: UInt64

    fileprivate init(store: CredentialStore, credentials: TLSCredentials, generation: UInt64) {
        self.store = store
        self.credentials = credentials
        self.generation = generation
    }

    /// The store's current credentials (refetched only when its generation moved).
    public mutating func current() -> TLSCredentials {
        if store.generation != generation {
            (credentials, generation) = store.snapshot()
        }
        return credentials
    }
}
