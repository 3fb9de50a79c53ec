import Addresses

/// One Istio `AuthorizationPolicy` (security.istio.io/v1), the subset Weft enforces: a selector,
/// an action and rules of sources, operations and conditions. Values are typed and already
/// validated (`Config` reads and checks the YAML); `Authorizer` compiles a set of them once.
///
/// Istio's meaning (istio.io/latest/docs/reference/config/security/authorization-policy/): a
/// policy matches a request when any of its rules matches; with no rules it matches nothing, so
/// an ALLOW policy without rules (`spec: {}`) lets nothing through.
public struct AuthorizationPolicy: Sendable, Hashable, CustomStringConvertible {
    /// What a matching policy does to the request.
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// The request is allowed if it matches; once any ALLOW policy applies, a request that
        /// matches none of them is denied.
        case allow = "ALLOW"
        /// The request is denied if it matches, whatever the ALLOW policies say.
        case deny = "DENY"
        /// A matching request is marked for the audit log; the decision is not changed.
        case audit = "AUDIT"
    }

    /// Istio's default root namespace: policies there apply to every namespace of the mesh.
    public static let rootNamespace = "istio-system"

    /// `metadata.name`.
    public var name: String
    /// `metadata.namespace`, `default` when not given (as kubectl applies it).
    public var namespace: String
    /// `selector.matchLabels`; empty selects every workload of the namespace (or of the mesh, in
    /// the root namespace).
    public var selector: [String: String]
    /// `action`, ALLOW when not given.
    public var action: Action
    /// `rules`; a policy with none matches nothing.
    public var rules: [AuthorizationRule]
    /// Where the policy was read, such as `policies.yaml:12:1`, for messages about it.
    public var origin: String

    /// A policy with the given values; `Config` validates what it reads before building one.
    public init(
        name: String, namespace: String = "default", selector: [String: String] = [:], action: Action = .allow,
        rules: [AuthorizationRule] = [], origin: String = ""
    ) {
        self.name = name
        self.namespace = namespace
        self.selector = selector
        self.action = action
        self.rules = rules
        self.origin = origin
    }

    /// `namespace/name`, the policy's name in access logs and metrics.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// Whether the policy applies to a workload in `workloadNamespace` with `labels`: its
    /// namespace is the workload's or the root namespace, and every label of its selector is
    /// among the workload's. Unlike PeerAuthentication, Istio applies a root-namespace
    /// AuthorizationPolicy with a selector to the matching workloads of every namespace.
    public func applies(toNamespace workloadNamespace: String, labels: [String: String]) -> Bool {
        guard namespace == workloadNamespace || namespace == Self.rootNamespace else { return false }
        return selector.allSatisfy { labels[$0.key] == $0.value }
    }

    /// `AuthorizationPolicy shop/allow-get`.
    public var description: String { "AuthorizationPolicy \(qualifiedName)" }
}

/// One entry of `rules`. It matches when at least one of `from` matches (or `from` is empty),
/// at least one of `to` matches (or `to` is empty), and every condition of `when` matches; so a
/// rule with none of them matches every request.
public struct AuthorizationRule: Sendable, Hashable {
    /// `from[].source`: who sends the request.
    public var from: [SourceMatch]
    /// `to[].operation`: what the request does.
    public var to: [OperationMatch]
    /// `when`: further conditions, all of which must hold.
    public var when: [Condition]

    /// A rule of the given parts; all empty matches everything.
    public init(from: [SourceMatch] = [], to: [OperationMatch] = [], when: [Condition] = []) {
        self.from = from
        self.to = to
        self.when = when
    }

    /// Whether a part of the rule needs an HTTP request to be judged (hosts, methods, paths and
    /// request headers). On a connection that is not HTTP such a rule never matches for ALLOW and
    /// is judged without those parts for DENY and AUDIT, as Istio does.
    public var usesHTTPFields: Bool {
        to.contains { $0.usesHTTPFields } || when.contains { $0.usesHTTPFields }
    }
}

/// `from[].source`. Every field that is set must match (AND); within a field any value may (OR);
/// a `not` field matches when none of its values does. An empty field is not set.
public struct SourceMatch: Sendable, Hashable {
    /// Peer identities, `<trust-domain>/ns/<namespace>/sa/<service-account>` (the SPIFFE id
    /// without `spiffe://`), from the peer's mTLS certificate; `*` means any authenticated peer.
    /// A plaintext peer has no principal, so it matches none of them.
    public var principals: [StringMatch]
    /// Principals none of which may match; a plaintext peer always passes.
    public var notPrincipals: [StringMatch]
    /// Namespaces, taken from the principal's `/ns/<namespace>/` segment.
    public var namespaces: [StringMatch]
    /// Namespaces none of which may match.
    public var notNamespaces: [StringMatch]
    /// Address ranges the connection's source address must be in.
    public var ipBlocks: [CIDR]
    /// Address ranges the source address must not be in.
    public var notIpBlocks: [CIDR]

    /// A source of the given fields; all empty matches every peer.
    public init(
        principals: [StringMatch] = [], notPrincipals: [StringMatch] = [], namespaces: [StringMatch] = [],
        notNamespaces: [StringMatch] = [], ipBlocks: [CIDR] = [], notIpBlocks: [CIDR] = []
    ) {
        self.principals = principals
        self.notPrincipals = notPrincipals
        self.namespaces = namespaces
        self.notNamespaces = notNamespaces
        self.ipBlocks = ipBlocks
        self.notIpBlocks = notIpBlocks
    }
}

