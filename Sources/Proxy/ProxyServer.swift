import Addresses
import Admin
import Config
import LinuxSys
import Synchronization
import TLS

/// Why the proxy could not start.
public struct ProxyStartError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The sidecar: one worker thread per core, each with its own SO_REUSEPORT listeners for the
/// outbound (15001) and inbound (15006) ports; an admin thread serving readiness (15021) and
/// metrics (15090); with mTLS, a thread watching the certificate files; and a main thread that
/// only waits for signals.
public final class ProxyServer {
    private let configuration: Configuration
    private var config: SidecarConfig { configuration.sidecar }
    private let log: LogSink
    /// The directory to watch for configuration changes, and how to read the configuration again.
    private let watch: (directory: String, reload: @Sendable () -> Result<Configuration, ConfigReloadError>)?

    /// The admin API's port (Envoy's and Istio's): on 127.0.0.1 only, so only the pod itself
    /// reaches it.
    public static let adminPort: UInt16 = 15000

    public init(
        configuration: Configuration, log: LogSink,
        watch: (directory: String, reload: @Sendable () -> Result<Configuration, ConfigReloadError>)? = nil
    ) {
        self.configuration = configuration
        self.log = log
        self.watch = watch
    }

    /// Starts everything and blocks until the proxy has drained after SIGTERM/SIGINT or
    /// `POST /drain` (or was told to stop at once: a second signal, `POST /quitquitquit`).
    /// Throws only when it cannot start (a port in use, a thread that cannot be created).
    public func run() throws(ProxyStartError) {
        let started = (wall: Clock.wallClock().seconds, monotonic: Clock.monotonicNanoseconds())
        ProcessInfo.ignoreBrokenPipeSignal()
        let descriptorLimit = ProcessInfo.raiseDescriptorLimit()
        // Block before spawning: every thread inherits the mask and the main thread collects signals.
        TerminationSignals.block()
        let stops: StopWaiter
        do {
            stops = StopWaiter(signals: try TerminationSignals.Receiver(), wakeup: try Wakeup())
        } catch {
            throw ProxyStartError(description: "cannot create the main thread's signal and wakeup descriptors: \(error)")
        }

        let health = HealthState(needsCredentials: config.identity != nil, stopWakeup: stops.wakeup)
        let policyNames = configuration.authorizer.policyNames
        let workerCount = config.workers > 0 ? config.workers : ProcessInfo.processorCount()
        // Listeners first: from here connections the interception redirects wait in the backlog
        // rather than being refused, even while the certificate is still awaited.
        var listenerSets: [[Listener]] = []
        for _ in 0..<workerCount { listenerSets.append(try makeListeners()) }
        let counters = (0..<workerCount).map { _ in CounterBlock(count: Stat.count) }
        let policyCounters = (0..<workerCount).map { _ in CounterBlock(count: Stat.policySlotCount(policyCount: policyNames.count)) }
        let log = self.log
        let istioTables = (0..<workerCount).map { index in
            IstioSeriesTable {
                log.warning("metric series limit reached", [
                    "worker": "\(index)", "limit": "\(IstioSeriesTable.maximumSeries)",
                    "effect": "further label sets are counted in the series labelled overflow",
                ])
            }
        }

        let trafficStore = TrafficStore(configuration.traffic)
        let board = EndpointStatusBoard()
        let control = TrafficControl(store: trafficStore, board: board, log: log, startup: configuration)
        let facts = ProxyFacts(startedWall: started.wall, startedMonotonic: started.monotonic, workers: workerCount,
                               listeners: [("outbound", listenerSets[0][0].address), ("inbound", listenerSets[0][1].address)])
        let admin = try startAdmin(counters: counters, policyCounters: policyCounters, policyNames: policyNames,
                                   istio: istioTables, health: health, traffic: control, facts: facts)
        defer { admin.stop() }

        let store: CredentialStore?
        switch startCredentials(health, stops: stops) {
        case .none: store = nil
        case .loaded(let loaded): store = loaded
        case .stopped(let why):
            log.info("exiting", ["reason": "\(why) before the workload certificate could be loaded"])
            return
        }
        defer { store?.stop() }

        let seed = Clock.monotonicNanoseconds() ^ UInt64(UInt32(bitPattern: ProcessInfo.processID)) << 32
        var workers: [Worker] = []
        for (index, listeners) in listenerSets.enumerated() {
            let security = store.map { WorkerSecurity(store: $0, inbound: configuration.inboundMTLS, config: config) }
            do {
                workers.append(try Worker(
                    index: index, configuration: configuration, listeners: listeners, log: log, accessLog: AccessLog(enabled: config.accessLog),
                    counters: counters[index], policyCounters: policyCounters[index], istio: istioTables[index], security: security,
                    traffic: WorkerTraffic(store: trafficStore, board: board, seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
                ))
            } catch {
                throw ProxyStartError(description: "cannot create worker \(index)'s event loop: \(error)")
            }
            log.info("listening", [
                "worker": "\(index)",
                "outbound": "\(listeners[0].address)", "inbound": "\(listeners[1].address)",
            ])
        }

        let watcher = watch.flatMap { ConfigWatcher.start(directory: $0.directory, control: control, log: log, reload: $0.reload) }
        defer {
            if let (watcher, thread) = watcher {
                watcher.stop()
                thread.join()
            }
        }

        var threads: [OSThread] = []
        for worker in workers {
            nonisolated(unsafe) let worker = worker // handed over: only the new thread touches it from now on
            do {
                threads.append(try OSThread.spawn(name: "weft-worker-\(worker.index)") { worker.run() })
            } catch {
                throw ProxyStartError(description: "cannot start worker thread: \(error)")
            }
        }
        health.started.store(true, ordering: .releasing)
        log.info("ready", [
            "workers": "\(workerCount)", "pid": "\(ProcessInfo.processID)", "uid": "\(ProcessInfo.userID)",
            "nofile": "\(descriptorLimit)",
            "mtls": store == nil ? "off" : "on", "inbound_mode": store == nil ? "disable" : configuration.inboundMTLS.defaultMode.rawValue,
            "services": "\(configuration.services.count)", "routes": "\(configuration.httpRoutes.count)",
            "outbound_traffic": config.outboundTrafficMode.rawValue, "admin": "127.0.0.1:\(Self.adminPort)",
        ])

        let stop = waitForStop(health, stops: stops)
        health.draining.store(true, ordering: .relaxed)
        drain(workers, after: stop, health: health, stops: stops)
        for thread in threads { thread.join() }
        log.info("exiting", [:])
    }

    /// What ended the serving phase.
    enum StopRequest {
        case signal(Int32)
        /// `POST /drain`.
        case drain
        /// `POST /quitquitquit`: no drain.
        case quit

        var description: String {
            switch self {
            case .signal(let signal): return TerminationSignals.name(signal)
            case .drain: return "POST /drain"
            case .quit: return "POST /quitquitquit"
            }
        }
    }

    /// Waits up to `timeoutMilliseconds` for a termination signal or an admin request to stop
    /// (the admin thread sets a flag and signals the waiter's wakeup); nil when the time passed.
    private func waitForStop(_ health: HealthState, stops: StopWaiter, timeoutMilliseconds: Int) -> StopRequest? {
        if case .stop(let request) = stops.wait(health, timeoutMilliseconds: timeoutMilliseconds) { return request }
        return nil
    }

    private func waitForStop(_ health: HealthState, stops: StopWaiter) -> StopRequest {
        while true {
            if case .stop(let request) = stops.wait(health, timeoutMilliseconds: nil) { return request }
        }
    }

    /// The drain (Istio's and Envoy's): readiness already says 503; for `drainDuration` every
    /// listener keeps accepting and inbound HTTP responses carry `Connection: close`; then the
    /// inbound listener closes with the idle inbound connections, and the process ends when the
    /// last connection has (outbound keeps working until then), or when `drainTimeout` passes
    /// (the rest are reset). A second signal or `/quitquitquit` ends it at once.
    private func drain(_ workers: [Worker], after stop: StopRequest, health: HealthState, stops: StopWaiter) {
        let start = Clock.monotonicNanoseconds()
        let inboundAt = start &+ config.drainDuration.nanoseconds
        let deadline = start &+ config.drainTimeout.nanoseconds
        func tell(_ raise: (WorkerControl) -> Void) {
            for worker in workers {
                raise(worker.control)
                worker.loop.wake()
            }
        }
        if case .quit = stop {
            log.info("quitting", ["reason": stop.description])
            tell { $0.terminateRequested.store(true, ordering: .relaxed) }
            return
        }
        log.info("draining", [
            "reason": stop.description, "drain_duration": formatDuration(config.drainDuration),
            "timeout": formatDuration(config.drainTimeout),
        ])
        tell { $0.drainRequested.store(true, ordering: .relaxed) }
        var inboundStopped = false
        while !workers.allSatisfy({ $0.control.finished.load(ordering: .relaxed) }) {
            let now = Clock.monotonicNanoseconds()
            if !inboundStopped, now >= inboundAt {
                inboundStopped = true
                tell { $0.stopInboundRequested.store(true, ordering: .relaxed) }
            }
            let again = now >= deadline ? nil : waitForStop(health, stops: stops, timeoutMilliseconds: 50)
            let requestedNow: Bool
            switch again {
            case .signal?, .quit?: requestedNow = true
            default: requestedNow = false
            }
            if now >= deadline || requestedNow {
                let live = workers.reduce(0) { $0 + Stat.activeConnections(in: $1.counters) }
                log.info("drain ended", ["reason": now >= deadline ? "drain timeout" : again!.description, "connections_reset": "\(live)"])
                tell { $0.terminateRequested.store(true, ordering: .relaxed) }
                return
            }
            if case .drain? = again {
                // Already draining; cleared so the next look waits again (a quit stays).
                _ = health.stopRequest.compareExchange(expected: HealthState.drainRequest, desired: 0, ordering: .relaxed)
            }
        }
    }

    // MARK: - Credentials

    private enum CredentialsOutcome {
        /// The Sidecar has no identity: no mTLS.
        case none
        case loaded(CredentialStore)
        /// Told to stop while the certificate was awaited.
        case stopped(String)
    }

    /// Loads the workload certificate (when the Sidecar names one) and watches its files. Until
    /// the files load the proxy is not ready (503 with the reason) and serves no traffic — a
    /// sidecar without its certificate would refuse every mesh connection — and it tries again
    /// when something changes in the files' directories (inotify, so a certificate issued after
    /// start by an agent or a CSI driver is loaded as it arrives), and every 5 s regardless. Where
    /// inotify is unavailable it tries every quarter second.
    private func startCredentials(_ health: HealthState, stops: StopWaiter) -> CredentialsOutcome {
        guard let identity = config.identity else {
            if !configuration.inboundMTLS.portModes.isEmpty || configuration.inboundMTLS.defaultMode == .strict {
                log.warning("PeerAuthentication ignored", ["reason": "spec.identity is not set, so this sidecar has no certificate and speaks no mTLS"])
            }
            return .none
        }
        let files = TLSIdentityFiles(certificateChain: identity.certificateChain, privateKey: identity.privateKey, trustBundle: identity.trustBundle)
        let log = self.log
        var lastFailure: String?
        var store: CredentialStore?
        var watch: FileWatcher?
        var watchTried = false
        while store == nil {
            do {
                store = try CredentialStore.start(files: files, trustDomain: identity.trustDomain) { event in
                    switch event {
                    case .reloaded(let credentials, let generation):
                        health.reloads.add(1, ordering: .relaxed)
                        health.clearProblem()
                        log.info("credentials reloaded", [
                            "identity": credentials.identity.description, "serial": credentials.serial,
                            "not_after": Clock.timestamp(seconds: credentials.notAfter), "generation": "\(generation)",
                        ])
                    case .reloadFailed(let error):
                        health.failedReloads.add(1, ordering: .relaxed)
                        health.setProblem("the certificate files do not load (\(error)); new handshakes keep the previous certificate")
                        log.error("credentials reload failed", ["reason": error.description])
                    case .invalidCredentialsInUse(let credentials):
                        log.error("credentials in use are not valid now", [
                            "serial": credentials.serial, "not_before": Clock.timestamp(seconds: credentials.notBefore),
                            "not_after": Clock.timestamp(seconds: credentials.notAfter),
                        ])
                    case .notWatched(let reason):
                        log.warning("certificate files not watched", [
                            "reason": reason, "effect": "rotations are noticed by looking at the files every 250 ms",
                        ])
                    }
                }
            } catch {
                let reason = "\(error)"
                health.setCredentialsProblem("waiting for the workload certificate: \(reason)")
                if reason != lastFailure {
                    lastFailure = reason
                    log.error("cannot load the workload certificate; not ready until it loads", ["reason": reason])
                }
                if !watchTried {
                    // Watch first, then look again at once: files that arrived in between are
                    // found by that look, later ones reported by inotify.
                    watchTried = true
                    watch = watchCredentialDirectories(files)
                    continue
                }
                if let stop = waitForCredentialFiles(files, watch: &watch, health: health, stops: stops) {
                    if case .drain = stop { health.draining.store(true, ordering: .relaxed) }
                    return .stopped(stop.description)
                }
            }
        }
        let loaded = store!
        health.setCredentials(loaded)
        let current = loaded.current
        log.info("credentials loaded", [
            "identity": current.identity.description, "serial": current.serial,
            "not_after": Clock.timestamp(seconds: current.notAfter), "trust_anchors": "\(current.trustAnchorCount)",
            "mesh_cidrs": config.mesh.cidrs.map(\.description).joined(separator: ","),
            "ktls": KernelTLS.probe().description,
        ])
        return .loaded(loaded)
    }

    /// inotify on the directories of the certificate files, or nil (with a warning) where it is
    /// unavailable.
    private func watchCredentialDirectories(_ files: TLSIdentityFiles) -> FileWatcher? {
        do {
            let watcher = try FileWatcher()
            _ = try watcher.watch(directories: files.watchedDirectories)
            return watcher
        } catch {
            log.warning("certificate files not watched", ["reason": "\(error)", "effect": "looking for them every 250 ms"])
            return nil
        }
    }

    /// Waits until the certificate files may have changed: something changed in their
    /// directories and then stayed quiet (or `CredentialStore.retryMilliseconds` passed;
    /// without a watch, a quarter second). Returns a stop request that came meanwhile.
    private func waitForCredentialFiles(
        _ files: TLSIdentityFiles, watch: inout FileWatcher?, health: HealthState, stops: StopWaiter
    ) -> StopRequest? {
        var outcome = stops.wait(health, timeoutMilliseconds: watch == nil ? 250 : CredentialStore.retryMilliseconds, files: watch)
        guard case .filesChanged = outcome, let watcher = watch else {
            if case .stop(let request) = outcome { return request }
            return nil
        }
        // Let the writer finish (`weft ca issue` renames three files; kubelet swaps `..data`).
        let settleStart = Clock.monotonicNanoseconds()
        while case .filesChanged = outcome, Clock.monotonicNanoseconds() - settleStart < 1_000_000_000 {
            outcome = stops.wait(health, timeoutMilliseconds: CredentialStore.settleMilliseconds, files: watcher)
        }
        if case .stop(let request) = outcome { return request }
        // Follow directories that appeared or went.
        do {
            _ = try watcher.watch(directories: files.watchedDirectories)
        } catch {
            log.warning("certificate files not watched", ["reason": "\(error)", "effect": "looking for them every 250 ms"])
            watch = nil
        }
        return nil
    }

    // MARK: - Admin

    /// Serves readiness on the health port, Prometheus metrics on the metrics port and the admin
    /// API on 127.0.0.1:15000.
    private func startAdmin(
        counters: [CounterBlock], policyCounters: [CounterBlock], policyNames: [String], istio: [IstioSeriesTable], health: HealthState,
        traffic: TrafficControl, facts: ProxyFacts
    ) throws(ProxyStartError) -> AdminServer {
        let config = self.config
        let listen: [(name: String, address: SocketAddress)] = [
            ("health", SocketAddress(IPv6Address.any, port: config.healthPort)),
            ("metrics", SocketAddress(IPv6Address.any, port: config.metricsPort)),
            ("admin", SocketAddress(IPv4Address.loopback, port: Self.adminPort)),
        ]
        // One list for /stats/prometheus and the admin API's /stats.
        let families: @Sendable () -> [MetricFamily] = {
            let store = health.credentials
            return MetricsRenderer(blocks: counters).families(
                extra: [MetricsRenderer.policyFamily(blocks: policyCounters, policyNames: policyNames)]
                    + Self.credentialMetrics(store: store, health: health) + traffic.metricFamilies()
                    + IstioMetricsRenderer(tables: istio, workload: IstioWorkload(
                        name: config.name, namespace: config.namespace, labels: config.labels, principal: store?.current.identity)).families())
        }
        var facts = facts
        facts.listeners += listen
        let introspection = AdminIntrospection(
            facts: facts, counters: counters, health: health, traffic: traffic.store, families: families,
            readiness: { Self.readiness(store: health.credentials, health: health) })
        let server: AdminServer
        do {
            server = try AdminServer(listen: listen, writable: ["admin"]) { [log] call in
                let store = health.credentials
                if call.listener == "admin" {
                    switch call.path {
                    case "/ready":
                        let readiness = Self.readiness(store: store, health: health)
                        return readiness.isReady
                            ? AdminResponse(status: 200, body: "ready\n")
                            : AdminResponse(status: 503, body: readiness.problems.joined(separator: "\n") + "\n")
                    case "/live":
                        // The admin thread answering is the liveness signal (workers have no locks to
                        // deadlock on; a crashed worker takes the process down).
                        return AdminResponse(status: 200, body: "live\n")
                    case "/logging":
                        return Self.logging(call, log: log)
                    case "/drain", "/quitquitquit":
                        return Self.stop(call, health: health, log: log)
                    default:
                        return introspection.handle(call) ?? traffic.handle(call)
                    }
                }
                let listener = call.listener
                let path = call.path
                switch (listener, path) {
                case ("health", "/healthz/ready"):
                    let readiness = Self.readiness(store: store, health: health)
                    return readiness.isReady
                        ? AdminResponse(status: 200, body: "ready\n")
                        : AdminResponse(status: 503, body: readiness.problems.joined(separator: "\n") + "\n")
                case ("metrics", "/stats/prometheus"), ("metrics", "/metrics"):
                    let text = families().map(\.text).joined()
                    return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text)
                default:
                    return nil
                }
            }
        } catch {
            throw ProxyStartError(description: "cannot listen on the health (\(config.healthPort)), metrics (\(config.metricsPort)) or admin (127.0.0.1:\(Self.adminPort)) port: \(error)")
        }
        do {
            _ = try server.start()
        } catch {
            throw ProxyStartError(description: "cannot start the admin thread: \(error)")
        }
        return server
    }

