import Addresses
import Routing
import YAML

/// Writes traffic documents back out in their Kubernetes shapes (`apiVersion`, `kind`,
/// `metadata` and the body the readers accept: v1 Service, discovery.k8s.io/v1 EndpointSlice,
/// gateway.networking.k8s.io/v1 HTTPRoute, networking.istio.io/v1 DestinationRule), for the
/// admin API's config dump. Reading `yaml(d)` back with `Configuration.loadTraffic` gives `d`
/// again, but for the `origin` of each document, when `d` holds documents as the readers build
/// them (values built in code that a reader would refuse are written as they are, and refused
/// when read back).
///
/// Both outputs are written from one small ordered tree, so they say the same. Fields are written
/// in the order of the Kubernetes and Istio references; settings in force by default are written
/// out (a rule's match of every path, an endpoint's conditions, a redirect's status), except the
/// connection pool limits that are at Istio's "unlimited" (2^32-1), which its schema cannot
/// take. Durations are written as the readers take them: Gateway API durations (`1m30s`,
/// `250ms`) in HTTPRoutes, Go durations in DestinationRules.
public enum TrafficDump {
    /// The documents as YAML, block style, separated by `---`; an empty string for no documents.
    /// A string that YAML would read as another type (`"80"`, `"true"`, `"1.0"`, `""`, an IPv6
    /// address) is double-quoted.
    public static func yaml(_ documents: TrafficSnapshotDocuments) -> String {
        trees(documents).map { tree in
            yamlLines(tree).map { $0 + "\n" }.joined()
        }.joined(separator: "---\n")
    }

    /// The documents as JSON: `{"version": <version>, "documents": [...]}`, indented by two
    /// spaces. `version` is whatever the caller counts snapshots by.
    public static func json(_ documents: TrafficSnapshotDocuments, version: Int) -> String {
        let root = DumpValue.mapping([("version", .integer(version)), ("documents", .sequence(trees(documents)))])
        return jsonLines(root).joined(separator: "\n") + "\n"
    }

    /// One tree per document: Services, then EndpointSlices, HTTPRoutes and DestinationRules, each
    /// in order, as `loadTraffic` reads them back.
    private static func trees(_ documents: TrafficSnapshotDocuments) -> [DumpValue] {
        documents.services.map(service) + documents.endpointSlices.map(endpointSlice) + documents.httpRoutes.map(httpRoute)
            + documents.destinationRules.map(destinationRule)
    }
}

/// A value of a dumped document: the ordered tree both outputs are written from.
private enum DumpValue {
    /// Fields in the order written.
    case mapping([(String, DumpValue)])
    case sequence([DumpValue])
    case string(String)
    case integer(Int)
    case boolean(Bool)
}

// MARK: - Documents

private func document(_ apiVersion: String, _ kind: String, name: String, namespace: String, labels: [String: String] = [:], body: [(String, DumpValue)]) -> DumpValue {
    var metadata: [(String, DumpValue)] = [("name", .string(name)), ("namespace", .string(namespace))]
    if !labels.isEmpty { metadata.append(("labels", stringMap(labels))) }
    return .mapping([("apiVersion", .string(apiVersion)), ("kind", .string(kind)), ("metadata", .mapping(metadata))] + body)
}

