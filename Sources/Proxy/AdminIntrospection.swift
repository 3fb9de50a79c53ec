import Addresses
import Admin
import LinuxSys
import TLS

/// What the proxy knows about itself from its start, for `/status`.
struct ProxyFacts: Sendable {
    /// Wall-clock seconds at the start of `ProxyServer.run`.
    let startedWall: Int
    /// Monotonic nanoseconds at the same moment (uptime does not jump with the clock).
    let startedMonotonic: UInt64
    let workers: Int
    /// Every listening socket by purpose: outbound and inbound (the first worker's; every worker
    /// binds the same), then health, metrics and admin.
    var listeners: [(name: String, address: SocketAddress)]
}

/// The admin API's read-only views of the running proxy: `/stats`, `/certs` and `/status`. Runs
/// on the admin thread and reads only counters, atomics, the credential store's lock and the
/// traffic store: nothing a worker waits for.
final class AdminIntrospection: Sendable {
    private let facts: ProxyFacts
    private let counters: [CounterBlock]
    private let health: HealthState
    /// The credentials, once loaded (the proxy serves the admin API while it waits for them).
    private var store: CredentialStore? { health.credentials }
    private let traffic: TrafficStore
    /// The families `/stats/prometheus` renders, so that `/stats` shows the same samples.
    private let families: @Sendable () -> [MetricFamily]
    private let readiness: @Sendable () -> Readiness

    init(
        facts: ProxyFacts, counters: [CounterBlock], health: HealthState, traffic: TrafficStore,
        families: @escaping @Sendable () -> [MetricFamily], readiness: @escaping @Sendable () -> Readiness
    ) {
        self.facts = facts
        self.counters = counters
        self.health = health
        self.traffic = traffic
        self.families = families
        self.readiness = readiness
    }

    /// Answers `/stats`, `/certs` and `/status`; nil for any other path.
    func handle(_ call: AdminCall) -> AdminResponse? {
        guard ["/stats", "/certs", "/status"].contains(call.path) else { return nil }
        guard call.method == "GET" || call.method == "HEAD" else {
            return AdminResponse(status: 405, body: "use GET here; see GET / for the admin API\n")
        }
        switch call.path {
        case "/stats":
            return stats(call)
        case "/certs":
            return AdminResponse(status: 200, contentType: "application/json", body: CertificatesPage.json(certificates(), now: Clock.wallClock().seconds).text)
        default:
            return AdminResponse(status: 200, contentType: "application/json", body: report().json.text)
        }
    }

    private func stats(_ call: AdminCall) -> AdminResponse {
        let usage = "GET /stats[?filter=SUBSTRING][&usedonly]\n"
        guard let parameters = call.queryParameters else {
            return AdminResponse(status: 400, body: "the query has a malformed %-escape; " + usage)
        }
        var filter: String?
        var usedOnly = false
        for (name, value) in parameters {
            switch name {
            case "filter": filter = value
            case "usedonly": usedOnly = true
            default: return AdminResponse(status: 400, body: "unknown parameter \(name); " + usage)
            }
        }
        return AdminResponse(status: 200, body: StatsText.render(families(), filter: filter, usedOnly: usedOnly))
    }

    private func certificates() -> CertificatesPage.Credentials? {
        guard let store else { return nil }
        let view = store.view()
        let credentials = view.credentials
        return CertificatesPage.Credentials(
            identity: credentials.identity.description, trustDomain: credentials.trustDomain.name, generation: view.generation,
            files: credentials.files, chain: credentials.chain, trustAnchors: credentials.trustAnchors)
    }

    /// The proxy's state now.
    func report() -> StatusReport {
        let now = Clock.wallClock().seconds
        var identity: String?
        var certificate: StatusReport.Certificate?
        if let store {
            let current = store.current
            identity = current.identity.description
            certificate = StatusReport.Certificate(
                serial: current.serial, notBefore: Clock.timestamp(seconds: current.notBefore),
                notAfter: Clock.timestamp(seconds: current.notAfter), secondsUntilExpiration: current.notAfter - now,
                valid: current.isValid(at: now))
        }
        let snapshot = traffic.current
        let documents = snapshot.documents
        let connections = Self.connectionCounts(counters)
        let elapsed = Clock.monotonicNanoseconds() &- facts.startedMonotonic
        return StatusReport(
            version: weftVersion, pid: Int(ProcessInfo.processID), startTime: Clock.timestamp(seconds: facts.startedWall),
            uptimeSeconds: Int(elapsed / 1_000_000_000), identity: identity, certificate: certificate,
            trafficConfig: StatusReport.TrafficConfig(
                version: snapshot.version, services: documents.services.count, endpointSlices: documents.endpointSlices.count,
                httpRoutes: documents.httpRoutes.count, destinationRules: documents.destinationRules.count),
            listeners: facts.listeners.map { StatusReport.Listener(name: $0.name, address: $0.address.description) },
            workers: facts.workers, activeConnections: connections.active, openedConnections: connections.opened,
            draining: health.draining.load(ordering: .relaxed), problems: readiness().problems)
    }

