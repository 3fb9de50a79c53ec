import Policy
import Routing
import YAML

/// Everything Weft was configured with: an immutable snapshot, built by `load` from YAML documents.
public struct Configuration: Sendable, Equatable {
    /// The proxy's own settings, from the `Sidecar` document or DESIGN.md's defaults without one.
    public var sidecar: SidecarConfig
    /// The documents that were read, in reading order.
    public var resources: [ConfigResource]
    /// Every `PeerAuthentication` document, in reading order, including those for other
    /// namespaces or workloads (one file may carry a whole mesh's policies).
    public var peerAuthentications: [PeerAuthentication]
    /// The mTLS mode of each inbound port, resolved by `load` from the `PeerAuthentication`
    /// documents that apply to this sidecar's namespace and labels.
    public var inboundMTLS: InboundMTLS
    /// Every valid `AuthorizationPolicy` document, in reading order, including those for other
    /// namespaces or workloads.
    public var authorizationPolicies: [AuthorizationPolicy]
    /// The policies that apply to this sidecar (its namespace and the root namespace
    /// `istio-system`, selectors matching its labels), compiled by `load` for inbound
    /// connections and requests; `allowAll` when none applies.
    public var authorizer: Authorizer
    /// Every valid `Service` document (v1), in reading order: the mesh's destinations, by
    /// cluster IP and port.
    public var services: [Service]
    /// Every valid `EndpointSlice` document (discovery.k8s.io/v1), in reading order; each names
    /// one of `services`.
    public var endpointSlices: [EndpointSlice]
    /// Every valid `HTTPRoute` document (gateway.networking.k8s.io/v1), in reading order; each is
    /// attached to some of `services` and forwards to others.
    public var httpRoutes: [HTTPRoute]
    /// Every valid `DestinationRule` document (networking.istio.io/v1), in reading order; each is
    /// for one of `services`, and no two are for the same one.
    public var destinationRules: [DestinationRule]

    /// A configuration made of the given parts, the defaults for the rest. `inboundMTLS` and
    /// `authorizer` are taken as given, not resolved from `peerAuthentications` and
    /// `authorizationPolicies`; `load` resolves them. The traffic documents (`services` to
    /// `destinationRules`) are taken as given too, not checked against each other.
    public init(
        sidecar: SidecarConfig = .defaults, resources: [ConfigResource] = [],
        peerAuthentications: [PeerAuthentication] = [], inboundMTLS: InboundMTLS = .permissive,
        authorizationPolicies: [AuthorizationPolicy] = [], authorizer: Authorizer = .allowAll,
        services: [Service] = [], endpointSlices: [EndpointSlice] = [], httpRoutes: [HTTPRoute] = [],
        destinationRules: [DestinationRule] = []
    ) {
        self.sidecar = sidecar
        self.resources = resources
        self.peerAuthentications = peerAuthentications
        self.inboundMTLS = inboundMTLS
        self.authorizationPolicies = authorizationPolicies
        self.authorizer = authorizer
        self.services = services
        self.endpointSlices = endpointSlices
        self.httpRoutes = httpRoutes
        self.destinationRules = destinationRules
    }

    /// What Weft runs on without any configuration.
    public static let defaults = Configuration()

    /// Reads and validates every document of every source, in order. Each document needs
    /// `apiVersion` and `kind`; documents that are empty (a stray `---`, only comments) are skipped,
    /// so no documents at all gives `defaults`, and any subset of kinds may be given (without a
    /// Sidecar, its defaults apply). Once every document is read, the `PeerAuthentication`
    /// documents are resolved for the Sidecar into `inboundMTLS`, the `AuthorizationPolicy`
    /// documents that apply to it are compiled into `authorizer`, and every reference a traffic
    /// document makes to a Service (a route's parents and backends, a slice's Service, a
    /// DestinationRule's host) is checked against the `Service` documents, wherever they are.
    ///
    /// Throws `ConfigErrors` with every problem found — YAML syntax, unknown kinds and fields, wrong
    /// types, values out of range, conflicting documents — each at its `file:line:column`.
    public static func load(_ sources: [ConfigSource]) throws(ConfigErrors) -> Configuration {
        var (configuration, log, references) = read(sources, kinds: .all)
        // Which policies apply depends on the Sidecar, which may come after them, so they are
        // resolved only now. A consequence of the whole configuration (STRICT without an identity)
        // is judged only when every document is valid, so a mistake in one document does not
        // reappear as a confusing error about another.
        let resolution = configuration.resolvePeerAuthentications(judgeConsequences: log.isEmpty)
        configuration.inboundMTLS = resolution.inbound
        configuration.authorizer = configuration.resolveAuthorizer()
        for diagnostic in resolution.diagnostics {
            let source = sources.firstIndex { $0.name == diagnostic.file } ?? sources.count
            log.add(diagnostic, source: source)
        }
        configuration.check(references, into: &log)
        guard log.isEmpty else { throw ConfigErrors(log.sorted) }
        return configuration
    }