/// Labels and selectors, sorted by key so that the dump does not depend on hashing.
private func stringMap(_ map: [String: String]) -> DumpValue {
    .mapping(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
}

private func service(_ service: Service) -> DumpValue {
    var spec: [(String, DumpValue)] = []
    if let first = service.clusterIPs.first {
        spec.append(("clusterIP", .string(first.description)))
        // Kubernetes requires clusterIP to be the first of clusterIPs.
        if service.clusterIPs.count > 1 { spec.append(("clusterIPs", .sequence(service.clusterIPs.map { .string($0.description) }))) }
    } else {
        spec.append(("clusterIP", .string("None")))
    }
    if !service.ports.isEmpty {
        spec.append(("ports", .sequence(service.ports.map { port in
            var fields: [(String, DumpValue)] = []
            if let name = port.name { fields.append(("name", .string(name))) }
            fields.append(("port", .integer(Int(port.port))))
            switch port.targetPort {
            case .number(let number): fields.append(("targetPort", .integer(Int(number))))
            case .named(let name): fields.append(("targetPort", .string(name)))
            }
            if let appProtocol = port.appProtocol { fields.append(("appProtocol", .string(appProtocol))) }
            return .mapping(fields)
        })))
    }
    if !service.selector.isEmpty { spec.append(("selector", stringMap(service.selector))) }
    return document("v1", "Service", name: service.name, namespace: service.namespace, body: [("spec", .mapping(spec))])
}

private func endpointSlice(_ slice: EndpointSlice) -> DumpValue {
    var labels = slice.labels
    labels[EndpointSlice.serviceNameLabel] = slice.serviceName
    var body: [(String, DumpValue)] = [("addressType", .string(slice.addressType.rawValue))]
    if !slice.ports.isEmpty {
        body.append(("ports", .sequence(slice.ports.map { port in
            var fields: [(String, DumpValue)] = []
            if let name = port.name { fields.append(("name", .string(name))) }
            fields.append(("port", .integer(Int(port.port))))
            if let appProtocol = port.appProtocol { fields.append(("appProtocol", .string(appProtocol))) }
            return .mapping(fields)
        })))
    }
    if !slice.endpoints.isEmpty {
        body.append(("endpoints", .sequence(slice.endpoints.map { endpoint in
            var fields: [(String, DumpValue)] = [
                ("addresses", .sequence(endpoint.addresses.map { .string($0.description) })),
                ("conditions", .mapping([
                    ("ready", .boolean(endpoint.ready)), ("serving", .boolean(endpoint.serving)), ("terminating", .boolean(endpoint.terminating)),
                ])),
            ]
            if let hostname = endpoint.hostname { fields.append(("hostname", .string(hostname))) }
            if let nodeName = endpoint.nodeName { fields.append(("nodeName", .string(nodeName))) }
            if let zone = endpoint.zone { fields.append(("zone", .string(zone))) }
            return .mapping(fields)
        })))
    }
    return document("discovery.k8s.io/v1", "EndpointSlice", name: slice.name, namespace: slice.namespace, labels: labels, body: body)
}

// MARK: - HTTPRoute

private func httpRoute(_ route: HTTPRoute) -> DumpValue {
    var spec: [(String, DumpValue)] = []
    spec.append(("parentRefs", .sequence(route.parentRefs.map { parent in
        var fields: [(String, DumpValue)] = [
            ("group", .string("")), ("kind", .string("Service")), ("name", .string(parent.name)), ("namespace", .string(parent.namespace)),
        ]
        if let sectionName = parent.sectionName { fields.append(("sectionName", .string(sectionName))) }
        if let port = parent.port { fields.append(("port", .integer(Int(port)))) }
        return .mapping(fields)
    })))
    if !route.hostnames.isEmpty { spec.append(("hostnames", .sequence(route.hostnames.map { .string($0) }))) }
    // No `rules` reads as the Gateway API's default rule; a route that was read always has one.
    if !route.rules.isEmpty {
        spec.append(("rules", .sequence(route.rules.map { rule(of: route, $0) })))
    }
    return document("gateway.networking.k8s.io/v1", "HTTPRoute", name: route.name, namespace: route.namespace, body: [("spec", .mapping(spec))])
}

private func rule(of route: HTTPRoute, _ rule: HTTPRouteRule) -> DumpValue {
    var fields: [(String, DumpValue)] = []
    if let name = rule.name { fields.append(("name", .string(name))) }
    if !rule.matches.isEmpty { fields.append(("matches", .sequence(rule.matches.map(match)))) }
    if !rule.filters.isEmpty { fields.append(("filters", .sequence(rule.filters.map(filter)))) }
    if !rule.backendRefs.isEmpty {
        fields.append(("backendRefs", .sequence(rule.backendRefs.map { backend in
            var entry: [(String, DumpValue)] = [("name", .string(backend.name))]
            // The reader refuses another namespace (it needs a ReferenceGrant), so only a route
            // built in code can have one; it is written so that the dump shows it.
            if backend.namespace != route.namespace { entry.append(("namespace", .string(backend.namespace))) }
            entry += [("port", .integer(Int(backend.port))), ("weight", .integer(backend.weight))]
            return .mapping(entry)
        })))
    }
    var timeouts: [(String, DumpValue)] = []
    if let request = rule.timeouts.request { timeouts.append(("request", .string(formatGatewayDuration(request)))) }
    if let backendRequest = rule.timeouts.backendRequest { timeouts.append(("backendRequest", .string(formatGatewayDuration(backendRequest)))) }
    if !timeouts.isEmpty { fields.append(("timeouts", .mapping(timeouts))) }
    if let retry = rule.retry {
        var entry: [(String, DumpValue)] = []
        if !retry.codes.isEmpty { entry.append(("codes", .sequence(retry.codes.map { .integer($0) }))) }
        entry += [("attempts", .integer(retry.attempts)), ("backoff", .string(formatGatewayDuration(retry.backoff)))]
        fields.append(("retry", .mapping(entry)))
    }
    return .mapping(fields)
}

private func match(_ match: HTTPRouteMatch) -> DumpValue {
    let path: (type: String, value: String)
    switch match.path {
    case .exact(let value): path = ("Exact", value)
    case .pathPrefix(let value): path = ("PathPrefix", value)
    case .regularExpression(let value): path = ("RegularExpression", value)
    }
    var fields: [(String, DumpValue)] = [("path", .mapping([("type", .string(path.type)), ("value", .string(path.value))]))]
    func valueMatch(name: String, _ value: HTTPValueMatch) -> DumpValue {
        let (type, text) = switch value {
        case .exact(let text): ("Exact", text)
        case .regularExpression(let text): ("RegularExpression", text)
        }
        return .mapping([("type", .string(type)), ("name", .string(name)), ("value", .string(text))])
    }
    if !match.headers.isEmpty { fields.append(("headers", .sequence(match.headers.map { valueMatch(name: $0.name, $0.value) }))) }
    if !match.queryParams.isEmpty { fields.append(("queryParams", .sequence(match.queryParams.map { valueMatch(name: $0.name, $0.value) }))) }
    if let method = match.method { fields.append(("method", .string(method.rawValue))) }
    return .mapping(fields)
}

private func filter(_ filter: HTTPRouteFilter) -> DumpValue {
    switch filter {
    case .requestHeaderModifier(let modifier):
        var fields: [(String, DumpValue)] = []
        func headers(_ list: [HTTPHeaderFilter.Header]) -> DumpValue {
            .sequence(list.map { .mapping([("name", .string($0.name)), ("value", .string($0.value))]) })
        }
        if !modifier.set.isEmpty { fields.append(("set", headers(modifier.set))) }
        if !modifier.add.isEmpty { fields.append(("add", headers(modifier.add))) }
        if !modifier.remove.isEmpty { fields.append(("remove", .sequence(modifier.remove.map { .string($0) }))) }
        return .mapping([("type", .string("RequestHeaderModifier")), ("requestHeaderModifier", .mapping(fields))])
    case .requestRedirect(let redirect):
        var fields: [(String, DumpValue)] = []
        if let scheme = redirect.scheme { fields.append(("scheme", .string(scheme.rawValue))) }
        if let hostname = redirect.hostname { fields.append(("hostname", .string(hostname))) }
        if let path = redirect.path { fields.append(("path", pathModifier(path))) }
        if let port = redirect.port { fields.append(("port", .integer(Int(port)))) }
        fields.append(("statusCode", .integer(redirect.statusCode)))
        return .mapping([("type", .string("RequestRedirect")), ("requestRedirect", .mapping(fields))])
    case .urlRewrite(let rewrite):
        var fields: [(String, DumpValue)] = []
        if let hostname = rewrite.hostname { fields.append(("hostname", .string(hostname))) }
        if let path = rewrite.path { fields.append(("path", pathModifier(path))) }
        return .mapping([("type", .string("URLRewrite")), ("urlRewrite", .mapping(fields))])
    }
}

private func pathModifier(_ modifier: HTTPPathModifier) -> DumpValue {
    switch modifier {
    case .replaceFullPath(let path): return .mapping([("type", .string("ReplaceFullPath")), ("replaceFullPath", .string(path))])
    case .replacePrefixMatch(let path): return .mapping([("type", .string("ReplacePrefixMatch")), ("replacePrefixMatch", .string(path))])
    }
}

/// A Gateway API duration (GEP-2257: at most four parts of one to five digits, units h, m, s and
/// ms), as `parseGatewayDuration` reads it: `0s`, `1h30m`, `10s`, `1s500ms`. Whole milliseconds,
/// which is all the format holds; anything finer is dropped. Hours beyond 99999 take several
/// parts, so a duration longer than about 11 years may not fit in four.
func formatGatewayDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    var milliseconds = max(0, seconds) * 1000 + max(0, attoseconds) / 1_000_000_000_000_000
    if milliseconds == 0 { return "0s" }
    var text = ""
    var hours = milliseconds / 3_600_000
    milliseconds %= 3_600_000
    while hours > 0 {
        let part = min(hours, 99999)
        text += "\(part)h"
        hours -= part
    }
    for (unit, size) in [("m", Int64(60_000)), ("s", 1000), ("ms", 1)] where milliseconds >= size {
        text += "\(milliseconds / size)\(unit)"
        milliseconds %= size
    }
    return text
}

