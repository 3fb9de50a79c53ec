import Addresses
import Identity

/// How much the proxy logs; the names and order of swift-log's `Logger.Level`, from the most
/// verbose to the least.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case trace, debug, info, notice, warning, error, critical

    /// 0 (trace) to 6 (critical).
    public var severity: UInt8 {
        switch self {
        case .trace: return 0
        case .debug: return 1
        case .info: return 2
        case .notice: return 3
        case .warning: return 4
        case .error: return 5
        case .critical: return 6
        }
    }

    /// Whether `lhs` is more verbose than `rhs`.
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.severity < rhs.severity }
}

/// The proxy's own settings: the `spec` of the `weft.io/v1` `Sidecar` document. Every field has a
/// default (DESIGN.md), so a pod without a Sidecar document runs on `defaults`.
public struct SidecarConfig: Sendable, Equatable {
    /// Worker threads, each with its own epoll loop and SO_REUSEPORT listeners; 0 means one per CPU.
    public var workers: Int
    /// The least severe level that is logged.
    public var logLevel: LogLevel
    /// The port the nat OUTPUT chain redirects the application's outgoing TCP to.
    public var outboundPort: UInt16
    /// The port the nat PREROUTING chain redirects incoming TCP to.
    public var inboundPort: UInt16
    /// The port of the readiness endpoint the kubelet probes (`/healthz/ready`). The PREROUTING
    /// chain lets only 15021, 15090 and 15020 through uncaptured, so another port also needs
    /// `weft init --exclude-inbound-ports` with it.
    public var healthPort: UInt16
    /// The port Prometheus scrapes (`/stats/prometheus`); moving it needs the same exclusion as
    /// `healthPort`.
    public var metricsPort: UInt16
    /// How long connecting to an upstream may take.
    public var connectTimeout: Duration
    /// How long a connection may carry no bytes in either direction before it is closed.
    public var idleTimeout: Duration
    /// How long open connections may finish after a shutdown signal; zero closes them at once.
    public var drainTimeout: Duration
    /// How long the inbound listener keeps accepting after a shutdown signal
    /// (`spec.timeouts.drainDuration`, Istio's terminationDrainDuration): peers that have not yet
    /// seen this endpoint leave their load balancing still reach it, and HTTP responses carry
    /// `Connection: close` meanwhile. The proxy exits once this has passed and no connection is
    /// left, or when `drainTimeout` passes. At most `drainTimeout`.
    public var drainDuration: Duration
    /// How long a TLS handshake, either side, may take before the connection is closed.
    public var tlsHandshakeTimeout: Duration
    /// How long protocol detection waits for a connection's first bytes (`spec.detection.timeout`)
    /// before it is relayed as opaque TCP: a client that speaks first sends its TLS ClientHello
    /// or request at once, but server-first protocols (SMTP, MySQL) wait for the server, so
    /// waiting for bytes forever would stall them.
    public var detectionTimeout: Duration
    /// Destination ports whose connections skip protocol detection and are relayed as opaque TCP
    /// at once (`spec.detection.opaquePorts`): the well-known ports of server-first protocols,
    /// which would otherwise wait out `detectionTimeout` on every connection.
    public var opaquePorts: PortSet
    /// Whether the JSON access log (one line per connection and per HTTP request on stdout) is
    /// written (`spec.accessLog.enabled`, default true).
    public var accessLog: Bool
    /// Bytes of each splice pipe (F_SETPIPE_SZ), 4096...1048576.
    public var pipeSize: Int
    /// Bytes of the user-space copy buffer used when splice cannot be, 4096...16Mi.
    public var bufferSize: Int
    /// Pipes each worker may keep for splice; 0 disables splice (always the buffered copy).
    public var maxPipesPerWorker: Int
    /// Connections each worker holds before it stops accepting; 0 means no limit.
    public var maxConnectionsPerWorker: Int
    /// `metadata.name` of the Sidecar document.
    public var name: String?
    /// `metadata.namespace` of the Sidecar document; PeerAuthentication resolution reads a
    /// missing namespace as `default`, as kubectl does.
    public var namespace: String?
    /// `metadata.labels` of the Sidecar document: the workload's labels, which PeerAuthentication
    /// selectors match.
    public var labels: [String: String]
    /// The workload's certificate, key and trust bundle; nil means no mTLS in either direction.
    public var identity: IdentityConfig?
    /// The destinations that have sidecars, which outbound connections reach over mTLS.
    public var mesh: MeshConfig
    /// Which outbound destinations the application may reach
    /// (`spec.outboundTrafficPolicy.mode`, Istio's names; default `ALLOW_ANY`).
    public var outboundTrafficMode: OutboundTrafficMode

