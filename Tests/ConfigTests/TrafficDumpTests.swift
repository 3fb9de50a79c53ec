import Addresses
import Config
import Routing
import Testing

/// Traffic documents with every field the readers take: dual-stack and headless Services, named
/// and numbered target ports; IPv4 and IPv6 slices with every condition, hostnames, nodes, zones
/// and labels; routes with every match, filter, timeout and retry; DestinationRules with every
/// balancer, hash key and algorithm, pool limits, outlier detection, port-level settings and
/// subsets.
private let richExample = """
    apiVersion: v1
    kind: Service
    metadata: {name: reviews, namespace: shop}
    spec:
      clusterIPs: [10.96.0.10, "fd00:10:96::a"]
      selector: {app: reviews, tier: "2"}
      ports:
        - {name: http, port: 9080, targetPort: http, appProtocol: http}
        - {name: grpc, port: 9090, targetPort: 19090, appProtocol: kubernetes.io/h2c}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: reviews-v1, namespace: shop}
    spec: {clusterIP: 10.96.0.11, ports: [{name: http, port: 9080}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: reviews-v2, namespace: shop}
    spec: {clusterIP: 10.96.0.12, ports: [{name: http, port: 9080}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: db}
    spec: {clusterIP: None}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: ratings, namespace: other}
    spec: {clusterIP: "fd00::20", ports: [{port: 80}]}
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: reviews-v1
      namespace: shop
      labels: {kubernetes.io/service-name: reviews, version: v1, "example.com/canary": "true"}
    addressType: IPv4
    ports: [{name: http, port: 9080, appProtocol: http}, {name: grpc, port: 19090}]
    endpoints:
      - {addresses: [10.1.0.11, 10.1.0.12], conditions: {ready: true}, nodeName: node-1, zone: us-east-1a}
      - {addresses: [10.1.0.13], conditions: {ready: false, serving: true, terminating: true}, hostname: reviews-v1-0}
      - {addresses: [10.1.0.14], conditions: {ready: false}, zone: "80"}
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: ratings-6, namespace: other, labels: {kubernetes.io/service-name: ratings}}
    addressType: IPv6
    ports: [{port: 8080}]
    endpoints: [{addresses: ["fd00:1::5"], zone: "true"}]
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
    addressType: IPv4
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: reviews, namespace: shop}
    spec:
      parentRefs:
        - {group: "", kind: Service, name: reviews, sectionName: http}
        - {group: "", kind: Service, name: reviews, sectionName: grpc}
        - {group: "", kind: Service, name: ratings, namespace: other, port: 80}
      hostnames: [reviews.example.com, "*.shop.example"]
      rules:
        - name: canary
          matches:
            - headers: [{name: x-canary, value: "true"}, {type: RegularExpression, name: x-user, value: "^(a|b)[0-9]+$"}]
              queryParams: [{name: v, value: "1.0"}, {type: RegularExpression, name: q, value: ".*"}]
              method: POST
            - path: {type: Exact, value: "/exact:1"}
            - path: {type: RegularExpression, value: "/api/v[0-9]+/.*"}
          filters:
            - type: RequestHeaderModifier
              requestHeaderModifier:
                set: [{name: x-route, value: canary}, {name: x-empty-ish, value: ":"}]
                add: [{name: x-quote, value: "say \\"hi\\" \\\\ bye"}]
                remove: [x-debug, X-Trace]
          backendRefs: [{name: reviews-v2, port: 9080}]
          timeouts: {request: 1m30s, backendRequest: 1s500ms}
          retry: {attempts: 3, backoff: 100ms, codes: [502, 503, 504]}
        - matches: [{path: {type: PathPrefix, value: /legacy}, method: GET}]
          filters:
            - type: RequestRedirect
              requestRedirect: {scheme: https, hostname: reviews.example.com, path: {type: ReplaceFullPath, replaceFullPath: /v2}, port: 8443, statusCode: 308}
        - matches: [{path: {type: PathPrefix, value: /old}}]
          filters:
            - type: URLRewrite
              urlRewrite: {hostname: reviews.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: ""}}
          backendRefs: [{name: reviews-v1, port: 9080, weight: 0}, {name: reviews-v2, port: 9080, weight: 1000000}]
          timeouts: {request: 0s}
          retry: {}
        - filters: [{type: RequestRedirect, requestRedirect: {}}]
        - backendRefs:
            - {name: reviews-v1, port: 9080, weight: 80}
            - {name: reviews-v2, port: 9080, weight: 20}
          filters: [{type: URLRewrite, urlRewrite: {}}, {type: RequestHeaderModifier, requestHeaderModifier: {}}]
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: defaults, namespace: shop}
    spec: {parentRefs: [{group: "", kind: Service, name: reviews-v1}]}
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: shop}
    spec:
      host: reviews.shop.svc.cluster.local
      trafficPolicy:
        loadBalancer: {simple: ROUND_ROBIN}
        connectionPool:
          tcp: {maxConnections: 100, connectTimeout: 500ms}
          http: {http1MaxPendingRequests: 50, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 1h30m}
        outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 4, interval: 1500ms, baseEjectionTime: 1m, maxEjectionPercent: 100, minHealthPercent: 25}
        portLevelSettings:
          - port: {number: 9090}
            loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 4096}}}
            connectionPool: {tcp: {}}
          - {port: {number: 9080}, outlierDetection: {}}
      subsets:
        - {name: v1, labels: {version: v1}}
        - name: v2
          labels: {version: v2, "example.com/canary": "true"}
          trafficPolicy:
            loadBalancer: {consistentHash: {httpCookie: {name: session, path: /, ttl: 1h}, maglev: {tableSize: 131071}}}
        - name: sticky
          trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
        - name: by-query
          trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user, maglev: {}}}}
        - name: session
          trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 0s}}}}
        - name: empty
          trafficPolicy: {portLevelSettings: []}
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: DestinationRule
    metadata: {name: ratings, namespace: other}
    spec: {host: ratings, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata: {name: v1, namespace: shop}
    spec: {host: reviews-v1, trafficPolicy: {loadBalancer: {simple: RANDOM}, connectionPool: {http: {}}}}

    """

