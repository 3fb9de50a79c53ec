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
    /// How long connecting to an upstream may take.
    public var connectTimeout: Duration
    /// How long a connection may carry no bytes in either direction before it is closed.
    public var idleTimeout: Duration
    /// How long open connections may finish after a shutdown signal; zero closes them at once.
    public var drainTimeout: Duration
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
    /// `metadata.namespace` of the Sidecar document.
    public var namespace: String?

    /// A configuration with the given values, DESIGN.md's defaults for the rest. Values are not
    /// validated here; `Configuration.load` validates what it reads.
    public init(
        workers: Int = 0,
        logLevel: LogLevel = .info,
        outboundPort: UInt16 = 15001,
        inboundPort: UInt16 = 15006,
        connectTimeout: Duration = .seconds(5),
        idleTimeout: Duration = .seconds(3600),
        drainTimeout: Duration = .seconds(30),
        pipeSize: Int = 256 << 10,
        bufferSize: Int = 64 << 10,
        maxPipesPerWorker: Int = 1024,
        maxConnectionsPerWorker: Int = 0,
        name: String? = nil,
        namespace: String? = nil
    ) {
        self.workers = workers
        self.logLevel = logLevel
        self.outboundPort = outboundPort
        self.inboundPort = inboundPort
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.drainTimeout = drainTimeout
        self.pipeSize = pipeSize
        self.bufferSize = bufferSize
        self.maxPipesPerWorker = maxPipesPerWorker
        self.maxConnectionsPerWorker = maxConnectionsPerWorker
        self.name = name
        self.namespace = namespace
    }

    /// DESIGN.md's values: ports 15001/15006, 5s connect, 1h idle, 30s drain, 256Ki pipes, 64Ki
    /// buffers, 1024 pipes per worker, one worker per CPU, no connection limit.
    public static let defaults = SidecarConfig()
}

/// Ports the capture listeners must not take, because Weft's other listeners (DESIGN.md) use them
/// and the PREROUTING chain never redirects them.
private let reservedPorts: [UInt16: String] = [
    15000: "the admin server", 15020: "Istio's agent metrics", 15021: "the kubelet's health checks",
    15090: "Prometheus metrics",
]

/// Reads `kind: Sidecar`.
enum SidecarDocument: DocumentKind {
    static let apiVersion = "weft.io/v1"
    static let kind = "Sidecar"

    private static let specFields = ["workers", "logLevel", "ports", "timeouts", "relay", "connections"]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        // A second Sidecar is still read, so its own mistakes are reported too, but never applied.
        let first = configuration.resources.first { $0.kind == kind }
        if let first {
            reader.report("a second Sidecar document; a configuration has at most one (the first is at \(first.position)), so merge them", at: document.kindNode)
        }
        var sidecar = SidecarConfig.defaults
        sidecar.name = document.name
        sidecar.namespace = document.namespace
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
        if let ports = spec["ports"], let fields = reader.mapping(ports.value, path: ports.path, known: ["outbound", "inbound"]) {
            readPorts(fields, into: &sidecar, reader: &reader)
        }
        if let timeouts = spec["timeouts"],
           let fields = reader.mapping(timeouts.value, path: timeouts.path, known: ["connect", "idle", "drain"]) {
            if let field = fields["connect"], let value = reader.duration(field, zeroAllowed: false) {
                sidecar.connectTimeout = value
            }
            if let field = fields["idle"], let value = reader.duration(field, zeroAllowed: false) {
                sidecar.idleTimeout = value
            }
            if let field = fields["drain"], let value = reader.duration(field, zeroAllowed: true) {
                sidecar.drainTimeout = value
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
    }

    private static func readPorts(_ fields: [String: Field], into sidecar: inout SidecarConfig, reader: inout DocumentReader) {
        var valid: [(field: Field, port: UInt16)] = []
        for (name, field) in [("outbound", fields["outbound"]), ("inbound", fields["inbound"])] {
            guard let field, let value = reader.integer(field, in: 1...65535) else { continue }
            let port = UInt16(value)
            if let owner = reservedPorts[port] {
                reader.report("`\(field.path)` is \(port), which Weft reserves for \(owner); choose another port", at: field.value)
                continue
            }
            if name == "outbound" { sidecar.outboundPort = port } else { sidecar.inboundPort = port }
            valid.append((field, port))
        }
        // Both listeners bind the same addresses, and the two chains must be told apart by port.
        if sidecar.outboundPort == sidecar.inboundPort, let written = valid.last {
            let other = written.field.path.hasSuffix("inbound") ? "spec.ports.outbound" : "spec.ports.inbound"
            let defaulted = valid.count == 1 ? " (its default)" : ""
            reader.report("`\(written.field.path)` is \(written.port), the same as `\(other)`\(defaulted); the outbound and inbound capture ports must differ", at: written.field.value)
        }
    }
}