    /// A configuration with the given values, DESIGN.md's defaults for the rest. Values are not
    /// validated here; `Configuration.load` validates what it reads.
    public init(
        workers: Int = 0,
        logLevel: LogLevel = .info,
        outboundPort: UInt16 = 15001,
        inboundPort: UInt16 = 15006,
        healthPort: UInt16 = 15021,
        metricsPort: UInt16 = 15090,
        connectTimeout: Duration = .seconds(5),
        idleTimeout: Duration = .seconds(3600),
        drainTimeout: Duration = .seconds(30),
        drainDuration: Duration = .seconds(5),
        tlsHandshakeTimeout: Duration = .seconds(10),
        detectionTimeout: Duration = .milliseconds(300),
        opaquePorts: PortSet = SidecarConfig.defaultOpaquePorts,
        accessLog: Bool = true,
        pipeSize: Int = 256 << 10,
        bufferSize: Int = 64 << 10,
        maxPipesPerWorker: Int = 1024,
        maxConnectionsPerWorker: Int = 0,
        name: String? = nil,
        namespace: String? = nil,
        labels: [String: String] = [:],
        identity: IdentityConfig? = nil,
        mesh: MeshConfig = .none,
        outboundTrafficMode: OutboundTrafficMode = .allowAny
    ) {
        self.workers = workers
        self.logLevel = logLevel
        self.outboundPort = outboundPort
        self.inboundPort = inboundPort
        self.healthPort = healthPort
        self.metricsPort = metricsPort
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.drainTimeout = drainTimeout
        self.drainDuration = drainDuration
        self.tlsHandshakeTimeout = tlsHandshakeTimeout
        self.detectionTimeout = detectionTimeout
        self.opaquePorts = opaquePorts
        self.accessLog = accessLog
        self.pipeSize = pipeSize
        self.bufferSize = bufferSize
        self.maxPipesPerWorker = maxPipesPerWorker
        self.maxConnectionsPerWorker = maxConnectionsPerWorker
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.identity = identity
        self.mesh = mesh
        self.outboundTrafficMode = outboundTrafficMode
    }

    /// DESIGN.md's values: ports 15001/15006 (capture), 15021 (health), 15090 (metrics); 5s
    /// connect, 1h idle, 30s drain, 10s TLS handshake, 300ms protocol detection with Linkerd's
    /// opaque ports; 256Ki pipes, 64Ki buffers, 1024 pipes per worker, one worker per CPU, no
    /// connection limit; no identity and no mesh, so every connection is relayed as plaintext;
    /// outbound connections to any destination (ALLOW_ANY).
    public static let defaults = SidecarConfig()

    /// Linkerd's default opaque ports (peers.md): SMTP 25 and 587, MySQL 3306, 4444 (Galera),
    /// PostgreSQL 5432, Redis 6379, Elasticsearch 9300, memcached 11211.
    public static let defaultOpaquePorts = PortSet([25, 587, 3306, 4444, 5432, 6379, 9300, 11211])

    /// Whether connections to `port` skip protocol detection: a binary search in
    /// `opaquePorts`, without allocating.
    public func isOpaque(port: UInt16) -> Bool {
        opaquePorts.contains(port)
    }

