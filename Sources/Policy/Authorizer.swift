import Addresses

/// The outcome of evaluating the policies for a connection or a request.
public struct Decision: Sendable, Equatable, CustomStringConvertible {
    /// Why the request was allowed or denied.
    public enum Reason: Sendable, Equatable {
        /// A DENY policy matched.
        case deniedByPolicy
        /// No DENY policy matched and an ALLOW policy did.
        case allowedByPolicy
        /// No policy decides: none denies and no ALLOW policy applies.
        case allowedByDefault
        /// ALLOW policies apply and none matched.
        case deniedByDefault
        /// The path holds `%00`; Istio refuses such a request with 400 before any policy.
        case malformedPath
    }

    /// Why.
    public let reason: Reason
    /// The index in `Authorizer.policies` of the policy that decided; nil for the defaults.
    public let policyIndex: Int?
    /// The index of the matching rule in that policy's `rules`.
    public let ruleIndex: Int?
    /// `namespace/name` of the deciding policy, or `default allow`, or
    /// `default deny: no ALLOW policy matched` (for access logs).
    public let policyName: String
    /// `namespace/name` of every AUDIT policy that matched, in policy order; empty (and not
    /// allocated) when none did.
    public let audited: [String]

    /// A decision made of the given parts; `Authorizer` makes them.
    public init(reason: Reason, policyIndex: Int?, ruleIndex: Int?, policyName: String, audited: [String]) {
        self.reason = reason
        self.policyIndex = policyIndex
        self.ruleIndex = ruleIndex
        self.policyName = policyName
        self.audited = audited
    }

    /// The name given to `allowedByDefault` decisions.
    public static let defaultAllowName = "default allow"
    /// The name given to `deniedByDefault` decisions.
    public static let defaultDenyName = "default deny: no ALLOW policy matched"
    /// The name given to `malformedPath` decisions.
    public static let malformedPathName = "malformed path: %00"

    /// Whether the request or connection may proceed.
    public var isAllowed: Bool {
        switch reason {
        case .allowedByPolicy, .allowedByDefault: return true
        case .deniedByPolicy, .deniedByDefault, .malformedPath: return false
        }
    }

    /// `allowed by shop/allow-get rule 0`, `denied (default deny: no ALLOW policy matched)`,
    /// with `; audited by ...` when AUDIT policies matched.
    public var description: String {
        var text = isAllowed ? "allowed" : "denied"
        if let ruleIndex { text += " by \(policyName) rule \(ruleIndex)" } else { text += " (\(policyName))" }
        if !audited.isEmpty { text += "; audited by \(audited.joined(separator: ", "))" }
        return text
    }
}

/// A set of AuthorizationPolicies compiled for evaluation: built once per configuration, then
/// used for every connection and request without allocating (except to list matching AUDIT
/// policies and to rewrite an unusual path).
///
/// Istio's order (istio.io/latest/docs/concepts/security/#authorization-policies): a request
/// that matches a DENY policy is denied; else, when there are ALLOW policies, it is allowed only
/// if it matches one; with no ALLOW policy it is allowed. AUDIT policies never decide.
public struct Authorizer: Sendable, Equatable {
    /// The policies, in the order given; `Decision.policyIndex` indexes this.
    public let policies: [AuthorizationPolicy]
    /// `namespace/name` of each policy, made once so decisions only share them.
    public let policyNames: [String]
    private let compiled: [CompiledPolicy]
    private let denyIndices: [Int]
    private let allowIndices: [Int]
    private let auditIndices: [Int]

    /// Compiles `policies`, all of which apply to the workload (`AuthorizationPolicy.applies`
    /// is the caller's concern).
    public init(policies: [AuthorizationPolicy]) {
        self.policies = policies
        policyNames = policies.map(\.qualifiedName)
        compiled = policies.map(CompiledPolicy.init)
        denyIndices = policies.indices.filter { policies[$0].action == .deny }
        allowIndices = policies.indices.filter { policies[$0].action == .allow }
        auditIndices = policies.indices.filter { policies[$0].action == .audit }
    }

    /// No policies: everything is allowed.
    public static let allowAll = Authorizer(policies: [])

    /// Whether there are no policies at all, so every decision is `allowedByDefault`.
    public var isEmpty: Bool { policies.isEmpty }

    /// Whether any ALLOW policy applies, so what none of them matches is denied.
    public var hasAllowPolicies: Bool { !allowIndices.isEmpty }

