import Identity
import LinuxSys
import Synchronization

/// The Service a request or connection went to, as Istio's `destination_service*` labels name
/// it: `reviews.default.svc.cluster.local`, `reviews`, `default`; or, for traffic to an address
/// that is no Service, the address with the name `PassthroughCluster` (Istio's names).
struct ServiceLabels: Hashable, Sendable {
    let host: String
    let name: String
    let namespace: String

    init(host: String, name: String, namespace: String) {
        self.host = host
        self.name = name
        self.namespace = namespace
    }

    /// A Service of the registry.
    init(service name: String, namespace: String, clusterDomain: String) {
        self.init(host: "\(name).\(namespace).svc.\(clusterDomain)", name: name, namespace: namespace)
    }

    /// An address that is no Service.
    static func passthrough(_ destination: String) -> ServiceLabels {
        ServiceLabels(host: destination, name: "PassthroughCluster", namespace: "unknown")
    }

    static let unknown = ServiceLabels(host: "unknown", name: "unknown", namespace: "unknown")
}

/// Which proxy reports: Istio's `reporter` label.
enum IstioReporter: UInt8, Sendable {
    /// The client's sidecar (outbound).
    case source
    /// The server's sidecar (inbound).
    case destination

    var label: String { self == .source ? "source" : "destination" }
}

/// The labels of one series of Istio's standard metrics that vary by connection and request.
/// The local workload's own labels are the same for every series and are added when rendering.
struct IstioSeriesKey: Hashable, Sendable {
    var reporter: IstioReporter
    /// The peer's SPIFFE id (the remote side's principal), or "unknown" without mTLS.
    var peerPrincipal: String
    var service: ServiceLabels
    /// `http` or `tcp`.
    var tcp: Bool
    /// 0 for TCP and for requests that got no response.
    var responseCode: UInt16
    /// Envoy's response flags, "-" for none.
    var responseFlags: String
    /// Whether the connection to this proxy (inbound) was mTLS from a sidecar; nil on the
    /// source side, which Istio reports as "unknown".
    var mutualTLS: Bool?

    /// The series every further one goes to once a worker holds `IstioSeriesTable.maximumSeries`:
    /// cardinality stays bounded whatever the traffic (a scan of many ports, a client inventing
    /// Host names), and the overflow is visible in the metrics rather than silently dropped.
    static func overflow(reporter: IstioReporter, tcp: Bool) -> IstioSeriesKey {
        IstioSeriesKey(reporter: reporter, peerPrincipal: "overflow", service: ServiceLabels(host: "overflow", name: "overflow", namespace: "overflow"),
                       tcp: tcp, responseCode: 0, responseFlags: "overflow", mutualTLS: nil)
    }
}

/// The local workload's labels (`source_*` on the outbound side, `destination_*` inbound), from
/// the Sidecar document's metadata and the workload certificate.
struct IstioWorkload: Sendable {
    var name = "unknown"
    var namespace = "unknown"
    var principal = "unknown"
    var app = "unknown"
    var version = "unknown"
    var canonicalService = "unknown"
    var canonicalRevision = "latest"

    /// Istio's canonical service and revision rules: the `service.istio.io/canonical-*` labels,
    /// else `app.kubernetes.io/name` / `app` and `app.kubernetes.io/version` / `version`, else
    /// the workload name and `latest`.
    init(name: String?, namespace: String?, labels: [String: String], principal: SPIFFEID?) {
        self.name = name ?? "unknown"
        self.namespace = namespace ?? principal?.namespace ?? "unknown"
        self.principal = principal?.description ?? "unknown"
        app = labels["app"] ?? labels["app.kubernetes.io/name"] ?? "unknown"
        version = labels["version"] ?? labels["app.kubernetes.io/version"] ?? "unknown"
        canonicalService = labels["service.istio.io/canonical-name"] ?? labels["app.kubernetes.io/name"] ?? labels["app"] ?? name ?? "unknown"
        canonicalRevision = labels["service.istio.io/canonical-revision"] ?? labels["app.kubernetes.io/version"] ?? labels["version"] ?? "latest"
    }

    init() {}
}