    /// How to secure an outbound connection to `destination`; see `MeshConfig.security(for:)`.
    /// Allocates nothing, so it can run for every connection.
    public func meshPolicy(for destination: SocketAddress) -> OutboundSecurity {
        mesh.security(for: destination)
    }

    /// The namespace PeerAuthentication policies are matched in: `metadata.namespace`, else
    /// `default`.
    var workloadNamespace: String { namespace ?? "default" }
}

/// `spec.outboundTrafficPolicy.mode`: what happens to an outbound connection whose original
/// destination is not one of the configuration's Services, with Istio's names for the two modes
/// (the Sidecar resource's `outboundTrafficPolicy`).
public enum OutboundTrafficMode: String, Sendable, CaseIterable {
    /// `ALLOW_ANY`, the default: relayed to the address the application dialled, as without a
    /// sidecar (Istio's PassthroughCluster).
    case allowAny = "ALLOW_ANY"
    /// `REGISTRY_ONLY`: refused (Istio's BlackHoleCluster), so only the configuration's Services
    /// can be reached: a connection to one of their cluster IPs and ports, or an HTTP request
    /// whose Host names one of them.
    case registryOnly = "REGISTRY_ONLY"
}

/// Where the workload's mTLS credentials are (`spec.identity`): PEM files the proxy reads, and the
/// trust domain its peers' SPIFFE ids must belong to.
public struct IdentityConfig: Sendable, Equatable {
    /// The workload's certificate, then any intermediates up to (not including) the root.
    public var certificateChain: String
    /// The private key of the workload's certificate.
    public var privateKey: String
    /// The root certificates peers' chains must lead to.
    public var trustBundle: String
    /// The trust domain of this workload and of every peer it accepts.
    public var trustDomain: TrustDomain

    /// An identity read from the given absolute paths, in `trustDomain`.
    public init(certificateChain: String, privateKey: String, trustBundle: String, trustDomain: TrustDomain = IdentityConfig.defaultTrustDomain) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustBundle = trustBundle
        self.trustDomain = trustDomain
    }

    /// `cluster.local`, Kubernetes' and Istio's default (DESIGN.md).
    public static let defaultTrustDomain: TrustDomain = {
        // A valid name by inspection, so parsing it cannot fail.
        try! TrustDomain(parsing: "cluster.local")
    }()
}

/// The admin server's port (DESIGN.md: 127.0.0.1:15000). Binding 0.0.0.0 on it would fail with
/// EADDRINUSE, so no other listener may take it.
private let adminPort: UInt16 = 15000

/// Ports the capture listeners must not take, because Weft's other listeners (DESIGN.md) use them
/// and the PREROUTING chain never redirects them.
private let reservedPorts: [UInt16: String] = [
    15000: "the admin server", 15020: "Istio's agent metrics", 15021: "the kubelet's health checks",
    15090: "Prometheus metrics",
]

/// Reads `kind: Sidecar`.
enum SidecarDocument: DocumentKind {
    static let apiVersions = ["weft.io/v1"]
    static let kind = "Sidecar"

