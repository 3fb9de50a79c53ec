import Addresses
import Config
import Routing
import Synchronization

/// One version of the traffic configuration (Services, EndpointSlices, HTTPRoutes,
/// DestinationRules) with its index: immutable and shared by every worker. A request is routed
/// by the snapshot that was current when its head arrived; a new snapshot never changes it.
final class TrafficSnapshot: Sendable {
    /// 1 for the configuration the proxy started with, +1 per applied change.
    let version: Int
    let documents: TrafficSnapshotDocuments
    let registry: ServiceRegistry

    init(version: Int, documents: TrafficSnapshotDocuments) {
        self.version = version
        self.documents = documents
        registry = ServiceRegistry(
            services: documents.services, endpointSlices: documents.endpointSlices, routes: documents.httpRoutes,
            destinationRules: documents.destinationRules)
    }
}

/// The active traffic snapshot. Replacing it is atomic: workers see the old or the new one, never
/// a mix, and pick up a new one at their next wakeup (one relaxed load per wakeup when nothing
/// changed). Writers (the admin API, the file watcher) are serialized by the lock.
final class TrafficStore: Sendable {
    private let state: Mutex<TrafficSnapshot>
    private let publishedVersion: Atomic<Int>

    init(_ documents: TrafficSnapshotDocuments) {
        let first = TrafficSnapshot(version: 1, documents: documents)
        state = Mutex(first)
        publishedVersion = Atomic(1)
    }

    /// The version of the current snapshot (cheap; compare before taking `current`).
    var version: Int { publishedVersion.load(ordering: .acquiring) }

    var current: TrafficSnapshot { state.withLock { $0 } }

    /// Replaces the snapshot with what `change` makes of the current one, under the lock so that
    /// two writers cannot lose each other's change. `change` returns nil to keep the current one
    /// (an invalid change), with its reason in `Failure`.
    func update<Failure: Error>(_ change: (TrafficSnapshot) throws(Failure) -> TrafficSnapshotDocuments?) throws(Failure) -> (old: TrafficSnapshot, new: TrafficSnapshot)? {
        try state.withLock { (current: inout TrafficSnapshot) throws(Failure) -> (old: TrafficSnapshot, new: TrafficSnapshot)? in
            guard let documents = try change(current) else { return nil }
            let old = current
            current = TrafficSnapshot(version: old.version + 1, documents: documents)
            publishedVersion.store(current.version, ordering: .releasing)
            return (old, current)
        }
    }
}

/// What outlier detection did to each endpoint, gathered from the workers (each runs its own
/// detectors, as each runs its own balancers) for `/endpoints` and the metrics. Written on
/// ejections, read by the admin thread: off the request path. An ejection lasts until a known
/// time (the detector returns the endpoint then), so whether it is still ejected is a comparison
/// with the clock, not a report the workers owe.
final class EndpointStatusBoard: Sendable {
    struct Key: Hashable, Sendable {
        /// `namespace/name:port` of the Service port.
        let service: String
        let endpoint: SocketAddress
    }

    private struct Entry {
        var ejections: UInt64 = 0
        /// Per worker: until when (monotonic nanoseconds) it has the endpoint ejected.
        var until: [Int: UInt64] = [:]
    }

    private let entries = Mutex<[Key: Entry]>([:])

    init() {}

    /// `worker` ejected the endpoint until `until`.
    func recordEjection(_ key: Key, worker: Int, until: UInt64) {
        entries.withLock { entries in
            entries[key, default: Entry()].ejections += 1
            entries[key]!.until[worker] = until
        }
    }

    /// Ejections so far and whether some worker has the endpoint ejected at `now`.
    func status(of key: Key, now: UInt64) -> (ejections: UInt64, ejected: Bool) {
        entries.withLock { entries in
            guard let entry = entries[key] else { return (0, false) }
            return (entry.ejections, entry.until.values.contains { $0 > now })
        }
    }

    /// Every endpoint ejected at least once, in a stable order.
    func all(now: UInt64) -> [(key: Key, ejections: UInt64, ejected: Bool)] {
        entries.withLock { entries in
            entries.map { key, entry in (key, entry.ejections, entry.until.values.contains { $0 > now }) }
                .sorted { ($0.key.service, $0.key.endpoint.description) < ($1.key.service, $1.key.endpoint.description) }
        }
    }
}
