import Addresses
import Identity
import Policy
import Testing

/// What is evaluated: one HTTP request, or a connection that is not HTTP.
enum Input: Sendable {
    case http(RequestAttributes<HeaderFieldList>)
    case tcp(ConnectionAttributes)
}

struct EvaluationCase: CustomTestStringConvertible, Sendable {
    let name: String
    let policies: [AuthorizationPolicy]
    let input: Input
    let expected: String

    init(_ name: String, _ policies: [AuthorizationPolicy], _ input: Input, _ expected: String) {
        self.name = name
        self.policies = policies
        self.input = input
        self.expected = expected
    }

    var testDescription: String { name }
}

private let plaintext = connection(peer: nil)
private let allowGet = policy("get", .allow, [rule(to: OperationMatch(methods: patterns("GET")))])

/// Precedence between actions, and the policies without rules.
let precedenceCases: [EvaluationCase] = [
    EvaluationCase("no policy allows", [], .http(request()), "allow default"),
    EvaluationCase("ALLOW without rules (spec: {}) denies everything", [policy("nothing", .allow, [])], .http(request()), "deny default"),
    EvaluationCase("ALLOW without rules denies TCP too", [policy("nothing", .allow, [])], .tcp(connection()), "deny default"),
    EvaluationCase("DENY without rules has no effect", [policy("never", .deny, [])], .http(request()), "allow default"),
    EvaluationCase("an empty rule matches everything (ALLOW)", [policy("all", .allow, [AuthorizationRule()])], .http(request("DELETE")), "allow shop/all#0"),
    EvaluationCase("an empty rule matches everything (DENY)", [policy("all", .deny, [AuthorizationRule()])], .tcp(plaintext), "deny shop/all#0"),
    EvaluationCase("DENY beats a matching ALLOW", [allowGet, policy("no-admin", .deny, [rule(to: OperationMatch(paths: patterns("/admin")))])],
                   .http(request("GET", "/admin")), "deny shop/no-admin#0"),
    EvaluationCase("DENY not matching leaves ALLOW to decide", [policy("no-admin", .deny, [rule(to: OperationMatch(paths: patterns("/admin")))]), allowGet],
                   .http(request("GET", "/")), "allow shop/get#0"),
    EvaluationCase("an ALLOW policy makes what it does not match denied", [allowGet], .http(request("POST")), "deny default"),
    EvaluationCase("any of several ALLOW policies suffices", [allowGet, policy("post", .allow, [rule(to: OperationMatch(methods: patterns("POST")))])],
                   .http(request("POST")), "allow shop/post#0"),
    EvaluationCase("the first matching rule is named", [policy("p", .allow, [rule(to: OperationMatch(methods: patterns("PUT"))), rule(to: OperationMatch(methods: patterns("GET")))])],
                   .http(request("GET")), "allow shop/p#1"),
    EvaluationCase("AUDIT marks and never decides", [policy("log", .audit, [AuthorizationRule()])], .http(request()), "allow default audit shop/log"),
    EvaluationCase("AUDIT is no ALLOW policy", [policy("log", .audit, [rule(to: OperationMatch(methods: patterns("POST")))])], .http(request("GET")), "allow default"),
    EvaluationCase("AUDIT is reported with a denial", [policy("log", .audit, [AuthorizationRule()]), policy("log2", .audit, [AuthorizationRule()]), policy("all", .deny, [AuthorizationRule()])],
                   .http(request()), "deny shop/all#0 audit shop/log,shop/log2"),
]

