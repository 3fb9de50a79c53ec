import Addresses
import Config
import Identity
import Policy
import Testing

/// An AuthorizationPolicy named `p` in namespace `shop` with `spec` lines appended (each already
/// indented by two spaces), so the first spec line is line 5 of the source.
func authorizationPolicy(_ specLines: String...) -> String {
    (["apiVersion: security.istio.io/v1", "kind: AuthorizationPolicy", "metadata: {name: p, namespace: shop}", "spec:"] + specLines)
        .joined(separator: "\n") + "\n"
}

/// An AuthorizationPolicy as one flow-style document (four lines).
private func authz(_ name: String, in namespace: String = "shop", _ spec: String = "{}", apiVersion: String = "security.istio.io/v1") -> String {
    "apiVersion: \(apiVersion)\nkind: AuthorizationPolicy\nmetadata: {name: \(name), namespace: \(namespace)}\nspec: \(spec)\n"
}

private let webSidecar = """
    apiVersion: weft.io/v1
    kind: Sidecar
    metadata: {name: web, namespace: shop, labels: {app: web, version: v1}}

    """

private func documents(_ parts: String...) -> String { parts.joined(separator: "---\n") }

private let fullExample = """
    apiVersion: security.istio.io/v1beta1
    kind: AuthorizationPolicy
    metadata:
      name: reviews
      namespace: shop
    spec:
      selector:
        matchLabels: {app: web}
      action: DENY
      rules:
        - from:
            - source:
                principals: ["cluster.local/ns/shop/sa/front", "*/sa/admin"]
                notPrincipals: ["*"]
                namespaces: ["shop", "pay*"]
                notNamespaces: ["*-test"]
                ipBlocks: ["10.0.0.0/8", "fd00::1"]
                notIpBlocks: ["10.9.0.0/16"]
            - source: {namespaces: [other]}
          to:
            - operation:
                hosts: ["Shop.Example.com", "*.internal"]
                notHosts: ["admin.*"]
                ports: ["8080"]
                notPorts: ["9090"]
                methods: ["GET", "HEAD"]
                notMethods: ["DELETE"]
                paths: ["/api/*", "*.png", "/exact"]
                notPaths: ["/api/health"]
          when:
            - key: request.headers[X-Token]
              values: ["abc*"]
              notValues: ["abcd"]
            - {key: source.principal, values: ["*"]}
            - {key: source.namespace, notValues: ["kube-system"]}
            - {key: source.ip, values: ["192.168.0.0/16"]}
            - {key: destination.port, values: ["8080", "8443"]}
        - {}

    """

