import Config
import Testing

/// The sidecar the precedence table resolves for: namespace shop, labels app=web and version=v1,
/// with an identity so that STRICT is allowed.
private let webSidecar = """
    apiVersion: weft.io/v1
    kind: Sidecar
    metadata: {name: web, namespace: shop, labels: {app: web, version: v1}}
    spec:
      identity: {certificateChain: /c, privateKey: /k, trustBundle: /t}

    """

/// A PeerAuthentication as one flow-style document (four lines); nil leaves a part out.
private func policy(
    _ name: String, in namespace: String? = "shop", selector: String? = nil, mode: String? = nil, ports: String? = nil,
    apiVersion: String = "security.istio.io/v1"
) -> String {
    var spec: [String] = []
    if let selector { spec.append("selector: {matchLabels: \(selector)}") }
    if let mode { spec.append("mtls: {mode: \(mode)}") }
    if let ports { spec.append("portLevelMtls: \(ports)") }
    let metadata = namespace.map { "{name: \(name), namespace: \($0)}" } ?? "{name: \(name)}"
    return "apiVersion: \(apiVersion)\nkind: PeerAuthentication\nmetadata: \(metadata)\nspec: {\(spec.joined(separator: ", "))}\n"
}

/// Documents joined into one source.
private func documents(_ parts: [String]) -> String { parts.joined(separator: "---\n") }

struct PrecedenceCase: CustomTestStringConvertible, Sendable {
    let name: String
    let documents: [String]
    let mode: MTLSMode
    let ports: [UInt16: MTLSMode]

    init(_ name: String, _ documents: [String], _ mode: MTLSMode, _ ports: [UInt16: MTLSMode] = [:]) {
        self.name = name
        self.documents = documents
        self.mode = mode
        self.ports = ports
    }

    var testDescription: String { name }
}

private let mesh = "istio-system"

let precedenceCases: [PrecedenceCase] = [
    PrecedenceCase("no policy: PERMISSIVE", [webSidecar], .permissive),
    PrecedenceCase("mesh STRICT", [webSidecar, policy("default", in: mesh, mode: "STRICT")], .strict),
    PrecedenceCase("mesh DISABLE", [webSidecar, policy("default", in: mesh, mode: "DISABLE")], .disable),
    PrecedenceCase("namespace beats mesh", [
        policy("default", in: mesh, mode: "STRICT"), policy("ns", mode: "PERMISSIVE"), webSidecar,
    ], .permissive),
    PrecedenceCase("namespace UNSET inherits the mesh", [
        webSidecar, policy("default", in: mesh, mode: "STRICT"), policy("ns", mode: "UNSET"),
    ], .strict),
    PrecedenceCase("namespace without mtls inherits the mesh", [
        webSidecar, policy("default", in: mesh, mode: "DISABLE"), policy("ns"),
    ], .disable),
    PrecedenceCase("workload beats namespace and mesh", [
        webSidecar, policy("default", in: mesh, mode: "DISABLE"), policy("ns", mode: "STRICT"),
        policy("web", selector: "{app: web}", mode: "PERMISSIVE"),
    ], .permissive),
    PrecedenceCase("workload UNSET inherits the namespace", [
        webSidecar, policy("ns", mode: "STRICT"), policy("web", selector: "{app: web}", mode: "UNSET"),
    ], .strict),
    PrecedenceCase("UNSET all the way down is PERMISSIVE", [
        webSidecar, policy("default", in: mesh, mode: "UNSET"), policy("ns", mode: "UNSET"),
        policy("web", selector: "{app: web}", mode: "UNSET"),
    ], .permissive),
    PrecedenceCase("port-level modes, UNSET taking the workload's resolved mode", [
        webSidecar, policy("ns", mode: "STRICT"),
        policy("web", selector: "{app: web}", ports: "{8080: {mode: DISABLE}, \"9090\": {mode: UNSET}, 9091: {}, 9092: ~, 7070: {mode: PERMISSIVE}}"),
    ], .strict, [8080: .disable, 9090: .strict, 9091: .strict, 9092: .strict, 7070: .permissive]),
    PrecedenceCase("port-level modes over a workload mode inherited from the mesh", [
        webSidecar, policy("default", in: mesh, mode: "DISABLE"),
        policy("web", selector: "{app: web}", mode: "UNSET", ports: "{8443: {mode: STRICT}, 8444: {mode: UNSET}}"),
    ], .disable, [8443: .strict, 8444: .disable]),
    PrecedenceCase("a selector must be a subset of the labels", [
        webSidecar, policy("ns", mode: "PERMISSIVE"),
        policy("v2", selector: "{app: web, version: v2}", mode: "STRICT"),
        policy("other", selector: "{app: reviews}", mode: "DISABLE"),
    ], .permissive),
    PrecedenceCase("a selector with every label matches", [
        webSidecar, policy("exact", selector: "{app: web, version: v1}", mode: "STRICT"),
    ], .strict),
    PrecedenceCase("other namespaces are ignored", [
        webSidecar, policy("ns", in: "payments", mode: "STRICT"),
        policy("web", in: "payments", selector: "{app: web}", mode: "DISABLE", ports: "{80: {mode: STRICT}}"),
    ], .permissive),
    PrecedenceCase("a selector in the root namespace applies to nobody", [
        webSidecar, policy("default", in: mesh, mode: "PERMISSIVE"),
        policy("web", in: mesh, selector: "{app: web}", mode: "STRICT"),
    ], .permissive),
    PrecedenceCase("empty matchLabels is namespace-wide", [
        webSidecar, policy("default", in: mesh, mode: "PERMISSIVE"), policy("ns", selector: "{}", mode: "STRICT"),
    ], .strict),
    PrecedenceCase("v1beta1 reads the same", [
        webSidecar, policy("default", in: mesh, mode: "STRICT", apiVersion: "security.istio.io/v1beta1"),
    ], .strict),
    PrecedenceCase("a policy without a namespace is in default", [
        webSidecar, policy("nowhere", in: nil, mode: "STRICT"),
    ], .permissive),
]