    /// `GET /logging`: the level; `POST /logging?level=L`: changes it at once, on every thread.
    private static func logging(_ call: AdminCall, log: LogSink) -> AdminResponse {
        let names = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
        switch call.method {
        case "GET", "HEAD":
            return AdminResponse(status: 200, body: "level: \(log.level.rawValue)\n")
        case "POST":
            let requested = call.query.split(separator: "&").first { $0.hasPrefix("level=") }.map { String($0.dropFirst(6)) }
            guard let requested, let level = LogLevel(rawValue: requested) else {
                return AdminResponse(status: 400, body: "POST /logging?level=L with L one of \(names)\n")
            }
            let previous = log.level
            log.level = level
            log.log(.notice, "log level changed", ["from": previous.rawValue, "to": level.rawValue])
            return AdminResponse(status: 200, body: "level: \(level.rawValue) (was \(previous.rawValue))\n")
        default:
            return AdminResponse(status: 405, body: "GET or POST /logging?level=L\n")
        }
    }

    /// `POST /drain`: the drain SIGTERM starts; `POST /quitquitquit`: exit now (a Job's
    /// application is done). The main thread, woken through `HealthState.stopWakeup`, acts at once.
    private static func stop(_ call: AdminCall, health: HealthState, log: LogSink) -> AdminResponse {
        guard call.method == "POST" else { return AdminResponse(status: 405, body: "POST \(call.path)\n") }
        let quit = call.path == "/quitquitquit"
        // Read and logged before the request: it wakes the main thread, which may start draining
        // (and log it) before this thread runs again.
        let wasDraining = health.draining.load(ordering: .relaxed)
        log.info(quit ? "quit requested" : "drain requested", ["source": "admin"])
        let previous = health.requestStop(quit ? HealthState.quitRequest : HealthState.drainRequest)
        if quit { return AdminResponse(status: 200, body: "exiting\n") }
        return AdminResponse(status: 200, body: previous == 0 && !wasDraining ? "draining\n" : "already draining\n")
    }