    /// The decision for a connection that is not HTTP (or before its protocol is known), right
    /// after accept or the mTLS handshake. Only sources, ports and the non-HTTP conditions can be
    /// judged; a rule that needs HTTP fields never matches for ALLOW, and is judged without those
    /// fields for DENY and AUDIT (Istio's TCP filter chains do the same: a DENY on methods closes
    /// every TCP connection it otherwise matches).
    public func evaluate(connection: ConnectionAttributes) -> Decision {
        decide(connection, request: Optional<HTTPView<HeaderFieldList>>.none)
    }

    /// The decision for one HTTP request. The path is compared without its query and after
    /// Istio's BASE normalization (`RequestPath.normalize`).
    public func evaluate<Headers: AuthorizationHeaderFields>(request: RequestAttributes<Headers>) -> Decision {
        switch RequestPath.normalize(request.path) {
        case .rejected:
            return Decision(reason: .malformedPath, policyIndex: nil, ruleIndex: nil, policyName: Decision.malformedPathName, audited: [])
        case .unchanged(let path):
            return decide(request.connection, request: HTTPView(request: request, path: path))
        case .rewritten(let path):
            return decide(request.connection, request: HTTPView(request: request, path: path[...]))
        }
    }

    private func decide<Headers>(_ connection: ConnectionAttributes, request: HTTPView<Headers>?) -> Decision {
        var audited: [String] = []
        for index in auditIndices where compiled[index].firstMatchingRule(connection, request) != nil {
            audited.append(policyNames[index])
        }
        for index in denyIndices {
            if let rule = compiled[index].firstMatchingRule(connection, request) {
                return Decision(reason: .deniedByPolicy, policyIndex: index, ruleIndex: rule, policyName: policyNames[index], audited: audited)
            }
        }
        if allowIndices.isEmpty {
            return Decision(reason: .allowedByDefault, policyIndex: nil, ruleIndex: nil, policyName: Decision.defaultAllowName, audited: audited)
        }
        for index in allowIndices {
            if let rule = compiled[index].firstMatchingRule(connection, request) {
                return Decision(reason: .allowedByPolicy, policyIndex: index, ruleIndex: rule, policyName: policyNames[index], audited: audited)
            }
        }
        return Decision(reason: .deniedByDefault, policyIndex: nil, ruleIndex: nil, policyName: Decision.defaultDenyName, audited: audited)
    }

    public static func == (lhs: Authorizer, rhs: Authorizer) -> Bool {
        // Everything else is derived from the policies.
        lhs.policies == rhs.policies
    }
}

/// The HTTP side of a request, with the path already normalized.
struct HTTPView<Headers: AuthorizationHeaderFields> {
    let method: Substring
    let path: Substring
    let authority: Substring
    let headers: Headers

    init(request: RequestAttributes<Headers>, path: Substring) {
        method = request.method
        self.path = path
        authority = request.authority
        headers = request.headers
    }
}

/// A policy as the evaluator walks it.
struct CompiledPolicy: Sendable {
    let action: AuthorizationPolicy.Action
    let rules: [CompiledRule]

    init(_ policy: AuthorizationPolicy) {
        action = policy.action
        rules = policy.rules.map(CompiledRule.init)
    }

    /// The index of the first rule that matches, or nil. Without `request` (a connection that is
    /// not HTTP), an ALLOW rule that uses HTTP fields is skipped: Istio drops such a rule from
    /// the TCP filter of an ALLOW policy, making the policy narrower, and drops just the HTTP
    /// fields from a DENY or AUDIT rule, making it wider (pilot/pkg/security/authz/model, the
    /// "fail safe" choice in each case).
    func firstMatchingRule<Headers>(_ connection: ConnectionAttributes, _ request: HTTPView<Headers>?) -> Int? {
        for (index, rule) in rules.enumerated() {
            if request == nil, action == .allow, rule.usesHTTPFields { continue }
            if rule.matches(connection, request) { return index }
        }
        return nil
    }
}

struct CompiledRule: Sendable {
    let sources: [CompiledSource]
    let operations: [CompiledOperation]
    let conditions: [CompiledCondition]
    let usesHTTPFields: Bool

    init(_ rule: AuthorizationRule) {
        sources = rule.from.map(CompiledSource.init)
        operations = rule.to.map(CompiledOperation.init)
        conditions = rule.when.map(CompiledCondition.init)
        usesHTTPFields = rule.usesHTTPFields
    }

    func matches<Headers>(_ connection: ConnectionAttributes, _ request: HTTPView<Headers>?) -> Bool {
        if !sources.isEmpty, !sources.contains(where: { $0.matches(connection) }) { return false }
        if !operations.isEmpty, !operations.contains(where: { $0.matches(connection, request) }) { return false }
        return conditions.allSatisfy { $0.matches(connection, request) }
    }
}