@Suite("PeerAuthentication")
struct PeerAuthenticationTests {
    @Test("workload beats namespace beats mesh beats PERMISSIVE", arguments: precedenceCases)
    func precedence(_ precedenceCase: PrecedenceCase) throws {
        let configuration = try load(documents(precedenceCase.documents))
        #expect(configuration.inboundMTLS == InboundMTLS(defaultMode: precedenceCase.mode, portModes: precedenceCase.ports))
        #expect(configuration.inboundMTLS.defaultMode == precedenceCase.mode)
        #expect(configuration.inboundMTLS.portModes == precedenceCase.ports)
        for port: UInt16 in [1, 80, 7070, 8080, 8443, 8444, 9090, 9091, 9092, 65535] {
            #expect(configuration.inboundMode(port: port) == precedenceCase.ports[port] ?? precedenceCase.mode, "port \(port)")
        }
    }

    @Test("a sidecar without a namespace is in default")
    func sidecarWithoutNamespace() throws {
        let text = documents([
            "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n" + identityLine + "\n",
            policy("mine", in: nil, mode: "STRICT"), policy("shop", mode: "DISABLE"),
        ])
        #expect(try load(text).inboundMTLS == InboundMTLS(defaultMode: .strict))
    }

    @Test("a sidecar in the root namespace takes its selector-less policy as the mesh's")
    func sidecarInRootNamespace() throws {
        let text = documents([
            "apiVersion: weft.io/v1\nkind: Sidecar\nmetadata: {namespace: istio-system, labels: {app: gateway}}\nspec:\n" + identityLine + "\n",
            policy("default", in: mesh, mode: "STRICT"),
            policy("gateway", in: mesh, selector: "{app: gateway}", mode: "DISABLE"),
        ])
        #expect(try load(text).inboundMTLS == InboundMTLS(defaultMode: .strict))
    }