    private static func readiness(store: CredentialStore?, health: HealthState) -> Readiness {
        var problems: [String] = []
        if health.draining.load(ordering: .relaxed) { problems.append("draining: the proxy is shutting down") }
        if let problem = health.credentialsProblem() {
            problems.append(problem)
        } else if !health.started.load(ordering: .acquiring) {
            problems.append("starting: the workers are not running yet")
        }
        if let store {
            let current = store.current
            if !current.isValidNow {
                problems.append("the workload certificate \(current.identity) (serial \(current.serial)) is not valid now: valid \(Clock.timestamp(seconds: current.notBefore)) to \(Clock.timestamp(seconds: current.notAfter))")
            }
            if let problem = health.problem() { problems.append(problem) }
        }
        return Readiness(problems: problems)
    }

    private static func credentialMetrics(store: CredentialStore?, health: HealthState) -> [MetricFamily] {
        guard let store else { return [] }
        let current = store.current
        return [
            MetricFamily(name: "weft_certificate_expiration_timestamp_seconds", help: "When the workload certificate in use expires (Unix time).",
                         type: "gauge", samples: [([], UInt64(max(0, current.notAfter)))]),
            MetricFamily(name: "weft_certificate_valid", help: "1 while the workload certificate in use is within its validity.",
                         type: "gauge", samples: [([], current.isValidNow ? 1 : 0)]),
            MetricFamily(name: "weft_credential_reloads_total", help: "Certificate rotations picked up, by result.", type: "counter",
                         samples: [([("result", "ok")], health.reloads.load(ordering: .relaxed)),
                                   ([("result", "failed")], health.failedReloads.load(ordering: .relaxed))]),
        ]
    }

