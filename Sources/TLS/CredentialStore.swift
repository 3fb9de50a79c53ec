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
}

/// The current workload credentials, reloaded when their files change (certificate rotation).
///
/// A thread of its own (`OSThread`, named `weft-certwatch`) stats the three files every
/// `pollInterval` (following symlinks, so a Kubernetes Secret volume's `..data` swap counts) and
/// loads them when any of device, inode, size, mtime or ctime changed. A successful load replaces
/// the credentials for new handshakes; established connections keep the credentials they were
/// made with. A failed load keeps the previous credentials.
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

        init(files: TLSIdentityFiles, trustDomain: TrustDomain, pollMilliseconds: Int,
             onEvent: @escaping @Sendable (CredentialEvent) -> Void, initial: TLSCredentials) {
            self.files = files
            self.trustDomain = trustDomain
            self.pollMilliseconds = pollMilliseconds
            self.onEvent = onEvent
            current = Mutex((initial, 1))
            generation.store(1, ordering: .releasing)
        }
    }

    /// How often a failed load is retried although the files did not change (a certificate that
    /// was not yet valid becomes valid with time; a permission fix may not touch ctime of the
    /// symlink target).
    static let retryMilliseconds = 5000

    /// Loads the credentials now and starts watching the files. Throws the `TLSError` of the first
    /// load (the sidecar cannot serve mTLS without credentials), or `.unreadable` if the watcher
    /// thread cannot be created. `onEvent` runs on the watcher thread and must not block for long.
    public static func start(
        files: TLSIdentityFiles, trustDomain: TrustDomain, pollInterval: Duration = .milliseconds(250),
        onEvent: @escaping @Sendable (CredentialEvent) -> Void
    ) throws(TLSError) -> CredentialStore {
        let before = fingerprints(files)
        let initial = try TLSCredentials.load(files, trustDomain: trustDomain)
        let milliseconds = max(10, Int(pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000))
        let shared = Shared(files: files, trustDomain: trustDomain, pollMilliseconds: milliseconds, onEvent: onEvent, initial: initial)
        let thread: OSThread
        do {
            thread = try OSThread.spawn(name: "weft-certwatch") { watch(shared, seen: before) }
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

    /// Stops the watcher and waits for its thread (at most one poll slice, 50 ms). Idempotent.
    public func stop() {
        shared.stopRequested.store(true, ordering: .relaxed)
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
    private static func watch(_ shared: Shared, seen initial: [FileFingerprint]) {
        var seen = initial
        // The last load's failure, and whether it was reported. A failure is reported only once
        // the files stayed unchanged for a whole interval after it: a writer that renames the key
        // and then the chain (as `weft ca issue` does) leaves a mismatched pair for an instant,
        // and that is a rotation in progress, not something to alarm anyone with.
        var failure: (error: TLSError, reported: Bool)?
        var sinceAttempt = 0
        var reportedInvalid: UInt64?
        while true {
            // Sleep in short slices so `stop()` returns quickly.
            var slept = 0
            while slept < shared.pollMilliseconds {
                if shared.stopRequested.load(ordering: .relaxed) { return }
                let slice = min(50, shared.pollMilliseconds - slept)
                Clock.sleep(milliseconds: slice)
                slept += slice
            }
            sinceAttempt += shared.pollMilliseconds
            defer { reportInvalidOnce(shared, &reportedInvalid) }

            let now = fingerprints(shared.files)
            if now == seen {
                if let pending = failure, !pending.reported {
                    shared.onEvent(.reloadFailed(pending.error))
                    failure = (pending.error, true)
                }
                guard failure != nil, sinceAttempt >= retryMilliseconds else { continue }
            }
            seen = now
            sinceAttempt = 0
            do {
                let credentials = try TLSCredentials.load(shared.files, trustDomain: shared.trustDomain)
                // Published even if a file changed while it was read: what was read passed every
                // check (the key matches the leaf), and the new change is loaded on the next tick.
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

    private static func reportInvalidOnce(_ shared: Shared, _ reported: inout UInt64?) {
        let credentials = shared.current.withLock { $0.credentials }
        if !credentials.isValidNow, reported != credentials.loadID {
            reported = credentials.loadID
            shared.onEvent(.invalidCredentialsInUse(credentials))
        }
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
