import Addresses
import Routing
import YAML

/// Reads `kind: EndpointSlice` (discovery.k8s.io/v1) into a `Routing.EndpointSlice`: the Service
/// it belongs to (its `kubernetes.io/service-name` label), `addressType`, `ports` and
/// `endpoints` with their conditions, validated as the API server's `ValidateEndpointSlice`
/// does. Unlike the other kinds, an EndpointSlice has no `spec`: these are top-level fields.
/// Weft connects to addresses and resolves no names, so `addressType: FQDN` is refused.
enum EndpointSliceDocument: DocumentKind {
    static let apiVersions = ["discovery.k8s.io/v1"]
    static let kind = "EndpointSlice"
    static let bodyFields = ["addressType", "endpoints", "ports"]

    /// The spellings of `addressType`; FQDN is read so that it can be refused by name.
    private enum AddressTypeName: String, CaseIterable {
        case ipv4 = "IPv4", ipv6 = "IPv6", fqdn = "FQDN"
    }

    /// The API server's limits (`maxEndpoints`, `maxAddresses`, `maxPorts`).
    private static let maximumEndpoints = 1000
    private static let maximumAddresses = 100
    private static let maximumPorts = 100

    private static let portFields = ["name", "port", "protocol", "appProtocol"]
    private static let endpointFields = ["addresses", "conditions", "hostname", "nodeName", "zone", "targetRef"]
    private static let unsupportedEndpointFields = [
        "hints": "topology hints steer traffic to endpoints in the client's zone, which Weft does not do; remove them",
        "deprecatedTopology": "it is deprecated in discovery.k8s.io/v1; write nodeName and zone instead",
    ]
    /// A Kubernetes ObjectReference, which `targetRef` is: read and checked, not used, because
    /// Weft knows an endpoint by its addresses.
    private static let objectReferenceFields = ["apiVersion", "kind", "namespace", "name", "uid", "resourceVersion", "fieldPath"]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        let name = reader.objectName(of: document, in: configuration, what: "messages about its endpoints name the slice")
        let namespace = document.namespace ?? "default"
        var slice = EndpointSlice(name: name ?? "", namespace: namespace, serviceName: "", labels: document.labels, origin: document.position.description)
        var service: Int?
        if let serviceName = document.labels[EndpointSlice.serviceNameLabel], let field = labelField(EndpointSlice.serviceNameLabel, of: document) {
            slice.serviceName = serviceName
            service = reader.refer(toService: serviceName, namespace: namespace, by: field)
        } else if labelField(EndpointSlice.serviceNameLabel, of: document) == nil {
            // (A label that is there but invalid has been reported already.)
            reader.report("an EndpointSlice needs the label \(EndpointSlice.serviceNameLabel) in `metadata.labels`, naming the Service its endpoints belong to (as Kubernetes' EndpointSlice controller sets it), such as \(EndpointSlice.serviceNameLabel): reviews", at: document.metadata["labels"]?.key ?? document.kindNode)
        }
        var addressType: EndpointSlice.AddressType?
        if let field = document.body["addressType"] {
            if let type = reader.choice(field, of: AddressTypeName.self) {
                switch type {
                case .ipv4: addressType = .ipv4
                case .ipv6: addressType = .ipv6
                case .fqdn:
                    reader.report("`\(field.path)` is FQDN, which is not supported: Weft connects to addresses and does not resolve names; list the endpoints' addresses in IPv4 or IPv6 slices", at: field.value)
                }
            }
        } else {
            reader.report("an EndpointSlice needs `addressType`: IPv4 or IPv6, the family of its endpoints' addresses", at: document.kindNode)
        }
        if let field = document.body["ports"] {
            slice.ports = readPorts(field, service: service, reader: &reader)
        }
        // Addresses are judged by the slice's type; without a valid one, every address would be
        // reported again for a mistake made once.
        if let addressType { slice.addressType = addressType }
        if let field = document.body["endpoints"], let addressType {
            slice.endpoints = readEndpoints(field, addressType: addressType, reader: &reader)
        }
        // A slice with mistakes is left out: half of a slice sends traffic to fewer endpoints
        // than were meant, or to ports that were not.
        if reader.diagnostics.isEmpty {
            configuration.endpointSlices.append(slice)
        }
    }

    /// The entry `key` of `metadata.labels` as written, whatever its value, for messages that
    /// point at it.
    private static func labelField(_ key: String, of document: ConfigDocument) -> Field? {
        guard let labels = document.metadata["labels"], case .mapping(let mapping) = labels.value else { return nil }
        for (keyNode, value) in mapping {
            if case .scalar(let scalar) = keyNode, scalar.string == key {
                return Field(path: "\(labels.path)[\(key)]", key: keyNode, value: value)
            }
        }
        return nil
    }

    private static func readPorts(_ field: Field, service: Int?, reader: inout DocumentReader) -> [EndpointSlice.Port] {
        guard let items = reader.list(field, of: "ports, each such as {name: http, port: 8080}") else { return [] }
        if items.count > maximumPorts {
            reader.report("`\(field.path)` has \(items.count) ports; Kubernetes allows at most \(maximumPorts) in one EndpointSlice, so split it", at: field.value)
        }
        var ports: [EndpointSlice.Port] = []
        var firstLine: [String: Int] = [:]
        for item in items {
            guard let fields = reader.mapping(item.value, path: item.path, known: portFields) else { continue }
            var valid = true
            if let protocolField = fields["protocol"], let value = reader.choice(protocolField, of: PortProtocolName.self), value != .tcp {
                reader.report("`\(protocolField.path)` is \(value.rawValue), which Weft does not carry: the sidecar relays TCP connections only; remove the port", at: protocolField.value)
                valid = false
            }
            var name: String?
            if let nameField = fields["name"] {
                guard let text = reader.string(nameField, expecting: "the name of the Service's port, such as http") else { continue }
                if !text.isEmpty, !isDNSLabel(text) {
                    reader.report("`\(nameField.path)` is \(quoted(text)), which is not a port name; write the `name` of the Service's port, such as http", at: nameField.value)
                    continue
                }
                name = text.isEmpty ? nil : text
            }
            guard let portField = fields["port"] else {
                reader.report("`\(item.path)` has no `port`; write the number the endpoints listen on (the Service port's targetPort), such as port: 8080", at: item.value)
                continue
            }
            guard let number = reader.portNumber(portField) else { continue }
            var appProtocol: String?
            if let protocolField = fields["appProtocol"], let text = reader.string(protocolField, expecting: "a protocol name such as http") {
                if let problem = appProtocolProblem(text) {
                    reader.report("`\(protocolField.path)` is \(quoted(text)): \(problem)", at: protocolField.value)
                    valid = false
                }
                appProtocol = text
            }
            // ValidateEndpointSlice: port names are unique, and at most one port is unnamed.
            let key = name ?? ""
            if let first = firstLine[key] {
                let what = name.map { "the port name \(quoted($0))" } ?? "an unnamed port"
                reader.report("\(what) appears twice in `\(field.path)` (first at line \(first)); each port of a slice is for a different port of the Service, named as it is", at: item.value)
                continue
            }
            firstLine[key] = reader.position(of: item.value).line
            if let service { reader.need(.name(name), of: service, by: fields["name"] ?? item) }
            if valid { ports.append(EndpointSlice.Port(name: name, port: number, appProtocol: appProtocol)) }
        }
        return ports
    }

    private static func readEndpoints(_ field: Field, addressType: EndpointSlice.AddressType, reader: inout DocumentReader) -> [EndpointSlice.Endpoint] {
        guard let items = reader.list(field, of: "endpoints, each such as {addresses: [10.1.2.3]}") else { return [] }
        if items.count > maximumEndpoints {
            reader.report("`\(field.path)` has \(items.count) endpoints; Kubernetes allows at most \(maximumEndpoints) in one EndpointSlice, so split it", at: field.value)
        }
        var endpoints: [EndpointSlice.Endpoint] = []
        for item in items {
            if let endpoint = readEndpoint(item, addressType: addressType, reader: &reader) { endpoints.append(endpoint) }
        }
        return endpoints
    }

    private static func readEndpoint(_ item: Field, addressType: EndpointSlice.AddressType, reader: inout DocumentReader) -> EndpointSlice.Endpoint? {
        let known = endpointFields + unsupportedEndpointFields.keys.sorted()
        guard let fields = reader.mapping(item.value, path: item.path, known: known) else { return nil }
        var valid = true
        for name in unsupportedEndpointFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedEndpointFields[name]!)", at: field.key)
                valid = false
            }
        }
        var addresses: [IPAddress] = []
        if let field = fields["addresses"], let list = reader.list(field, of: "addresses, such as [10.1.2.3]") {
            if list.isEmpty || list.count > maximumAddresses {
                reader.report("`\(field.path)` has \(list.count) addresses; an endpoint has 1 to \(maximumAddresses)", at: field.value)
                valid = false
            }
            for entry in list {
                guard let address = readAddress(entry, addressType: addressType, reader: &reader) else {
                    valid = false
                    continue
                }
                addresses.append(address)
            }
        } else if fields["addresses"] == nil {
            reader.report("`\(item.path)` has no `addresses`; an endpoint has 1 to \(maximumAddresses), such as addresses: [10.1.2.3]", at: item.value)
            valid = false
        } else {
            valid = false
        }
        var conditions: (ready: Bool?, serving: Bool?, terminating: Bool?) = (nil, nil, nil)
        if let field = fields["conditions"], let condition = reader.mapping(field.value, path: field.path, known: ["ready", "serving", "terminating"]) {
            func flag(_ name: String) -> Bool? {
                guard let field = condition[name] else { return nil }
                guard let value = reader.boolean(field) else {
                    valid = false
                    return nil
                }
                return value
            }
            conditions = (flag("ready"), flag("serving"), flag("terminating"))
        }
        var hostname: String?
        if let field = fields["hostname"], let text = reader.string(field, expecting: "a host name such as reviews-0") {
            if isDNSLabel(text) { hostname = text } else {
                reader.report("`\(field.path)` is \(quoted(text)), which is not a host name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (an RFC 1123 label)", at: field.value)
                valid = false
            }
        }
        var nodeName: String?
        if let field = fields["nodeName"], let text = reader.string(field, expecting: "a node name such as node-1") {
            if isDNSSubdomain(text) { nodeName = text } else {
                reader.report("`\(field.path)` is \(quoted(text)), which is not a node name; use lowercase letters, digits, '-' and '.' (an RFC 1123 subdomain)", at: field.value)
                valid = false
            }
        }
        var zone: String?
        if let field = fields["zone"] {
            zone = reader.string(field, expecting: "a zone such as us-east-1a")
            valid = valid && zone != nil
        }
        if let field = fields["targetRef"], let reference = reader.mapping(field.value, path: field.path, known: objectReferenceFields) {
            for name in objectReferenceFields {
                if let entry = reference[name], reader.string(entry) == nil { valid = false }
            }
        }
        guard valid else { return nil }
        return EndpointSlice.Endpoint(
            addresses: addresses, ready: conditions.ready ?? true, serving: conditions.serving, terminating: conditions.terminating ?? false,
            hostname: hostname, nodeName: nodeName, zone: zone
        )
    }

    /// One address, of the slice's family.
    private static func readAddress(_ entry: Field, addressType: EndpointSlice.AddressType, reader: inout DocumentReader) -> IPAddress? {
        let example = addressType == .ipv4 ? "10.1.2.3" : "fd00::1"
        guard let text = reader.string(entry, expecting: "an \(addressType.rawValue) address such as \(example)") else { return nil }
        let address: IPAddress
        do { address = try IPAddress(parsing: text) } catch {
            reader.report("`\(entry.path)` is \(quoted(text)): \(error.reason); write an \(addressType.rawValue) address such as \(example)", at: entry.value)
            return nil
        }
        let family: EndpointSlice.AddressType
        if case .v4 = address { family = .ipv4 } else { family = .ipv6 }
        guard family == addressType else {
            reader.report("`\(entry.path)` is \(quoted(text)), an \(family.rawValue) address, in a slice of addressType \(addressType.rawValue); every address of a slice is of its type, so put it in an \(family.rawValue) slice", at: entry.value)
            return nil
        }
        return address
    }
}
