import Addresses
import Identity
import Policy

/// Parses Istio pattern text; tests write only valid patterns, and a typo fails the test loudly.
func patterns(_ texts: String...) -> [StringMatch] {
    texts.map { try! StringMatch(istioPattern: $0) }
}

func cidrs(_ texts: String...) -> [CIDR] {
    texts.map { try! CIDR(parsing: $0) }
}

/// A policy in namespace `shop`.
func policy(_ name: String, _ action: AuthorizationPolicy.Action = .allow, _ rules: [AuthorizationRule]) -> AuthorizationPolicy {
    AuthorizationPolicy(name: name, namespace: "shop", action: action, rules: rules)
}

/// A rule with one source and/or one operation.
func rule(from source: SourceMatch? = nil, to operation: OperationMatch? = nil, when: [Condition] = []) -> AuthorizationRule {
    AuthorizationRule(from: source.map { [$0] } ?? [], to: operation.map { [$0] } ?? [], when: when)
}

/// The mTLS identity of service account `sa` in namespace `ns`.
func peer(_ ns: String, _ sa: String) -> SPIFFEID {
    try! SPIFFEID(parsing: "spiffe://cluster.local/ns/\(ns)/sa/\(sa)")
}

let web = peer("shop", "web")

func connection(from source: String = "10.1.2.3", port: UInt16 = 8080, peer: SPIFFEID? = web) -> ConnectionAttributes {
    ConnectionAttributes(source: try! IPAddress(parsing: source), destinationPort: port, peer: peer)
}

func request(
    _ method: String = "GET", _ path: String = "/", host: String = "shop.example.com",
    headers: [(name: String, value: String)] = [], on connection: ConnectionAttributes = connection()
) -> RequestAttributes<HeaderFieldList> {
    RequestAttributes(connection: connection, method: method[...], path: path[...], authority: host[...], headers: HeaderFieldList(headers))
}

/// What a decision says, as text a table can hold: `allow shop/p#0`, `deny shop/p#1`,
/// `allow default`, `deny default`, `deny malformed`, plus ` audit a,b` when AUDIT policies matched.
func summary(_ decision: Decision) -> String {
    var text: String
    switch decision.reason {
    case .allowedByPolicy: text = "allow \(decision.policyName)#\(decision.ruleIndex ?? -1)"
    case .deniedByPolicy: text = "deny \(decision.policyName)#\(decision.ruleIndex ?? -1)"
    case .allowedByDefault: text = "allow default"
    case .deniedByDefault: text = "deny default"
    case .malformedPath: text = "deny malformed"
    }
    if !decision.audited.isEmpty { text += " audit " + decision.audited.joined(separator: ",") }
    return text
}
