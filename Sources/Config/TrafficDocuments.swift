import Routing

/// The spellings of a port's `protocol` (Service and EndpointSlice ports); UDP and SCTP are read
/// so that they can be refused by name.
enum PortProtocolName: String, CaseIterable {
    case tcp = "TCP", udp = "UDP", sctp = "SCTP"
}

/// A traffic document's reference to a Service — an HTTPRoute's parent or backend, an
/// EndpointSlice's Service, a DestinationRule's host — with the ports it needs the Service to
/// have. The reader records it; `Configuration.load` checks it once every document is read, since
/// the Service may come later or from another file.
struct ServiceReference {
    /// A port the referring document needs the Service to have.
    enum PortNeed {
        /// A port whose `port` is this number (a backend's or parent's `port`).
        case number(UInt16)
        /// The port of this name, or the unnamed port for nil (a parent's `sectionName`, an
        /// EndpointSlice port's `name`).
        case name(String?)
        /// The port of this name with this number (a parent with both `port` and `sectionName`).
        case numberAndName(UInt16, String)
    }

    /// The field that names the Service, such as `spec.rules[0].backendRefs[1].name`.
    let path: String
    /// The Service's name.
    let name: String
    /// The Service's namespace.
    let namespace: String
    /// Where the name is written.
    let position: ConfigPosition
    /// Whether an HTTPRoute attaches to the Service, which needs a cluster IP to be reached by.
    var attaches = false
    /// The ports needed, each with the field that needs it and where that is written.
    var ports: [(path: String, need: PortNeed, position: ConfigPosition)] = []
}

extension DocumentReader {
    /// Records a reference to the Service `name` in `namespace`, named by `field`, to be checked
    /// once every document is read. Returns its index in `references`, to add port needs to.
    @discardableResult
    mutating func refer(toService name: String, namespace: String, by field: Field, attaches: Bool = false) -> Int {
        references.append(ServiceReference(path: field.path, name: name, namespace: namespace, position: position(of: field.value), attaches: attaches))
        return references.count - 1
    }

    /// Adds to reference `index` that the Service needs a port, as `field` says.
    mutating func need(_ need: ServiceReference.PortNeed, of index: Int, by field: Field) {
        references[index].ports.append((field.path, need, position(of: field.value)))
    }

    /// A port number, 1...65535, written without quotes.
    mutating func portNumber(_ field: Field) -> UInt16? {
        integer(field, in: 1...65535).map { UInt16($0) }
    }

    /// The name of a traffic document (`what` says what refers to it by that name), or nil after
    /// reporting that it has none. A second document of the same kind, name and namespace is
    /// reported as well: Kubernetes holds one object per name and namespace.
    mutating func objectName(of document: ConfigDocument, in configuration: Configuration, what: String) -> String? {
        guard let name = document.name else {
            let article = ["EndpointSlice", "HTTPRoute"].contains(document.kind) ? "an" : "a"
            report("\(article) \(document.kind) needs `metadata.name`: \(what)", at: document.kindNode)
            return nil
        }
        let namespace = document.namespace ?? "default"
        if let first = configuration.resources.first(where: { $0.kind == document.kind && $0.name == name && ($0.namespace ?? "default") == namespace }) {
            report("a second \(document.kind) \(namespace)/\(name) (the first is at \(first.position)); Kubernetes holds one object per name and namespace, so rename or merge them", at: document.kindNode)
        }
        return name
    }
}