// MARK: - DestinationRule

private func destinationRule(_ rule: DestinationRule) -> DumpValue {
    var spec: [(String, DumpValue)] = [("host", .string(rule.host))]
    if let policy = rule.trafficPolicy { spec.append(("trafficPolicy", trafficPolicy(policy))) }
    if !rule.subsets.isEmpty {
        spec.append(("subsets", .sequence(rule.subsets.map { subset in
            var fields: [(String, DumpValue)] = [("name", .string(subset.name))]
            if !subset.labels.isEmpty { fields.append(("labels", stringMap(subset.labels))) }
            if let policy = subset.trafficPolicy { fields.append(("trafficPolicy", trafficPolicy(policy))) }
            return .mapping(fields)
        })))
    }
    return document("networking.istio.io/v1", "DestinationRule", name: rule.name, namespace: rule.namespace, body: [("spec", .mapping(spec))])
}

private func trafficPolicy(_ policy: DestinationRule.TrafficPolicy) -> DumpValue {
    var fields = settings(loadBalancer: policy.loadBalancer, connectionPool: policy.connectionPool, outlierDetection: policy.outlierDetection)
    // Istio refuses an empty trafficPolicy; one that was read with only `portLevelSettings: []`
    // is written the same way, so that it reads back as a policy rather than none.
    if !policy.portLevelSettings.isEmpty || fields.isEmpty {
        fields.append(("portLevelSettings", .sequence(policy.portLevelSettings.map { port in
            .mapping([("port", .mapping([("number", .integer(Int(port.port)))]))]
                + settings(loadBalancer: port.loadBalancer, connectionPool: port.connectionPool, outlierDetection: port.outlierDetection))
        })))
    }
    return .mapping(fields)
}