@Suite("AuthorizationPolicy documents")
struct AuthorizationPolicyTests {
    @Test("every field is read into the policy model")
    func everyField() throws {
        let configuration = try load(documents(webSidecar, fullExample))
        let policy = try #require(configuration.authorizationPolicies.first)
        #expect(policy.name == "reviews" && policy.namespace == "shop")
        #expect(policy.selector == ["app": "web"])
        #expect(policy.action == .deny)
        #expect(policy.origin == "a.yaml:5:1")
        #expect(policy.rules.count == 2)
        #expect(policy.rules[1] == AuthorizationRule())
        let rule = policy.rules[0]
        #expect(rule.from == [
            SourceMatch(
                principals: [.exact("cluster.local/ns/shop/sa/front"), .suffix("/sa/admin")], notPrincipals: [.any],
                namespaces: [.exact("shop"), .prefix("pay")], notNamespaces: [.suffix("-test")],
                ipBlocks: [try CIDR(parsing: "10.0.0.0/8"), try CIDR(parsing: "fd00::1/128")], notIpBlocks: [try CIDR(parsing: "10.9.0.0/16")]
            ),
            SourceMatch(namespaces: [.exact("other")]),
        ])
        #expect(rule.to == [
            OperationMatch(
                hosts: [.exact("Shop.Example.com"), .suffix(".internal")], notHosts: [.prefix("admin.")], ports: [8080], notPorts: [9090],
                methods: [.exact("GET"), .exact("HEAD")], notMethods: [.exact("DELETE")],
                paths: [.prefix("/api/"), .suffix(".png"), .exact("/exact")], notPaths: [.exact("/api/health")]
            ),
        ])
        #expect(rule.when == [
            .requestHeader(name: "x-token", values: [.prefix("abc")], notValues: [.exact("abcd")]),
            .sourcePrincipal(values: [.any], notValues: []),
            .sourceNamespace(values: [], notValues: [.exact("kube-system")]),
            .sourceIP(values: [try CIDR(parsing: "192.168.0.0/16")], notValues: []),
            .destinationPort(values: [8080, 8443], notValues: []),
        ])
        #expect(configuration.authorizer.policies == [policy])
        #expect(configuration.resources.last?.description == "AuthorizationPolicy shop/reviews")
        #expect(configuration.resources.last?.apiVersion == "security.istio.io/v1beta1")
    }

    @Test("the defaults: ALLOW, and no spec at all is `spec: {}`")
    func defaults() throws {
        let configuration = try load(documents(
            authz("empty"),
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: bare}\n",
            authz("all", "{rules: [{}]}")
        ))
        let policies = configuration.authorizationPolicies
        #expect(policies.map(\.action) == [.allow, .allow, .allow])
        #expect(policies.map(\.rules.count) == [0, 0, 1])
        #expect(policies[1].namespace == "default")
        #expect(policies.map(\.origin) == ["a.yaml:1:1", "a.yaml:6:1", "a.yaml:10:1"])
    }

    @Test("which policies apply to the sidecar", arguments: [
        ("shop, no selector", authz("a"), true),
        ("shop, matching selector", authz("a", "{selector: {matchLabels: {app: web}}}"), true),
        ("shop, selector with every label", authz("a", "{selector: {matchLabels: {app: web, version: v1}}}"), true),
        ("shop, other selector", authz("a", "{selector: {matchLabels: {app: db}}}"), false),
        ("shop, selector needing another label", authz("a", "{selector: {matchLabels: {app: web, tier: x}}}"), false),
        ("root namespace, no selector", authz("a", in: "istio-system"), true),
        ("root namespace, matching selector", authz("a", in: "istio-system", "{selector: {matchLabels: {version: v1}}}"), true),
        ("root namespace, other selector", authz("a", in: "istio-system", "{selector: {matchLabels: {app: db}}}"), false),
        ("other namespace", authz("a", in: "payments"), false),
        ("v1beta1", authz("a", "{action: AUDIT, rules: [{}]}", apiVersion: "security.istio.io/v1beta1"), true),
    ])
    func applicability(name: String, document: String, applies: Bool) throws {
        let configuration = try load(documents(webSidecar, document))
        #expect(configuration.authorizationPolicies.count == 1)
        #expect(configuration.authorizer.policies.count == (applies ? 1 : 0))
    }

    @Test("policies before the Sidecar are resolved for it")
    func orderDoesNotMatter() throws {
        let configuration = try load(documents(authz("early", "{rules: [{}]}"), webSidecar, authz("late", in: "payments")))
        #expect(configuration.authorizer.policyNames == ["shop/early"])
        #expect(configuration.authorizationPolicies.map(\.qualifiedName) == ["shop/early", "payments/late"])
    }

    @Test("a file of only AuthorizationPolicies loads on the Sidecar defaults")
    func withoutSidecar() throws {
        let configuration = try load(documents(
            authz("allow-get", in: "default", "{rules: [{to: [{operation: {methods: [GET]}}]}]}"),
            authz("mesh-deny", in: "istio-system", "{action: DENY, rules: [{to: [{operation: {ports: [\"9000\"]}}]}]}"),
            authz("elsewhere", in: "shop")
        ))
        #expect(configuration.sidecar == .defaults)
        #expect(configuration.inboundMTLS == .permissive)
        #expect(configuration.authorizer.policyNames == ["default/allow-get", "istio-system/mesh-deny"])
        let plaintext = ConnectionAttributes(source: .v4(IPv4Address(10, 0, 0, 1)), destinationPort: 9000, peer: nil)
        #expect(configuration.authorizer.evaluate(connection: plaintext).policyName == "istio-system/mesh-deny")
        let get = RequestAttributes(
            connection: ConnectionAttributes(source: .v4(IPv4Address(10, 0, 0, 1)), destinationPort: 8080, peer: nil),
            method: "GET", path: "/", authority: "web", headers: HeaderFieldList.empty
        )
        #expect(configuration.authorizer.evaluate(request: get).isAllowed)
    }

    @Test("an ALLOW policy with an empty spec denies everything once loaded")
    func allowNothing() throws {
        let configuration = try load(documents(webSidecar, authz("allow-nothing")))
        let connection = ConnectionAttributes(source: .v4(IPv4Address(10, 0, 0, 1)), destinationPort: 8080, peer: nil)
        let decision = configuration.authorizer.evaluate(connection: connection)
        #expect(!decision.isAllowed && decision.policyName == Decision.defaultDenyName)
    }

    @Test("errors in AuthorizationPolicy documents", arguments: authorizationErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }

    @Test("a policy with errors is left out, the others stay")
    func invalidPolicyLeftOut() {
        let found = diagnostics(documents(authz("good", "{rules: [{}]}"), authz("bad", "{action: CUSTOM}")))
        #expect(found.map(\.description) == [
            "a.yaml:9:16: `spec.action` is CUSTOM, which is not supported: it delegates the decision to an external authorizer (ext_authz), which Weft does not have; use ALLOW or DENY",
        ])
    }

    @Test("a second policy of the same name names the first")
    func duplicateName() {
        let found = diagnostics([
            ConfigSource(name: "one.yaml", text: authz("p")),
            ConfigSource(name: "two.yaml", text: "# again\n" + authz("p", "{rules: [{}]}")),
        ])
        #expect(found.map(\.description) == [
            "two.yaml:3:7: a second AuthorizationPolicy shop/p (the first is at one.yaml:1:1); Kubernetes holds one object per name and namespace, so rename or merge them",
        ])
    }

    @Test("weft check names the policies that apply and those that do not")
    func summary() throws {
        let configuration = try load(documents(
            webSidecar,
            authz("deny-admin", "{action: DENY, rules: [{to: [{operation: {paths: [/admin/*]}}]}]}"),
            authz("deny-post-9000", "{action: DENY, rules: [{to: [{operation: {ports: [\"9000\"], methods: [POST]}}]}]}"),
            authz("allow-mesh", in: "istio-system", "{rules: [{from: [{source: {principals: [\"*\"]}}]}]}"),
            authz("nothing", "{selector: {matchLabels: {app: web}}}"),
            authz("log", "{action: AUDIT, rules: [{}]}"),
            authz("db-only", "{selector: {matchLabels: {app: db}}, rules: [{}]}"),
            authz("elsewhere", in: "payments")
        ))
        #expect(Array(configuration.summary.suffix(2)) == [
            "authorization: DENY shop/deny-admin, shop/deny-post-9000; ALLOW istio-system/allow-mesh, shop/nothing (no rules: matches nothing); AUDIT shop/log; what no ALLOW policy matches is denied; 2 AuthorizationPolicies are for other workloads (this one: namespace shop, labels app=web,version=v1)",
            "note: shop/deny-admin rule 0 judges HTTP fields without `ports`, so it also closes every non-HTTP connection it otherwise matches (as in Istio); add ports to limit it",
        ])
        let denyOnly = try load(documents(webSidecar, authz("deny", "{action: DENY, rules: [{from: [{source: {namespaces: [x]}}]}]}"), authz("other", in: "payments")))
        #expect(denyOnly.summary.last == "authorization: DENY shop/deny; no ALLOW policy, so what no DENY policy matches is allowed; 1 AuthorizationPolicy is for other workloads (this one: namespace shop, labels app=web,version=v1)")
    }
}