/// A Service `s` and a slice of it with one endpoint in `zone`, whose text any string can be.
private func zoned(_ zone: String) -> TrafficSnapshotDocuments {
    TrafficSnapshotDocuments(
        services: [Service(name: "s", clusterIPs: [try! IPAddress(parsing: "10.96.0.1")], ports: [ServicePort(port: 80)])],
        endpointSlices: [EndpointSlice(
            name: "s-1", serviceName: "s", ports: [EndpointSlice.Port(port: 80)],
            endpoints: [EndpointSlice.Endpoint(addresses: [try! IPAddress(parsing: "10.1.0.1")], zone: zone)],
            labels: [EndpointSlice.serviceNameLabel: "s"]
        )]
    )
}

@Suite("Dumping the traffic documents")
struct TrafficDumpTests {
    @Test("the YAML dump reads back as the documents it was written from")
    func yamlRoundTrip() throws {
        let documents = try Configuration.loadTraffic(text: richExample, origin: "PUT /config")
        #expect(documents.services.count == 5 && documents.endpointSlices.count == 3 && documents.httpRoutes.count == 2 && documents.destinationRules.count == 3)
        let yaml = TrafficDump.yaml(documents)
        let again = try Configuration.loadTraffic(text: yaml, origin: "dump")
        #expect(again.withoutOrigins == documents.withoutOrigins)
        #expect(again.services[0].origin == "dump:1:1")
        // Writing what was read back gives the same text.
        #expect(TrafficDump.yaml(again) == yaml)
    }

    @Test("the JSON dump is strict JSON and says the same as the YAML dump")
    func jsonRoundTrip() throws {
        let documents = try Configuration.loadTraffic(text: richExample, origin: "PUT /config")
        let json = TrafficDump.json(documents, version: 7)
        let value = try JSONValue.parse(json)
        guard case .object(let top) = value, top.map({ $0.key }) == ["version", "documents"], case .number("7") = top[0].value,
              case .array(let items) = top[1].value else {
            Issue.record("unexpected shape: \(json.prefix(200))")
            return
        }
        #expect(items.count == 13)
        // Each document, as compact JSON, is a YAML flow mapping that reads back the same.
        let text = items.map { $0.compact }.joined(separator: "\n---\n")
        let again = try Configuration.loadTraffic(text: text, origin: "json")
        #expect(again.withoutOrigins == documents.withoutOrigins)
    }