/// `to[].operation`. Every field that is set must match (AND); within a field any value may (OR).
/// Only `ports` and `notPorts` can be judged without HTTP.
public struct OperationMatch: Sendable, Hashable {
    /// The request's host (Host or :authority), compared without regard to case; a value without
    /// a port also matches the host with any port.
    public var hosts: [StringMatch]
    /// Hosts none of which may match.
    public var notHosts: [StringMatch]
    /// The connection's original destination port.
    public var ports: [UInt16]
    /// Ports the destination port must not be.
    public var notPorts: [UInt16]
    /// The request method, case-sensitive (`GET`).
    public var methods: [StringMatch]
    /// Methods none of which may match.
    public var notMethods: [StringMatch]
    /// The request path without its query, normalized as Istio's BASE option does
    /// (`RequestPath.normalize`): exact `/a/b`, prefix `/api/*`, suffix `*.png`, or `*`.
    public var paths: [StringMatch]
    /// Paths none of which may match.
    public var notPaths: [StringMatch]

    /// An operation of the given fields; all empty matches every request.
    public init(
        hosts: [StringMatch] = [], notHosts: [StringMatch] = [], ports: [UInt16] = [], notPorts: [UInt16] = [],
        methods: [StringMatch] = [], notMethods: [StringMatch] = [], paths: [StringMatch] = [], notPaths: [StringMatch] = []
    ) {
        self.hosts = hosts
        self.notHosts = notHosts
        self.ports = ports
        self.notPorts = notPorts
        self.methods = methods
        self.notMethods = notMethods
        self.paths = paths
        self.notPaths = notPaths
    }

    /// Whether a field other than the ports is set.
    public var usesHTTPFields: Bool {
        !(hosts.isEmpty && notHosts.isEmpty && methods.isEmpty && notMethods.isEmpty && paths.isEmpty && notPaths.isEmpty)
    }
}

/// One `when` entry: an attribute and the values it may (`values`) and may not (`notValues`)
/// have. At least one of the two lists is non-empty; with `values`, the attribute must match one
/// of them; with `notValues`, it must match none.
public enum Condition: Sendable, Hashable {
    /// `request.headers[<name>]`; `name` is lowercase (field names are case-insensitive, RFC 9110
    /// §5.1). An absent header matches no value, so it passes `notValues`.
    case requestHeader(name: String, values: [StringMatch], notValues: [StringMatch])
    /// `source.principal`, as `SourceMatch.principals`.
    case sourcePrincipal(values: [StringMatch], notValues: [StringMatch])
    /// `source.namespace`, as `SourceMatch.namespaces`.
    case sourceNamespace(values: [StringMatch], notValues: [StringMatch])
    /// `source.ip`, as `SourceMatch.ipBlocks`.
    case sourceIP(values: [CIDR], notValues: [CIDR])
    /// `destination.port`, as `OperationMatch.ports`.
    case destinationPort(values: [UInt16], notValues: [UInt16])

    /// The `key` as Istio writes it, e.g. `request.headers[x-token]`.
    public var key: String {
        switch self {
        case .requestHeader(let name, _, _): return "request.headers[\(name)]"
        case .sourcePrincipal: return "source.principal"
        case .sourceNamespace: return "source.namespace"
        case .sourceIP: return "source.ip"
        case .destinationPort: return "destination.port"
        }
    }

    /// Whether the condition needs an HTTP request to be judged.
    public var usesHTTPFields: Bool {
        if case .requestHeader = self { return true }
        return false
    }
}

/// A string pattern as Istio writes it in policies: `abc` (exact), `abc*` (prefix), `*abc`
/// (suffix) or `*` (present, any value). A `*` anywhere else is not a wildcard in Istio but a
/// character that never occurs in real values, so `init(istioPattern:)` refuses it.
public enum StringMatch: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    /// The value starts with this non-empty text.
    case prefix(String)
    /// The value ends with this non-empty text.
    case suffix(String)
    /// The value is present (for principals: the peer is authenticated).
    case any

    /// Parses Istio's syntax. Throws `PolicyValueError` for an empty pattern, and for a `*` that
    /// is neither the first nor the last character or appears twice.
    public init(istioPattern text: String) throws(PolicyValueError) {
        let bytes = text.utf8
        guard !bytes.isEmpty else { throw PolicyValueError("the value is empty; Istio refuses empty values") }
        let stars = bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "*") ? 1 : 0) }
        if stars == 0 {
            self = .exact(text)
        } else if text == "*" {
            self = .any
        } else if stars == 1, bytes.first == UInt8(ascii: "*") {
            self = .suffix(String(text.dropFirst()))
        } else if stars == 1, bytes.last == UInt8(ascii: "*") {
            self = .prefix(String(text.dropLast()))
        } else {
            throw PolicyValueError("`*` is a wildcard only as the first or the last character (`*suffix`, `prefix*`) or alone (`*`); Istio matches any other `*` literally, which no request has")
        }
    }

    /// The pattern in Istio's syntax.
    public var description: String {
        switch self {
        case .exact(let text): return text
        case .prefix(let text): return text + "*"
        case .suffix(let text): return "*" + text
        case .any: return "*"
        }
    }
}

/// Why a policy value is not acceptable, in words an operator can act on; `Config` adds the
/// field and position.
public struct PolicyValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong and what would be accepted.
    public let reason: String

    /// An error explaining `reason`.
    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
