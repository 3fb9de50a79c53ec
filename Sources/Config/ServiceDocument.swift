import Addresses
import Routing
import YAML

/// Reads `kind: Service` (v1) into a `Routing.Service`: its cluster IPs (`clusterIP`,
/// `clusterIPs`, `None` for headless), `ports` and `selector`, validated as the API server's
/// `ValidateService` does. A Weft configuration has no API server, so the cluster IP that one
/// would allocate must be written. Only `type: ClusterIP` and TCP ports are read; the fields for
/// node ports, cloud load balancers and the like are refused by name, with the reason.
enum ServiceDocument: DocumentKind {
    static let apiVersions = ["v1"]
    static let kind = "Service"

    /// The spellings of `type`; the others are read so that they can be refused by name.
    private enum ServiceType: String, CaseIterable {
        case clusterIP = "ClusterIP", nodePort = "NodePort", loadBalancer = "LoadBalancer", externalName = "ExternalName"
    }

    private static let specFields = ["type", "clusterIP", "clusterIPs", "ports", "selector"]
    private static let outsideTheCluster = "it is for traffic from outside the cluster (node ports, cloud load balancers), which a sidecar does not see; remove it"
    private static let unsupportedSpecFields = [
        "externalName": "an ExternalName Service is a DNS alias, and Weft does not resolve names; route to a Service with endpoints",
        "externalIPs": outsideTheCluster,
        "externalTrafficPolicy": outsideTheCluster,
        "healthCheckNodePort": outsideTheCluster,
        "loadBalancerIP": outsideTheCluster,
        "loadBalancerSourceRanges": outsideTheCluster,
        "loadBalancerClass": outsideTheCluster,
        "allocateLoadBalancerNodePorts": outsideTheCluster,
        "internalTrafficPolicy": "keeping traffic on the client's node needs endpoint topology, which Weft does not use; remove it (Cluster is the default)",
        "trafficDistribution": "preferring endpoints in the client's zone needs endpoint topology, which Weft does not use; remove it",
        "sessionAffinity": "Weft keeps a client on one endpoint with a DestinationRule instead (trafficPolicy.loadBalancer.consistentHash.useSourceIp: true); remove it",
        "sessionAffinityConfig": "Weft keeps a client on one endpoint with a DestinationRule instead (trafficPolicy.loadBalancer.consistentHash.useSourceIp: true); remove it",
        "publishNotReadyAddresses": "Weft takes readiness from each endpoint's conditions in the EndpointSlices; remove it",
        "ipFamilies": "Weft takes each address family from spec.clusterIPs; remove it",
        "ipFamilyPolicy": "Weft takes each address family from spec.clusterIPs; remove it",
    ]
    private static let portFields = ["name", "port", "targetPort", "protocol", "appProtocol"]
    private static let unsupportedPortFields = [
        "nodePort": "node ports belong to NodePort Services, for traffic from outside the cluster, which a sidecar does not see; remove it",
    ]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        let name = reader.objectName(of: document, in: configuration, what: "HTTPRoutes, EndpointSlices and DestinationRules refer to a Service by its name")
        if let name, !isDNS1035Label(name), let field = document.metadata["name"] {
            reader.report("`metadata.name` \(quoted(name)) is not a valid Service name; a Service name is at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (an RFC 1035 label)", at: field.value)
        }
        var service = Service(name: name ?? "", namespace: document.namespace ?? "default", origin: document.position.description)
        var readAddresses = false
        if let spec = document.spec {
            let known = specFields + unsupportedSpecFields.keys.sorted()
            if let fields = reader.mapping(spec.value, path: spec.path, known: known) {
                readAddresses = readSpec(fields, spec: spec, into: &service, reader: &reader)
            }
        } else {
            reader.report("a Service needs `spec.clusterIP` and `spec.ports`: Weft recognises the Service's traffic by its cluster IP and port", at: document.kindNode)
        }
        // A Service with mistakes is left out; `Configuration.check` then stays quiet about the
        // documents that name it, since its own mistakes say what is wrong.
        if reader.diagnostics.isEmpty, readAddresses {
            configuration.services.append(service)
        }
    }

    /// Reads the spec's fields; false if the cluster IPs could not be read.
    private static func readSpec(_ fields: [String: Field], spec: Field, into service: inout Service, reader: inout DocumentReader) -> Bool {
        for name in unsupportedSpecFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedSpecFields[name]!)", at: field.key)
            }
        }
        if let field = fields["type"], let type = reader.choice(field, of: ServiceType.self) {
            switch type {
            case .clusterIP: break
            case .externalName:
                reader.report("`\(field.path)` is ExternalName, which is not supported: an ExternalName Service is a DNS alias, and Weft does not resolve names; route to a Service with endpoints", at: field.value)
            case .nodePort, .loadBalancer:
                reader.report("`\(field.path)` is \(type.rawValue), which is not supported: a sidecar sees only traffic inside the cluster, which reaches the Service by its cluster IP; write type: ClusterIP (or remove the line)", at: field.value)
            }
        }
        let addresses = readClusterIPs(fields, spec: spec, reader: &reader)
        if let addresses { service.clusterIPs = addresses }
        if let field = fields["ports"] {
            service.ports = readPorts(field, reader: &reader)
        }
        // ValidateService: every Service but a headless one needs a port.
        if isAbsentOrEmptyList(fields["ports"]), let addresses, !addresses.isEmpty {
            let at = fields["ports"]?.value ?? spec.key
            reader.report("a Service with a cluster IP needs at least one port in `spec.ports`, such as [{name: http, port: 80, targetPort: 8080}]", at: at)
        }
        if let field = fields["selector"], let labels = reader.labels(field) {
            service.selector = labels
        }
        return addresses != nil
    }

    /// `clusterIP` and `clusterIPs`: the addresses, empty for headless (`None`); nil after
    /// reporting a problem.
    private static func readClusterIPs(_ fields: [String: Field], spec: Field, reader: inout DocumentReader) -> [IPAddress]? {
        let allowed = "the address clients connect to, such as 10.96.0.10, or None for a headless Service"
        func address(_ field: Field) -> IPAddress?? {
            guard let text = reader.string(field, expecting: allowed) else { return nil }
            if text == "None" { return .some(nil) }
            do { return .some(try IPAddress(parsing: text)) } catch {
                reader.report("`\(field.path)` is \(quoted(text)): \(error.reason); write \(allowed)", at: field.value)
                return nil
            }
        }
        var single: IPAddress??
        if let field = fields["clusterIP"] {
            guard let value = address(field) else { return nil }
            single = value
        }
        guard let listField = fields["clusterIPs"] else {
            guard let single else {
                reader.report("a Service needs `spec.clusterIP`: the API server would allocate one, but Weft has none, so write \(allowed)", at: spec.key)
                return nil
            }
            return single.map { [$0] } ?? []
        }
        guard let items = reader.list(listField, of: "addresses, such as [10.96.0.10, \"fd00:10:96::a\"]") else { return nil }
        var list: [IPAddress?] = []
        for item in items {
            guard let value = address(item) else { return nil }
            list.append(value)
        }
        // ValidateService: one or two addresses (dual stack, one per family), `None` only alone,
        // and the first is `clusterIP` when both are written.
        guard let first = list.first else {
            reader.report("`\(listField.path)` is empty; write \(allowed)", at: listField.value)
            return nil
        }
        if list.count > 1, list.contains(where: { $0 == nil }) {
            reader.report("`\(listField.path)` has None besides addresses; a headless Service has `clusterIPs: [None]` alone", at: listField.value)
            return nil
        }
        if list.count > 2 || (list.count == 2 && isIPv4(list[0]!) == isIPv4(list[1]!)) {
            reader.report("`\(listField.path)` may hold one address, or two of different families (IPv4 and IPv6, for dual stack)", at: listField.value)
            return nil
        }
        if let single, let field = fields["clusterIP"], single != first {
            reader.report("`\(field.path)` is \(single.map(\.description) ?? "None"), but `\(listField.path)` starts with \(first.map(\.description) ?? "None"); Kubernetes requires clusterIP to be the first of clusterIPs, so make them agree or write only clusterIPs", at: field.value)
            return nil
        }
        return list.compactMap { $0 }
    }

    private static func isIPv4(_ address: IPAddress) -> Bool {
        if case .v4 = address { return true } else { return false }
    }

    /// `ports`: the valid ports, after reporting the others.
    private static func readPorts(_ field: Field, reader: inout DocumentReader) -> [ServicePort] {
        guard let items = reader.list(field, of: "ports, each such as {name: http, port: 80, targetPort: 8080}") else { return [] }
        var ports: [ServicePort] = []
        var firstLine: (names: [String: Int], numbers: [UInt16: Int]) = ([:], [:])
        for item in items {
            guard let port = readPort(item, reader: &reader) else { continue }
            let line = reader.position(of: item.value).line
            if let name = port.name {
                if let first = firstLine.names[name] {
                    reader.report("the port name \(quoted(name)) appears twice in `\(field.path)` (first at line \(first)); each port of a Service has its own name", at: item.value)
                    continue
                }
                firstLine.names[name] = line
            } else if items.count > 1 {
                reader.report("`\(item.path)` has no `name`; Kubernetes requires a name on every port of a Service with several, such as name: http (EndpointSlices and routes refer to the port by it)", at: item.value)
                continue
            }
            if let first = firstLine.numbers[port.port] {
                reader.report("port \(port.port) appears twice in `\(field.path)` (first at line \(first)); a Service offers each TCP port once", at: item.value)
                continue
            }
            firstLine.numbers[port.port] = line
            ports.append(port)
        }
        return ports
    }

    private static func readPort(_ item: Field, reader: inout DocumentReader) -> ServicePort? {
        let known = portFields + unsupportedPortFields.keys.sorted()
        guard let fields = reader.mapping(item.value, path: item.path, known: known) else { return nil }
        var valid = true
        for name in unsupportedPortFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedPortFields[name]!)", at: field.key)
                valid = false
            }
        }
        if let field = fields["protocol"], let value = reader.choice(field, of: PortProtocolName.self), value != .tcp {
            reader.report("`\(field.path)` is \(value.rawValue), which Weft does not carry: the sidecar relays TCP connections only; remove the port, or reach it outside the mesh", at: field.value)
            valid = false
        }
        var name: String?
        if let field = fields["name"], let text = reader.string(field, expecting: "a port name such as http") {
            if text.isEmpty {
                name = nil
            } else if isDNSLabel(text) {
                name = text
            } else {
                reader.report("`\(field.path)` is \(quoted(text)), which is not a port name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, such as http", at: field.value)
                valid = false
            }
        }
        guard let portField = fields["port"] else {
            reader.report("`\(item.path)` has no `port`; write the number clients connect to, such as port: 80", at: item.value)
            return nil
        }
        guard let number = reader.portNumber(portField) else { return nil }
        var targetPort: ServicePort.TargetPort?
        if let field = fields["targetPort"] {
            guard let target = readTargetPort(field, reader: &reader) else { return nil }
            targetPort = target
        }
        var appProtocol: String?
        if let field = fields["appProtocol"], let text = reader.string(field, expecting: "a protocol name such as http") {
            if let problem = appProtocolProblem(text) {
                reader.report("`\(field.path)` is \(quoted(text)): \(problem)", at: field.value)
                valid = false
            }
            appProtocol = text
        }
        return valid ? ServicePort(name: name, port: number, targetPort: targetPort, appProtocol: appProtocol) : nil
    }

    /// `targetPort`: a number (YAML integer), or a container port's name (a string).
    private static func readTargetPort(_ field: Field, reader: inout DocumentReader) -> ServicePort.TargetPort? {
        if field.value.tag == .int {
            return reader.portNumber(field).map { .number($0) }
        }
        guard let text = reader.string(field, expecting: "a port number such as 8080, or a container port's name such as http") else { return nil }
        guard isIANAServiceName(text) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is neither a port number nor a port name; write a number from 1 to 65535 without quotes, or the name of a container port (up to 15 lowercase letters, digits and '-', with at least one letter), such as http", at: field.value)
            return nil
        }
        return .named(text)
    }
}

/// Whether a list field is missing, null or `[]` (a value of another type has been reported).
func isAbsentOrEmptyList(_ field: Field?) -> Bool {
    guard let field else { return true }
    if isNull(field.value) { return true }
    if case .sequence(let sequence) = field.value { return sequence.isEmpty }
    return false
}