    // MARK: - Listeners

    /// One outbound and one inbound listener (in that order) for a worker. A dual-stack AF_INET6
    /// socket takes both families; where IPv6 is compiled out (EAFNOSUPPORT) IPv4 alone is used.
    private func makeListeners() throws(ProxyStartError) -> [Listener] {
        [
            try makeListener(port: config.outboundPort, direction: .outbound),
            try makeListener(port: config.inboundPort, direction: .inbound),
        ]
    }

    private func makeListener(port: UInt16, direction: TrafficDirection) throws(ProxyStartError) -> Listener {
        var descriptor: Descriptor
        var address = SocketAddress(IPv6Address.any, port: port)
        do throws(SyscallError) {
            descriptor = try Socket.makeTCP(.ipv6)
            do {
                try Socket.setDualStack(descriptor)
            } catch {
                descriptor.close()
                throw error
            }
        } catch {
            guard error.errno == .addressFamilyNotSupported else {
                throw ProxyStartError(description: "cannot create the \(direction) listener: \(error)")
            }
            do {
                descriptor = try Socket.makeTCP(.ipv4)
            } catch {
                throw ProxyStartError(description: "cannot create the \(direction) listener: \(error)")
            }
            address = SocketAddress(IPv4Address.any, port: port)
        }
        do {
            try Socket.setReuseAddress(descriptor)
            try Socket.setReusePort(descriptor)
            try Socket.bind(descriptor, to: address)
            try Socket.listen(descriptor, backlog: 4096)
        } catch {
            descriptor.close()
            let hint = error.errno == .addressInUse
                ? " — another process (another weft proxy?) already listens on port \(port) in this network namespace"
                : error.errno == .accessDenied ? " — ports below 1024 need CAP_NET_BIND_SERVICE; use the defaults 15001/15006" : ""
            throw ProxyStartError(description: "cannot listen on \(address) for \(direction) traffic: \(error)\(hint)")
        }
        return Listener(descriptor: descriptor, direction: direction, address: address)
    }
}