    @Test("strings YAML would read as something else are quoted", arguments: [
        "true", "false", "yes", "No", "on", "80", "-1", "1.0", "1e3", "0x1F", "0o17", ".inf", "-.inf", ".nan", "null", "Null", "~", "",
        "2001-12-14", "<<", "=", ":", ":a", "a: b", "a:b", "#a", "a #b", "- a", "-a", "? a", "[a]", "{a}", "*a", "&a", "!a", "|", ">", "%a",
        "@a", "`a", "'a'", "\"a\"", "a\\b", " a", "a ", "a\tb", "a\nb", "\r", "é", "日本", "\u{1F600}", "\u{2028}", "\u{2029}", "\u{85}",
        // A leading U+FEFF is dropped by Yams as a byte order mark, so the reader never yields one.
        "a\u{FEFF}b", "\u{7F}", "\u{1}", "us-east-1a", "a.b/c_d-e",
    ])
    func quoting(_ zone: String) throws {
        let documents = zoned(zone)
        let yaml = TrafficDump.yaml(documents)
        let again = try Configuration.loadTraffic(text: yaml, origin: "dump")
        #expect(again.endpointSlices.first?.endpoints.first?.zone == zone, "\(yaml)")
        let json = TrafficDump.json(documents, version: 1)
        let parsed = try JSONValue.parse(json)
        guard case .object(let top) = parsed, case .array(let items) = top[1].value else {
            Issue.record("not JSON: \(json)")
            return
        }
        #expect(items[1].compact.contains(JSONValue.string(zone).compact))
        #expect(try Configuration.loadTraffic(text: items.map(\.compact).joined(separator: "\n---\n"), origin: "json").endpointSlices[0].endpoints[0].zone == zone)
    }