private let rulesHeader = "  rules:"

let authorizationErrorCases: [ErrorCase] = [
    // spec and action.
    ErrorCase("CUSTOM is not supported", authorizationPolicy("  action: CUSTOM"),
              (5, 11, "`spec.action` is CUSTOM, which is not supported: it delegates the decision to an external authorizer (ext_authz), which Weft does not have; use ALLOW or DENY")),
    ErrorCase("an action in lowercase", authorizationPolicy("  action: deny"),
              (5, 11, "`spec.action` is \"deny\"; it must be one of ALLOW, DENY, AUDIT, CUSTOM (did you mean `DENY`?)")),
    ErrorCase("DENY without rules", authorizationPolicy("  action: DENY"),
              (5, 11, "a DENY policy without `rules` never matches, so it denies nothing; to deny every request, write `rules: [{}]` (one rule that matches everything)")),
    ErrorCase("DENY with an empty list of rules", authorizationPolicy("  action: DENY", "  rules: []"),
              (5, 11, "a DENY policy without `rules` never matches")),
    ErrorCase("provider is not supported", authorizationPolicy("  provider: {name: opa}"),
              (5, 3, "`spec.provider` is not supported by Weft: it configures the CUSTOM action's external authorizer, which Weft does not have")),
    ErrorCase("targetRefs is not supported", authorizationPolicy("  targetRefs: [{kind: Gateway, name: g}]"),
              (5, 3, "`spec.targetRefs` is not supported by Weft: it attaches the policy to Gateways or Services; a Weft sidecar applies policies by namespace and selector")),
    ErrorCase("a misspelt spec field", authorizationPolicy("  rule: []"),
              (5, 3, "unknown field `spec.rule` (did you mean `rules`?)")),
    ErrorCase("rules as a mapping", authorizationPolicy("  rules: {from: []}"),
              (5, 10, "`spec.rules` must be a list of rules, each with from, to and when, not a mapping")),
    ErrorCase("a wildcard in the selector", authorizationPolicy("  selector: {matchLabels: {app: \"*\"}}"),
              (5, 33, "`spec.selector.matchLabels[app]` is \"*\", which is not a label value")),
    ErrorCase("no name", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {namespace: shop}\nspec: {}\n",
              (2, 7, "an AuthorizationPolicy needs `metadata.name`: the access log and the metrics name the policy that allowed or denied each request")),

    // Rules, from and to.
    ErrorCase("a rule left empty", authorizationPolicy(rulesHeader, "    - action: ALLOW", "    -"),
              (6, 7, "unknown field `spec.rules[0].action`; `spec.rules[0]` has the fields from, to, when"),
              (7, 6, "`spec.rules[1]` is empty; write `{}` for a rule that matches every request, or give it from, to or when")),
    ErrorCase("an empty from", authorizationPolicy(rulesHeader, "    - from: []"),
              (6, 13, "`spec.rules[0].from` is an empty list; Istio requires at least one entry when it is given, so remove it to match every source or list one")),
    ErrorCase("an empty to", authorizationPolicy(rulesHeader, "    - to: []"),
              (6, 11, "`spec.rules[0].to` is an empty list; Istio requires at least one entry when it is given, so remove it to match every operation or list one")),
    ErrorCase("a from entry without source", authorizationPolicy(rulesHeader, "    - from: [{}]"),
              (6, 14, "`spec.rules[0].from[0]` has no `source`; each entry is {source: {...}} with at least one field")),
    ErrorCase("a null source", authorizationPolicy(rulesHeader, "    - from: [{source: ~}]"),
              (6, 15, "`spec.rules[0].from[0]` has no `source`")),
    ErrorCase("an empty source", authorizationPolicy(rulesHeader, "    - from: [{source: {}}]"),
              (6, 23, "`spec.rules[0].from[0].source` has no field; Istio requires at least one of principals, notPrincipals, namespaces, notNamespaces, ipBlocks, notIpBlocks (remove the `from` entry to match every source)")),
    ErrorCase("an empty operation", authorizationPolicy(rulesHeader, "    - to: [{operation: {}}]"),
              (6, 24, "`spec.rules[0].to[0].operation` has no field; Istio requires at least one of hosts, notHosts, ports, notPorts, methods, notMethods, paths, notPaths (remove the `to` entry to match every operation)")),
    ErrorCase("a source field Weft does not support", authorizationPolicy(rulesHeader, "    - from: [{source: {requestPrincipals: [\"*\"]}}]"),
              (6, 24, "`spec.rules[0].from[0].source.requestPrincipals` is not supported by Weft: it needs JWT authentication (RequestAuthentication), which Weft does not do")),
    ErrorCase("a misspelt source field", authorizationPolicy(rulesHeader, "    - from: [{source: {principal: [\"*\"]}}]"),
              (6, 24, "unknown field `spec.rules[0].from[0].source.principal` (did you mean `principals`?)")),
    ErrorCase("a misspelt operation field", authorizationPolicy(rulesHeader, "    - to: [{operation: {method: [GET]}}]"),
              (6, 25, "unknown field `spec.rules[0].to[0].operation.method` (did you mean `methods`?)")),

    // Values.
    ErrorCase("a principal with spiffe://", authorizationPolicy(rulesHeader, "    - from: [{source: {principals: [\"spiffe://cluster.local/ns/a/sa/b\"]}}]"),
              (6, 37, "`spec.rules[0].from[0].source.principals[0]` is \"spiffe://cluster.local/ns/a/sa/b\": write principals without `spiffe://`, as cluster.local/ns/a/sa/b")),
    ErrorCase("an empty principal", authorizationPolicy(rulesHeader, "    - from: [{source: {notPrincipals: [\"\"]}}]"),
              (6, 40, "`spec.rules[0].from[0].source.notPrincipals[0]` is \"\": the value is empty; Istio refuses empty values")),
    ErrorCase("a wildcard in the middle of a namespace", authorizationPolicy(rulesHeader, "    - from: [{source: {namespaces: [\"a*b\"]}}]"),
              (6, 37, "`spec.rules[0].from[0].source.namespaces[0]` is \"a*b\": `*` is a wildcard only as the first or the last character")),
    ErrorCase("a CIDR with host bits", authorizationPolicy(rulesHeader, "    - from: [{source: {ipBlocks: [\"10.1.2.3/8\"]}}]"),
              (6, 35, "`spec.rules[0].from[0].source.ipBlocks[0]` is \"10.1.2.3/8\": host bits are set below the /8 prefix; did you mean 10.0.0.0/8?")),
    ErrorCase("a CIDR that is not one", authorizationPolicy(rulesHeader, "    - from: [{source: {notIpBlocks: [\"10.0.0.0/33\", \"fd00::/8\", \"host\"]}}]"),
              (6, 38, "`spec.rules[0].from[0].source.notIpBlocks[0]` is \"10.0.0.0/33\": the prefix length must be 0...32"),
              (6, 65, "`spec.rules[0].from[0].source.notIpBlocks[2]` is \"host\": not a CIDR")),
    ErrorCase("a port without quotes", authorizationPolicy(rulesHeader, "    - to: [{operation: {ports: [8080]}}]"),
              (6, 33, "`spec.rules[0].to[0].operation.ports[0]` must be a port number in quotes, such as \"8080\" (Istio's ports are strings), not `8080`; if you mean the text, quote it: \"8080\"")),
    ErrorCase("ports out of range", authorizationPolicy(rulesHeader, "    - to: [{operation: {notPorts: [\"0\", \"65536\", \"http\", \"443\"]}}]"),
              (6, 36, "`spec.rules[0].to[0].operation.notPorts[0]` is \"0\", which is not a port; write a port number from 1 to 65535 in quotes, such as \"8080\""),
              (6, 41, "`spec.rules[0].to[0].operation.notPorts[1]` is \"65536\", which is not a port"),
              (6, 50, "`spec.rules[0].to[0].operation.notPorts[2]` is \"http\", which is not a port")),
    ErrorCase("a lowercase method", authorizationPolicy(rulesHeader, "    - to: [{operation: {methods: [get, \"P*\"]}}]"),
              (6, 35, "`spec.rules[0].to[0].operation.methods[0]` is \"get\": methods are uppercase, such as GET; requests with other methods are refused before policies, so this never matches")),
    ErrorCase("an empty host", authorizationPolicy(rulesHeader, "    - to: [{operation: {hosts: [\"\"]}}]"),
              (6, 33, "`spec.rules[0].to[0].operation.hosts[0]` is \"\": the value is empty")),
    ErrorCase("a path with * in the middle", authorizationPolicy(rulesHeader, "    - to: [{operation: {paths: [\"/api/*/items\"]}}]"),
              (6, 33, "`spec.rules[0].to[0].operation.paths[0]` is \"/api/*/items\": `*` is a wildcard only as the first or the last character (`*suffix`, `prefix*`) or alone (`*`); Istio matches any other `*` literally, which no request has")),
    ErrorCase("a path template", authorizationPolicy(rulesHeader, "    - to: [{operation: {notPaths: [\"/api/{*}/items\"]}}]"),
              (6, 36, "`spec.rules[0].to[0].operation.notPaths[0]` is \"/api/{*}/items\": path templates ({*}, {**}) are not supported by Weft; write a prefix (/api/*) or a suffix (*.png)")),
    ErrorCase("a path without its slash", authorizationPolicy(rulesHeader, "    - to: [{operation: {paths: [\"api/*\", \"*.png\", \"*\"]}}]"),
              (6, 33, "`spec.rules[0].to[0].operation.paths[0]` is \"api/*\": a path starts with `/` (or `*` for a suffix, such as *.png), so this never matches")),
    ErrorCase("a path with a query", authorizationPolicy(rulesHeader, "    - to: [{operation: {paths: [\"/search?q=1\"]}}]"),
              (6, 33, "`spec.rules[0].to[0].operation.paths[0]` is \"/search?q=1\": policies compare the path without its query, so a `?` never matches; remove the query")),
    ErrorCase("values that are not a list", authorizationPolicy(rulesHeader, "    - to: [{operation: {methods: GET}}]"),
              (6, 34, "`spec.rules[0].to[0].operation.methods` must be a list of strings such as GET, not `GET`")),

    // when.
    ErrorCase("an unknown key", authorizationPolicy(rulesHeader, "    - when: [{key: source.ipp, values: [\"10.0.0.1\"]}]"),
              (6, 20, "`spec.rules[0].when[0].key` is \"source.ipp\", which is not an attribute (did you mean `source.ip`?); Weft reads request.headers[<name>], source.principal, source.namespace, source.ip, destination.port")),
    ErrorCase("an Istio key Weft does not support", authorizationPolicy(rulesHeader, "    - when: [{key: \"request.auth.claims[iss]\", values: [a]}, {key: connection.sni, values: [a]}]"),
              (6, 20, "`spec.rules[0].when[0].key` is \"request.auth.claims[iss]\", an Istio attribute Weft does not support"),
              (6, 68, "`spec.rules[0].when[1].key` is \"connection.sni\", an Istio attribute Weft does not support")),
    ErrorCase("a header key without a name", authorizationPolicy(rulesHeader, "    - when: [{key: \"request.headers[]\", values: [a]}, {key: \"request.headers[a b]\", values: [a]}]"),
              (6, 20, "`spec.rules[0].when[0].key` is \"request.headers[]\"; write the header's name in brackets, such as request.headers[x-user]"),
              (6, 61, "`spec.rules[0].when[1].key` is \"request.headers[a b]\"")),
    ErrorCase("a condition without values", authorizationPolicy(rulesHeader, "    - when:", "        - key: source.ip", "        - {key: source.ip, values: [], notValues: []}"),
              (7, 11, "`spec.rules[0].when[0]` (key \"source.ip\") has no values and no notValues; Istio requires at least one of them, non-empty"),
              (8, 12, "`spec.rules[0].when[1]` (key \"source.ip\") has no values and no notValues")),
    ErrorCase("a condition without a key", authorizationPolicy(rulesHeader, "    - when: [{values: [a]}]"),
              (6, 14, "`spec.rules[0].when[0]` has no `key`; a condition names an attribute, one of request.headers[<name>], source.principal, source.namespace, source.ip, destination.port")),
    ErrorCase("bad values for addresses and ports", authorizationPolicy(rulesHeader, "    - when: [{key: source.ip, values: [\"10.0.0.300\"], notValues: [\"x\"]}, {key: destination.port, notValues: [\"http\"]}]"),
              (6, 40, "`spec.rules[0].when[0].values[0]` is \"10.0.0.300\": not a CIDR"),
              (6, 67, "`spec.rules[0].when[0].notValues[0]` is \"x\": not a CIDR"),
              (6, 110, "`spec.rules[0].when[1].notValues[0]` is \"http\", which is not a port")),
    ErrorCase("a misspelt condition field", authorizationPolicy(rulesHeader, "    - when: [{key: source.ip, value: [\"10.0.0.1\"]}]"),
              (6, 15, "`spec.rules[0].when[0]` (key \"source.ip\") has no values and no notValues"),
              (6, 31, "unknown field `spec.rules[0].when[0].value` (did you mean `values`?)")),

    // Every problem of a document at once.
    ErrorCase("problems are collected", authorizationPolicy(
        "  action: AUDIT", rulesHeader,
        "    - from: [{source: {ipBlocks: [\"300.0.0.0/8\"]}}]",
        "      to: [{operation: {ports: [\"0\"]}}]",
        "      when: [{key: nope, values: [a]}]"
    ), (7, 35, "`spec.rules[0].from[0].source.ipBlocks[0]` is \"300.0.0.0/8\""),
       (8, 33, "`spec.rules[0].to[0].operation.ports[0]` is \"0\""),
       (9, 20, "`spec.rules[0].when[0].key` is \"nope\", which is not an attribute")),
]
