import LinuxSys
import Policy
import TLS

/// What a worker counts, laid out as indices into its `CounterBlock` (one writer: the worker; one
/// reader: the metrics scrape, which sums every worker's block).
enum Stat {
    static let directions: [TrafficDirection] = [.outbound, .inbound]
    static let ends = ConnectionEnd.allCases
    /// Handshake outcomes: `ok` then the failure reasons of `TLSOutcome.failureReasons`.
    static let handshakeOutcomes = ["ok"] + TLSOutcome.failureReasons
    /// How an inbound connection's first bytes were classified.
    static let detections = InboundDetection.allCases

    private static func directionIndex(_ direction: TrafficDirection) -> Int { direction == .outbound ? 0 : 1 }

    // Layout: [opened × 2][closed × 2 × ends][sent × 2][received × 2][spliced × 2]
    //         [handshakes × 2 × outcomes][resumed × 2][detections]
    private static let openedBase = 0
    private static let closedBase = openedBase + 2
    private static let sentBase = closedBase + 2 * ends.count
    private static let receivedBase = sentBase + 2
    private static let splicedBase = receivedBase + 2
    private static let handshakeBase = splicedBase + 2
    private static let resumedBase = handshakeBase + 2 * handshakeOutcomes.count
    private static let detectionBase = resumedBase + 2
    private static let protocolDetectionBase = detectionBase + detections.count
    private static let routingBase = protocolDetectionBase + 2 * ProtocolDetection.allCases.count
    /// Routed HTTP: retries started, retries the budget refused, upstream connections opened and
    /// pooled connections reused.
    static let retries = routingBase
    static let retryOverflow = routingBase + 1
    static let upstreamOpened = routingBase + 2
    static let upstreamReused = routingBase + 3
    static let count = routingBase + 4

    static func opened(_ direction: TrafficDirection) -> Int { openedBase + directionIndex(direction) }
    static func closed(_ direction: TrafficDirection, _ end: ConnectionEnd) -> Int {
        closedBase + directionIndex(direction) * ends.count + ends.firstIndex(of: end)!
    }
    static func sent(_ direction: TrafficDirection) -> Int { sentBase + directionIndex(direction) }
    static func received(_ direction: TrafficDirection) -> Int { receivedBase + directionIndex(direction) }
    static func spliced(_ direction: TrafficDirection) -> Int { splicedBase + directionIndex(direction) }
    static func handshake(_ direction: TrafficDirection, outcome: String) -> Int {
        let index = handshakeOutcomes.firstIndex(of: outcome) ?? handshakeOutcomes.firstIndex(of: "other")!
        return handshakeBase + directionIndex(direction) * handshakeOutcomes.count + index
    }
    static func resumed(_ direction: TrafficDirection) -> Int { resumedBase + directionIndex(direction) }
    static func detection(_ kind: InboundDetection) -> Int { detectionBase + detections.firstIndex(of: kind)! }
    static func protocolDetection(_ direction: TrafficDirection, _ outcome: ProtocolDetection) -> Int {
        protocolDetectionBase + directionIndex(direction) * ProtocolDetection.allCases.count + ProtocolDetection.allCases.firstIndex(of: outcome)!
    }
}

extension Stat {
    /// Connections a worker holds now (accepted and not yet ended), read from its counters: safe
    /// from any thread.
    static func activeConnections(in block: CounterBlock, direction: TrafficDirection? = nil) -> UInt64 {
        var opened: UInt64 = 0
        var closed: UInt64 = 0
        for candidate in directions where direction == nil || candidate == direction {
            opened &+= block.load(Stat.opened(candidate))
            for end in ends { closed &+= block.load(Stat.closed(candidate, end)) }
        }
        return opened >= closed ? opened - closed : 0
    }

    /// Policy decisions are counted per deciding policy, allow and deny apart: slots
    /// `2 × policy index (+1 for deny)`, then the same for the three decisions no policy makes
    /// (default allow, default deny, malformed path).
    static func policySlotCount(policyCount: Int) -> Int { 2 * (policyCount + 3) }

