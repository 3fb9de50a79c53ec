import Admin
import Addresses
import Config
import LinuxSys
import Routing
import Synchronization

/// Changes the traffic configuration while the proxy runs: the admin API (`PUT /config`, `POST
/// /routes/{namespace}/{name}/weights`) and the configuration files (re-read when they change).
/// Every change is validated whole before it replaces the snapshot; an invalid one is refused
/// with its reason and the running snapshot stays. Runs on the admin and watcher threads.
final class TrafficControl: Sendable {
    let store: TrafficStore
    let board: EndpointStatusBoard
    private let log: LogSink
    /// The configuration the proxy started with (its parts that only a restart changes).
    private let startup: Configuration
    /// Changes offered, by source (`file`, `api`) and outcome (`applied`, `rejected`, `unchanged`).
    private let outcomes = Mutex<[String: UInt64]>([:])

    private func count(_ source: String, _ outcome: String) {
        outcomes.withLock { $0["\(source) \(outcome)", default: 0] += 1 }
    }

    init(store: TrafficStore, board: EndpointStatusBoard, log: LogSink, startup: Configuration) {
        self.store = store
        self.board = board
        self.log = log
        self.startup = startup
    }

    // MARK: - Admin API (127.0.0.1:15000)

    /// Routes a call on the admin listener; nil for an unknown path (404).
    func handle(_ call: AdminCall) -> AdminResponse? {
        let reading = call.method == "GET" || call.method == "HEAD"
        switch call.path {
        case "/":
            guard reading else { return Self.methodNotAllowed("GET") }
            return AdminResponse(status: 200, body: Self.help)
        case "/config_dump":
            guard reading else { return Self.methodNotAllowed("GET") }
            let snapshot = store.current
            if call.query.split(separator: "&").contains("format=json") {
                return AdminResponse(status: 200, contentType: "application/json", body: TrafficDump.json(snapshot.documents, version: snapshot.version))
            }
            return AdminResponse(status: 200, contentType: "application/yaml",
                                 body: "# weft traffic configuration, version \(snapshot.version)\n" + TrafficDump.yaml(snapshot.documents))
        case "/endpoints":
            guard reading else { return Self.methodNotAllowed("GET") }
            return AdminResponse(status: 200, body: endpointsText())
        case "/config":
            guard call.method == "PUT" else { return Self.methodNotAllowed("PUT") }
            guard let text = String(validating: call.body, as: UTF8.self) else {
                return AdminResponse(status: 400, body: "the body is not UTF-8 text; send the YAML documents as they are\n")
            }
            do {
                let documents = try Configuration.loadTraffic(text: text, origin: "PUT /config")
                return applied(replace(with: documents, source: "api"))
            } catch {
                log.warning("config rejected", ["source": "api", "reason": Self.oneLine(error.description)])
                count("api", "rejected")
                return AdminResponse(status: 400, body: "configuration rejected; the running one stays (version \(store.version)):\n\(error.description)\n")
            }
        default:
            return weights(call)
        }
    }

    /// `POST /routes/{namespace}/{name}/weights`.
    private func weights(_ call: AdminCall) -> AdminResponse? {
        let parts = call.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "routes", parts[4] == "weights", !parts[2].isEmpty, !parts[3].isEmpty else { return nil }
        guard call.method == "POST" else { return Self.methodNotAllowed("POST") }
        let namespace = String(parts[2])
        let name = String(parts[3])
        guard let body = String(validating: call.body, as: UTF8.self) else {
            return AdminResponse(status: 400, body: "the body is not UTF-8 JSON, e.g. {\"weights\": {\"reviews-v1\": 90, \"reviews-v2\": 10}}\n")
        }
        var failure: AdminResponse?
        var changes: [String] = []
        let outcome = store.update { (current: TrafficSnapshot) -> TrafficSnapshotDocuments? in
            switch RouteWeights.apply(json: body, toRoute: namespace, name, in: current.documents.httpRoutes) {
            case .failure(.routeNotFound(let message)):
                failure = AdminResponse(status: 404, body: message + "\n")
                return nil
            case .failure(.invalid(let message)):
                failure = AdminResponse(status: 400, body: message + "\n")
                return nil
            case .success(let result):
                changes = result.changes
                guard !changes.isEmpty else { return nil }
                var documents = current.documents
                documents.httpRoutes = result.routes
                return documents
            }
        }
        if let failure {
            count("api", "rejected")
            log.warning("weights rejected", ["source": "api", "route": "\(namespace)/\(name)", "reason": Self.oneLine(failure.body)])
            return failure
        }
        guard let (_, new) = outcome else {
            count("api", "unchanged")
            return AdminResponse(status: 200, body: "no change (version \(store.version))\n")
        }
        count("api", "applied")
        log.info("config applied", ["source": "api", "version": "\(new.version)", "changes": changes.joined(separator: "; ")])
        return AdminResponse(status: 200, body: "applied version \(new.version)\n" + changes.map { $0 + "\n" }.joined())
    }