struct CompiledSource: Sendable {
    let principals: MatcherList
    let notPrincipals: MatcherList
    let namespaces: MatcherList
    let notNamespaces: MatcherList
    let ipBlocks: [CIDR]
    let notIpBlocks: [CIDR]

    init(_ source: SourceMatch) {
        principals = MatcherList(source.principals)
        notPrincipals = MatcherList(source.notPrincipals)
        namespaces = MatcherList(source.namespaces)
        notNamespaces = MatcherList(source.notNamespaces)
        ipBlocks = source.ipBlocks
        notIpBlocks = source.notIpBlocks
    }

    func matches(_ connection: ConnectionAttributes) -> Bool {
        let principal = connection.sourcePrincipal?.utf8
        let namespace = connection.sourceNamespace?.utf8
        return principals.admits(principal) && notPrincipals.excludes(principal)
            && namespaces.admits(namespace) && notNamespaces.excludes(namespace)
            && (ipBlocks.isEmpty || ipBlocks.contains { $0.contains(connection.source) })
            && !notIpBlocks.contains { $0.contains(connection.source) }
    }
}

struct CompiledOperation: Sendable {
    let hosts: MatcherList
    let notHosts: MatcherList
    let ports: [UInt16]
    let notPorts: [UInt16]
    let methods: MatcherList
    let notMethods: MatcherList
    let paths: MatcherList
    let notPaths: MatcherList

    init(_ operation: OperationMatch) {
        hosts = MatcherList(operation.hosts, ignoringCase: true)
        notHosts = MatcherList(operation.notHosts, ignoringCase: true)
        ports = operation.ports
        notPorts = operation.notPorts
        methods = MatcherList(operation.methods)
        notMethods = MatcherList(operation.notMethods)
        paths = MatcherList(operation.paths)
        notPaths = MatcherList(operation.notPaths)
    }

    func matches<Headers>(_ connection: ConnectionAttributes, _ request: HTTPView<Headers>?) -> Bool {
        let port = connection.destinationPort
        guard ports.isEmpty || ports.contains(port), !notPorts.contains(port) else { return false }
        // Without HTTP the remaining fields are not judged: only DENY and AUDIT rules get here
        // without a request, and for them Istio ignores HTTP fields on TCP.
        guard let request else { return true }
        let method = request.method.utf8
        let path = request.path.utf8
        return hosts.admitsHost(request.authority) && notHosts.excludesHost(request.authority)
            && methods.admits(method) && notMethods.excludes(method)
            && paths.admits(path) && notPaths.excludes(path)
    }
}

enum CompiledCondition: Sendable {
    case requestHeader(name: String, values: MatcherList, notValues: MatcherList)
    case sourcePrincipal(values: MatcherList, notValues: MatcherList)
    case sourceNamespace(values: MatcherList, notValues: MatcherList)
    case sourceIP(values: [CIDR], notValues: [CIDR])
    case destinationPort(values: [UInt16], notValues: [UInt16])

    init(_ condition: Condition) {
        switch condition {
        case .requestHeader(let name, let values, let notValues):
            self = .requestHeader(name: name, values: MatcherList(values), notValues: MatcherList(notValues))
        case .sourcePrincipal(let values, let notValues):
            self = .sourcePrincipal(values: MatcherList(values), notValues: MatcherList(notValues))
        case .sourceNamespace(let values, let notValues):
            self = .sourceNamespace(values: MatcherList(values), notValues: MatcherList(notValues))
        case .sourceIP(let values, let notValues):
            self = .sourceIP(values: values, notValues: notValues)
        case .destinationPort(let values, let notValues):
            self = .destinationPort(values: values, notValues: notValues)
        }
    }

    func matches<Headers>(_ connection: ConnectionAttributes, _ request: HTTPView<Headers>?) -> Bool {
        switch self {
        case .requestHeader(let name, let values, let notValues):
            // Not judged without HTTP, as in CompiledOperation.matches.
            guard let request else { return true }
            let value = request.headers.authorizationValue(ofField: name)
            return values.admits(value) && notValues.excludes(value)
        case .sourcePrincipal(let values, let notValues):
            let principal = connection.sourcePrincipal?.utf8
            return values.admits(principal) && notValues.excludes(principal)
        case .sourceNamespace(let values, let notValues):
            let namespace = connection.sourceNamespace?.utf8
            return values.admits(namespace) && notValues.excludes(namespace)
        case .sourceIP(let values, let notValues):
            return (values.isEmpty || values.contains { $0.contains(connection.source) })
                && !notValues.contains { $0.contains(connection.source) }
        case .destinationPort(let values, let notValues):
            return (values.isEmpty || values.contains(connection.destinationPort)) && !notValues.contains(connection.destinationPort)
        }
    }
}