    static func policySlot(_ decision: Decision, policyCount: Int) -> Int {
        let owner: Int
        switch decision.reason {
        case .allowedByPolicy, .deniedByPolicy: owner = decision.policyIndex ?? policyCount
        case .allowedByDefault: owner = policyCount
        case .deniedByDefault: owner = policyCount + 1
        case .malformedPath: owner = policyCount + 2
        }
        return 2 * owner + (decision.isAllowed ? 0 : 1)
    }

    /// The policy names of the slots, in slot order.
    static func policySlotNames(_ policyNames: [String]) -> [String] {
        policyNames + [Decision.defaultAllowName, Decision.defaultDenyName, Decision.malformedPathName]
    }
}

/// How an inbound connection's first bytes were classified (PERMISSIVE and STRICT ports).
enum InboundDetection: String, CaseIterable, Sendable {
    /// A ClientHello offering ALPN weft/1: another sidecar; terminated here.
    case mutualTLS = "mtls"
    /// A ClientHello without weft/1: the application's own TLS from a client without a sidecar.
    case applicationTLS = "app-tls"
    /// Anything else.
    case plaintext
    /// Nothing arrived within the detection timeout (a server-speaks-first protocol).
    case silent
}

/// Failure reasons of TLS handshakes, as counted: the TLS target's reason tokens, plus the
/// worker's own handshake timeout.
enum TLSOutcome {
    static let failureReasons = TLSFailure.Reason.allCases.map(\.rawValue) + ["timeout", "other"]
}

/// Every worker's counters as metric families (Prometheus text exposition format, version 0.0.4,
/// is each family's `text`, joined).
struct MetricsRenderer {
    let blocks: [CounterBlock]

    private func sum(_ index: Int) -> UInt64 {
        blocks.reduce(0) { $0 &+ $1.load(index) }
    }

    /// Allow/deny decisions per policy, from each worker's policy counter block.
    static func policyFamily(blocks: [CounterBlock], policyNames: [String]) -> MetricFamily {
        let names = Stat.policySlotNames(policyNames)
        var samples: [(labels: [(String, String)], value: UInt64)] = []
        for (owner, name) in names.enumerated() {
            for (offset, decision) in ["allow", "deny"].enumerated() {
                let slot = 2 * owner + offset
                samples.append(([("policy", name), ("decision", decision)], blocks.reduce(0) { $0 &+ $1.load(slot) }))
            }
        }
        return MetricFamily(name: "weft_authorization_decisions_total", help: "Authorization decisions, by the policy that made them.",
                            type: "counter", samples: samples)
    }