/// What readiness and the credential metrics need to know, shared by the certificate watcher
/// thread (writer), the main thread (draining) and the admin thread (reader). Off the data path.
final class HealthState: Sendable {
    let draining = Atomic<Bool>(false)
    /// The workers run (set once, after they were spawned).
    let started = Atomic<Bool>(false)
    let reloads = Atomic<UInt64>(0)
    let failedReloads = Atomic<UInt64>(0)
    /// What the admin API asked the main thread to do: 0 nothing, `drainRequest`, `quitRequest`.
    let stopRequest = Atomic<Int>(0)
    static let drainRequest = 1
    static let quitRequest = 2
    private let lastProblem = Mutex<String?>(nil)
    /// Why there are no credentials yet (the Sidecar names an identity whose files do not load).
    private let missingCredentials: Mutex<String?>
    private let store = Mutex<CredentialStore?>(nil)
    /// Signalled after each stop request, so the main thread's wait ends at once.
    private let stopWakeup: Wakeup?

    init(needsCredentials: Bool = false, stopWakeup: Wakeup? = nil) {
        missingCredentials = Mutex(needsCredentials ? "waiting for the workload certificate" : nil)
        self.stopWakeup = stopWakeup
    }

    func setProblem(_ problem: String) { lastProblem.withLock { $0 = problem } }
    func clearProblem() { lastProblem.withLock { $0 = nil } }
    func problem() -> String? { lastProblem.withLock { $0 } }