private func settings(
    loadBalancer: DestinationRule.LoadBalancer?, connectionPool: DestinationRule.ConnectionPool?, outlierDetection: DestinationRule.OutlierDetection?
) -> [(String, DumpValue)] {
    var fields: [(String, DumpValue)] = []
    if let loadBalancer { fields.append(("loadBalancer", balancer(loadBalancer))) }
    if let connectionPool { fields.append(("connectionPool", pool(connectionPool))) }
    if let outlierDetection {
        fields.append(("outlierDetection", .mapping([
            ("consecutive5xxErrors", .integer(outlierDetection.consecutive5xxErrors)),
            ("consecutiveGatewayErrors", .integer(outlierDetection.consecutiveGatewayErrors)),
            ("interval", .string(formatDuration(outlierDetection.interval))),
            ("baseEjectionTime", .string(formatDuration(outlierDetection.baseEjectionTime))),
            ("maxEjectionPercent", .integer(outlierDetection.maxEjectionPercent)),
            ("minHealthPercent", .integer(outlierDetection.minHealthPercent)),
        ])))
    }
    return fields
}

private func balancer(_ balancer: DestinationRule.LoadBalancer) -> DumpValue {
    switch balancer {
    case .roundRobin: return .mapping([("simple", .string("ROUND_ROBIN"))])
    case .leastRequest: return .mapping([("simple", .string("LEAST_REQUEST"))])
    case .random: return .mapping([("simple", .string("RANDOM"))])
    case .consistentHash(let hash):
        var fields: [(String, DumpValue)] = []
        switch hash.key {
        case .httpHeaderName(let name): fields.append(("httpHeaderName", .string(name)))
        case .httpCookie(let name, let path, let ttl):
            var cookie: [(String, DumpValue)] = [("name", .string(name))]
            if let path { cookie.append(("path", .string(path))) }
            cookie.append(("ttl", .string(formatDuration(ttl))))
            fields.append(("httpCookie", .mapping(cookie)))
        case .sourceIP: fields.append(("useSourceIp", .boolean(true)))
        case .httpQueryParameterName(let name): fields.append(("httpQueryParameterName", .string(name)))
        }
        switch hash.algorithm {
        case .ringHash(let size): fields.append(("ringHash", .mapping([("minimumRingSize", .integer(size))])))
        case .maglev(let size): fields.append(("maglev", .mapping([("tableSize", .integer(size))])))
        }
        return .mapping([("consistentHash", .mapping(fields))])
    }
}

/// `connectionPool`, every setting written but the limits at Istio's "unlimited" (2^32-1), which
/// the readers (as Istio's int32 fields) cannot take and which is what a missing limit means.
private func pool(_ pool: DestinationRule.ConnectionPool) -> DumpValue {
    let unlimited = DestinationRule.ConnectionPool.unlimited
    var tcp: [(String, DumpValue)] = []
    if pool.maxConnections != unlimited { tcp.append(("maxConnections", .integer(pool.maxConnections))) }
    tcp.append(("connectTimeout", .string(formatDuration(pool.connectTimeout))))
    var http: [(String, DumpValue)] = []
    if pool.http1MaxPendingRequests != unlimited { http.append(("http1MaxPendingRequests", .integer(pool.http1MaxPendingRequests))) }
    http.append(("maxRequestsPerConnection", .integer(pool.maxRequestsPerConnection)))
    if pool.maxRetries != unlimited { http.append(("maxRetries", .integer(pool.maxRetries))) }
    http.append(("idleTimeout", .string(formatDuration(pool.idleTimeout))))
    return .mapping([("tcp", .mapping(tcp)), ("http", .mapping(http))])
}