/// One worker's series of Istio's standard metrics. The worker alone records (no lock: a
/// dictionary probe and relaxed counter stores); the scrape reads the published key list under
/// a lock that the worker takes only when it adds a series.
final class IstioSeriesTable: @unchecked Sendable {
    // @unchecked: `index`, `blocks` and `overflowed` belong to the worker thread; `published`
    // is a Mutex; the counters are CounterBlocks (relaxed atomics).

    /// Istio's default buckets of `istio_request_duration_milliseconds`.
    static let durationBucketsMilliseconds: [Double] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                                                         60000, 300_000, 600_000, 1_800_000, 3_600_000]
    /// Istio's default buckets of `istio_request_bytes` and `istio_response_bytes`.
    static let sizeBuckets: [UInt64] = [1, 10, 100, 1000, 10000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]
    /// Series a worker keeps before folding new ones into the overflow series.
    static let maximumSeries = 2048
    static let seriesPerBlock = 64

    // Layout of one series: requests; duration buckets (+Inf last) and sum in µs; request size
    // buckets (+Inf last) and sum; response size likewise; TCP opened, closed, sent, received.
    static let requests = 0
    static let durationBase = 1
    static let durationSum = durationBase + durationBucketsMilliseconds.count + 1
    static let requestSizeBase = durationSum + 1
    static let requestSizeSum = requestSizeBase + sizeBuckets.count + 1
    static let responseSizeBase = requestSizeSum + 1
    static let responseSizeSum = responseSizeBase + sizeBuckets.count + 1
    static let tcpOpened = responseSizeSum + 1
    static let tcpClosed = tcpOpened + 1
    static let tcpSent = tcpOpened + 2
    static let tcpReceived = tcpOpened + 3
    static let slotsPerSeries = tcpOpened + 4

    private var index: [IstioSeriesKey: Int] = [:]
    private var blocks: [CounterBlock] = []
    private var overflowed = false
    private let published = Mutex<(keys: [IstioSeriesKey], blocks: [CounterBlock])>(([], []))
    /// Called once when the table first overflows (a log line).
    private let onOverflow: @Sendable () -> Void

    init(onOverflow: @escaping @Sendable () -> Void = {}) {
        self.onOverflow = onOverflow
    }

    /// The series of `key`, added if new.
    func series(_ key: IstioSeriesKey) -> Int {
        if let known = index[key] { return known }
        if index.count >= Self.maximumSeries - 4 {
            let overflow = IstioSeriesKey.overflow(reporter: key.reporter, tcp: key.tcp)
            if let known = index[overflow] { return known }
            if !overflowed {
                overflowed = true
                onOverflow()
            }
            return add(overflow)
        }
        return add(key)
    }

    private func add(_ key: IstioSeriesKey) -> Int {
        let series = index.count
        index[key] = series
        let newBlock = series % Self.seriesPerBlock == 0
        if newBlock { blocks.append(CounterBlock(count: Self.seriesPerBlock * Self.slotsPerSeries)) }
        let block = blocks[blocks.count - 1]
        published.withLock { published in
            published.keys.append(key)
            if newBlock { published.blocks.append(block) }
        }
        return series
    }

    @inline(__always)
    private func add(_ series: Int, _ slot: Int, _ amount: UInt64 = 1) {
        blocks[series / Self.seriesPerBlock].add((series % Self.seriesPerBlock) * Self.slotsPerSeries + slot, amount)
    }

    /// The layout and bounds `recordRequest` uses, copied from the static ones once per table:
    /// static values worked out from the bucket lists are initialized lazily, and each use would
    /// check that they are.
    private struct RequestLayout {
        let slotsPerSeries = IstioSeriesTable.slotsPerSeries
        let durationSum = IstioSeriesTable.durationSum
        let requestSizeBase = IstioSeriesTable.requestSizeBase
        let requestSizeSum = IstioSeriesTable.requestSizeSum
        let responseSizeBase = IstioSeriesTable.responseSizeBase
        let responseSizeSum = IstioSeriesTable.responseSizeSum
        /// The duration bounds in microseconds: bucketing a request is integer comparisons only.
        let durationBounds = IstioSeriesTable.durationBucketsMilliseconds.map { UInt64($0 * 1000) }
        let sizeBounds = IstioSeriesTable.sizeBuckets

        /// The first bucket whose bound holds the value; the last index is +Inf.
        static func bucket(_ value: UInt64, _ bounds: [UInt64]) -> Int {
            for (position, bound) in bounds.enumerated() where value <= bound { return position }
            return bounds.count
        }
    }

    private let layout = RequestLayout()

    /// The duration bucket of a request that took `microseconds` (the last index is +Inf).
    static func durationBucket(microseconds: UInt64) -> Int { RequestLayout.bucket(microseconds, RequestLayout().durationBounds) }

    /// The size bucket of a body of `bytes` (the last index is +Inf).
    static func sizeBucket(_ bytes: UInt64) -> Int { RequestLayout.bucket(bytes, sizeBuckets) }

    /// One HTTP request: count, duration and body sizes.
    func recordRequest(series: Int, durationNanoseconds: UInt64, requestBytes: UInt64, responseBytes: UInt64) {
        let block = blocks[series / Self.seriesPerBlock]
        let base = (series % Self.seriesPerBlock) * layout.slotsPerSeries
        let microseconds = durationNanoseconds / 1000
        block.add(base + Self.requests)
        block.add(base + Self.durationBase + RequestLayout.bucket(microseconds, layout.durationBounds))
        block.add(base + layout.durationSum, microseconds)
        block.add(base + layout.requestSizeBase + RequestLayout.bucket(requestBytes, layout.sizeBounds))
        block.add(base + layout.requestSizeSum, requestBytes)
        block.add(base + layout.responseSizeBase + RequestLayout.bucket(responseBytes, layout.sizeBounds))
        block.add(base + layout.responseSizeSum, responseBytes)
    }

    func recordTCPOpened(series: Int) {
        add(series, Self.tcpOpened)
    }

    /// A TCP connection ended: its last bytes (see `recordTCPBytes`) and the count.
    func recordTCPClosed(series: Int, sent: UInt64, received: UInt64) {
        add(series, Self.tcpClosed)
        recordTCPBytes(series: series, sent: sent, received: received)
    }

    /// Bytes a TCP connection moved: `sent` to the client (the response direction, Istio's
    /// `sent_bytes`), `received` from it.
    func recordTCPBytes(series: Int, sent: UInt64, received: UInt64) {
        add(series, Self.tcpSent, sent)
        add(series, Self.tcpReceived, received)
    }


    /// Every series and its counters now (from any thread).
    func snapshot() -> [(key: IstioSeriesKey, values: [UInt64])] {
        let (keys, blocks) = published.withLock { ($0.keys, $0.blocks) }
        return keys.enumerated().map { series, key in
            let block = blocks[series / Self.seriesPerBlock]
            let base = (series % Self.seriesPerBlock) * Self.slotsPerSeries
            return (key, (0..<Self.slotsPerSeries).map { block.load(base + $0) })
        }
    }
}

