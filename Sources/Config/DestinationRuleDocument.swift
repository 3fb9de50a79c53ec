import Routing
import YAML

/// Reads `kind: DestinationRule` (networking.istio.io/v1, v1beta1 or v1alpha3) into a
/// `Routing.DestinationRule`: the Service it is for (`host`), and `trafficPolicy` (load balancer,
/// connection pool, outlier detection, port-level settings) for it and for each of its `subsets`,
/// validated as Istio's `ValidateDestinationRule` does. Weft implements port-level settings with
/// Istio's meaning (an entry replaces all three settings for its port). `tls` is refused: the
/// mesh does mTLS itself. Istio fields Weft does not implement are refused by name, with the
/// reason, rather than ignored, since ignoring one would change how traffic flows.
enum DestinationRuleDocument: DocumentKind {
    static let apiVersions = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]
    static let kind = "DestinationRule"

    /// The cluster's DNS domain in fully qualified hosts (`reviews.shop.svc.cluster.local`):
    /// Kubernetes' default (the kubelet's `--cluster-domain`), which Istio's `domainSuffix`
    /// defaults to as well.
    static let clusterDomain = "cluster.local"

    /// The spellings of `loadBalancer.simple`; LEAST_CONN and PASSTHROUGH are read so that they
    /// can be refused by name.
    private enum SimpleName: String, CaseIterable {
        case unspecified = "UNSPECIFIED", leastConn = "LEAST_CONN", random = "RANDOM", passthrough = "PASSTHROUGH"
        case roundRobin = "ROUND_ROBIN", leastRequest = "LEAST_REQUEST"
    }

    /// Istio's int32 fields.
    private static let int32Maximum = 2_147_483_647
    /// Envoy's largest ring (`maximum_ring_size` defaults to 8M nodes); a larger minimum is refused.
    private static let maximumRingSize = 8_388_608
    /// Envoy's largest Maglev table (`table_size` "must be prime number limited to 5000011").
    private static let maximumTableSize = 5_000_011

    private static let specFields = ["host", "trafficPolicy", "subsets"]
    private static let unsupportedSpecFields = [
        "exportTo": "Weft applies every DestinationRule of its configuration; which namespaces see a rule is for a control plane to decide, so remove it",
        "workloadSelector": "it applies the rule to some clients only, and Weft applies a DestinationRule to every client of the Service; remove it",
    ]
    private static let policyFields = ["loadBalancer", "connectionPool", "outlierDetection", "portLevelSettings"]
    private static let tlsReason = "the mesh does mTLS itself (the Sidecar's spec.mesh and the PeerAuthentications decide it), and Weft originates no other TLS; remove it"
    private static let unsupportedPolicyFields = [
        "tls": tlsReason,
        "tunnel": "Weft does not tunnel connections over HTTP CONNECT or POST",
        "proxyProtocol": "Weft does not send the PROXY protocol to endpoints",
        "retryBudget": "Weft's retry budget is fixed: retries in flight may be at most \(HTTPRouteRetry.budgetPercent)% of the requests in flight (HTTPRoute rules[].retry); remove it",
    ]
    private static let unsupportedLoadBalancerFields = [
        "localityLbSetting": "locality-aware balancing needs the endpoints' and the client's locality, which Weft does not use",
        "warmupDurationSecs": "Weft does not ramp up the traffic to new endpoints",
        "warmup": "Weft does not ramp up the traffic to new endpoints",
    ]
    private static let hashKeys = ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"]
    private static let unsupportedTCPFields = [
        "tcpKeepalive": "Weft does not set TCP keepalive on upstream connections",
        "maxConnectionDuration": "Weft does not limit how long an upstream connection lives",
        "idleTimeout": "Weft closes idle TCP connections after the Sidecar's spec.timeouts.idle; for HTTP connections use http.idleTimeout",
    ]
    private static let unsupportedHTTPFields = [
        "http2MaxRequests": "Weft does not limit the requests outstanding to a destination",
        "h2UpgradePolicy": "Weft speaks HTTP/1.1 to endpoints",
        "useClientProtocol": "Weft speaks HTTP/1.1 to endpoints",
        "maxConcurrentStreams": "Weft speaks HTTP/1.1 to endpoints",
    ]
    private static let outlierFields = ["consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime", "maxEjectionPercent", "minHealthPercent"]
    private static let unsupportedOutlierFields = [
        "consecutiveErrors": "it is deprecated in Istio; write consecutive5xxErrors or consecutiveGatewayErrors",
        "splitExternalLocalOriginErrors": "Weft counts connection failures and error responses together",
        "consecutiveLocalOriginFailures": "Weft counts connection failures and error responses together",
    ]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        let name = reader.objectName(of: document, in: configuration, what: "messages about the traffic it governs name the rule")
        let namespace = document.namespace ?? "default"
        var rule: DestinationRule?
        if let spec = document.spec {
            var valid = true
            if let fields = reader.mapping(spec, known: specFields, unsupported: unsupportedSpecFields, valid: &valid) {
                rule = readSpec(fields, spec: spec, name: name ?? "", namespace: namespace, origin: document.position.description, configuration: configuration, reader: &reader)
            }
        } else {
            reader.report("a DestinationRule needs `spec.host`: the Service whose traffic it governs", at: document.kindNode)
        }
        // A rule with mistakes is left out: half of a policy balances or limits traffic in a way
        // no one asked for.
        if reader.diagnostics.isEmpty, let rule {
            configuration.destinationRules.append(rule)
        }
    }

    private static func readSpec(
        _ fields: [String: Field], spec: Field, name: String, namespace: String, origin: String, configuration: Configuration,
        reader: inout DocumentReader
    ) -> DestinationRule? {
        guard let hostField = fields["host"] else {
            reader.report("a DestinationRule needs `spec.host`: the Service whose traffic it governs, such as host: reviews", at: spec.key)
            return nil
        }
        guard let host = reader.string(hostField, expecting: "a Service's name such as reviews") else { return nil }
        guard let service = serviceName(host, namespace: namespace) else {
            let why = host.contains("*")
                ? "a wildcard host is not supported: Weft applies a DestinationRule to one Service"
                : "it names no Service: Istio reads a host with a dot as a fully qualified name, and Weft knows only the configuration's Services"
            reader.report("`\(hostField.path)` is \(quoted(host)): \(why); write the Service's name (reviews, in the rule's namespace) or its fully qualified name (reviews.\(namespace).svc.\(clusterDomain))", at: hostField.value)
            return nil
        }
        // Istio merges several rules for one host only in part, by creation time, which files
        // do not have; so there is one rule per Service.
        if let first = configuration.destinationRules.first(where: { $0.serviceName == service.name && $0.serviceNamespace == service.namespace }) {
            reader.report("\(first) (at \(first.origin)) is already for Service \(service.namespace)/\(service.name); Istio would merge the two only in part, so keep one DestinationRule per Service", at: hostField.value)
        }
        let reference = reader.refer(toService: service.name, namespace: service.namespace, by: hostField)
        var rule = DestinationRule(name: name, namespace: namespace, host: host, serviceName: service.name, serviceNamespace: service.namespace, origin: origin)
        var valid = true
        if let field = fields["trafficPolicy"] {
            if let policy = readTrafficPolicy(field, reference: reference, reader: &reader) { rule.trafficPolicy = policy } else { valid = false }
        }
        if let field = fields["subsets"], let items = reader.list(field, of: "subsets, each such as {name: v1, labels: {version: v1}}") {
            let (subsets, allRead) = readUnique(items, reader: &reader, key: \.name) { reader, item in
                readSubset(item, reference: reference, reader: &reader)
            } duplicate: { subset, first in
                "the subset name \(quoted(subset.name)) appears twice in `\(field.path)` (first at line \(first)); routes pick a subset by name, so rename one"
            }
            rule.subsets = subsets
            valid = valid && allRead
        }
        return valid ? rule : nil
    }

    /// The Service a host names, resolved as Istio does: a short name (no dot) is in the rule's
    /// namespace; `<name>.<namespace>.svc.cluster.local` names that Service; anything else (a
    /// host with a dot is fully qualified to Istio) names no Service.
    private static func serviceName(_ host: String, namespace: String) -> (name: String, namespace: String)? {
        if !host.contains("."), isDNSLabel(host) { return (host, namespace) }
        let suffix = ".svc.\(clusterDomain)"
        guard host.hasSuffix(suffix) else { return nil }
        let labels = host.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count == 2, labels.allSatisfy(isDNSLabel) else { return nil }
        return (String(labels[0]), String(labels[1]))
    }

    private static func readSubset(_ item: Field, reference: Int, reader: inout DocumentReader) -> DestinationRule.Subset? {
        guard let fields = reader.mapping(item.value, path: item.path, known: ["name", "labels", "trafficPolicy"]) else { return nil }
        guard let nameField = fields["name"] else {
            reader.report("`\(item.path)` has no `name`; routes pick a subset by name, such as name: v1", at: item.value)
            return nil
        }
        guard let name = reader.string(nameField, expecting: "a subset name such as v1") else { return nil }
        // Istio's validateSubsetName.
        guard isDNSLabel(name) else {
            reader.report("`\(nameField.path)` is \(quoted(name)), which is not a subset name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", at: nameField.value)
            return nil
        }
        var subset = DestinationRule.Subset(name: name)
        var valid = true
        if let field = fields["labels"] {
            if let labels = reader.labels(field) { subset.labels = labels } else { valid = false }
        }
        if let field = fields["trafficPolicy"] {
            if let policy = readTrafficPolicy(field, reference: reference, reader: &reader) { subset.trafficPolicy = policy } else { valid = false }
        }
        return valid ? subset : nil
    }

    private static func readTrafficPolicy(_ field: Field, reference: Int, reader: inout DocumentReader) -> DestinationRule.TrafficPolicy? {
        var valid = true
        guard let fields = reader.mapping(field, known: policyFields, unsupported: unsupportedPolicyFields, valid: &valid) else { return nil }
        // Istio's validateTrafficPolicy.
        if isEmptyMapping(field.value) {
            reader.report("`\(field.path)` has no field; Istio requires at least one of \(policyFields.joined(separator: ", ")), so remove it or give one", at: field.value)
            return nil
        }
        var policy = DestinationRule.TrafficPolicy()
        if let entry = fields["loadBalancer"] {
            if let value = readLoadBalancer(entry, reader: &reader) { policy.loadBalancer = value } else { valid = false }
        }
        if let entry = fields["connectionPool"] {
            if let value = readConnectionPool(entry, reader: &reader) { policy.connectionPool = value } else { valid = false }
        }
        if let entry = fields["outlierDetection"] {
            if let value = readOutlierDetection(entry, reader: &reader) { policy.outlierDetection = value } else { valid = false }
        }
        if let entry = fields["portLevelSettings"], let items = reader.list(entry, of: "port settings, each such as {port: {number: 9080}, loadBalancer: {simple: RANDOM}}") {
            let (settings, allRead) = readUnique(items, reader: &reader, key: \.port) { reader, item in
                readPortTrafficPolicy(item, reference: reference, reader: &reader)
            } duplicate: { settings, first in
                "port \(settings.port) appears twice in `\(entry.path)` (first at line \(first)); give each port one entry"
            }
            policy.portLevelSettings = settings
            valid = valid && allRead
        }
        return valid ? policy : nil
    }

    /// Reads each item of a list, refusing (with `duplicate`'s message, given the item and the
    /// line of the first one) an item whose `key` an earlier item had. `allRead` is false when any
    /// item was invalid or a duplicate.
    private static func readUnique<Item, Key: Hashable>(
        _ items: [Field], reader: inout DocumentReader, key: (Item) -> Key,
        read: (inout DocumentReader, Field) -> Item?, duplicate: (Item, Int) -> String
    ) -> (items: [Item], allRead: Bool) {
        var result: [Item] = []
        var allRead = true
        var firstLine: [Key: Int] = [:]
        for item in items {
            guard let value = read(&reader, item) else {
                allRead = false
                continue
            }
            if let first = firstLine[key(value)] {
                reader.report(duplicate(value, first), at: item.value)
                allRead = false
                continue
            }
            firstLine[key(value)] = reader.position(of: item.value).line
            result.append(value)
        }
        return (result, allRead)
    }

    private static func readPortTrafficPolicy(_ item: Field, reference: Int, reader: inout DocumentReader) -> DestinationRule.PortTrafficPolicy? {
        var valid = true
        let known = ["port", "loadBalancer", "connectionPool", "outlierDetection"]
        guard let fields = reader.mapping(item, known: known, unsupported: ["tls": tlsReason], valid: &valid) else { return nil }
        guard let portField = fields["port"] else {
            reader.report("`\(item.path)` has no `port`; write the Service port it is for, such as port: {number: 9080}", at: item.value)
            return nil
        }
        guard let selector = reader.mapping(portField.value, path: portField.path, known: ["number"]) else { return nil }
        guard let numberField = selector["number"] else {
            reader.report("`\(portField.path)` has no `number`; write the Service port, such as {number: 9080}", at: portField.value)
            return nil
        }
        guard let port = reader.portNumber(numberField) else { return nil }
        reader.need(.number(port), of: reference, by: numberField)
        // Istio's validatePortTrafficPolicies.
        if !["loadBalancer", "connectionPool", "outlierDetection", "tls"].contains(where: { fields[$0] != nil }) {
            reader.report("`\(item.path)` has only a port; Istio requires at least one of loadBalancer, connectionPool, outlierDetection besides it", at: item.value)
            return nil
        }
        var settings = DestinationRule.PortTrafficPolicy(port: port)
        if let entry = fields["loadBalancer"] {
            if let value = readLoadBalancer(entry, reader: &reader) { settings.loadBalancer = value } else { valid = false }
        }
        if let entry = fields["connectionPool"] {
            if let value = readConnectionPool(entry, reader: &reader) { settings.connectionPool = value } else { valid = false }
        }
        if let entry = fields["outlierDetection"] {
            if let value = readOutlierDetection(entry, reader: &reader) { settings.outlierDetection = value } else { valid = false }
        }
        return valid ? settings : nil
    }

    private static func readLoadBalancer(_ field: Field, reader: inout DocumentReader) -> DestinationRule.LoadBalancer? {
        var valid = true
        guard let fields = reader.mapping(field, known: ["simple", "consistentHash"], unsupported: unsupportedLoadBalancerFields, valid: &valid) else { return nil }
        if fields["simple"] != nil, let hash = fields["consistentHash"] {
            reader.report("`\(field.path)` has both `simple` and `consistentHash`; Istio takes one of them, so remove the other", at: hash.key)
            return nil
        }
        var balancer = DestinationRule.LoadBalancer.default
        if let entry = fields["simple"] {
            guard let name = reader.choice(entry, of: SimpleName.self) else { return nil }
            switch name {
            case .unspecified, .leastRequest: balancer = .leastRequest
            case .roundRobin: balancer = .roundRobin
            case .random: balancer = .random
            case .leastConn:
                reader.report("`\(entry.path)` is LEAST_CONN, which Istio deprecated in favour of LEAST_REQUEST (it means the same); write LEAST_REQUEST", at: entry.value)
                return nil
            case .passthrough:
                reader.report("`\(entry.path)` is PASSTHROUGH, which is not supported: it sends each connection to the address the client dialled, without balancing, which is not a Service's endpoints; choose ROUND_ROBIN, LEAST_REQUEST or RANDOM", at: entry.value)
                return nil
            }
        }
        if let entry = fields["consistentHash"] {
            guard let hash = readConsistentHash(entry, reader: &reader) else { return nil }
            balancer = .consistentHash(hash)
        }
        return valid ? balancer : nil
    }

    private static func readConsistentHash(_ field: Field, reader: inout DocumentReader) -> DestinationRule.ConsistentHash? {
        var valid = true
        let unsupported = ["minimumRingSize": "it is deprecated in Istio; write ringHash: {minimumRingSize: <size>}"]
        guard let fields = reader.mapping(field, known: hashKeys + ["ringHash", "maglev"], unsupported: unsupported, valid: &valid) else { return nil }
        let keys = hashKeys.filter { fields[$0] != nil }
        guard let keyName = keys.first, let keyField = fields[keyName] else {
            reader.report("`\(field.path)` has no hash key; write one of \(hashKeys.joined(separator: ", "))", at: field.value)
            return nil
        }
        if keys.count > 1, let second = fields[keys[1]] {
            reader.report("`\(field.path)` has \(keys.count) hash keys (\(keys.joined(separator: ", "))); Istio hashes on one, so keep one", at: second.key)
            return nil
        }
        let key: DestinationRule.ConsistentHash.Key
        switch keyName {
        case "httpHeaderName":
            guard let text = reader.string(keyField, expecting: "a header name such as x-user"), let name = headerName(text, keyField, reader: &reader) else { return nil }
            key = .httpHeaderName(name)
        case "httpQueryParameterName":
            guard let text = reader.string(keyField, expecting: "a query parameter name such as user") else { return nil }
            guard !text.isEmpty else {
                reader.report("`\(keyField.path)` is empty; write the name of the query parameter to hash on", at: keyField.value)
                return nil
            }
            key = .httpQueryParameterName(text)
        case "useSourceIp":
            guard let flag = reader.boolean(keyField) else { return nil }
            guard flag else {
                reader.report("`\(keyField.path)` is false, which selects no hash key; write true to hash on the client's address, or use another key", at: keyField.value)
                return nil
            }
            key = .sourceIP
        default:
            guard let cookie = readCookie(keyField, reader: &reader) else { return nil }
            key = cookie
        }
        var algorithm = DestinationRule.ConsistentHash.Algorithm.default
        if fields["ringHash"] != nil, let maglev = fields["maglev"] {
            reader.report("`\(field.path)` has both `ringHash` and `maglev`; Istio takes one algorithm, so remove the other", at: maglev.key)
            return nil
        }
        if let entry = fields["ringHash"] {
            guard let ring = reader.mapping(entry.value, path: entry.path, known: ["minimumRingSize"]) else { return nil }
            var size = DestinationRule.ConsistentHash.Algorithm.defaultMinimumRingSize
            if let sizeField = ring["minimumRingSize"] {
                guard let value = reader.integer(sizeField, in: 1...maximumRingSize, meaning: "\(maximumRingSize) is Envoy's largest ring") else { return nil }
                size = value
            }
            algorithm = .ringHash(minimumRingSize: size)
        }
        if let entry = fields["maglev"] {
            guard let table = reader.mapping(entry.value, path: entry.path, known: ["tableSize"]) else { return nil }
            var size = DestinationRule.ConsistentHash.Algorithm.defaultTableSize
            if let sizeField = table["tableSize"] {
                guard let value = reader.integer(sizeField, in: 2...maximumTableSize) else { return nil }
                guard isPrime(value) else {
                    reader.report("`\(sizeField.path)` is \(value), which is not a prime; a Maglev table's size is prime (so every endpoint's walk visits every slot), such as 65537 or 131071", at: sizeField.value)
                    return nil
                }
                size = value
            }
            algorithm = .maglev(tableSize: size)
        }
        return valid ? DestinationRule.ConsistentHash(key: key, algorithm: algorithm) : nil
    }

    /// `httpCookie`: `name` and `ttl` are required, as Istio's validation says.
    private static func readCookie(_ field: Field, reader: inout DocumentReader) -> DestinationRule.ConsistentHash.Key? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["name", "path", "ttl"]) else { return nil }
        guard let nameField = fields["name"], let ttlField = fields["ttl"] else {
            reader.report("`\(field.path)` needs `name` and `ttl` (0s for a session cookie), as Istio requires, such as {name: user, ttl: 0s}", at: field.value)
            return nil
        }
        guard let text = reader.string(nameField, expecting: "a cookie name such as user"), let name = headerName(text, nameField, reader: &reader) else { return nil }
        var path: String?
        if let pathField = fields["path"] {
            guard let text = reader.string(pathField, expecting: "a cookie path such as /") else { return nil }
            guard text.hasPrefix("/") else {
                reader.report("`\(pathField.path)` is \(quoted(text)); a cookie's path starts with '/' (RFC 6265 §5.2.4), such as /", at: pathField.value)
                return nil
            }
            path = text
        }
        guard let ttl = reader.duration(ttlField, zeroAllowed: true) else { return nil }
        return .httpCookie(name: name, path: path, ttl: ttl)
    }

    /// A header or cookie name: token characters (RFC 9110 §5.6.2; a cookie-name is a token too,
    /// RFC 6265 §4.1.1).
    private static func headerName(_ text: String, _ field: Field, reader: inout DocumentReader) -> String? {
        guard !text.isEmpty, text.utf8.allSatisfy(isTokenByte) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is not a name; write letters, digits and !#$%&'*+-.^_`|~, such as x-user", at: field.value)
            return nil
        }
        return text
    }

    private static func readConnectionPool(_ field: Field, reader: inout DocumentReader) -> DestinationRule.ConnectionPool? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["tcp", "http"]) else { return nil }
        // Istio's validateConnectionPool.
        if fields.isEmpty, isEmptyMapping(field.value) {
            reader.report("`\(field.path)` has no field; Istio requires tcp or http, so remove it or give one", at: field.value)
            return nil
        }
        var pool = DestinationRule.ConnectionPool()
        var valid = true
        let limit = "0 is Istio's unset, so remove the line for no limit"
        if let tcp = fields["tcp"], let entries = reader.mapping(tcp, known: ["maxConnections", "connectTimeout"], unsupported: unsupportedTCPFields, valid: &valid) {
            if let entry = entries["maxConnections"] {
                if let value = reader.integer(entry, in: 1...int32Maximum, meaning: limit) { pool.maxConnections = value } else { valid = false }
            }
            if let entry = entries["connectTimeout"] {
                if let value = istioDuration(entry, reader: &reader) { pool.connectTimeout = value } else { valid = false }
            }
        }
        let httpFields = ["http1MaxPendingRequests", "maxRequestsPerConnection", "maxRetries", "idleTimeout"]
        if let http = fields["http"], let entries = reader.mapping(http, known: httpFields, unsupported: unsupportedHTTPFields, valid: &valid) {
            if let entry = entries["http1MaxPendingRequests"] {
                if let value = reader.integer(entry, in: 1...int32Maximum, meaning: limit) { pool.http1MaxPendingRequests = value } else { valid = false }
            }
            if let entry = entries["maxRequestsPerConnection"] {
                if let value = reader.integer(entry, in: 0...int32Maximum, meaning: "0 means unlimited, 1 disables keep-alive") { pool.maxRequestsPerConnection = value } else { valid = false }
            }
            if let entry = entries["maxRetries"] {
                if let value = reader.integer(entry, in: 1...int32Maximum, meaning: limit) { pool.maxRetries = value } else { valid = false }
            }
            if let entry = entries["idleTimeout"] {
                if let value = istioDuration(entry, reader: &reader) { pool.idleTimeout = value } else { valid = false }
            }
        }
        return valid ? pool : nil
    }

    private static func readOutlierDetection(_ field: Field, reader: inout DocumentReader) -> DestinationRule.OutlierDetection? {
        var valid = true
        guard let fields = reader.mapping(field, known: outlierFields, unsupported: unsupportedOutlierFields, valid: &valid) else { return nil }
        var detection = DestinationRule.OutlierDetection()
        func count(_ name: String) -> Int? {
            guard let entry = fields[name] else { return nil }
            let value = reader.integer(entry, in: 0...4_294_967_295, meaning: "0 disables this check")
            if value == nil { valid = false }
            return value
        }
        func percent(_ name: String) -> Int? {
            guard let entry = fields[name] else { return nil }
            let value = reader.integer(entry, in: 0...100, meaning: "a percentage")
            if value == nil { valid = false }
            return value
        }
        func duration(_ name: String) -> Duration? {
            guard let entry = fields[name] else { return nil }
            let value = istioDuration(entry, reader: &reader)
            if value == nil { valid = false }
            return value
        }
        if let value = count("consecutive5xxErrors") { detection.consecutive5xxErrors = value }
        if let value = count("consecutiveGatewayErrors") { detection.consecutiveGatewayErrors = value }
        if let value = duration("interval") { detection.interval = value }
        if let value = duration("baseEjectionTime") { detection.baseEjectionTime = value }
        if let value = percent("maxEjectionPercent") { detection.maxEjectionPercent = value }
        if let value = percent("minHealthPercent") { detection.minHealthPercent = value }
        return valid ? detection : nil
    }

    /// An Istio duration as its `ValidateDuration` accepts it: at least 1ms, in whole milliseconds.
    private static func istioDuration(_ field: Field, reader: inout DocumentReader) -> Duration? {
        guard let value = reader.duration(field, zeroAllowed: false) else { return nil }
        let (seconds, attoseconds) = value.components
        if seconds == 0, attoseconds < 1_000_000_000_000_000 {
            reader.report("`\(field.path)` is \(formatDuration(value)); Istio requires at least 1ms", at: field.value)
            return nil
        }
        if attoseconds % 1_000_000_000_000_000 != 0 {
            reader.report("`\(field.path)` is \(formatDuration(value)); Istio takes durations in whole milliseconds, such as 1500ms", at: field.value)
            return nil
        }
        return value
    }

    private static func isPrime(_ number: Int) -> Bool {
        guard number >= 2 else { return false }
        var divisor = 2
        while divisor * divisor <= number {
            if number % divisor == 0 { return false }
            divisor += 1
        }
        return true
    }
}

/// Whether `node` is `{}` or null.
private func isEmptyMapping(_ node: Node) -> Bool {
    if case .mapping(let mapping) = node { return mapping.isEmpty }
    return isNull(node)
}