    /// Every family the workers' counters make, then `extra`: what `/stats/prometheus` and the
    /// admin API's `/stats` both show.
    func families(extra: [MetricFamily] = []) -> [MetricFamily] {
        var families: [MetricFamily] = []
        families.append(MetricFamily(
            name: "weft_connections_opened_total", help: "Connections accepted, by listener.", type: "counter",
            samples: Stat.directions.map { ([("direction", $0.rawValue)], sum(Stat.opened($0))) }))
        families.append(MetricFamily(
            name: "weft_connections_closed_total", help: "Connections ended, by listener and how they ended.", type: "counter",
            samples: Stat.directions.flatMap { direction in
                Stat.ends.map { ([("direction", direction.rawValue), ("end", $0.rawValue)], sum(Stat.closed(direction, $0))) }
            }))
        families.append(MetricFamily(
            name: "weft_tcp_sent_bytes_total", help: "Bytes relayed from clients to upstreams (added every 5 s while a connection is open, and when it ends).", type: "counter",
            samples: Stat.directions.map { ([("direction", $0.rawValue)], sum(Stat.sent($0))) }))
        families.append(MetricFamily(
            name: "weft_tcp_received_bytes_total", help: "Bytes relayed from upstreams to clients (added every 5 s while a connection is open, and when it ends).", type: "counter",
            samples: Stat.directions.map { ([("direction", $0.rawValue)], sum(Stat.received($0))) }))
        families.append(MetricFamily(
            name: "weft_relay_spliced_bytes_total", help: "Of the relayed bytes, those moved with splice(2) rather than copied.", type: "counter",
            samples: Stat.directions.map { ([("direction", $0.rawValue)], sum(Stat.spliced($0))) }))
        families.append(MetricFamily(
            name: "weft_tls_handshakes_total", help: "mTLS handshakes with other sidecars (outbound: as client, inbound: as server), by result.", type: "counter",
            samples: Stat.directions.flatMap { direction in
                Stat.handshakeOutcomes.map { outcome in
                    ([("direction", direction.rawValue), ("result", outcome == "ok" ? "ok" : "failed"), ("reason", outcome == "ok" ? "" : outcome)],
                     sum(Stat.handshake(direction, outcome: outcome)))
                }
            }))
        families.append(MetricFamily(
            name: "weft_tls_resumed_handshakes_total", help: "Successful handshakes that resumed an earlier session.", type: "counter",
            samples: Stat.directions.map { ([("direction", $0.rawValue)], sum(Stat.resumed($0))) }))
        families.append(MetricFamily(
            name: "weft_inbound_detected_total", help: "Inbound connections by what their first bytes were.", type: "counter",
            samples: Stat.detections.map { ([("protocol", $0.rawValue)], sum(Stat.detection($0))) }))
        families.append(MetricFamily(
            name: "weft_protocol_detections_total", help: "Connections by what protocol detection concluded from their first bytes.", type: "counter",
            samples: Stat.directions.flatMap { direction in
                ProtocolDetection.allCases.map { ([("direction", direction.rawValue), ("protocol", $0.rawValue)], sum(Stat.protocolDetection(direction, $0))) }
            }))
        families.append(MetricFamily(
            name: "weft_http_retries_total", help: "Routed HTTP requests sent again (retry started).", type: "counter",
            samples: [([], sum(Stat.retries))]))
        families.append(MetricFamily(
            name: "weft_http_retry_overflow_total", help: "Retries the retry budget refused.", type: "counter",
            samples: [([], sum(Stat.retryOverflow))]))
        families.append(MetricFamily(
            name: "weft_upstream_connections_total", help: "Upstream connections of routed HTTP: opened, or reused from the pool.", type: "counter",
            samples: [([("result", "opened")], sum(Stat.upstreamOpened)), ([("result", "reused")], sum(Stat.upstreamReused))]))
        return families + extra
    }
}

/// One metric family in the text format: HELP, TYPE and its samples.
struct MetricFamily {
    let name: String
    let help: String
    let type: String
    /// Label pairs in the order they are written, and the value.
    let samples: [(labels: [(String, String)], value: UInt64)]
    /// For a histogram: its series (`_bucket`, `_sum`, `_count`).
    let histograms: [HistogramSample]

    init(name: String, help: String, type: String, samples: [(labels: [(String, String)], value: UInt64)]) {
        self.name = name
        self.help = help
        self.type = type
        self.samples = samples
        histograms = []
    }

    init(name: String, help: String, histograms: [HistogramSample]) {
        self.name = name
        self.help = help
        type = "histogram"
        samples = []
        self.histograms = histograms
    }

    var text: String {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for sample in samples {
            text += line(name, Self.labelText(sample.labels), String(sample.value))
        }
        for histogram in histograms {
            // The series' labels are escaped once for its buckets, sum and count.
            let labels = Self.labelText(histogram.labels)
            let prefix = labels.isEmpty ? "" : labels + ","
            for (bound, count) in histogram.buckets {
                text += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(count)\n"
            }
            text += line(name + "_sum", labels, histogram.sum)
            text += line(name + "_count", labels, String(histogram.count))
        }
        return text
    }

    private func line(_ name: String, _ labels: String, _ value: String) -> String {
        labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
    }

    /// `a="1",b="2"`.
    private static func labelText(_ labels: [(String, String)]) -> String {
        labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
    }

    /// Label values escape backslash, double quote and newline (the exposition format's rules).
    private static func escapeLabel(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// One series of a histogram: cumulative bucket counts by upper bound (`+Inf` last), the sum of
/// the observed values (formatted) and their count.
struct HistogramSample {
    let labels: [(String, String)]
    let buckets: [(bound: String, count: UInt64)]
    let sum: String
    let count: UInt64
}