/// Renders Istio's standard metrics from every worker's table, series with equal labels summed.
struct IstioMetricsRenderer {
    let tables: [IstioSeriesTable]
    let workload: IstioWorkload

    func families() -> [MetricFamily] {
        var merged: [IstioSeriesKey: [UInt64]] = [:]
        var order: [IstioSeriesKey] = []
        for table in tables {
            for (key, values) in table.snapshot() {
                if let existing = merged[key] {
                    merged[key] = zip(existing, values).map { $0 &+ $1 }
                } else {
                    merged[key] = values
                    order.append(key)
                }
            }
        }
        let http = order.filter { !$0.tcp }
        let tcp = order.filter(\.tcp)
        // Each series' labels are worked out once for the eight families.
        var labelSets: [IstioSeriesKey: [(String, String)]] = [:]
        for key in order { labelSets[key] = labels(key) }
        typealias T = IstioSeriesTable
        func counter(_ name: String, _ help: String, _ keys: [IstioSeriesKey], _ slot: Int) -> MetricFamily {
            MetricFamily(name: name, help: help, type: "counter", samples: keys.map { (labelSets[$0]!, merged[$0]![slot]) })
        }
        func histogram(_ name: String, _ help: String, bounds: [String], base: Int, sum: (UInt64) -> String) -> MetricFamily {
            MetricFamily(name: name, help: help, histograms: http.map { key in
                let values = merged[key]!
                var cumulative: UInt64 = 0
                var buckets: [(String, UInt64)] = []
                for (position, bound) in bounds.enumerated() {
                    cumulative &+= values[base + position]
                    buckets.append((bound, cumulative))
                }
                cumulative &+= values[base + bounds.count]
                buckets.append(("+Inf", cumulative))
                return HistogramSample(labels: labelSets[key]!, buckets: buckets, sum: sum(values[base + bounds.count + 1]), count: cumulative)
            })
        }
        let durationBounds = T.durationBucketsMilliseconds.map { $0 == $0.rounded() ? String(Int($0)) : String($0) }
        let sizeBounds = T.sizeBuckets.map(String.init)
        return [
            counter("istio_requests_total", "HTTP requests, by Istio's standard labels.", http, T.requests),
            histogram("istio_request_duration_milliseconds", "HTTP request durations (first request byte to last response byte).",
                      bounds: durationBounds, base: T.durationBase, sum: { Self.milliseconds(microseconds: $0) }),
            histogram("istio_request_bytes", "HTTP request body sizes.", bounds: sizeBounds, base: T.requestSizeBase, sum: String.init),
            histogram("istio_response_bytes", "HTTP response body sizes.", bounds: sizeBounds, base: T.responseSizeBase, sum: String.init),
            counter("istio_tcp_connections_opened_total", "TCP connections opened (opaque TCP, not HTTP/1).", tcp, T.tcpOpened),
            counter("istio_tcp_connections_closed_total", "TCP connections closed.", tcp, T.tcpClosed),
            counter("istio_tcp_sent_bytes_total", "Bytes sent to the client over TCP connections (added every 5 s while a connection is open, and when it closes).", tcp, T.tcpSent),
            counter("istio_tcp_received_bytes_total", "Bytes received from the client over TCP connections (added every 5 s while a connection is open, and when it closes).", tcp, T.tcpReceived),
        ]
    }