extension Configuration {
    /// The problems with one reference: the Service does not exist, lacks a port the reference
    /// needs, or has no cluster IP for a route to attach to. A Service that was written but had
    /// mistakes (so is not in `services`) is taken to be the one meant: its own mistakes are
    /// reported, and repeating them here as "no such Service" would mislead.
    func check(_ reference: ServiceReference) -> [ConfigDiagnostic] {
        let qualified = "\(reference.namespace)/\(reference.name)"
        guard let service = services.first(where: { $0.name == reference.name && $0.namespace == reference.namespace }) else {
            let written = resources.contains {
                $0.kind == ServiceDocument.kind && $0.name == reference.name && ($0.namespace ?? "default") == reference.namespace
            }
            if written { return [] }
            var message = "`\(reference.path)` names the Service \(qualified), which the configuration does not have"
            let neighbours = services.filter { $0.namespace == reference.namespace }
            if let near = closestMatch(to: reference.name, among: neighbours.map(\.name)),
               let nearService = neighbours.first(where: { $0.name == near }) {
                message += " (did you mean `\(near)`, at \(nearService.origin)?)"
            }
            message += "; add a Service document for it, or name one of the configuration's Services"
            return [ConfigDiagnostic(at: reference.position, message)]
        }
        var diagnostics: [ConfigDiagnostic] = []
        if reference.attaches, service.isHeadless {
            diagnostics.append(ConfigDiagnostic(at: reference.position, "`\(reference.path)` names \(service) (at \(service.origin)), which is headless (clusterIP: None); a route attaches only to a Service with a cluster IP, which is how Weft recognises its traffic, so give the Service one or route another"))
        }
        let ports = service.ports.map { port in port.name.map { "\(port.port) (\($0))" } ?? "\(port.port)" }
        let portList = ports.isEmpty ? "it has none" : "its ports are \(ports.joined(separator: ", "))"
        for (path, need, position) in reference.ports {
            let found: Bool
            let problem: String
            switch need {
            case .number(let number):
                found = service.port(number) != nil
                problem = "`\(path)` is \(number), but \(service) (at \(service.origin)) has no port \(number)"
            case .name(let name?):
                found = service.port(named: name) != nil
                problem = "`\(path)` is \(quoted(name)), but \(service) (at \(service.origin)) has no port of that name"
            case .name(nil):
                found = service.port(named: nil) != nil
                problem = "`\(path)` has no `name`, but \(service) (at \(service.origin)) has no unnamed port, and a slice's port is named as the Service port it is for"
            case .numberAndName(let number, let name):
                found = service.ports.contains { $0.port == number && $0.name == name }
                problem = "`\(path)` is \(number) with sectionName \(quoted(name)), but \(service) (at \(service.origin)) has no port \(number) of that name"
            }
            if !found {
                diagnostics.append(ConfigDiagnostic(at: position, "\(problem); \(portList), so use one of them or add the port to the Service"))
            }
        }
        return diagnostics
    }
}

/// An RFC 1035 label, as Kubernetes requires of Service names: 1...63 of `a-z`, `0-9`, `-`,
/// starting with a letter and ending with a letter or digit.
func isDNS1035Label(_ text: some StringProtocol) -> Bool {
    guard let first = text.utf8.first else { return false }
    return isDNSLabel(text) && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
}

/// An IANA service name, as a named `targetPort` (apimachinery's `IsValidPortName`): 1...15 of
/// `a-z`, `0-9`, `-`, with at least one letter, no `-` at either end and no `--`.
func isIANAServiceName(_ text: some StringProtocol) -> Bool {
    let bytes = Array(text.utf8)
    guard (1...15).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
    let letters = UInt8(ascii: "a")...UInt8(ascii: "z")
    let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
    guard bytes.allSatisfy({ letters.contains($0) || digits.contains($0) || $0 == UInt8(ascii: "-") }),
          bytes.contains(where: { letters.contains($0) }) else { return false }
    return !zip(bytes, bytes.dropFirst()).contains { $0 == UInt8(ascii: "-") && $1 == UInt8(ascii: "-") }
}

/// Why `text` is not an `appProtocol` (a Kubernetes qualified name, such as `http` or
/// `kubernetes.io/h2c`), or nil if it is one.
func appProtocolProblem(_ text: String) -> String? {
    labelKeyProblem(text).map { "it must be a protocol name such as http or kubernetes.io/h2c: \($0)" }
}

extension DocumentReader {
    /// The fields of the mapping `field`, known ones by name. `unsupported` maps the names of
    /// fields that Kubernetes or Istio define but Weft does not implement to the reason; those
    /// are reported by name (not as unknown), and clear `valid`.
    mutating func mapping(_ field: Field, known: [String], unsupported: [String: String], valid: inout Bool) -> [String: Field]? {
        guard let fields = mapping(field.value, path: field.path, known: known + unsupported.keys.sorted()) else { return nil }
        for name in unsupported.keys.sorted() {
            if let given = fields[name] {
                report("`\(given.path)` is not supported by Weft: \(unsupported[name]!)", at: given.key)
                valid = false
            }
        }
        return fields
    }
}
