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

    /// Starts everything and blocks until the proxy has drained after SIGTERM/SIGINT (or was told
    /// to stop twice). Throws only when it cannot start (a port in use, unloadable certificates).
    public func run() throws(ProxyStartError) {
        let started = (wall: Clock.wallClock().seconds, monotonic: Clock.monotonicNanoseconds())
        ProcessInfo.ignoreBrokenPipeSignal()
        let descriptorLimit = ProcessInfo.raiseDescriptorLimit()
        // Block before spawning: every thread inherits the mask and the main thread collects signals.
        TerminationSignals.block()

        let health = HealthState()
        let policyNames = configuration.authorizer.policyNames
        let store = try startCredentials(health)
        defer { store?.stop() }

        let workerCount = config.workers > 0 ? config.workers : ProcessInfo.processorCount()
        let trafficStore = TrafficStore(configuration.traffic)
        let board = EndpointStatusBoard()
        let control = TrafficControl(store: trafficStore, board: board, log: log, startup: configuration)
        let seed = Clock.monotonicNanoseconds() ^ UInt64(UInt32(bitPattern: ProcessInfo.processID)) << 32
        var workers: [Worker] = []
        var dataListeners: [(name: String, address: SocketAddress)] = []
        for index in 0..<workerCount {
            let listeners = try makeListeners()
            if index == 0 { dataListeners = [("outbound", listeners[0].address), ("inbound", listeners[1].address)] }
            let security = store.map { WorkerSecurity(store: $0, inbound: configuration.inboundMTLS, config: config) }
            do {
                workers.append(try Worker(
                    index: index, configuration: configuration, listeners: listeners, log: log, accessLog: AccessLog(enabled: config.accessLog),
                    counters: CounterBlock(count: Stat.count),
                    policyCounters: CounterBlock(count: Stat.policySlotCount(policyCount: policyNames.count)), security: security,
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

        let facts = ProxyFacts(startedWall: started.wall, startedMonotonic: started.monotonic, workers: workerCount, listeners: dataListeners)
        let admin = try startAdmin(counters: workers.map(\.counters), policyCounters: workers.map(\.policyCounters),
                                   policyNames: policyNames, store: store, health: health, traffic: control, facts: facts)
        defer { admin.stop() }
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
        log.info("ready", [
            "workers": "\(workerCount)", "pid": "\(ProcessInfo.processID)", "uid": "\(ProcessInfo.userID)",
            "nofile": "\(descriptorLimit)",
            "mtls": store == nil ? "off" : "on", "inbound_mode": store == nil ? "disable" : configuration.inboundMTLS.defaultMode.rawValue,
            "services": "\(configuration.services.count)", "routes": "\(configuration.httpRoutes.count)",
            "outbound_traffic": config.outboundTrafficMode.rawValue, "admin": "127.0.0.1:\(Self.adminPort)",
        ])

        let signal = waitForTermination()
        health.draining.store(true, ordering: .relaxed)
        log.info("draining", ["signal": TerminationSignals.name(signal), "timeout": formatDuration(config.drainTimeout)])
        for worker in workers {
            worker.control.drainRequested.store(true, ordering: .relaxed)
            worker.loop.wake()
        }
        let deadline = Clock.monotonicNanoseconds() &+ config.drainTimeout.nanoseconds
        while !workers.allSatisfy({ $0.control.finished.load(ordering: .relaxed) }) {
            let now = Clock.monotonicNanoseconds()
            let remaining = deadline > now ? Int((deadline - now) / 1_000_000) : 0
            // A second signal during the drain means "now".
            if remaining == 0 || TerminationSignals.wait(timeoutMilliseconds: min(remaining, 50)) != nil {
                for worker in workers {
                    worker.control.terminateRequested.store(true, ordering: .relaxed)
                    worker.loop.wake()
                }
                break
            }
        }
        for thread in threads { thread.join() }
        log.info("exiting", [:])
    }

    private func waitForTermination() -> Int32 {
        while true {
            if let signal = TerminationSignals.wait(timeoutMilliseconds: 1000) { return signal }
        }
    }

    // MARK: - Credentials

    /// Loads the workload certificate (when the Sidecar names one) and watches its files. A
    /// sidecar configured for mTLS does not start without valid credentials: it would refuse every
    /// mesh connection.
    private func startCredentials(_ health: HealthState) throws(ProxyStartError) -> CredentialStore? {
        guard let identity = config.identity else {
            if !configuration.inboundMTLS.portModes.isEmpty || configuration.inboundMTLS.defaultMode == .strict {
                log.warning("PeerAuthentication ignored", ["reason": "spec.identity is not set, so this sidecar has no certificate and speaks no mTLS"])
            }
            return nil
        }
        let files = TLSIdentityFiles(certificateChain: identity.certificateChain, privateKey: identity.privateKey, trustBundle: identity.trustBundle)
        let log = self.log
        let store: CredentialStore
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
                }
            }
        } catch {
            throw ProxyStartError(description: "cannot load the workload certificate: \(error)")
        }
        let current = store.current
        log.info("credentials loaded", [
            "identity": current.identity.description, "serial": current.serial,
            "not_after": Clock.timestamp(seconds: current.notAfter), "trust_anchors": "\(current.trustAnchorCount)",
            "mesh_cidrs": config.mesh.cidrs.map(\.description).joined(separator: ","),
            "ktls": KernelTLS.probe().description,
        ])
        return store
    }

    // MARK: - Admin

    /// Serves readiness on the health port, Prometheus metrics on the metrics port and the admin
    /// API on 127.0.0.1:15000.
    private func startAdmin(
        counters: [CounterBlock], policyCounters: [CounterBlock], policyNames: [String], store: CredentialStore?, health: HealthState,
        traffic: TrafficControl, facts: ProxyFacts
    ) throws(ProxyStartError) -> AdminServer {
        let listen: [(name: String, address: SocketAddress)] = [
            ("health", SocketAddress(IPv6Address.any, port: config.healthPort)),
            ("metrics", SocketAddress(IPv6Address.any, port: config.metricsPort)),
            ("admin", SocketAddress(IPv4Address.loopback, port: Self.adminPort)),
        ]
        // One list for /stats/prometheus and the admin API's /stats.
        let families: @Sendable () -> [MetricFamily] = {
            MetricsRenderer(blocks: counters).families(
                extra: [MetricsRenderer.policyFamily(blocks: policyCounters, policyNames: policyNames)]
                    + Self.credentialMetrics(store: store, health: health) + traffic.metricFamilies())
        }
        var facts = facts
        facts.listeners += listen
        let introspection = AdminIntrospection(
            facts: facts, counters: counters, store: store, health: health, traffic: traffic.store, families: families,
            readiness: { Self.readiness(store: store, health: health) })
        let server: AdminServer
        do {
            server = try AdminServer(listen: listen, writable: ["admin"]) { [log] call in
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

    private static func readiness(store: CredentialStore?, health: HealthState) -> Readiness {
        var problems: [String] = []
        if health.draining.load(ordering: .relaxed) { problems.append("draining: the proxy is shutting down") }
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
    let reloads = Atomic<UInt64>(0)
    let failedReloads = Atomic<UInt64>(0)
    private let lastProblem = Mutex<String?>(nil)

    func setProblem(_ problem: String) { lastProblem.withLock { $0 = problem } }
    func clearProblem() { lastProblem.withLock { $0 = nil } }
    func problem() -> String? { lastProblem.withLock { $0 } }
}