// MARK: - YAML

/// The lines of a mapping or list in block style, indented by two spaces per level. Scalars and
/// empty collections (`{}`, `[]`) stay on their key's or item's line.
private func yamlLines(_ value: DumpValue) -> [String] {
    switch value {
    case .mapping(let fields):
        return fields.flatMap { key, value -> [String] in
            if let inline = yamlInline(value) { return ["\(yamlString(key)): \(inline)"] }
            return ["\(yamlString(key)):"] + yamlLines(value).map { "  " + $0 }
        }
    case .sequence(let items):
        return items.flatMap { item -> [String] in
            if let inline = yamlInline(item) { return ["- \(inline)"] }
            let lines = yamlLines(item)
            return ["- " + lines[0]] + lines.dropFirst().map { "  " + $0 }
        }
    default:
        return [yamlInline(value) ?? ""]
    }
}

/// A value that fits on one line: a scalar or an empty collection; nil for the others.
private func yamlInline(_ value: DumpValue) -> String? {
    switch value {
    case .string(let text): return yamlString(text)
    case .integer(let number): return "\(number)"
    case .boolean(let flag): return flag ? "true" : "false"
    case .mapping(let fields): return fields.isEmpty ? "{}" : nil
    case .sequence(let items): return items.isEmpty ? "[]" : nil
    }
}

/// `text` as a YAML scalar that reads back as that string: plain when it is made of letters,
/// digits and `._/-` (starting with a letter, digit or `/`) and YAML's resolver reads it as a
/// string, as the readers require of strings; double-quoted otherwise.
private func yamlString(_ text: String) -> String {
    let plainBytes = text.utf8.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "._/-".utf8.contains(byte)
    }
    if plainBytes, let first = text.utf8.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-"),
       Node(text).tag == .str {
        return text
    }
    var quoted = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case "\r": quoted += "\\r"
        // Everything YAML does not count as printable (§5.1), and the line and paragraph
        // separators and byte order mark, which readers may treat as breaks, is escaped.
        case "\u{20}"..."\u{7E}", "\u{A0}"..."\u{2027}", "\u{202A}"..."\u{D7FF}", "\u{E000}"..."\u{FEFE}", "\u{FF00}"..."\u{FFFD}",
             "\u{10000}"..."\u{10FFFF}":
            quoted.unicodeScalars.append(scalar)
        default: quoted += "\\u" + hex4(scalar.value)
        }
    }
    return quoted + "\""
}

private func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

// MARK: - JSON

/// The lines of `value` as JSON, indented by two spaces per level.
private func jsonLines(_ value: DumpValue) -> [String] {
    switch value {
    case .mapping(let fields) where !fields.isEmpty:
        let members = fields.enumerated().map { index, field -> [String] in
            var lines = jsonLines(field.1)
            lines[0] = "\(jsonString(field.0)): " + lines[0]
            if index < fields.count - 1 { lines[lines.count - 1] += "," }
            return lines.map { "  " + $0 }
        }
        return ["{"] + members.flatMap { $0 } + ["}"]
    case .sequence(let items) where !items.isEmpty:
        let elements = items.enumerated().map { index, item -> [String] in
            var lines = jsonLines(item)
            if index < items.count - 1 { lines[lines.count - 1] += "," }
            return lines.map { "  " + $0 }
        }
        return ["["] + elements.flatMap { $0 } + ["]"]
    case .mapping: return ["{}"]
    case .sequence: return ["[]"]
    case .string(let text): return [jsonString(text)]
    case .integer(let number): return ["\(number)"]
    case .boolean(let flag): return [flag ? "true" : "false"]
    }
}

/// `text` as a JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped,
/// and U+2028 and U+2029, which JavaScript once took for line ends.
private func jsonString(_ text: String) -> String {
    var quoted = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case "\r": quoted += "\\r"
        case "\u{0}"..."\u{1F}", "\u{2028}", "\u{2029}": quoted += "\\u" + hex4(scalar.value)
        default: quoted.unicodeScalars.append(scalar)
        }
    }
    return quoted + "\""
}
