import Addresses
import Admin
import Config
import LinuxSys
import Synchronization
import TLS
import Testing
@testable import Proxy

@Suite struct JSONValueTests {
    @Test func writesIndentedTextThatReadsBackTheSame() throws {
        let value: JSONValue = [
            "name": "a \"quoted\" \\ line\nand a tab\t\u{1}",
            "count": 42,
            "negative": -7,
            "ok": true,
            "none": nil,
            "empty": [:],
            "list": [1, "two", [], ["nested": false]],
        ]
        let text = value.text
        #expect(text.hasPrefix("{\n  \"name\": \"a \\\"quoted\\\" \\\\ line\\nand a tab\\t\\u0001\",\n  \"count\": 42,\n"))
        #expect(text.contains("\"empty\": {},\n  \"list\": [\n    1,\n    \"two\",\n    [],\n    {\n      \"nested\": false\n    }\n  ]\n}\n"))
        #expect(try JSONValue(parsing: text) == value)
    }

    @Test(arguments: [
        (" [1, -0, 2.5, 1e3, -1E-2, 12345678901234567890] ", JSONValue.array([1, 0, .number(2.5), .number(1000), .number(-0.01), .number(Double("12345678901234567890")!)])),
        (#""\u00e9\ud83d\ude00\/\b\f""#, .string("é😀/\u{8}\u{C}")),
        ("{\"a\":1,\"a\":2}", .object([("a", 1), ("a", 2)])),
        ("\"✓\"", "✓"),
        ("null", nil),
    ] as [(String, JSONValue)])
    func readsWhatRFC8259Allows(_ text: String, _ expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test(arguments: [
        "", " ", "[1,]", "{\"a\":1,}", "{a:1}", "'x'", "01", "1.", ".5", "-", "1e", "+1", "[1 2]", "tru", "nul",
        "\"a", "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"tab\there\"", "{\"a\" 1}", "[] []", "NaN", "// c\n1", "1e400", "-1e400",
    ])
    func refusesWhatItDoesNot(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func refusesNestingDeeperThanTheLimit() throws {
        let levels = JSONValue.maximumDepth + 1
        let deep = String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
        _ = try JSONValue(parsing: String(deep.dropFirst().dropLast()))
        let error = try #require(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        #expect(error.reason.contains("nested deeper"))
    }

    @Test func readsMembersAndTypes() throws {
        let value = try JSONValue(parsing: #"{"s": "x", "n": 3, "f": 3.0, "h": 3.5, "b": false, "z": null, "a": [1]}"#)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["n"]?.intValue == 3)
        #expect(value["f"]?.intValue == 3)
        #expect(value["h"]?.intValue == nil)
        #expect(value["b"]?.boolValue == false)
        #expect(value["z"]?.isNull == true)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["missing"] == nil)
        #expect(value["s"]?["s"] == nil)
    }
}

@Suite struct StatsTextTests {
    static let families = [
        MetricFamily(name: "weft_connections_opened_total", help: "h", type: "counter",
                     samples: [([("direction", "outbound")], 7), ([("direction", "inbound")], 0)]),
        MetricFamily(name: "weft_tls_handshakes_total", help: "h", type: "counter",
                     samples: [([("direction", "inbound"), ("result", "ok"), ("reason", "")], 3),
                               ([("direction", "inbound"), ("result", "failed"), ("reason", "timeout")], 0)]),
        MetricFamily(name: "weft_traffic_config_version", help: "h", type: "gauge", samples: [([], 2)]),
        MetricFamily(name: "weft_authorization_decisions_total", help: "h", type: "counter",
                     samples: [([("policy", "odd\\name\nx"), ("decision", "allow")], 1)]),
    ]

    @Test func everySampleOneSortedLineWithoutHelpOrType() {
        #expect(StatsText.render(Self.families) == """
            weft_authorization_decisions_total{policy=odd\\\\name\\nx,decision=allow}: 1
            weft_connections_opened_total{direction=inbound}: 0
            weft_connections_opened_total{direction=outbound}: 7
            weft_tls_handshakes_total{direction=inbound,result=failed,reason=timeout}: 0
            weft_tls_handshakes_total{direction=inbound,result=ok}: 3
            weft_traffic_config_version: 2

            """)
    }

    @Test func filterKeepsLinesWhoseNameOrLabelsContainIt() {
        #expect(StatsText.render(Self.families, filter: "connections") == """
            weft_connections_opened_total{direction=inbound}: 0
            weft_connections_opened_total{direction=outbound}: 7

            """)
        #expect(StatsText.render(Self.families, filter: "direction=inbound,result") == """
            weft_tls_handshakes_total{direction=inbound,result=failed,reason=timeout}: 0
            weft_tls_handshakes_total{direction=inbound,result=ok}: 3

            """)
        // The value is not part of what the filter sees.
        #expect(StatsText.render(Self.families, filter: ": 7") == "")
        #expect(StatsText.render(Self.families, filter: "") == StatsText.render(Self.families))
    }

    @Test func aHistogramReadsAsItsCountAndSum() {
        let histogram = MetricFamily(name: "istio_request_duration_milliseconds", help: "h", histograms: [
            HistogramSample(labels: [("response_code", "200")], buckets: [("1", 2), ("+Inf", 3)], sum: "4.500", count: 3),
            HistogramSample(labels: [("response_code", "503")], buckets: [("1", 0), ("+Inf", 0)], sum: "0.000", count: 0),
        ])
        #expect(StatsText.render([histogram], filter: "200") ==
            "istio_request_duration_milliseconds_count{response_code=200}: 3\nistio_request_duration_milliseconds_sum{response_code=200}: 4.500\n")
        #expect(StatsText.render([histogram], usedOnly: true).split(separator: "\n").count == 2)
    }

    @Test func usedOnlyDropsZeros() {
        #expect(StatsText.render(Self.families, filter: "weft_connections", usedOnly: true) == "weft_connections_opened_total{direction=outbound}: 7\n")
        #expect(StatsText.render(Self.families, usedOnly: true).split(separator: "\n").count == 4)
    }

    @Test func theProxyFamiliesListIsWhatStatsShows() {
        let blocks = [CounterBlock(count: Stat.count), CounterBlock(count: Stat.count)]
        blocks[0].add(Stat.opened(.outbound), 2)
        blocks[1].add(Stat.opened(.outbound), 3)
        let families = MetricsRenderer(blocks: blocks).families()
        let prometheus = families.map(\.text).joined()
        #expect(prometheus.contains("weft_connections_opened_total{direction=\"outbound\"} 5\n"))
        #expect(StatsText.render(families, filter: "opened_total").contains("weft_connections_opened_total{direction=outbound}: 5\n"))
        // One line in /stats per sample line of the Prometheus text.
        let samples = prometheus.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(StatsText.render(families).split(separator: "\n").count == samples.count)
    }
}

@Suite struct StatusReportTests {
    static let report = StatusReport(
        version: "0.1.0-dev", pid: 4242, startTime: "2026-03-01T10:00:00Z", uptimeSeconds: 3723,
        identity: "spiffe://cluster.local/ns/default/sa/a",
        certificate: StatusReport.Certificate(serial: "5A3F", notBefore: "2026-03-01T09:55:00Z", notAfter: "2026-03-13T11:00:00Z",
                                              secondsUntilExpiration: 12 * 86400 + 3600, valid: true),
        trafficConfig: StatusReport.TrafficConfig(version: 3, services: 2, endpointSlices: 2, httpRoutes: 1, destinationRules: 0),
        listeners: [StatusReport.Listener(name: "outbound", address: "[::]:15001"), StatusReport.Listener(name: "admin", address: "127.0.0.1:15000")],
        workers: 2, activeConnections: StatusReport.DirectionCounts(outbound: 2, inbound: 1),
        openedConnections: StatusReport.DirectionCounts(outbound: 100, inbound: 20), draining: false, problems: [])

    @Test func jsonSaysEverythingAndReadsBack() throws {
        let json = Self.report.json
        #expect(json["certificate"]?["days_until_expiration"] == 12)
        #expect(json["connections"]?["active"] == ["total": 3, "outbound": 2, "inbound": 1])
        #expect(json["listeners"] == ["outbound": "[::]:15001", "admin": "127.0.0.1:15000"])
        #expect(json["ready"] == true)
        #expect(json["problems"] == [])
        #expect(try StatusReport(json: JSONValue(parsing: json.text)) == Self.report)

        var bare = Self.report
        bare.identity = nil
        bare.certificate = nil
        bare.draining = true
        bare.problems = ["draining: the proxy is shutting down"]
        #expect(bare.json["identity"] == nil as JSONValue)
        #expect(bare.json["ready"] == false)
        #expect(try StatusReport(json: JSONValue(parsing: bare.json.text)) == bare)
    }

    @Test(arguments: [
        ("pid", "pid", "an integer"),
        ("connections", "connections", "an object"),
        ("traffic_config", "traffic_config", "an object"),
    ])
    func aMissingMemberIsNamed(_ removed: String, _ member: String, _ expected: String) throws {
        guard case .object(let members) = Self.report.json else {
            Issue.record("the report is not a JSON object")
            return
        }
        let json = JSONValue.object(members.filter { $0.key != removed })
        let error = try #require(throws: StatusReportError.self) { try StatusReport(json: json) }
        #expect(error == StatusReportError(member: member, expected: expected))
    }

    @Test func aMistypedNestedMemberIsNamedByItsPath() throws {
        let text = Self.report.json.text.replacingOccurrences("\"inbound\": 1", "\"inbound\": \"one\"")
        let error = try #require(throws: StatusReportError.self) { try StatusReport(json: JSONValue(parsing: text)) }
        #expect(error.description == "connections.active.inbound is missing or not an integer")
    }

    @Test func summaryIsAFewLinesForPeople() {
        #expect(Self.report.summary == """
            weft 0.1.0-dev, pid 4242, up 1h2m3s (since 2026-03-01T10:00:00Z)
            state        ready
            identity     spiffe://cluster.local/ns/default/sa/a
            certificate  serial 5A3F, expires 2026-03-13T11:00:00Z, in 12 days
            config       traffic version 3: 2 Services, 2 EndpointSlices, 1 HTTPRoute, 0 DestinationRules
            listeners    outbound [::]:15001, admin 127.0.0.1:15000
            workers      2
            connections  3 active (2 outbound, 1 inbound), 120 opened since start (100 outbound, 20 inbound)

            """)
    }

    @Test func summarySaysWhyItIsNotReady() {
        var report = Self.report
        report.identity = nil
        report.certificate = nil
        report.draining = true
        report.problems = ["draining: the proxy is shutting down", "the certificate files do not load"]
        let lines = report.summary.split(separator: "\n")
        #expect(lines[1] == "state        NOT READY, draining")
        #expect(lines[2] == "             - draining: the proxy is shutting down")
        #expect(lines[3] == "             - the certificate files do not load")
        #expect(lines[4] == "identity     none (spec.identity is not set: this sidecar speaks no mTLS)")
        #expect(lines[5] == "certificate  none")
    }

    @Test(arguments: [
        (5 * 3600 + 7 * 60, true, "expires END, in 0 days (5h7m)"),
        (86400 + 60, true, "expires END, in 1 day (24h1m)"),
        (30 * 86400, true, "expires END, in 30 days"),
        (0, false, "EXPIRED at END, 0h0m ago"),
        (-90000, false, "EXPIRED at END, 25h0m ago"),
        (-5 * 86400, false, "EXPIRED at END, 5 days ago"),
        (3 * 86400, false, "NOT VALID YET (valid from START); expires END, in 3 days"),
    ])
    func expiryIsCountedInDays(_ seconds: Int, _ valid: Bool, _ expected: String) {
        let certificate = StatusReport.Certificate(serial: "1", notBefore: "START", notAfter: "END", secondsUntilExpiration: seconds, valid: valid)
        #expect(StatusReport.expiry(certificate) == expected)
    }

    @Test func wholeDaysRoundDown() {
        #expect([0, 86399, 86400, -1, -86400, -86401].map(StatusReport.wholeDays) == [0, 0, 1, -1, -1, -2])
    }
}

@Suite struct CertificatesPageTests {
    @Test func workloadChainAndAnchorsWithTheirValidity() throws {
        let now = 1_772_000_000
        let credentials = CertificatesPage.Credentials(
            identity: "spiffe://cluster.local/ns/default/sa/a", trustDomain: "cluster.local", generation: 3,
            files: TLSIdentityFiles.inDirectory("/var/run/secrets/workload"),
            chain: [
                TLSCertificateSummary(subject: "O=cluster.local", serial: "5A3F", notBefore: now - 300, notAfter: now + 86400 + 7200,
                                      uris: ["spiffe://cluster.local/ns/default/sa/a"]),
                TLSCertificateSummary(subject: "CN=Weft intermediate CA,O=cluster.local", serial: "02", notBefore: now - 86400,
                                      notAfter: now + 365 * 86400, uris: ["spiffe://cluster.local"], isCA: true),
            ],
            trustAnchors: [TLSCertificateSummary(subject: "CN=Weft root CA,O=cluster.local", serial: "01", notBefore: now - 86400,
                                                 notAfter: now - 10, isCA: true)])
        let json = CertificatesPage.json(credentials, now: now)
        let entry = try #require(json["certificates"]?.arrayValue?.first)
        #expect(entry["identity"] == "spiffe://cluster.local/ns/default/sa/a")
        #expect(entry["generation"] == 3)
        #expect(entry["files"]?["private_key"] == "/var/run/secrets/workload/key.pem")
        #expect(entry["workload"] == [
            "subject": "O=cluster.local",
            "serial_number": "5A3F",
            "subject_alt_names": [["uri": "spiffe://cluster.local/ns/default/sa/a"]],
            "is_ca": false,
            "not_before": .string(Clock.timestamp(seconds: now - 300)),
            "not_after": .string(Clock.timestamp(seconds: now + 93600)),
            "seconds_until_expiration": 93600,
            "days_until_expiration": 1,
            "valid": true,
        ])
        #expect(entry["intermediates"]?.arrayValue?.map { $0["serial_number"]?.stringValue } == ["02"])
        let anchor = try #require(entry["trust_anchors"]?.arrayValue?.first)
        #expect(anchor["subject"] == "CN=Weft root CA,O=cluster.local")
        #expect(anchor["valid"] == false)
        #expect(anchor["days_until_expiration"] == -1)
        #expect(try JSONValue(parsing: json.text) == json)
    }

    @Test func noIdentityIsAnEmptyListWithANote() {
        let json = CertificatesPage.json(nil, now: 0)
        #expect(json["certificates"] == [])
        #expect(json["note"]?.stringValue?.contains("spec.identity is not set") == true)
    }
}

@Suite struct AdminIntrospectionTests {
    func introspection(counters: [CounterBlock], draining: Bool = false) -> AdminIntrospection {
        let health = HealthState()
        health.draining.store(draining, ordering: .relaxed)
        let facts = ProxyFacts(startedWall: 1_772_000_000, startedMonotonic: Clock.monotonicNanoseconds(), workers: counters.count,
                               listeners: [("outbound", try! SocketAddress(parsing: "[::]:15001")), ("admin", try! SocketAddress(parsing: "127.0.0.1:15000"))])
        return AdminIntrospection(
            facts: facts, counters: counters, health: health, traffic: TrafficStore(TrafficSnapshotDocuments()),
            families: { MetricsRenderer(blocks: counters).families() },
            readiness: { Readiness(problems: draining ? ["draining: the proxy is shutting down"] : []) })
    }

    @Test func activeConnectionsAreOpenedMinusClosedOverEveryWorker() {
        let blocks = [CounterBlock(count: Stat.count), CounterBlock(count: Stat.count)]
        blocks[0].add(Stat.opened(.outbound), 10)
        blocks[0].add(Stat.closed(.outbound, .closed), 6)
        blocks[0].add(Stat.closed(.outbound, .clientReset), 1)
        blocks[1].add(Stat.opened(.outbound), 5)
        blocks[1].add(Stat.opened(.inbound), 4)
        blocks[1].add(Stat.closed(.inbound, .denied), 4)
        let counts = AdminIntrospection.connectionCounts(blocks)
        #expect(counts.active == StatusReport.DirectionCounts(outbound: 8, inbound: 0))
        #expect(counts.opened == StatusReport.DirectionCounts(outbound: 15, inbound: 4))
    }

    @Test func statusReportsTheProxyAsItIs() throws {
        let blocks = [CounterBlock(count: Stat.count)]
        blocks[0].add(Stat.opened(.inbound), 3)
        let response = try #require(introspection(counters: blocks, draining: true).handle(AdminCall(listener: "admin", method: "GET", path: "/status")))
        #expect(response.status == 200)
        #expect(response.contentType == "application/json")
        let report = try StatusReport(json: JSONValue(parsing: response.body))
        #expect(report.version == weftVersion)
        #expect(report.startTime == Clock.timestamp(seconds: 1_772_000_000))
        #expect(report.identity == nil && report.certificate == nil)
        #expect(report.trafficConfig == StatusReport.TrafficConfig(version: 1, services: 0, endpointSlices: 0, httpRoutes: 0, destinationRules: 0))
        #expect(report.listeners.map(\.name) == ["outbound", "admin"])
        #expect(report.activeConnections == StatusReport.DirectionCounts(outbound: 0, inbound: 3))
        #expect(report.draining && !report.ready)
    }

    @Test func statsTakesFilterAndUsedOnly() throws {
        let blocks = [CounterBlock(count: Stat.count)]
        blocks[0].add(Stat.opened(.inbound), 3)
        let pages = introspection(counters: blocks)
        let response = try #require(pages.handle(AdminCall(listener: "admin", method: "GET", path: "/stats", query: "filter=connections_opened&usedonly")))
        #expect(response == AdminResponse(status: 200, body: "weft_connections_opened_total{direction=inbound}: 3\n"))
        let encoded = try #require(pages.handle(AdminCall(listener: "admin", method: "GET", path: "/stats", query: "filter=opened_total%7Bdirection%3Dinbound")))
        #expect(encoded.body == "weft_connections_opened_total{direction=inbound}: 3\n")
    }

    @Test(arguments: [
        ("GET", "/stats", "verbose", 400),
        ("GET", "/stats", "filter=%zz", 400),
        ("POST", "/status", "", 405),
        ("PUT", "/certs", "", 405),
        ("GET", "/certs", "", 200),
        ("HEAD", "/status", "", 200),
    ])
    func answersOnlyWhatItServes(_ method: String, _ path: String, _ query: String, _ status: Int) throws {
        let response = try #require(introspection(counters: []).handle(AdminCall(listener: "admin", method: method, path: path, query: query)))
        #expect(response.status == status, "\(response.body)")
    }

    @Test func otherPathsAreLeftToTheOtherRoutes() {
        #expect(introspection(counters: []).handle(AdminCall(listener: "admin", method: "GET", path: "/config_dump")) == nil)
    }
}

extension String {
    /// `self` with every `target` replaced (no Foundation here).
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