/// Every field of `from.source`, their `not` forms and wildcards.
let sourceCases: [EvaluationCase] = [
    EvaluationCase("principal exact", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("cluster.local/ns/shop/sa/web")))])], .http(request()), "allow shop/p#0"),
    EvaluationCase("principal exact, other account", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("cluster.local/ns/shop/sa/api")))])], .http(request()), "deny default"),
    EvaluationCase("principal is without spiffe://", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("spiffe://cluster.local/ns/shop/sa/web")))])], .http(request()), "deny default"),
    EvaluationCase("principal prefix", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("cluster.local/ns/shop/*")))])], .http(request()), "allow shop/p#0"),
    EvaluationCase("principal suffix", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("*/sa/web")))])], .http(request()), "allow shop/p#0"),
    EvaluationCase("principal suffix, other account", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("*/sa/api")))])], .http(request()), "deny default"),
    EvaluationCase("principal * admits any authenticated peer", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("*")))])], .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("principal * refuses a plaintext peer", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("*")))])], .tcp(plaintext), "deny default"),
    EvaluationCase("a plaintext peer matches no principal", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("cluster.local/ns/shop/sa/web", "*/sa/web")))])],
                   .http(request(on: plaintext)), "deny default"),
    EvaluationCase("notPrincipals * denies plaintext only (DENY)", [policy("p", .deny, [rule(from: SourceMatch(notPrincipals: patterns("*")))])], .tcp(plaintext), "deny shop/p#0"),
    EvaluationCase("notPrincipals * passes mTLS peers (DENY)", [policy("p", .deny, [rule(from: SourceMatch(notPrincipals: patterns("*")))])], .tcp(connection()), "allow default"),
    EvaluationCase("notPrincipals listed", [policy("p", .allow, [rule(from: SourceMatch(notPrincipals: patterns("cluster.local/ns/shop/sa/web")))])], .http(request()), "deny default"),
    EvaluationCase("notPrincipals not listed", [policy("p", .allow, [rule(from: SourceMatch(notPrincipals: patterns("cluster.local/ns/shop/sa/api")))])], .http(request()), "allow shop/p#0"),
    EvaluationCase("namespace exact", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("shop")))])], .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("namespace other", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("payments")))])], .tcp(connection()), "deny default"),
    EvaluationCase("namespace prefix", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("sh*")))])], .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("namespace suffix", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("*op")))])], .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("namespace * needs a principal", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("*")))])], .tcp(plaintext), "deny default"),
    EvaluationCase("namespace of a non-Kubernetes SPIFFE id", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("*")))])],
                   .tcp(connection(peer: try! SPIFFEID(parsing: "spiffe://cluster.local/payments/db"))), "deny default"),
    EvaluationCase("notNamespaces listed", [policy("p", .allow, [rule(from: SourceMatch(notNamespaces: patterns("shop")))])], .tcp(connection()), "deny default"),
    EvaluationCase("notNamespaces passes plaintext", [policy("p", .allow, [rule(from: SourceMatch(notNamespaces: patterns("shop")))])], .tcp(plaintext), "allow shop/p#0"),
    EvaluationCase("ipBlocks CIDR", [policy("p", .allow, [rule(from: SourceMatch(ipBlocks: cidrs("10.1.0.0/16")))])], .tcp(connection(from: "10.1.200.9")), "allow shop/p#0"),
    EvaluationCase("ipBlocks single address", [policy("p", .allow, [rule(from: SourceMatch(ipBlocks: cidrs("10.1.2.3")))])], .tcp(connection(from: "10.1.2.4")), "deny default"),
    EvaluationCase("ipBlocks IPv6", [policy("p", .allow, [rule(from: SourceMatch(ipBlocks: cidrs("fd00::/8")))])], .tcp(connection(from: "fd12::1")), "allow shop/p#0"),
    EvaluationCase("ipBlocks an IPv4-mapped source", [policy("p", .allow, [rule(from: SourceMatch(ipBlocks: cidrs("10.0.0.0/8")))])], .tcp(connection(from: "::ffff:10.9.9.9")), "allow shop/p#0"),
    EvaluationCase("ipBlocks another family", [policy("p", .allow, [rule(from: SourceMatch(ipBlocks: cidrs("10.0.0.0/8")))])], .tcp(connection(from: "fd00::1")), "deny default"),
    EvaluationCase("notIpBlocks", [policy("p", .deny, [rule(from: SourceMatch(notIpBlocks: cidrs("10.0.0.0/8")))])], .tcp(connection(from: "192.168.1.1")), "deny shop/p#0"),
    EvaluationCase("notIpBlocks inside", [policy("p", .deny, [rule(from: SourceMatch(notIpBlocks: cidrs("10.0.0.0/8")))])], .tcp(connection(from: "10.0.0.1")), "allow default"),
    EvaluationCase("fields of a source are ANDed", [policy("p", .allow, [rule(from: SourceMatch(principals: patterns("*"), ipBlocks: cidrs("192.168.0.0/16")))])],
                   .tcp(connection(from: "10.1.2.3")), "deny default"),
    EvaluationCase("sources are ORed", [policy("p", .allow, [AuthorizationRule(from: [SourceMatch(namespaces: patterns("payments")), SourceMatch(ipBlocks: cidrs("10.0.0.0/8"))])])],
                   .tcp(connection()), "allow shop/p#0"),
]