    func setCredentialsProblem(_ problem: String) { missingCredentials.withLock { $0 = problem } }
    func credentialsProblem() -> String? { missingCredentials.withLock { $0 } }

    /// The credentials loaded: readiness and the certificate metrics read them from here.
    func setCredentials(_ loaded: CredentialStore) {
        store.withLock { $0 = loaded }
        missingCredentials.withLock { $0 = nil }
    }

    var credentials: CredentialStore? { store.withLock { $0 } }

    /// Records a stop request and wakes the main thread; a quit overrides a drain, never the
    /// other way round. Returns the request that was there before.
    func requestStop(_ request: Int) -> Int {
        // Signalled after the flag is stored, so the woken thread sees it.
        defer { stopWakeup?.signal() }
        var previous = stopRequest.load(ordering: .relaxed)
        while previous < request {
            let (exchanged, original) = stopRequest.compareExchange(expected: previous, desired: request, ordering: .acquiringAndReleasing)
            if exchanged { return original }
            previous = original
        }
        return previous
    }
}

/// What the main thread waits on when it is not starting or draining anything: the termination
/// signals (a signalfd) and the admin API's stop requests (a flag in `HealthState`, and `wakeup`,
/// which `HealthState.requestStop` signals), and while the certificate is awaited, its
/// directories. It sleeps in poll(2) until one of them has something; no timeout is needed to
/// notice a flag. Used by the main thread only.
struct StopWaiter {
    let signals: TerminationSignals.Receiver
    let wakeup: Wakeup