/// The values of one field as byte patterns. `admits` is the field's test (an empty list is
/// not set and admits anything); `excludes` is the test of its `not` form.
struct MatcherList: Sendable {
    private let matchers: [ByteMatcher]
    private let ignoringCase: Bool

    init(_ patterns: [StringMatch], ignoringCase: Bool = false) {
        matchers = patterns.map { ByteMatcher($0, lowercased: ignoringCase) }
        self.ignoringCase = ignoringCase
    }

    /// True when no value is listed, or `value` is present and matches one.
    func admits<Value: BidirectionalCollection<UInt8>>(_ value: Value?) -> Bool {
        guard !matchers.isEmpty else { return true }
        guard let value else { return false }
        return matchers.contains { $0.matches(value, ignoringCase: ignoringCase) }
    }

    /// True when `value` is absent or matches none of the values.
    func excludes<Value: BidirectionalCollection<UInt8>>(_ value: Value?) -> Bool {
        guard !matchers.isEmpty, let value else { return true }
        return !matchers.contains { $0.matches(value, ignoringCase: ignoringCase) }
    }

    /// `admits` for a Host or :authority value, which matches when the authority or its host
    /// without the port does: `example.com` admits `example.com:8080`, and `*.example.com`
    /// admits `a.example.com:443` (Istio matches exact hosts with an optional port; Weft extends
    /// that to wildcards, so a DENY on `*.example.com` cannot be passed by adding a port).
    func admitsHost(_ authority: Substring) -> Bool {
        guard !matchers.isEmpty else { return true }
        return matchesHost(authority)
    }

    /// `excludes` for a Host or :authority value.
    func excludesHost(_ authority: Substring) -> Bool {
        matchers.isEmpty || !matchesHost(authority)
    }

    private func matchesHost(_ authority: Substring) -> Bool {
        let full = authority.utf8
        let host = hostWithoutPort(full)
        return matchers.contains { matcher in
            matcher.matches(full, ignoringCase: true) || (host.count != full.count && matcher.matches(host, ignoringCase: true))
        }
    }
}

/// `authority` without a trailing `:port` (RFC 9110 §7.2: uri-host [ ":" port ]). An IPv6
/// literal is bracketed, so only a colon after `]`, or the only colon, starts a port.
func hostWithoutPort(_ authority: Substring.UTF8View) -> Substring.UTF8View {
    guard let colon = authority.lastIndex(of: UInt8(ascii: ":")) else { return authority }
    let host = authority[authority.startIndex..<colon]
    let port = authority[authority.index(after: colon)...]
    guard port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return authority }
    if host.last == UInt8(ascii: "]") || !host.contains(UInt8(ascii: ":")) { return host }
    return authority
}

/// A `StringMatch` as bytes, lowercased when matched without case.
struct ByteMatcher: Sendable {
    enum Kind: Sendable { case exact, prefix, suffix, any }
    let kind: Kind
    let bytes: [UInt8]

    init(_ match: StringMatch, lowercased: Bool) {
        func prepare(_ text: String) -> [UInt8] { lowercased ? text.utf8.map(asciiLowercase) : Array(text.utf8) }
        switch match {
        case .exact(let text): (kind, bytes) = (.exact, prepare(text))
        case .prefix(let text): (kind, bytes) = (.prefix, prepare(text))
        case .suffix(let text): (kind, bytes) = (.suffix, prepare(text))
        case .any: (kind, bytes) = (.any, [])
        }
    }

    func matches<Value: BidirectionalCollection<UInt8>>(_ value: Value, ignoringCase: Bool) -> Bool {
        switch kind {
        case .any:
            return true
        case .exact:
            return value.count == bytes.count && Self.startsWith(value, bytes, ignoringCase: ignoringCase)
        case .prefix:
            return Self.startsWith(value, bytes, ignoringCase: ignoringCase)
        case .suffix:
            return Self.startsWith(value.reversed(), bytes.reversed(), ignoringCase: ignoringCase)
        }
    }

    private static func startsWith(_ value: some Collection<UInt8>, _ pattern: some Collection<UInt8>, ignoringCase: Bool) -> Bool {
        if ignoringCase { return value.starts(with: pattern) { asciiLowercase($0) == $1 } }
        return value.starts(with: pattern)
    }
}