    @Test("the YAML of a small configuration, field by field")
    func golden() throws {
        let text = """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {clusterIP: "fd00::1", ports: [{port: 80, targetPort: 8080}]}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: web-1, labels: {kubernetes.io/service-name: web, version: "2"}}
            addressType: IPv6
            ports: [{port: 8080}]
            endpoints: [{addresses: ["fd00::5"]}]
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: web}
            spec: {parentRefs: [{group: "", kind: Service, name: web}], rules: [{backendRefs: [{name: web, port: 80}], retry: {codes: [503]}}]}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: web}
            spec: {host: web, trafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}, outlierDetection: {}}}

            """
        let documents = try Configuration.loadTraffic(text: text, origin: "PUT /config")
        #expect(TrafficDump.yaml(documents) == """
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              namespace: default
            spec:
              clusterIP: "fd00::1"
              ports:
                - port: 80
                  targetPort: 8080
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: web-1
              namespace: default
              labels:
                kubernetes.io/service-name: web
                version: "2"
            addressType: IPv6
            ports:
              - port: 8080
            endpoints:
              - addresses:
                  - "fd00::5"
                conditions:
                  ready: true
                  serving: true
                  terminating: false
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata:
              name: web
              namespace: default
            spec:
              parentRefs:
                - group: ""
                  kind: Service
                  name: web
                  namespace: default
              rules:
                - matches:
                    - path:
                        type: PathPrefix
                        value: /
                  backendRefs:
                    - name: web
                      port: 80
                      weight: 1
                  retry:
                    codes:
                      - 503
                    attempts: 1
                    backoff: 25ms
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: web
              namespace: default
            spec:
              host: web
              trafficPolicy:
                connectionPool:
                  tcp:
                    maxConnections: 10
                    connectTimeout: 10s
                  http:
                    maxRequestsPerConnection: 0
                    idleTimeout: 1h
                outlierDetection:
                  consecutive5xxErrors: 5
                  consecutiveGatewayErrors: 0
                  interval: 10s
                  baseEjectionTime: 30s
                  maxEjectionPercent: 10
                  minHealthPercent: 0

            """)
        #expect(TrafficDump.yaml(TrafficSnapshotDocuments()) == "")
        #expect(TrafficDump.json(TrafficSnapshotDocuments(), version: 0) == "{\n  \"version\": 0,\n  \"documents\": []\n}\n")
    }

    @Test("the JSON of a Service")
    func jsonGolden() {
        let service = Service(name: "web", clusterIPs: [try! IPAddress(parsing: "10.96.0.1")], ports: [ServicePort(name: "http", port: 80)], selector: ["app": "a\"b"])
        #expect(TrafficDump.json(TrafficSnapshotDocuments(services: [service]), version: 3) == """
            {
              "version": 3,
              "documents": [
                {
                  "apiVersion": "v1",
                  "kind": "Service",
                  "metadata": {
                    "name": "web",
                    "namespace": "default"
                  },
                  "spec": {
                    "clusterIP": "10.96.0.1",
                    "ports": [
                      {
                        "name": "http",
                        "port": 80,
                        "targetPort": 80
                      }
                    ],
                    "selector": {
                      "app": "a\\"b"
                    }
                  }
                }
              ]
            }

            """)
    }

    @Test("durations in the forms the readers take", arguments: [
        (Duration.zero, "0s"), (.milliseconds(1), "1ms"), (.milliseconds(1500), "1s500ms"), (.seconds(90), "1m30s"),
        (.seconds(3600), "1h"), (.milliseconds(3_723_004), "1h2m3s4ms"), (.seconds(100_000 * 3600), "99999h1h"),
    ])
    func gatewayDurations(_ duration: Duration, _ text: String) throws {
        let route = HTTPRoute(
            name: "r", parentRefs: [HTTPRoute.ParentRef(name: "s", namespace: "default")],
            rules: [HTTPRouteRule(timeouts: HTTPRouteTimeouts(request: duration))]
        )
        let documents = TrafficSnapshotDocuments(services: zoned("z").services, httpRoutes: [route])
        let yaml = TrafficDump.yaml(documents)
        #expect(yaml.contains("request: \(text)\n"), "\(yaml)")
        let again = try Configuration.loadTraffic(text: yaml, origin: "dump")
        #expect(again.httpRoutes[0].rules[0].timeouts.request == duration)
    }
}

/// A JSON value as RFC 8259 defines it, parsed strictly, to check the dump's JSON without
/// Foundation.
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text.
    case number(String)
    case bool(Bool)
    case null

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.compact == rhs.compact }

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "at byte \(offset): \(reason)" }
    }

    /// The value of `text`, which must be exactly one JSON value with optional whitespace.
    static func parse(_ text: String) throws -> JSONValue {
        var parser = Parser(bytes: Array(text.utf8))
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == parser.bytes.count else { throw ParseError(offset: parser.index, reason: "text after the value") }
        return value
    }

    /// The value as compact JSON, strings escaped as the dump escapes them.
    var compact: String {
        switch self {
        case .object(let members): return "{" + members.map { JSONValue.string($0.key).compact + ":" + $0.value.compact }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(\.compact).joined(separator: ",") + "]"
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .string(let text):
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}", "\u{FEFF}":
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ literal: String) throws {
            for byte in literal.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw ParseError(offset: index, reason: "expected \(literal)") }
                index += 1
            }
        }

        mutating func value() throws -> JSONValue {
            skipSpace()
            guard index < bytes.count else { throw ParseError(offset: index, reason: "end of text") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [(key: String, value: JSONValue)] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    members.append((key, try value()))
                    skipSpace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect("}")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [JSONValue] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    items.append(try value())
                    skipSpace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect("]")
                    return .array(items)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default:
                let start = index
                while index < bytes.count, "-+.eE0123456789".utf8.contains(bytes[index]) { index += 1 }
                guard index > start else { throw ParseError(offset: index, reason: "unexpected byte \(bytes[index])") }
                return .number(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }

        mutating func string() throws -> String {
            try expect("\"")
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw.removeAll()
            }
            while true {
                guard index < bytes.count else { throw ParseError(offset: index, reason: "unterminated string") }
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    return String(scalars)
                case 0..<0x20:
                    throw ParseError(offset: index - 1, reason: "a control character in a string")
                case UInt8(ascii: "\\"):
                    flush()
                    guard index < bytes.count else { throw ParseError(offset: index, reason: "unterminated escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16),
                              let scalar = Unicode.Scalar(code) else {
                            throw ParseError(offset: index, reason: "a bad \\u escape (surrogate pairs are not expected here)")
                        }
                        index += 4
                        scalars.append(scalar)
                    default: throw ParseError(offset: index - 1, reason: "an unknown escape")
                    }
                default: raw.append(byte)
                }
            }
        }
    }
}