    /// Reads every document of every source, in order, into a configuration that starts from
    /// `defaults`: each document of a kind in `kinds` is read and checked on its own, and one of
    /// another kind is refused with `kinds`' reason. Returns the diagnostics so far and the
    /// references to Services, which `check(_:into:)` judges once every document is read.
    static func read(
        _ sources: [ConfigSource], kinds: KindSelection
    ) -> (configuration: Configuration, log: DiagnosticLog, references: [(source: Int, reference: ServiceReference)]) {
        var configuration = Configuration.defaults
        var log = DiagnosticLog()
        var references: [(source: Int, reference: ServiceReference)] = []
        for (index, source) in sources.enumerated() {
            let (documents, yamlError) = composeDocuments(source)
            for document in documents {
                var reader = DocumentReader(file: document.file)
                readDocument(document.root, into: &configuration, reader: &reader, kinds: kinds)
                for diagnostic in reader.diagnostics { log.add(diagnostic, source: index) }
                references += reader.references.map { (index, $0) }
            }
            if let yamlError { log.add(yamlError, source: index) }
        }
        return (configuration, log, references)
    }

    /// Checks each reference against `services` (a Service may come after the documents that
    /// name it, or in another file), adding the problems to `log` under the reference's source.
    func check(_ references: [(source: Int, reference: ServiceReference)], into log: inout DiagnosticLog) {
        for (source, reference) in references {
            for diagnostic in check(reference) { log.add(diagnostic, source: source) }
        }
    }

    /// The mTLS mode for an inbound connection to `port` (its original destination port): a
    /// binary search in `inboundMTLS`, without allocating. Without `sidecar.identity` the proxy
    /// has no certificate, so PERMISSIVE then means plaintext only (`load` refuses STRICT).
    public func inboundMode(port: UInt16) -> MTLSMode {
        inboundMTLS.mode(port: port)
    }
}

/// A document that was read: its kind, the object it names, and where it starts.
public struct ConfigResource: Sendable, Equatable, CustomStringConvertible {
    /// The `apiVersion` the document was written with, e.g. `weft.io/v1`.
    public let apiVersion: String
    /// The `kind`, e.g. `Sidecar`.
    public let kind: String
    /// `metadata.name`, if given.
    public let name: String?
    /// `metadata.namespace`, if given.
    public let namespace: String?
    /// Where the document's first key is.
    public let position: ConfigPosition

    /// A record of a document that was read.
    public init(apiVersion: String, kind: String, name: String?, namespace: String?, position: ConfigPosition) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.position = position
    }

    /// `Sidecar web`, `Sidecar default/web`, or `Sidecar (unnamed)`.
    public var description: String {
        switch (namespace, name) {
        case (let namespace?, let name?): return "\(kind) \(namespace)/\(name)"
        case (nil, let name?): return "\(kind) \(name)"
        default: return "\(kind) (unnamed)"
        }
    }
}

/// A kind of document Weft understands. Adding a kind is one new file with a type conforming to
/// this protocol, plus its name in `documentKinds` (and in `trafficKinds` if the proxy can take
/// a new set of its documents while it runs); the header (`apiVersion`, `kind`, `metadata`) is
/// read for it, and it reads its own `spec` (or its own top-level fields, `bodyFields`).
protocol DocumentKind {
    /// The `apiVersion`s this kind is read from, the current one first, e.g. `weft.io/v1`.
    static var apiVersions: [String] { get }
    /// The `kind`, e.g. `Sidecar`.
    static var kind: String { get }
    /// The top-level fields besides the header: `spec` for most kinds; an EndpointSlice has
    /// `addressType`, `endpoints` and `ports` instead.
    static var bodyFields: [String] { get }
    /// Reads the document's `spec` into `configuration`, reporting every problem to `reader`. Also
    /// checks rules across documents (such as "at most one Sidecar") against
    /// `configuration.resources`, which lists the documents read before this one.
    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader)
}