    /// `12.345` from 12345 µs.
    static func milliseconds(microseconds: UInt64) -> String {
        let fraction = microseconds % 1000
        let digits = String(fraction)
        return "\(microseconds / 1000).\(String(repeating: "0", count: 3 - digits.count))\(digits)"
    }

    /// Istio's label set, in Istio's order.
    private func labels(_ key: IstioSeriesKey) -> [(String, String)] {
        let source = key.reporter == .source
        // The peer's namespace from its SPIFFE id; a server without mTLS is at least in its
        // Service's namespace.
        let peerNamespace = (try? SPIFFEID(parsing: key.peerPrincipal))?.namespace ?? (source ? key.service.namespace : "unknown")
        let local = workload
        func side(_ isLocal: Bool) -> (workload: String, namespace: String, principal: String, app: String, version: String, canonical: String, revision: String) {
            isLocal
                ? (local.name, local.namespace, local.principal, local.app, local.version, local.canonicalService, local.canonicalRevision)
                : ("unknown", peerNamespace, key.peerPrincipal, "unknown", "unknown", "unknown", "latest")
        }
        let src = side(source)
        let dst = side(!source)
        let security = key.mutualTLS.map { $0 ? "mutual_tls" : "none" } ?? "unknown"
        var labels: [(String, String)] = []
        if !key.tcp { labels.append(("response_code", String(key.responseCode))) }
        labels += [
            ("reporter", key.reporter.label),
            ("source_workload", src.workload), ("source_workload_namespace", src.namespace), ("source_principal", src.principal),
            ("source_app", src.app), ("source_version", src.version),
            ("destination_workload", dst.workload), ("destination_workload_namespace", dst.namespace),
            ("destination_principal", dst.principal), ("destination_app", dst.app), ("destination_version", dst.version),
            ("destination_service", key.service.host), ("destination_service_name", key.service.name),
            ("destination_service_namespace", key.service.namespace),
            ("request_protocol", key.tcp ? "tcp" : "http"), ("response_flags", key.responseFlags),
        ]
        if !key.tcp { labels.append(("grpc_response_status", "")) }
        labels += [
            ("connection_security_policy", security),
            ("source_canonical_service", src.canonical), ("destination_canonical_service", dst.canonical),
            ("source_canonical_revision", src.revision), ("destination_canonical_revision", dst.revision),
        ]
        return labels
    }
}