    private func applied(_ result: (version: Int, changes: [String])?) -> AdminResponse {
        guard let result else { return AdminResponse(status: 200, body: "no change (version \(store.version))\n") }
        return AdminResponse(status: 200, body: "applied version \(result.version)\n" + result.changes.map { $0 + "\n" }.joined())
    }

    private static func methodNotAllowed(_ method: String) -> AdminResponse {
        AdminResponse(status: 405, body: "use \(method) here; see GET / for the admin API\n")
    }

    private static let help = """
        weft admin API (127.0.0.1 only)
          GET  /config_dump[?format=json]          the active traffic documents (Service, EndpointSlice, HTTPRoute, DestinationRule)
          PUT  /config                             replace them with the YAML documents in the body (validated whole; all or nothing)
          POST /routes/{namespace}/{name}/weights  shift an HTTPRoute's backend weights: {"weights": {"reviews-v1": 90, "reviews-v2": 10}}
          GET  /endpoints                          every Service port's endpoints: ready, ejected by outlier detection, ejections so far
          GET  /status                             version, uptime, identity and certificate expiry, config version, listeners,
                                                   connections, readiness and draining (JSON; `weft status` prints it)
          GET  /stats[?filter=S][&usedonly]        every metric sample as `name{label=value,...}: value`, sorted; lines containing S;
                                                   without zeros
          GET  /certs                              the workload certificate in use, its chain and trust anchors, their files (JSON)
          GET  /ready, /live                       readiness (as :15021/healthz/ready) and liveness
          GET  /logging, POST /logging?level=L     the log level, or change it at once (trace, debug, info, notice, warning, error, critical)
          POST /drain                              drain as on SIGTERM (readiness 503, inbound for drainDuration, exit when idle)
          POST /quitquitquit                       exit now, without draining (a Job's application is done)

        """

    // MARK: - Applying

    /// Replaces the traffic documents; nil when they equal the running ones.
    func replace(with documents: TrafficSnapshotDocuments, source: String) -> (version: Int, changes: [String])? {
        var changes: [String] = []
        let outcome = store.update { (current: TrafficSnapshot) -> TrafficSnapshotDocuments? in
            changes = Self.describeChanges(from: current.documents, to: documents)
            return changes.isEmpty ? nil : documents
        }
        guard let (_, new) = outcome else {
            count(source, "unchanged")
            return nil
        }
        count(source, "applied")
        log.info("config applied", ["source": source, "version": "\(new.version)", "changes": changes.joined(separator: "; ")])
        return (new.version, changes)
    }

    /// The configuration files changed: re-read them and apply their traffic documents. Other
    /// documents (Sidecar, PeerAuthentication, AuthorizationPolicy) take a restart; a change to
    /// them is reported, not applied.
    func reloaded(_ result: Result<Configuration, ConfigReloadError>) {
        switch result {
        case .failure(let error):
            log.warning("config rejected", ["source": "file", "reason": Self.oneLine(error.description), "version": "\(store.version)"])
            count("file", "rejected")
        case .success(let configuration):
            if configuration.sidecar != startup.sidecar || configuration.peerAuthentications != startup.peerAuthentications
                || configuration.authorizationPolicies != startup.authorizationPolicies {
                log.warning("config change needs a restart", [
                    "source": "file",
                    "reason": "Sidecar, PeerAuthentication and AuthorizationPolicy documents are read at start; the running ones stay until the proxy restarts",
                ])
            }
            _ = replace(with: configuration.traffic, source: "file")
        }
    }