    @Test("every policy is kept as read, applicable or not")
    func policiesAreRecorded() throws {
        let configuration = try load(documents([
            webSidecar,
            policy("default", in: mesh, mode: "STRICT", apiVersion: "security.istio.io/v1beta1"),
            policy("web", selector: "{app: web}", ports: "{8080: {mode: PERMISSIVE}}"),
            policy("elsewhere", in: "payments"),
        ]))
        let policies = configuration.peerAuthentications
        #expect(policies.map(\.description) == [
            "PeerAuthentication istio-system/default", "PeerAuthentication shop/web", "PeerAuthentication payments/elsewhere",
        ])
        #expect(policies.map(\.scope) == [.mesh, .workload, .namespace])
        #expect(policies.map(\.mode) == [.strict, .unset, .unset])
        #expect(policies[1].selector == ["app": "web"])
        #expect(policies[1].portModes == [8080: .permissive])
        #expect(policies[1].position == ConfigPosition(file: "a.yaml", line: 12, column: 1))
        #expect(configuration.resources.map(\.apiVersion) == [
            "weft.io/v1", "security.istio.io/v1beta1", "security.istio.io/v1", "security.istio.io/v1",
        ])
        #expect(policies[1].applies(toNamespace: "shop", labels: ["app": "web", "tier": "front"]))
        #expect(!policies[1].applies(toNamespace: "shop", labels: ["tier": "front"]))
        #expect(!policies[1].applies(toNamespace: "payments", labels: ["app": "web"]))
        #expect(policies[0].applies(toNamespace: "anything", labels: [:]))
    }

    @Test("an inbound mode table is a lookup of its ports")
    func inboundTable() {
        let table = InboundMTLS(defaultMode: .strict, portModes: [1: .disable, 80: .permissive, 65535: .disable])
        #expect(table.mode(port: 1) == .disable)
        #expect(table.mode(port: 2) == .strict)
        #expect(table.mode(port: 80) == .permissive)
        #expect(table.mode(port: 81) == .strict)
        #expect(table.mode(port: 65534) == .strict)
        #expect(table.mode(port: 65535) == .disable)
        #expect(InboundMTLS.permissive.mode(port: 443) == .permissive)
        #expect(InboundMTLS.permissive.portModes.isEmpty)
    }

    @Test("errors in PeerAuthentication documents", arguments: peerAuthenticationErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }

    @Test("ambiguity across sources names both files")
    func ambiguityAcrossSources() {
        let found = diagnostics([
            ConfigSource(name: "mesh.yaml", text: policy("default", in: mesh, mode: "STRICT")),
            ConfigSource(name: "sidecar.yaml", text: webSidecar),
            ConfigSource(name: "more.yaml", text: "# another mesh policy\n" + policy("strict", in: mesh, mode: "STRICT")),
        ])
        #expect(found.map(\.description) == [
            "more.yaml:2:1: PeerAuthentication istio-system/strict is a second mesh-wide policy (namespace istio-system, no selector), besides PeerAuthentication istio-system/default at mesh.yaml:1:1; Istio would apply the older of the two, which files cannot show, so keep one of them",
        ])
    }

    @Test("weft check summarises identity, outbound and inbound mTLS")
    func summary() throws {
        let text = documents([
            """
            apiVersion: weft.io/v1
            kind: Sidecar
            metadata: {name: web, namespace: shop, labels: {app: web, version: v1}}
            spec:
              identity: {certificateChain: /certs/chain.pem, privateKey: /certs/key.pem, trustBundle: /certs/root.pem}
              mesh:
                cidrs: [10.0.0.0/8, "fd00::/8"]
                destinations:
                  - {address: 10.1.2.3, port: 8080, identity: spiffe://cluster.local/ns/shop/sa/reviews}

            """,
            policy("default", in: mesh, mode: "STRICT"),
            policy("web", selector: "{app: web}", ports: "{8080: {mode: PERMISSIVE}, 9090: {mode: DISABLE}}"),
            policy("reviews", selector: "{app: reviews}", mode: "DISABLE"),
            policy("payments", in: "payments", mode: "DISABLE"),
        ])
        let configuration = try load(text)
        #expect(configuration.resources.map(\.description) == [
            "Sidecar shop/web", "PeerAuthentication istio-system/default", "PeerAuthentication shop/web",
            "PeerAuthentication shop/reviews", "PeerAuthentication payments/payments",
        ])
        #expect(configuration.summary == [
            "identity: trust domain cluster.local; certificate chain /certs/chain.pem, private key /certs/key.pem, trust bundle /certs/root.pem",
            "outbound: mTLS to 10.0.0.0/8, fd00::/8; 1 destination with an expected identity; plaintext elsewhere",
            "inbound: STRICT, port 8080 PERMISSIVE, port 9090 DISABLE (from PeerAuthentication istio-system/default, shop/web); 2 PeerAuthentications are for other workloads (this one: namespace shop, labels app=web,version=v1)",
            "detection: 300ms for the first bytes; opaque ports 25, 587, 3306, 4444, 5432, 6379, 9300, 11211",
            "authorization: no AuthorizationPolicy applies, so every inbound connection and request is allowed",
        ])
    }

    @Test("weft check's summary of the defaults")
    func summaryOfDefaults() throws {
        #expect(Configuration.defaults.summary == [
            "identity: none (no spec.identity), so no mTLS in either direction",
            "outbound: plaintext to every destination (no spec.mesh)",
            "inbound: PERMISSIVE (no PeerAuthentication applies)",
            "detection: 300ms for the first bytes; opaque ports 25, 587, 3306, 4444, 5432, 6379, 9300, 11211",
            "authorization: no AuthorizationPolicy applies, so every inbound connection and request is allowed",
        ])
        let unmatched = try load(policy("web", selector: "{app: web}", mode: "DISABLE"))
        #expect(unmatched.summary[2] == "inbound: PERMISSIVE (no PeerAuthentication applies); 1 PeerAuthentication is for other workloads (this one: namespace default, no labels)")
    }
}