extension DocumentKind {
    static var bodyFields: [String] { ["spec"] }
}

/// Every kind `Configuration.load` reads.
var documentKinds: [any DocumentKind.Type] {
    [
        SidecarDocument.self, PeerAuthenticationDocument.self, AuthorizationPolicyDocument.self,
        ServiceDocument.self, EndpointSliceDocument.self, HTTPRouteDocument.self, DestinationRuleDocument.self,
    ]
}

/// The kinds one load reads: every kind (`Configuration.load`), or only the traffic documents
/// (`Configuration.loadTraffic`), which are the ones that can be replaced while the proxy runs.
enum KindSelection {
    case all, traffic

    /// The kinds read.
    var kinds: [any DocumentKind.Type] {
        switch self {
        case .all: return documentKinds
        case .traffic: return trafficKinds
        }
    }

    /// Why a document of `kind`, which is not among `kinds`, is not read; `suggestion` is a kind
    /// of `documentKinds` near it, if any.
    func refusal(of kind: String, suggestion: String?) -> String {
        let didYouMean = suggestion.map { " (did you mean `\($0)`?)" } ?? ""
        let allNames: [String] = documentKinds.map { $0.kind }
        let trafficNames: [String] = trafficKinds.map { $0.kind }
        let otherNames = allNames.filter { !trafficNames.contains($0) }
        switch self {
        case .all:
            return "unsupported kind `\(clip(kind))`\(didYouMean); Weft reads \(describeKinds(documentKinds))"
        case .traffic:
            let traffic = listWithAnd(trafficNames)
            let others = listWithAnd(otherNames)
            if otherNames.contains(kind) {
                return "\(kind) documents cannot be replaced while the proxy runs, only \(traffic) documents can; a change to \(others) documents needs a restart of the proxy with the new configuration files"
            }
            return "unsupported kind `\(clip(kind))`\(didYouMean); only \(traffic) documents can be replaced while the proxy runs, and the other kinds Weft reads (\(others)) need a restart of the proxy"
        }
    }
}

/// `Sidecar (weft.io/v1), PeerAuthentication (security.istio.io/v1), ...`: each kind with its
/// current apiVersion.
func describeKinds(_ kinds: [any DocumentKind.Type]) -> String {
    kinds.map { "\($0.kind) (\($0.apiVersions[0]))" }.joined(separator: ", ")
}

/// The kinds `Configuration.loadTraffic` reads: the Services, their endpoints and how requests
/// to them are routed and balanced.
var trafficKinds: [any DocumentKind.Type] {
    [ServiceDocument.self, EndpointSliceDocument.self, HTTPRouteDocument.self, DestinationRuleDocument.self]
}

/// `a`, `a and b`, `a, b and c`.
func listWithAnd(_ items: [String]) -> String {
    guard items.count > 1 else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " and " + items[items.count - 1]
}

/// The common part of every document, read before the kind-specific `spec`.
struct ConfigDocument {
    let kind: String
    /// The `kind` value, where "this document" errors point.
    let kindNode: Node
    let name: String?
    let namespace: String?
    /// `metadata.labels`, the valid ones; empty without any.
    let labels: [String: String]
    /// The fields of `metadata` that were given (name, namespace, labels), where messages about
    /// them point.
    let metadata: [String: Field]
    /// The kind's `bodyFields` that are present, by name.
    let body: [String: Field]
    let position: ConfigPosition

    /// The `spec` field, if present.
    var spec: Field? { body["spec"] }
}

private let headerFields = ["apiVersion", "kind", "metadata"]
private let metadataFields = ["name", "namespace", "labels"]