    private static let specFields = [
        "workers", "logLevel", "ports", "timeouts", "relay", "connections", "identity", "mesh", "tls", "detection", "accessLog",
        "outboundTrafficPolicy",
    ]
    private static let portFields = ["outbound", "inbound", "health", "metrics"]
    private static let credentialFields: [(name: String, what: String, example: String)] = [
        ("certificateChain", "the workload's PEM certificate chain", "/var/run/weft/certs/cert-chain.pem"),
        ("privateKey", "the workload's PEM private key", "/var/run/weft/certs/key.pem"),
        ("trustBundle", "the PEM root certificates of the trust domain", "/var/run/weft/certs/root-cert.pem"),
    ]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        // A second Sidecar is still read, so its own mistakes are reported too, but never applied.
        let first = configuration.resources.first { $0.kind == kind }
        if let first {
            reader.report("a second Sidecar document; a configuration has at most one (the first is at \(first.position)), so merge them", at: document.kindNode)
        }
        var sidecar = SidecarConfig.defaults
        sidecar.name = document.name
        sidecar.namespace = document.namespace
        sidecar.labels = document.labels
        if let spec = document.spec, let fields = reader.mapping(spec.value, path: spec.path, known: specFields) {
            readSpec(fields, into: &sidecar, reader: &reader)
        }
        if first == nil { configuration.sidecar = sidecar }
    }

    private static func readSpec(_ spec: [String: Field], into sidecar: inout SidecarConfig, reader: inout DocumentReader) {
        if let field = spec["workers"], let value = reader.integer(field, in: 0...1024, meaning: "0 means one per CPU") {
            sidecar.workers = value
        }
        if let field = spec["logLevel"], let value = reader.choice(field, of: LogLevel.self) {
            sidecar.logLevel = value
        }
        if let ports = spec["ports"], let fields = reader.mapping(ports.value, path: ports.path, known: portFields) {
            readPorts(fields, into: &sidecar, reader: &reader)
        }
        if let timeouts = spec["timeouts"],
           let fields = reader.mapping(timeouts.value, path: timeouts.path, known: ["connect", "idle", "drain", "drainDuration"]) {
            if let field = fields["connect"], let value = reader.duration(field, zeroAllowed: false) {
                sidecar.connectTimeout = value
            }
            if let field = fields["idle"], let value = reader.duration(field, zeroAllowed: false) {
                sidecar.idleTimeout = value
            }
            if let field = fields["drain"], let value = reader.duration(field, zeroAllowed: true) {
                sidecar.drainTimeout = value
            }
            if let field = fields["drainDuration"], let value = reader.duration(field, zeroAllowed: true) {
                sidecar.drainDuration = value
            }
            if sidecar.drainDuration > sidecar.drainTimeout {
                if let field = fields["drainDuration"] {
                    reader.report("`\(field.path)` is \(formatDuration(sidecar.drainDuration)), longer than `spec.timeouts.drain` (\(formatDuration(sidecar.drainTimeout))), which ends every drain; make it at most \(formatDuration(sidecar.drainTimeout))", at: field.value)
                } else {
                    // Only the deadline was set: the listener stays open for all of it, no longer.
                    sidecar.drainDuration = sidecar.drainTimeout
                }
            }
        }
        if let relay = spec["relay"],
           let fields = reader.mapping(relay.value, path: relay.path, known: ["pipeSize", "bufferSize", "maxPipesPerWorker"]) {
            // 1 MiB is the kernel's default /proc/sys/fs/pipe-max-size: F_SETPIPE_SZ above it fails
            // with EPERM for a process without CAP_SYS_RESOURCE, which the proxy never has.
            if let field = fields["pipeSize"],
               let value = reader.byteSize(field, in: 4096...(1 << 20), limit: "1Mi is the kernel's default pipe-max-size") {
                sidecar.pipeSize = value
            }
            if let field = fields["bufferSize"], let value = reader.byteSize(field, in: 4096...(16 << 20)) {
                sidecar.bufferSize = value
            }
            if let field = fields["maxPipesPerWorker"],
               let value = reader.integer(field, in: 0...1_000_000, meaning: "0 disables splice") {
                sidecar.maxPipesPerWorker = value
            }
        }
        if let connections = spec["connections"],
           let fields = reader.mapping(connections.value, path: connections.path, known: ["maxPerWorker"]),
           let field = fields["maxPerWorker"],
           let value = reader.integer(field, in: 0...1_000_000, meaning: "0 means no limit") {
            sidecar.maxConnectionsPerWorker = value
        }
        if let tls = spec["tls"],
           let fields = reader.mapping(tls.value, path: tls.path, known: ["handshakeTimeout"]),
           let field = fields["handshakeTimeout"], let value = reader.duration(field, zeroAllowed: false) {
            sidecar.tlsHandshakeTimeout = value
        }
        if let detection = spec["detection"],
           let fields = reader.mapping(detection.value, path: detection.path, known: ["timeout", "opaquePorts"]) {
            if let field = fields["timeout"], let value = reader.duration(field, zeroAllowed: false) {
                sidecar.detectionTimeout = value
            }
            if let field = fields["opaquePorts"], let ports = readOpaquePorts(field, reader: &reader) {
                sidecar.opaquePorts = ports
            }
        }
        if let accessLog = spec["accessLog"],
           let fields = reader.mapping(accessLog.value, path: accessLog.path, known: ["enabled"]),
           let field = fields["enabled"], let value = reader.boolean(field) {
            sidecar.accessLog = value
        }
        if let policy = spec["outboundTrafficPolicy"],
           let fields = reader.mapping(policy.value, path: policy.path, known: ["mode"]),
           let field = fields["mode"], let value = reader.choice(field, of: OutboundTrafficMode.self) {
            sidecar.outboundTrafficMode = value
        }
        if let identity = spec["identity"] {
            sidecar.identity = readIdentity(identity, reader: &reader)
        }
        if let mesh = spec["mesh"], let fields = reader.mapping(mesh.value, path: mesh.path, known: ["cidrs", "destinations"]) {
            // When `spec.identity` is written but wrong, its own errors say so; repeating that
            // mTLS needs it, or judging trust domains against a default, would only add noise.
            let identityWritten = spec["identity"] != nil
            sidecar.mesh = readMesh(fields, trustDomain: sidecar.identity?.trustDomain, reader: &reader)
            if !sidecar.mesh.isEmpty, !identityWritten {
                reader.report("`spec.mesh` sends outbound connections over mTLS, and mTLS needs spec.identity (the workload's certificate chain, private key and trust bundle); add spec.identity, or remove spec.mesh to relay plaintext", at: mesh.key)
            }
        }
    }

    /// `spec.identity`, or nil after reporting what is missing or wrong.
    private static func readIdentity(_ identity: Field, reader: inout DocumentReader) -> IdentityConfig? {
        let known = credentialFields.map(\.name) + ["trustDomain"]
        guard let fields = reader.mapping(identity.value, path: identity.path, known: known) else { return nil }
        var paths: [String] = []
        var missing: [String] = []
        for credential in credentialFields {
            guard let field = fields[credential.name] else {
                missing.append(credential.name)
                continue
            }
            if let path = reader.absolutePath(field, of: credential.what, example: credential.example) { paths.append(path) }
        }
        if !missing.isEmpty {
            reader.report("`spec.identity` has no \(listWithOr(missing.map { "`\($0)`" })); it needs certificateChain, privateKey and trustBundle, the absolute paths of the workload's PEM files", at: identity.key)
        }
        var trustDomain: TrustDomain? = IdentityConfig.defaultTrustDomain
        if let field = fields["trustDomain"] {
            trustDomain = nil
            if let text = reader.string(field, expecting: "a trust domain such as cluster.local") {
                do { trustDomain = try TrustDomain(parsing: text) } catch {
                    reader.report("`\(field.path)`: \(error)", at: field.value)
                }
            }
        }
        guard paths.count == credentialFields.count, let trustDomain else { return nil }
        return IdentityConfig(certificateChain: paths[0], privateKey: paths[1], trustBundle: paths[2], trustDomain: trustDomain)
    }

    /// `spec.mesh`: the valid ranges and destinations. Destination identities must be workload ids
    /// of `trustDomain` (when it is known), since the proxy trusts no other trust domain's roots.
    private static func readMesh(_ fields: [String: Field], trustDomain: TrustDomain?, reader: inout DocumentReader) -> MeshConfig {
        var cidrs: [CIDR] = []
        if let field = fields["cidrs"], let items = reader.list(field, of: "CIDRs such as 10.0.0.0/8") {
            for item in items {
                if let cidr = readCIDR(item, reader: &reader) { cidrs.append(cidr) }
            }
        }
        var destinations: [MeshDestination] = []
        var seen: [(range: CIDR, port: UInt16?, field: Field)] = []
        if let field = fields["destinations"], let items = reader.list(field, of: "destinations, each with an address and an identity") {
            for item in items {
                guard let destination = readDestination(item, trustDomain: trustDomain, reader: &reader) else { continue }
                if let first = seen.first(where: { $0.range == destination.range && $0.port == destination.port }) {
                    let port = destination.port.map { "port \($0)" } ?? "every port"
                    reader.report("`\(item.path)` is for \(destination.range) and \(port), as `\(first.field.path)` (line \(reader.position(of: first.field.value).line)) is; each range and port may have one expected identity, so remove one of them", at: item.value)
                    continue
                }
                seen.append((destination.range, destination.port, item))
                destinations.append(destination)
            }
        }
        return MeshConfig(cidrs: cidrs, destinations: destinations)
    }

    private static func readDestination(_ item: Field, trustDomain: TrustDomain?, reader: inout DocumentReader) -> MeshDestination? {
        guard let fields = reader.mapping(item.value, path: item.path, known: ["address", "port", "identity"]) else { return nil }
        var missing: [String] = []
        if fields["address"] == nil { missing.append("`address`") }
        if fields["identity"] == nil { missing.append("`identity`") }
        if !missing.isEmpty {
            reader.report("`\(item.path)` has no \(listWithOr(missing)); a destination needs the address (a CIDR, or one address) and the SPIFFE id expected there (for mTLS without an expected id, list the range in spec.mesh.cidrs)", at: item.value)
        }
        let range = fields["address"].flatMap { readCIDR($0, reader: &reader) }
        var port: UInt16?
        var portValid = true
        if let field = fields["port"] {
            let value = reader.integer(field, in: 1...65535)
            port = value.map { UInt16($0) }
            portValid = value != nil
        }
        var identity: SPIFFEID?
        if let field = fields["identity"], let text = reader.string(field, expecting: "a SPIFFE id such as spiffe://cluster.local/ns/default/sa/web") {
            identity = readWorkloadID(text, field: field, trustDomain: trustDomain, reader: &reader)
        }
        guard let range, let identity, portValid else { return nil }
        return MeshDestination(range: range, port: port, identity: identity)
    }

    /// A workload's SPIFFE id in `trustDomain`, or nil after reporting why `text` is not one.
    private static func readWorkloadID(_ text: String, field: Field, trustDomain: TrustDomain?, reader: inout DocumentReader) -> SPIFFEID? {
        let id: SPIFFEID
        do { id = try SPIFFEID(parsing: text) } catch {
            reader.report("`\(field.path)`: \(error)", at: field.value)
            return nil
        }
        let example = "spiffe://\(id.trustDomain)/ns/<namespace>/sa/<service-account>"
        if id.isTrustDomainID {
            reader.report("`\(field.path)` is \(quoted(text)), which names the trust domain, not a workload; write a workload's id, such as \(example)", at: field.value)
            return nil
        }
        if let trustDomain, !id.isMember(of: trustDomain) {
            reader.report("`\(field.path)` is \(quoted(text)), outside the trust domain \(trustDomain) of spec.identity; the proxy trusts only its own trust domain's roots, so no peer could prove this id", at: field.value)
            return nil
        }
        return id
    }

    /// `spec.detection.opaquePorts`: a list of ports 1...65535, each once. The list replaces the
    /// default one, so `[]` detects on every port.
    private static func readOpaquePorts(_ field: Field, reader: inout DocumentReader) -> PortSet? {
        guard let items = reader.list(field, of: "port numbers such as 3306") else { return nil }
        var ports: [UInt16] = []
        var firstLine: [UInt16: Int] = [:]
        var valid = true
        for item in items {
            guard let value = reader.integer(item, in: 1...65535) else {
                valid = false
                continue
            }
            let port = UInt16(value)
            if let line = firstLine[port] {
                reader.report("port \(port) appears twice in `\(field.path)` (first at line \(line)); a port may appear once, so remove one", at: item.value)
                valid = false
                continue
            }
            firstLine[port] = reader.position(of: item.value).line
            ports.append(port)
        }
        return valid ? PortSet(ports) : nil
    }

    /// A CIDR, or a bare address meaning a single host (/32 or /128).
    private static func readCIDR(_ field: Field, reader: inout DocumentReader) -> CIDR? {
        guard let text = reader.string(field, expecting: "a CIDR such as 10.0.0.0/8, or one address") else { return nil }
        do { return try CIDR(parsing: text) } catch {
            reader.report("`\(field.path)` is \(quoted(text)): \(error.reason)", at: field.value)
            return nil
        }
    }

    private static func readPorts(_ fields: [String: Field], into sidecar: inout SidecarConfig, reader: inout DocumentReader) {
        var written: [String: Field] = [:]
        for name in portFields {
            guard let field = fields[name], let value = reader.integer(field, in: 1...65535) else { continue }
            let port = UInt16(value)
            let isCapture = name == "outbound" || name == "inbound"
            if isCapture, let owner = reservedPorts[port] {
                reader.report("`\(field.path)` is \(port), which Weft reserves for \(owner); choose another port", at: field.value)
                continue
            }
            if !isCapture, port == adminPort {
                reader.report("`\(field.path)` is \(port), which Weft's admin server listens on (127.0.0.1:\(adminPort)); choose another port", at: field.value)
                continue
            }
            switch name {
            case "outbound": sidecar.outboundPort = port
            case "inbound": sidecar.inboundPort = port
            case "health": sidecar.healthPort = port
            default: sidecar.metricsPort = port
            }
            written[name] = field
        }
        // Every listener binds the same addresses, and the two capture chains must be told apart
        // by port. Each clash is reported once, at a port that was written (the defaults differ).
        let ports = [sidecar.outboundPort, sidecar.inboundPort, sidecar.healthPort, sidecar.metricsPort]
        for later in 1..<ports.count {
            guard let earlier = (0..<later).first(where: { ports[$0] == ports[later] }) else { continue }
            let (reported, other) = written[portFields[later]] != nil ? (later, earlier) : (earlier, later)
            guard let field = written[portFields[reported]] else { continue }
            let defaulted = written[portFields[other]] == nil ? " (its default)" : ""
            let rule = later <= 1
                ? "the outbound and inbound capture ports must differ"
                : "Weft's listeners (outbound, inbound, health, metrics) each need their own port"
            reader.report("`\(field.path)` is \(ports[later]), the same as `spec.ports.\(portFields[other])`\(defaulted); \(rule)", at: field.value)
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
private func listWithOr(_ items: [String]) -> String {
    guard items.count > 1 else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " or " + items[items.count - 1]
}

/// A set of ports, sorted so that `contains` is a binary search that allocates nothing.
public struct PortSet: Sendable, Hashable, CustomStringConvertible {
    /// The ports, ascending, each once.
    public let ports: [UInt16]

    /// The set of `ports`, in any order, repetitions ignored.
    public init(_ ports: some Sequence<UInt16>) {
        self.ports = Array(Set(ports)).sorted()
    }

    /// Whether `port` is in the set.
    public func contains(_ port: UInt16) -> Bool {
        var low = 0
        var high = ports.count
        while low < high {
            let middle = low + (high - low) / 2
            if ports[middle] < port { low = middle + 1 } else { high = middle }
        }
        return low < ports.count && ports[low] == port
    }

    /// `25, 587, 3306`, or `none`.
    public var description: String { ports.isEmpty ? "none" : ports.map { "\($0)" }.joined(separator: ", ") }
}