/// Every field of `to.operation`, their `not` forms and wildcards.
let operationCases: [EvaluationCase] = [
    EvaluationCase("host exact ignores case", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("Shop.Example.com")))])], .http(request(host: "shop.EXAMPLE.com")), "allow shop/p#0"),
    EvaluationCase("host exact matches with a port", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("shop.example.com")))])], .http(request(host: "shop.example.com:8080")), "allow shop/p#0"),
    EvaluationCase("host with a port matches exactly", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("shop.example.com:8080")))])], .http(request(host: "shop.example.com:8080")), "allow shop/p#0"),
    EvaluationCase("host with a port needs it", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("shop.example.com:8080")))])], .http(request(host: "shop.example.com")), "deny default"),
    EvaluationCase("host suffix", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("*.example.com")))])], .http(request(host: "a.b.example.com")), "allow shop/p#0"),
    EvaluationCase("host suffix with a port", [policy("p", .deny, [rule(to: OperationMatch(hosts: patterns("*.example.com")))])], .http(request(host: "a.example.com:443")), "deny shop/p#0"),
    EvaluationCase("host suffix, other domain", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("*.example.com")))])], .http(request(host: "example.org")), "deny default"),
    EvaluationCase("host prefix", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("shop.*")))])], .http(request(host: "SHOP.internal")), "allow shop/p#0"),
    EvaluationCase("host of an IPv6 literal with a port", [policy("p", .allow, [rule(to: OperationMatch(hosts: patterns("[fd00::1]")))])], .http(request(host: "[fd00::1]:80")), "allow shop/p#0"),
    EvaluationCase("notHosts", [policy("p", .allow, [rule(to: OperationMatch(notHosts: patterns("*.internal")))])], .http(request(host: "db.internal:5432")), "deny default"),
    EvaluationCase("ports", [policy("p", .allow, [rule(to: OperationMatch(ports: [8080, 9090]))])], .http(request()), "allow shop/p#0"),
    EvaluationCase("ports, other port", [policy("p", .allow, [rule(to: OperationMatch(ports: [9090]))])], .http(request()), "deny default"),
    EvaluationCase("notPorts", [policy("p", .allow, [rule(to: OperationMatch(notPorts: [8080]))])], .tcp(connection()), "deny default"),
    EvaluationCase("methods are case-sensitive", [policy("p", .allow, [rule(to: OperationMatch(methods: patterns("GET")))])], .http(request("get")), "deny default"),
    EvaluationCase("methods prefix", [policy("p", .allow, [rule(to: OperationMatch(methods: patterns("P*")))])], .http(request("PATCH")), "allow shop/p#0"),
    EvaluationCase("notMethods", [policy("p", .deny, [rule(to: OperationMatch(notMethods: patterns("GET", "HEAD")))])], .http(request("POST")), "deny shop/p#0"),
    EvaluationCase("notMethods listed", [policy("p", .deny, [rule(to: OperationMatch(notMethods: patterns("GET", "HEAD")))])], .http(request("HEAD")), "allow default"),
    EvaluationCase("path exact", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/health")))])], .http(request("GET", "/health")), "allow shop/p#0"),
    EvaluationCase("path exact ignores the query", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/health")))])], .http(request("GET", "/health?full=1")), "allow shop/p#0"),
    EvaluationCase("path exact is exact", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/health")))])], .http(request("GET", "/health/")), "deny default"),
    EvaluationCase("path prefix", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/api/*")))])], .http(request("GET", "/api/v1/items")), "allow shop/p#0"),
    EvaluationCase("path prefix needs the slash", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/api/*")))])], .http(request("GET", "/api")), "deny default"),
    EvaluationCase("path suffix", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("*.png")))])], .http(request("GET", "/img/a.png?v=2")), "allow shop/p#0"),
    EvaluationCase("path suffix, other type", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("*.png")))])], .http(request("GET", "/img/a.jpg")), "deny default"),
    EvaluationCase("path *", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("*")))])], .http(request("OPTIONS", "*")), "allow shop/p#0"),
    EvaluationCase("notPaths", [policy("p", .deny, [rule(to: OperationMatch(notPaths: patterns("/public/*")))])], .http(request("GET", "/private")), "deny shop/p#0"),
    EvaluationCase("notPaths listed", [policy("p", .deny, [rule(to: OperationMatch(notPaths: patterns("/public/*")))])], .http(request("GET", "/public/a")), "allow default"),
    EvaluationCase("dot segments cannot pass a DENY", [policy("p", .deny, [rule(to: OperationMatch(paths: patterns("/admin")))])], .http(request("GET", "/public/../admin")), "deny shop/p#0"),
    EvaluationCase("encoded dots cannot pass a DENY", [policy("p", .deny, [rule(to: OperationMatch(paths: patterns("/admin/*")))])], .http(request("GET", "/x/%2E%2e/admin/%75sers")), "deny shop/p#0"),
    EvaluationCase("backslashes are slashes", [policy("p", .deny, [rule(to: OperationMatch(paths: patterns("/admin/*")))])], .http(request("GET", "/admin\\users")), "deny shop/p#0"),
    EvaluationCase("%00 is refused before policies", [allowGet], .http(request("GET", "/a%00b")), "deny malformed"),
    EvaluationCase("fields of an operation are ANDed", [policy("p", .allow, [rule(to: OperationMatch(methods: patterns("GET"), paths: patterns("/public/*")))])],
                   .http(request("GET", "/private")), "deny default"),
    EvaluationCase("operations are ORed", [policy("p", .allow, [AuthorizationRule(to: [OperationMatch(methods: patterns("POST")), OperationMatch(paths: patterns("/"))])])],
                   .http(request("GET", "/")), "allow shop/p#0"),
    EvaluationCase("from and to are ANDed", [policy("p", .allow, [rule(from: SourceMatch(namespaces: patterns("payments")), to: OperationMatch(methods: patterns("GET")))])],
                   .http(request("GET")), "deny default"),
]

/// Every `when` key, with values and notValues.
let conditionCases: [EvaluationCase] = [
    EvaluationCase("header value", [policy("p", .allow, [rule(when: [.requestHeader(name: "x-token", values: patterns("secret"), notValues: [])])])],
                   .http(request(headers: [("X-Token", " secret ")])), "allow shop/p#0"),
    EvaluationCase("header value differs", [policy("p", .allow, [rule(when: [.requestHeader(name: "x-token", values: patterns("secret"), notValues: [])])])],
                   .http(request(headers: [("x-token", "guess")])), "deny default"),
    EvaluationCase("header absent matches no value", [policy("p", .allow, [rule(when: [.requestHeader(name: "x-token", values: patterns("*"), notValues: [])])])],
                   .http(request()), "deny default"),
    EvaluationCase("header * matches an empty value", [policy("p", .allow, [rule(when: [.requestHeader(name: "x-token", values: patterns("*"), notValues: [])])])],
                   .http(request(headers: [("x-token", "")])), "allow shop/p#0"),
    EvaluationCase("header absent passes notValues", [policy("p", .deny, [rule(when: [.requestHeader(name: "x-env", values: [], notValues: patterns("prod"))])])],
                   .http(request()), "deny shop/p#0"),
    EvaluationCase("header notValues listed", [policy("p", .deny, [rule(when: [.requestHeader(name: "x-env", values: [], notValues: patterns("prod"))])])],
                   .http(request(headers: [("x-env", "prod")])), "allow default"),
    EvaluationCase("repeated header lines are joined with ','", [policy("p", .allow, [rule(when: [.requestHeader(name: "x-role", values: patterns("a,b"), notValues: [])])])],
                   .http(request(headers: [("x-role", "a"), ("other", "z"), ("X-Role", "b")])), "allow shop/p#0"),
    EvaluationCase("header prefix and suffix", [policy("p", .allow, [rule(when: [.requestHeader(name: "user-agent", values: patterns("curl/*"), notValues: patterns("*-beta"))])])],
                   .http(request(headers: [("User-Agent", "curl/8.5.0")])), "allow shop/p#0"),
    EvaluationCase("source.principal", [policy("p", .allow, [rule(when: [.sourcePrincipal(values: patterns("cluster.local/ns/shop/sa/web"), notValues: [])])])],
                   .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("source.principal notValues", [policy("p", .allow, [rule(when: [.sourcePrincipal(values: patterns("*"), notValues: patterns("*/sa/web"))])])],
                   .tcp(connection()), "deny default"),
    EvaluationCase("source.namespace", [policy("p", .allow, [rule(when: [.sourceNamespace(values: patterns("shop"), notValues: [])])])],
                   .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("source.namespace notValues", [policy("p", .deny, [rule(when: [.sourceNamespace(values: [], notValues: patterns("shop"))])])],
                   .tcp(connection(peer: peer("payments", "api"))), "deny shop/p#0"),
    EvaluationCase("source.ip", [policy("p", .allow, [rule(when: [.sourceIP(values: cidrs("10.1.2.0/24"), notValues: cidrs("10.1.2.3"))])])],
                   .tcp(connection(from: "10.1.2.3")), "deny default"),
    EvaluationCase("destination.port", [policy("p", .allow, [rule(when: [.destinationPort(values: [8080], notValues: [])])])],
                   .tcp(connection(port: 8080)), "allow shop/p#0"),
    EvaluationCase("destination.port notValues", [policy("p", .allow, [rule(when: [.destinationPort(values: [], notValues: [8080])])])],
                   .tcp(connection(port: 8080)), "deny default"),
    EvaluationCase("every condition must hold", [policy("p", .allow, [rule(when: [.destinationPort(values: [8080], notValues: []), .sourceNamespace(values: patterns("payments"), notValues: [])])])],
                   .tcp(connection(port: 8080)), "deny default"),
]

/// HTTP fields on a connection that is not HTTP: never an ALLOW, always (the rest of) a DENY.
let tcpCases: [EvaluationCase] = [
    EvaluationCase("ALLOW on methods never matches TCP", [allowGet], .tcp(connection()), "deny default"),
    EvaluationCase("ALLOW on ports matches TCP", [policy("p", .allow, [rule(to: OperationMatch(ports: [8080]))])], .tcp(connection()), "allow shop/p#0"),
    EvaluationCase("ALLOW with ports and methods never matches TCP", [policy("p", .allow, [rule(to: OperationMatch(ports: [8080], methods: patterns("GET")))])], .tcp(connection()), "deny default"),
    EvaluationCase("ALLOW drops the whole rule, even an L4-only operation of it", [policy("p", .allow, [AuthorizationRule(to: [OperationMatch(ports: [8080]), OperationMatch(paths: patterns("/"))])])],
                   .tcp(connection()), "deny default"),
    EvaluationCase("ALLOW keeps its other rules on TCP", [policy("p", .allow, [rule(to: OperationMatch(paths: patterns("/"))), rule(from: SourceMatch(principals: patterns("*")))])],
                   .tcp(connection()), "allow shop/p#1"),
    EvaluationCase("ALLOW with a header condition never matches TCP", [policy("p", .allow, [rule(when: [.requestHeader(name: "x", values: patterns("*"), notValues: [])])])],
                   .tcp(connection()), "deny default"),
    EvaluationCase("DENY on methods closes every TCP connection", [policy("p", .deny, [rule(to: OperationMatch(methods: patterns("POST")))])], .tcp(connection()), "deny shop/p#0"),
    EvaluationCase("DENY on notPaths closes TCP too", [policy("p", .deny, [rule(to: OperationMatch(notPaths: patterns("/ok")))])], .tcp(connection()), "deny shop/p#0"),
    EvaluationCase("DENY keeps its port on TCP", [policy("p", .deny, [rule(to: OperationMatch(ports: [9000], methods: patterns("POST")))])], .tcp(connection(port: 8080)), "allow default"),
    EvaluationCase("DENY keeps its port on TCP, matching", [policy("p", .deny, [rule(to: OperationMatch(ports: [9000], methods: patterns("POST")))])], .tcp(connection(port: 9000)), "deny shop/p#0"),
    EvaluationCase("DENY keeps its source on TCP", [policy("p", .deny, [rule(from: SourceMatch(namespaces: patterns("payments")), to: OperationMatch(methods: patterns("POST")))])],
                   .tcp(connection()), "allow default"),
    EvaluationCase("DENY ignores a header condition on TCP", [policy("p", .deny, [rule(when: [.requestHeader(name: "x", values: patterns("y"), notValues: []), .destinationPort(values: [8080], notValues: [])])])],
                   .tcp(connection()), "deny shop/p#0"),
    EvaluationCase("AUDIT ignores HTTP fields on TCP", [policy("p", .audit, [rule(to: OperationMatch(methods: patterns("GET")))])], .tcp(connection()), "allow default audit shop/p"),
    EvaluationCase("the same DENY on HTTP judges the method", [policy("p", .deny, [rule(to: OperationMatch(methods: patterns("POST")))])], .http(request("GET")), "allow default"),
]

@Suite("Authorizer")
struct EvaluationTests {
    @Test("DENY, then ALLOW, then the default; AUDIT only marks", arguments: precedenceCases)
    func precedence(_ evaluationCase: EvaluationCase) { check(evaluationCase) }

    @Test("from.source fields", arguments: sourceCases)
    func source(_ evaluationCase: EvaluationCase) { check(evaluationCase) }

    @Test("to.operation fields", arguments: operationCases)
    func operation(_ evaluationCase: EvaluationCase) { check(evaluationCase) }

    @Test("when conditions", arguments: conditionCases)
    func condition(_ evaluationCase: EvaluationCase) { check(evaluationCase) }

    @Test("HTTP fields on TCP fail safe", arguments: tcpCases)
    func tcp(_ evaluationCase: EvaluationCase) { check(evaluationCase) }

    private func check(_ evaluationCase: EvaluationCase) {
        let authorizer = Authorizer(policies: evaluationCase.policies)
        let decision: Decision
        switch evaluationCase.input {
        case .http(let request): decision = authorizer.evaluate(request: request)
        case .tcp(let connection): decision = authorizer.evaluate(connection: connection)
        }
        #expect(summary(decision) == evaluationCase.expected)
        #expect(decision.isAllowed == evaluationCase.expected.hasPrefix("allow"))
    }

    @Test("a decision names its policy by index, for per-policy counters")
    func policyIndex() {
        let authorizer = Authorizer(policies: [policy("log", .audit, [AuthorizationRule()]), allowGet, policy("no-post", .deny, [rule(to: OperationMatch(methods: patterns("POST")))])])
        #expect(authorizer.policyNames == ["shop/log", "shop/get", "shop/no-post"])
        #expect(authorizer.hasAllowPolicies && !authorizer.isEmpty)
        let allowed = authorizer.evaluate(request: request("GET"))
        #expect(allowed.policyIndex == 1 && allowed.ruleIndex == 0)
        let denied = authorizer.evaluate(request: request("POST"))
        #expect(denied.policyIndex == 2 && denied.reason == .deniedByPolicy)
        let byDefault = authorizer.evaluate(request: request("PUT"))
        #expect(byDefault.policyIndex == nil && byDefault.policyName == Decision.defaultDenyName)
        #expect(Authorizer.allowAll.isEmpty && !Authorizer.allowAll.hasAllowPolicies)
        #expect(Authorizer.allowAll.evaluate(connection: connection()).policyName == Decision.defaultAllowName)
    }

    @Test("decisions read well in a log line")
    func descriptions() {
        let authorizer = Authorizer(policies: [policy("log", .audit, [AuthorizationRule()]), allowGet])
        #expect(authorizer.evaluate(request: request("GET")).description == "allowed by shop/get rule 0; audited by shop/log")
        #expect(authorizer.evaluate(request: request("POST")).description == "denied (default deny: no ALLOW policy matched); audited by shop/log")
    }

    @Test("the root namespace applies everywhere; selectors must be subsets of the labels")
    func applicability() {
        let labels = ["app": "web", "version": "v1"]
        let cases: [(namespace: String, selector: [String: String], applies: Bool)] = [
            ("shop", [:], true),
            ("payments", [:], false),
            ("istio-system", [:], true),
            ("istio-system", ["app": "web"], true),
            ("istio-system", ["app": "db"], false),
            ("shop", ["app": "web", "version": "v1"], true),
            ("shop", ["app": "web", "version": "v2"], false),
            ("shop", ["tier": "front"], false),
        ]
        for entry in cases {
            let policy = AuthorizationPolicy(name: "p", namespace: entry.namespace, selector: entry.selector)
            #expect(policy.applies(toNamespace: "shop", labels: labels) == entry.applies, "\(entry)")
        }
    }

    @Test("connection attributes derive the principal and namespace once")
    func connectionAttributes() throws {
        let attributes = connection(from: "::ffff:10.0.0.7")
        #expect(attributes.source == .v4(IPv4Address(10, 0, 0, 7)))
        #expect(attributes.sourcePrincipal == "cluster.local/ns/shop/sa/web")
        #expect(attributes.sourceNamespace == "shop")
        let custom = connection(peer: try SPIFFEID(parsing: "spiffe://example.org/ns/billing/sa/api/extra"))
        #expect(custom.sourcePrincipal == "example.org/ns/billing/sa/api/extra")
        #expect(custom.sourceNamespace == "billing")
        #expect(connection(peer: try SPIFFEID(parsing: "spiffe://example.org/ns/billing")).sourceNamespace == nil)
        #expect(connection(peer: try SPIFFEID(parsing: "spiffe://example.org")).sourceNamespace == nil)
        #expect(connection(peer: nil).sourcePrincipal == nil && connection(peer: nil).sourceNamespace == nil)
    }
}