    enum Outcome {
        case stop(ProxyServer.StopRequest)
        /// Something changed in a directory `files` watches (its events are consumed).
        case filesChanged
        case timedOut
    }

    /// Waits up to `timeoutMilliseconds` (nil: without a limit). A signal comes before an admin
    /// request, and both before a file change, when they arrive together.
    func wait(_ health: HealthState, timeoutMilliseconds: Int?, files: FileWatcher? = nil) -> Outcome {
        let deadline = timeoutMilliseconds.map { Clock.monotonicNanoseconds() &+ UInt64(max(0, $0)) &* 1_000_000 }
        let descriptors = [signals.descriptor, wakeup.descriptor] + (files.map { [$0.descriptor] } ?? [])
        var filesChanged = false
        while true {
            if let signal = signals.take() { return .stop(.signal(signal)) }
            switch health.stopRequest.load(ordering: .acquiring) {
            case HealthState.drainRequest: return .stop(.drain)
            case HealthState.quitRequest: return .stop(.quit)
            default: break
            }
            if filesChanged { return .filesChanged }
            var remaining: Int32 = -1
            if let deadline {
                let now = Clock.monotonicNanoseconds()
                if now >= deadline { return .timedOut }
                remaining = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            }
            let ready = Poll.waitReadable(descriptors, timeoutMilliseconds: remaining)
            // Drained before the flag is looked at again: a request made after this read signals
            // anew, so none is lost.
            if ready[1] { wakeup.drain() }
            if let files, ready.count > 2, ready[2] { filesChanged = files.consumeEvents() }
        }
    }
}