private let sidecarWithoutIdentity = "apiVersion: weft.io/v1\nkind: Sidecar\nmetadata: {namespace: shop, labels: {app: web}}\n"

let peerAuthenticationErrorCases: [ErrorCase] = [
    // Fields and values.
    ErrorCase("a mode in lowercase", peerAuthentication("  mtls: {mode: strict}"),
              (5, 16, "`spec.mtls.mode` is \"strict\"; it must be one of UNSET, DISABLE, PERMISSIVE, STRICT (did you mean `STRICT`?)")),
    ErrorCase("an unknown mode", peerAuthentication("  mtls:", "    mode: MUTUAL"),
              (6, 11, "`spec.mtls.mode` is \"MUTUAL\"; it must be one of UNSET, DISABLE, PERMISSIVE, STRICT")),
    ErrorCase("a mode without a value", peerAuthentication("  mtls:", "    mode:"),
              (6, 5, "`spec.mtls.mode` has no value; write one of UNSET, DISABLE, PERMISSIVE, STRICT, or remove the line to use the default")),
    ErrorCase("mtls is a word", peerAuthentication("  mtls: STRICT"),
              (5, 9, "`spec.mtls` must be a mapping of field names to values, not `STRICT`")),
    ErrorCase("a misspelt spec field", peerAuthentication("  mTLS: {mode: STRICT}"),
              (5, 3, "unknown field `spec.mTLS` (did you mean `mtls`?)")),
    ErrorCase("an unknown spec field", peerAuthentication("  action: ALLOW"),
              (5, 3, "unknown field `spec.action`; `spec` has the fields selector, mtls, portLevelMtls")),
    ErrorCase("an unknown mtls field", peerAuthentication("  mtls: {mode: STRICT, strict: true}"),
              (5, 24, "unknown field `spec.mtls.strict`; `spec.mtls` has the fields mode")),
    ErrorCase("matchExpressions is not Istio's", peerAuthentication("  selector:", "    matchExpressions: []"),
              (6, 5, "unknown field `spec.selector.matchExpressions`; `spec.selector` has the fields matchLabels")),
    ErrorCase("a selector label value that is not a label", peerAuthentication("  selector: {matchLabels: {app: \"*\"}}"),
              (5, 33, "`spec.selector.matchLabels[app]` is \"*\", which is not a label value")),
    ErrorCase("an unsupported apiVersion", "apiVersion: security.istio.io/v1alpha1\nkind: PeerAuthentication\n",
              (1, 13, "unsupported apiVersion `security.istio.io/v1alpha1` for kind PeerAuthentication; write `apiVersion: security.istio.io/v1` (security.istio.io/v1beta1 is also read)")),
    ErrorCase("a Sidecar apiVersion on a PeerAuthentication", "apiVersion: weft.io/v1\nkind: PeerAuthentication\n",
              (1, 13, "unsupported apiVersion `weft.io/v1` for kind PeerAuthentication")),
    ErrorCase("a misspelt kind", "apiVersion: security.istio.io/v1\nkind: PeerAuthentications\n",
              (2, 7, "unsupported kind `PeerAuthentications` (did you mean `PeerAuthentication`?)")),

    // portLevelMtls.
    ErrorCase("port-level modes without a selector", peerAuthentication("  mtls: {mode: STRICT}", "  portLevelMtls:", "    8080: {mode: PERMISSIVE}"),
              (6, 3, "`spec.portLevelMtls` needs `spec.selector.matchLabels`: Istio applies port-level modes only in a policy that selects workloads, not in a namespace-wide or mesh-wide one; add a selector, or move the ports to a policy that has one")),
    ErrorCase("port-level modes with an empty selector", peerAuthentication("  selector: {matchLabels: {}}", "  portLevelMtls: {8080: {mode: STRICT}}"),
              (6, 3, "`spec.portLevelMtls` needs `spec.selector.matchLabels`")),
    ErrorCase("a port that is a name", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls:", "    http: {mode: STRICT}"),
              (7, 5, "`spec.portLevelMtls` has the key \"http\", which is not a port; its keys are port numbers from 1 to 65535, such as 8080")),
    ErrorCase("port zero and beyond 65535", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls:", "    0: {mode: STRICT}", "    65536: {mode: STRICT}", "    -1: {}", "    080: {}"),
              (7, 5, "the key \"0\", which is not a port"), (8, 5, "the key \"65536\", which is not a port"),
              (9, 5, "the key \"-1\", which is not a port"), (10, 5, "the key \"080\", which is not a port")),
    ErrorCase("a port twice, as a number and a string", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls:", "    8080: {mode: STRICT}", "    \"8080\": {mode: DISABLE}"),
              (8, 5, "port 8080 appears twice in `spec.portLevelMtls` (first at line 7); a port may appear once, so remove one")),
    ErrorCase("empty port-level modes", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls: {}"),
              (6, 18, "`spec.portLevelMtls` is empty; when it is given Istio requires at least one port, so list one or remove the field")),
    ErrorCase("port-level modes as a list", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls: [8080]"),
              (6, 18, "`spec.portLevelMtls` must be a mapping of port numbers to mTLS settings, such as {8080: {mode: PERMISSIVE}}, not a list")),
    ErrorCase("a misspelt port-level mode", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls:", "    8080: {mode: permisive}"),
              (7, 18, "`spec.portLevelMtls[8080].mode` is \"permisive\"; it must be one of UNSET, DISABLE, PERMISSIVE, STRICT (did you mean `PERMISSIVE`?)")),
    ErrorCase("a port-level setting that is a word", peerAuthentication("  selector: {matchLabels: {app: web}}", "  portLevelMtls:", "    8080: STRICT"),
              (7, 11, "`spec.portLevelMtls[8080]` must be a mapping of field names to values, not `STRICT`")),

    // Several policies at one level for this sidecar.
    ErrorCase("two namespace-wide policies", documents([webSidecar, policy("a", mode: "STRICT"), policy("b", mode: "STRICT")]),
              (12, 1, "PeerAuthentication shop/b is a second namespace-wide policy for namespace shop (no selector), besides PeerAuthentication shop/a at a.yaml:7:1; Istio would apply the older of the two, which files cannot show, so keep one of them")),
    ErrorCase("three mesh-wide policies", documents([policy("a", in: mesh), policy("b", in: mesh), policy("c", in: mesh)]),
              (6, 1, "PeerAuthentication istio-system/b is a second mesh-wide policy (namespace istio-system, no selector), besides PeerAuthentication istio-system/a at a.yaml:1:1"),
              (11, 1, "PeerAuthentication istio-system/c is a second mesh-wide policy")),
    ErrorCase("two policies selecting the sidecar", documents([
        webSidecar, policy("by-app", selector: "{app: web}", mode: "STRICT"), policy("by-version", selector: "{version: v1}", mode: "STRICT"),
    ]), (12, 1, "PeerAuthentication shop/by-version is a second policy selecting this sidecar (namespace shop, labels app=web,version=v1), besides PeerAuthentication shop/by-app at a.yaml:7:1; Istio would apply the older of the two, which files cannot show, so keep one of them, or make their selectors select different workloads")),

    // STRICT needs an identity.
    ErrorCase("mesh-wide STRICT for a sidecar without identity", documents([sidecarWithoutIdentity, policy("default", in: mesh, mode: "STRICT")]),
              (5, 1, "PeerAuthentication istio-system/default sets mTLS mode STRICT for this sidecar (namespace shop, labels app=web), which has no spec.identity to accept mTLS with, so every inbound connection would be refused; give the Sidecar a spec.identity, or choose PERMISSIVE or DISABLE")),
    ErrorCase("STRICT without any Sidecar document", policy("default", in: "default", mode: "STRICT"),
              (1, 1, "PeerAuthentication default/default sets mTLS mode STRICT for this sidecar (namespace default), which has no spec.identity")),
    ErrorCase("port-level STRICT for a sidecar without identity", documents([
        sidecarWithoutIdentity, policy("web", selector: "{app: web}", mode: "PERMISSIVE", ports: "{8443: {mode: STRICT}, 8080: {mode: DISABLE}, 9443: {mode: STRICT}}"),
    ]), (5, 1, "PeerAuthentication shop/web sets mTLS mode STRICT on ports 8443, 9443 for this sidecar (namespace shop, labels app=web), which has no spec.identity to accept mTLS with, so connections to them would be refused")),
    ErrorCase("a mistake elsewhere holds back the STRICT judgement", documents([
        sidecarWithoutIdentity + "spec: {workers: -1}\n", policy("default", in: mesh, mode: "STRICT"),
    ]), (4, 17, "`spec.workers` is -1")),
]