/// Reads one document: the header common to all kinds, then hands `spec` to its kind, if it is
/// one of `kinds`.
private func readDocument(_ root: Node, into configuration: inout Configuration, reader: inout DocumentReader, kinds: KindSelection) {
    // An empty document (`---` with nothing after it, or only comments) is not an error; Kubernetes
    // tools skip them too.
    if isNull(root) { return }
    // The fields a document may have depend on its kind, so the kind is looked up first; an
    // unknown kind is reported below, and its fields are judged as if it had a `spec`.
    let bodyFields = kindNamed(in: root)?.bodyFields ?? ["spec"]
    guard let fields = reader.mapping(root, path: "", known: headerFields + bodyFields) else { return }
    let supported = describeKinds(kinds.kinds)
    var apiVersion: String?
    if let field = fields["apiVersion"] {
        apiVersion = reader.string(field, expecting: "an API version such as weft.io/v1")
    } else {
        reader.report("the document has no `apiVersion`; every document needs `apiVersion` and `kind`, such as `apiVersion: weft.io/v1` and `kind: Sidecar`", at: root)
    }
    let kindField = fields["kind"]
    let kind = kindField.flatMap { reader.string($0, expecting: "a kind such as Sidecar") }
    if kindField == nil {
        reader.report("the document has no `kind`; every document needs `apiVersion` and `kind`; Weft reads \(supported)", at: root)
    }
    var name: String?
    var namespace: String?
    var labels: [String: String] = [:]
    var metadataGiven: [String: Field] = [:]
    if let metadata = fields["metadata"], let metaFields = reader.mapping(metadata.value, path: "metadata", known: metadataFields) {
        metadataGiven = metaFields
        if let field = metaFields["name"], let text = reader.string(field, expecting: "a name such as web") {
            if isDNSSubdomain(text) { name = text } else {
                reader.report("`metadata.name` \(quoted(text)) is not a valid name; use at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (RFC 1123, as Kubernetes names)", at: field.value)
            }
        }
        if let field = metaFields["namespace"], let text = reader.string(field, expecting: "a namespace such as default") {
            if isDNSLabel(text) { namespace = text } else {
                reader.report("`metadata.namespace` \(quoted(text)) is not a valid namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (an RFC 1123 label, as Kubernetes namespaces)", at: field.value)
            }
        }
        if let field = metaFields["labels"], let valid = reader.labels(field) {
            labels = valid
        }
    }
    guard let kind, let kindField else { return }
    guard let kindType = kinds.kinds.first(where: { $0.kind == kind }) else {
        let suggestion = closestMatch(to: kind, among: documentKinds.map { $0.kind })
        reader.report(kinds.refusal(of: kind, suggestion: suggestion), at: kindField.value)
        return
    }
    let versions = kindType.apiVersions
    if let apiVersion, !versions.contains(apiVersion), let field = fields["apiVersion"] {
        let also = versions.count > 1 ? " (\(versions.dropFirst().joined(separator: ", ")) is also read)" : ""
        reader.report("unsupported apiVersion `\(clip(apiVersion))` for kind \(kind); write `apiVersion: \(versions[0])`\(also)", at: field.value)
    }
    let document = ConfigDocument(
        kind: kind, kindNode: kindField.value, name: name, namespace: namespace, labels: labels, metadata: metadataGiven,
        body: fields.filter { bodyFields.contains($0.key) }, position: reader.position(of: root)
    )
    kindType.read(document, into: &configuration, reader: &reader)
    let version = apiVersion.flatMap { versions.contains($0) ? $0 : nil } ?? versions[0]
    configuration.resources.append(ConfigResource(
        apiVersion: version, kind: kind, name: name, namespace: namespace, position: document.position
    ))
}

/// The kind a document's `kind` names, if it is a plain string Weft reads; nothing is reported,
/// `readDocument` reads `kind` properly.
private func kindNamed(in root: Node) -> (any DocumentKind.Type)? {
    guard case .mapping(let mapping) = root else { return nil }
    for (key, value) in mapping {
        guard case .scalar(let keyScalar) = key, keyScalar.string == "kind", case .scalar(let scalar) = value else { continue }
        return documentKinds.first { $0.kind == scalar.string }
    }
    return nil
}

/// An RFC 1123 label: 1...63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit.
func isDNSLabel(_ text: some StringProtocol) -> Bool {
    let bytes = Array(text.utf8)
    func alphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
    guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
    return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
}

/// An RFC 1123 subdomain: at most 253 characters of dot-separated labels.
func isDNSSubdomain(_ text: some StringProtocol) -> Bool {
    text.utf8.count <= 253 && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isDNSLabel)
}