    /// Connections open now (accepted minus ended) and accepted in all, per direction, over every
    /// worker's counters.
    static func connectionCounts(_ blocks: [CounterBlock]) -> (active: StatusReport.DirectionCounts, opened: StatusReport.DirectionCounts) {
        func counts(_ direction: TrafficDirection) -> (active: Int, opened: Int) {
            var active: UInt64 = 0
            var opened: UInt64 = 0
            for block in blocks {
                // Ended first, then accepted: a connection is counted as accepted before it can
                // end, so the later read of `accepted` covers every ended one read before it.
                // The loads are relaxed, so the difference is clamped rather than trusted.
                let ended = Stat.ends.reduce(UInt64(0)) { $0 &+ block.load(Stat.closed(direction, $1)) }
                let accepted = block.load(Stat.opened(direction))
                active &+= accepted > ended ? accepted - ended : 0
                opened &+= accepted
            }
            return (Int(clamping: active), Int(clamping: opened))
        }
        let outbound = counts(.outbound)
        let inbound = counts(.inbound)
        return (StatusReport.DirectionCounts(outbound: outbound.active, inbound: inbound.active),
                StatusReport.DirectionCounts(outbound: outbound.opened, inbound: inbound.opened))
    }
}

/// The admin API's `/stats`: every sample of the metric families, one line each, sorted, as
/// `name{label=value,…}: value` (Envoy's `/stats` is read the same way) without HELP and TYPE;
/// a histogram as its `_count` and `_sum`.
/// Labels with an empty value are left out (Prometheus reads an empty label as no label); in
/// values, backslash and newline are escaped as in the exposition format.
enum StatsText {
    /// `filter` keeps the lines whose `name{labels}` contains it; `usedOnly` drops zero values.
    static func render(_ families: [MetricFamily], filter: String? = nil, usedOnly: Bool = false) -> String {
        var lines: [String] = []
        for family in families {
            for sample in family.samples where !(usedOnly && sample.value == 0) {
                let labels = sample.labels.filter { !$0.1.isEmpty }.map { "\($0.0)=\(escape($0.1))" }
                let name = labels.isEmpty ? family.name : "\(family.name){\(labels.joined(separator: ","))}"
                if let filter, !filter.isEmpty, !name.contains(filter) { continue }
                lines.append("\(name): \(sample.value)")
            }
            // Histograms by their count and sum; buckets are for Prometheus, not for reading.
            for histogram in family.histograms where !(usedOnly && histogram.count == 0) {
                let labels = histogram.labels.filter { !$0.1.isEmpty }.map { "\($0.0)=\(escape($0.1))" }
                let suffix = labels.isEmpty ? "" : "{\(labels.joined(separator: ","))}"
                for (part, value) in [("_count", String(histogram.count)), ("_sum", histogram.sum)] {
                    let name = family.name + part + suffix
                    if let filter, !filter.isEmpty, !name.contains(filter) { continue }
                    lines.append("\(name): \(value)")
                }
            }
        }
        return lines.sorted().map { $0 + "\n" }.joined()
    }

    private static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\n" }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// The admin API's `/certs` (after Envoy's): the workload credentials in use, their chain and
/// trust anchors, the files they came from and how many loads (rotations + 1) there were.
enum CertificatesPage {
    /// The credentials as plain values (from `TLSCredentials` and the store's generation).
    struct Credentials {
        var identity: String
        var trustDomain: String
        var generation: UInt64
        var files: TLSIdentityFiles
        /// The leaf first, then the intermediates.
        var chain: [TLSCertificateSummary]
        var trustAnchors: [TLSCertificateSummary]
    }

    /// `{"certificates": [...]}` with one entry for the credentials in use, or none (and a note
    /// why) when the sidecar has no identity. `now`: seconds since the epoch.
    static func json(_ credentials: Credentials?, now: Int) -> JSONValue {
        guard let credentials, let leaf = credentials.chain.first else {
            return [
                "certificates": [],
                "note": "this sidecar has no identity: spec.identity is not set, so it holds no certificate and speaks no mTLS",
            ]
        }
        let entry: JSONValue = [
            "identity": .string(credentials.identity),
            "trust_domain": .string(credentials.trustDomain),
            "generation": .integer(Int(clamping: credentials.generation)),
            "files": [
                "certificate_chain": .string(credentials.files.certificateChain),
                "private_key": .string(credentials.files.privateKey),
                "trust_bundle": .string(credentials.files.trustBundle),
            ],
            "workload": certificate(leaf, now: now),
            "intermediates": .array(credentials.chain.dropFirst().map { certificate($0, now: now) }),
            "trust_anchors": .array(credentials.trustAnchors.map { certificate($0, now: now) }),
        ]
        return ["certificates": [entry]]
    }

    static func certificate(_ summary: TLSCertificateSummary, now: Int) -> JSONValue {
        let remaining = summary.notAfter - now
        return [
            "subject": .string(summary.subject),
            "serial_number": .string(summary.serial),
            "subject_alt_names": .array(summary.uris.map { ["uri": .string($0)] }),
            "is_ca": .bool(summary.isCA),
            "not_before": .string(Clock.timestamp(seconds: summary.notBefore)),
            "not_after": .string(Clock.timestamp(seconds: summary.notAfter)),
            "seconds_until_expiration": .integer(remaining),
            "days_until_expiration": .integer(StatusReport.wholeDays(remaining)),
            "valid": .bool(summary.isValid(at: now)),
        ]
    }
}