    /// One line per document added, removed or changed, by kind and `namespace/name`.
    static func describeChanges(from old: TrafficSnapshotDocuments, to new: TrafficSnapshotDocuments) -> [String] {
        func diff<T: Equatable>(_ kind: String, _ old: [T], _ new: [T], key: (T) -> String) -> [String] {
            var lines: [String] = []
            let oldByKey = Dictionary(old.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
            let newByKey = Dictionary(new.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
            for name in newByKey.keys.sorted() {
                if let before = oldByKey[name] {
                    if before != newByKey[name]! { lines.append("\(kind) \(name) changed") }
                } else {
                    lines.append("\(kind) \(name) added")
                }
            }
            for name in oldByKey.keys.sorted() where newByKey[name] == nil { lines.append("\(kind) \(name) removed") }
            return lines
        }
        // Where a document was read from (file:line) is not a change.
        let old = old.withoutOrigins
        let new = new.withoutOrigins
        var lines: [String] = []
        lines += diff("Service", old.services, new.services, key: { "\($0.namespace)/\($0.name)" })
        lines += diff("EndpointSlice", old.endpointSlices, new.endpointSlices, key: { "\($0.namespace)/\($0.name)" })
        lines += diff("HTTPRoute", old.httpRoutes, new.httpRoutes, key: \.qualifiedName)
        lines += diff("DestinationRule", old.destinationRules, new.destinationRules, key: { "\($0.namespace)/\($0.name)" })
        if lines.isEmpty, old != new {
            // The same documents in another order: route age (precedence ties) follows it.
            lines.append("documents reordered")
        }
        return lines
    }

    // MARK: - Status

    /// `/endpoints`: one line per endpoint of every Service port.
    func endpointsText() -> String {
        let snapshot = store.current
        let registry = snapshot.registry
        let now = Clock.monotonicNanoseconds()
        var text = "# version \(snapshot.version): <namespace>/<service>:<port> <endpoint> ready= ejected= ejections=\n"
        for service in registry.services {
            for port in service.ports {
                let name = "\(service.namespace)/\(service.name):\(port.port)"
                for endpoint in registry.endpoints(of: service, port: port) {
                    let status = board.status(of: EndpointStatusBoard.Key(service: name, endpoint: endpoint.address), now: now)
                    text += "\(name) \(endpoint.address) ready=\(endpoint.ready ? 1 : 0) ejected=\(status.ejected ? 1 : 0) ejections=\(status.ejections)\n"
                }
            }
        }
        return text
    }

    /// `weft_outlier_ejections_total` and `weft_endpoint_ejected`, for endpoints ejected at least once.
    func metricFamilies() -> [MetricFamily] {
        let all = board.all(now: Clock.monotonicNanoseconds())
        return [
            MetricFamily(name: "weft_outlier_ejections_total", help: "Endpoints ejected by outlier detection (all workers).", type: "counter",
                         samples: all.map { ([("service", Self.serviceLabel($0.key.service)), ("endpoint", "\($0.key.endpoint)")], $0.ejections) }),
            MetricFamily(name: "weft_endpoint_ejected", help: "1 while some worker has the endpoint ejected.", type: "gauge",
                         samples: all.map { ([("service", Self.serviceLabel($0.key.service)), ("endpoint", "\($0.key.endpoint)")], $0.ejected ? 1 : 0) }),
            MetricFamily(name: "weft_traffic_config_version", help: "Version of the active traffic configuration (1 at start, +1 per change).", type: "gauge",
                         samples: [([], UInt64(store.version))]),
            MetricFamily(name: "weft_config_changes_total", help: "Traffic configuration changes offered (files, admin API), by outcome.", type: "counter",
                         samples: outcomes.withLock { counts in
                             ["file", "api"].flatMap { source in
                                 ["applied", "rejected", "unchanged"].map { ([("source", source), ("result", $0)], counts["\(source) \($0)"] ?? 0) }
                             }
                         }),
        ]
    }

    /// `namespace/name:port` → `namespace/name` (the port is its own label in the line's endpoint).
    private static func serviceLabel(_ key: String) -> String {
        guard let colon = key.lastIndex(of: ":") else { return key }
        return String(key[..<colon])
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " | ")
    }
}

/// Why the configuration files could not be re-read.
public struct ConfigReloadError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Re-reads the configuration when its files change: a thread blocked in inotify, which applies
/// each change through `TrafficControl`. Bursts of events (an editor's several writes, a
/// ConfigMap's symlink swap) are read as one change after a short settling time. The thread
/// sleeps until something changes; `stop()` wakes it through an eventfd.
final class ConfigWatcher: Sendable {
    private let wakeup: Wakeup

    private init(wakeup: Wakeup) { self.wakeup = wakeup }

    /// How long the files must stay quiet before they are read (several events usually follow
    /// the first).
    static let settleMilliseconds: Int32 = 100

    /// Starts watching `directory`; `reload` reads the whole configuration again.
    static func start(
        directory: String, control: TrafficControl, log: LogSink, reload: @escaping @Sendable () -> Result<Configuration, ConfigReloadError>
    ) -> (ConfigWatcher, OSThread)? {
        let inotify: FileWatcher
        let watcher: ConfigWatcher
        do {
            inotify = try FileWatcher(directory: directory)
            watcher = ConfigWatcher(wakeup: try Wakeup())
        } catch {
            log.warning("config files not watched", ["path": directory, "reason": "\(error)", "hint": "changes need PUT /config or a restart"])
            return nil
        }
        nonisolated(unsafe) let handedOver = inotify // only the watcher thread uses it from now on
        do {
            let thread = try OSThread.spawn(name: "weft-config") {
                while true {
                    switch handedOver.waitForChange(timeoutMilliseconds: -1, wakeup: watcher.wakeup) {
                    case .woken: return
                    case .timedOut: continue // interrupted: nothing happened
                    case .changed: break
                    }
                    // Let the writer finish; a stop request ends the thread without reading.
                    var settled = handedOver.waitForChange(timeoutMilliseconds: settleMilliseconds, wakeup: watcher.wakeup)
                    while settled == .changed {
                        settled = handedOver.waitForChange(timeoutMilliseconds: settleMilliseconds, wakeup: watcher.wakeup)
                    }
                    if settled == .woken { return }
                    control.reloaded(reload())
                }
            }
            return (watcher, thread)
        } catch {
            log.warning("config files not watched", ["path": directory, "reason": "\(error)"])
            return nil
        }
    }

    /// Asks the thread to return; it wakes at once (join it afterwards).
    func stop() { wakeup.signal() }
}
