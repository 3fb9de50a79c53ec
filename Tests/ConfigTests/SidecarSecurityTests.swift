import Addresses
import Config
import Testing

@Suite("Sidecar identity, mesh, TLS and admin ports")
struct SidecarSecurityTests {
    static let example = """
        apiVersion: weft.io/v1
        kind: Sidecar
        metadata:
          name: web
          namespace: shop
          labels: {app: web, version: v1}
        spec:
          identity:
            certificateChain: /var/run/weft/certs/cert-chain.pem
            privateKey: /var/run/weft/certs/key.pem
            trustBundle: /var/run/weft/certs/root-cert.pem
            trustDomain: example.org
          mesh:
            cidrs: [10.0.0.0/8, "fd00::/8"]
            destinations:
              - address: 10.1.2.3/32
                port: 8080
                identity: spiffe://example.org/ns/shop/sa/reviews
              - address: 10.1.2.0/24
                identity: spiffe://example.org/ns/shop/sa/ratings
          tls:
            handshakeTimeout: 7s
          detection:
            timeout: 150ms
          ports:
            outbound: 15001
            inbound: 15006
            health: 16021
            metrics: 16090

        """

    @Test("every new field is read")
    func everyField() throws {
        let sidecar = try load(Self.example).sidecar
        #expect(sidecar.labels == ["app": "web", "version": "v1"])
        let identity = try #require(sidecar.identity)
        #expect(identity.certificateChain == "/var/run/weft/certs/cert-chain.pem")
        #expect(identity.privateKey == "/var/run/weft/certs/key.pem")
        #expect(identity.trustBundle == "/var/run/weft/certs/root-cert.pem")
        #expect(identity.trustDomain.description == "example.org")
        #expect(sidecar.mesh.cidrs.map(\.description) == ["10.0.0.0/8", "fd00::/8"])
        #expect(sidecar.mesh.destinations.map { "\($0.range) \($0.port.map(String.init) ?? "*") \($0.identity)" } == [
            "10.1.2.3/32 8080 spiffe://example.org/ns/shop/sa/reviews",
            "10.1.2.0/24 * spiffe://example.org/ns/shop/sa/ratings",
        ])
        #expect(sidecar.tlsHandshakeTimeout == .seconds(7))
        #expect(sidecar.detectionTimeout == .milliseconds(150))
        #expect(sidecar.healthPort == 16021)
        #expect(sidecar.metricsPort == 16090)
        #expect(sidecar.outboundPort == 15001)
        #expect(sidecar.inboundPort == 15006)
    }

    @Test("without the new fields, everything stays plaintext as before")
    func defaultsWhenAbsent() throws {
        let configuration = try load(sidecar("  workers: 2"))
        let sidecar = configuration.sidecar
        #expect(sidecar.identity == nil)
        #expect(sidecar.mesh == .none)
        #expect(sidecar.labels.isEmpty)
        #expect(sidecar.healthPort == 15021 && sidecar.metricsPort == 15090)
        #expect(sidecar.tlsHandshakeTimeout == .seconds(10) && sidecar.detectionTimeout == .milliseconds(300))
        for destination in ["10.0.0.1:80", "[fd00::1]:443", "192.168.1.1:8080"] {
            #expect(sidecar.meshPolicy(for: try SocketAddress(parsing: destination)) == .plaintext)
        }
        #expect(configuration.inboundMTLS == .permissive)
        #expect(configuration.inboundMode(port: 8080) == .permissive)
        #expect(configuration.peerAuthentications.isEmpty)
    }

    @Test("the trust domain defaults to cluster.local")
    func defaultTrustDomain() throws {
        let identity = try #require(try load(sidecar(identityLine)).sidecar.identity)
        #expect(identity.trustDomain.description == "cluster.local")
        #expect(identity.trustDomain == IdentityConfig.defaultTrustDomain)
    }

    @Test("an empty mesh needs no identity", arguments: ["  mesh:", "  mesh: {}", "  mesh: {cidrs: [], destinations: []}"])
    func emptyMesh(line: String) throws {
        #expect(try load(sidecar(line)).sidecar.mesh.isEmpty)
    }

    @Test("labels in Kubernetes syntax are accepted")
    func validLabels() throws {
        let text = """
            apiVersion: weft.io/v1
            kind: Sidecar
            metadata:
              labels:
                app.kubernetes.io/name: web
                Version: V1.2_rc-3
                empty: ""
                quoted: "true"
                "7": "8"

            """
        #expect(try load(text).sidecar.labels == [
            "app.kubernetes.io/name": "web", "Version": "V1.2_rc-3", "empty": "", "quoted": "true", "7": "8",
        ])
    }

    @Test("the edge values of ports and TLS timeouts are accepted")
    func boundaries() throws {
        let edges = try load(sidecar(
            "  ports: {outbound: 1, inbound: 2, health: 3, metrics: 65535}",
            "  tls: {handshakeTimeout: 1ns}",
            "  detection: {timeout: 1ns}"
        )).sidecar
        #expect([edges.outboundPort, edges.inboundPort, edges.healthPort, edges.metricsPort] == [1, 2, 3, 65535])
        #expect(edges.tlsHandshakeTimeout == .nanoseconds(1) && edges.detectionTimeout == .nanoseconds(1))
        // Health and metrics may take the ports reserved only for capture, including each other's.
        let swapped = try load(sidecar("  ports: {health: 15090, metrics: 15021}")).sidecar
        #expect(swapped.healthPort == 15090 && swapped.metricsPort == 15021)
        let istioAgent = try load(sidecar("  ports: {metrics: 15020}")).sidecar
        #expect(istioAgent.metricsPort == 15020)
    }

    @Test("new-field errors point at the offending value", arguments: securityErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }
}

private let labelsHeader = "apiVersion: weft.io/v1\nkind: Sidecar\nmetadata:\n  labels:\n"

let securityErrorCases: [ErrorCase] = [
    // spec.identity.
    ErrorCase("relative certificate path", sidecar(
        "  identity:", "    certificateChain: certs/cert.pem", "    privateKey: /k", "    trustBundle: /t"
    ), (5, 23, "`spec.identity.certificateChain` is \"certs/cert.pem\", which is not an absolute path; write the absolute path of the workload's PEM certificate chain, such as /var/run/weft/certs/cert-chain.pem")),
    ErrorCase("relative key and bundle paths", sidecar(
        "  identity:", "    certificateChain: /c", "    privateKey: key.pem", "    trustBundle: ./root.pem"
    ), (6, 17, "`spec.identity.privateKey` is \"key.pem\", which is not an absolute path; write the absolute path of the workload's PEM private key, such as /var/run/weft/certs/key.pem"),
       (7, 18, "`spec.identity.trustBundle` is \"./root.pem\", which is not an absolute path")),
    ErrorCase("an empty path", sidecar("  identity: {certificateChain: '', privateKey: /k, trustBundle: /t}"),
              (4, 32, "`spec.identity.certificateChain` is \"\", which is not an absolute path")),
    ErrorCase("a path with NUL", sidecar("  identity: {certificateChain: \"/c\\0x\", privateKey: /k, trustBundle: /t}"),
              (4, 32, "`spec.identity.certificateChain` contains a NUL character, which no file path can")),
    ErrorCase("a path longer than PATH_MAX", sidecar("  identity: {certificateChain: /\(String(repeating: "a", count: 4095)), privateKey: /k, trustBundle: /t}"),
              (4, 32, "`spec.identity.certificateChain` is 4096 bytes long; a Linux path is at most 4095 bytes")),
    ErrorCase("a path that is a number", sidecar("  identity: {certificateChain: 5, privateKey: /k, trustBundle: /t}"),
              (4, 32, "`spec.identity.certificateChain` must be the absolute path of the workload's PEM certificate chain, such as /var/run/weft/certs/cert-chain.pem, not `5`")),
    ErrorCase("missing files", sidecar("  identity: {certificateChain: /c}"),
              (4, 3, "`spec.identity` has no `privateKey` or `trustBundle`; it needs certificateChain, privateKey and trustBundle, the absolute paths of the workload's PEM files")),
    ErrorCase("an identity without anything", sidecar("  identity:"),
              (4, 3, "`spec.identity` has no `certificateChain`, `privateKey` or `trustBundle`")),
    ErrorCase("unknown identity field", sidecar("  identity:", "    certChain: /c", "    privateKey: /k", "    trustBundle: /t"),
              (4, 3, "`spec.identity` has no `certificateChain`"),
              (5, 5, "unknown field `spec.identity.certChain`; `spec.identity` has the fields certificateChain, privateKey, trustBundle, trustDomain")),
    ErrorCase("misspelt identity field", sidecar("  identity: {certificateChain: /c, privateKey: /k, trustBundel: /t}"),
              (4, 3, "`spec.identity` has no `trustBundle`"),
              (4, 52, "unknown field `spec.identity.trustBundel` (did you mean `trustBundle`?)")),
    ErrorCase("an uppercase trust domain", sidecar("  identity: {certificateChain: /c, privateKey: /k, trustBundle: /t, trustDomain: Cluster.Local}"),
              (4, 82, "`spec.identity.trustDomain`: \"Cluster.Local\" is not a valid trust domain name: 'C' at byte 0 is not allowed in a trust domain: trust domains are lowercase; write it in lowercase")),
    ErrorCase("a trust domain written as an id", sidecar("  identity: {certificateChain: /c, privateKey: /k, trustBundle: /t, trustDomain: spiffe://cluster.local}"),
              (4, 82, "`spec.identity.trustDomain`: \"spiffe://cluster.local\" is not a valid trust domain name: a trust domain is written without spiffe://")),
    ErrorCase("an empty trust domain", sidecar("  identity: {certificateChain: /c, privateKey: /k, trustBundle: /t, trustDomain: \"\"}"),
              (4, 82, "`spec.identity.trustDomain`: \"\" is not a valid trust domain name")),

    // spec.mesh.
    ErrorCase("mesh CIDRs without an identity", sidecar("  mesh:", "    cidrs: [10.0.0.0/8]"),
              (4, 3, "`spec.mesh` sends outbound connections over mTLS, and mTLS needs spec.identity (the workload's certificate chain, private key and trust bundle); add spec.identity, or remove spec.mesh to relay plaintext")),
    ErrorCase("mesh destinations without an identity", sidecar(
        "  mesh:", "    destinations:", "      - {address: 10.1.2.3, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (4, 3, "mTLS needs spec.identity")),
    ErrorCase("a broken identity is not blamed twice", sidecar(
        "  identity: {certificateChain: c, privateKey: /k, trustBundle: /t}", "  mesh: {cidrs: [10.0.0.0/8]}"
    ), (4, 32, "`spec.identity.certificateChain` is \"c\", which is not an absolute path")),
    ErrorCase("CIDR with host bits", meshSidecar("    cidrs: [10.1.0.0/8]"),
              (6, 13, "`spec.mesh.cidrs[0]` is \"10.1.0.0/8\": host bits are set below the /8 prefix; did you mean 10.0.0.0/8?")),
    ErrorCase("not an address", meshSidecar("    cidrs: [10.0.0.0/8, mesh.local]"),
              (6, 25, "`spec.mesh.cidrs[1]` is \"mesh.local\": not a CIDR: ")),
    ErrorCase("a prefix too long", meshSidecar("    cidrs: [\"fd00::/129\"]"),
              (6, 13, "`spec.mesh.cidrs[0]` is \"fd00::/129\": the prefix length must be 0...128")),
    ErrorCase("CIDRs not a list", meshSidecar("    cidrs: 10.0.0.0/8"),
              (6, 12, "`spec.mesh.cidrs` must be a list of CIDRs such as 10.0.0.0/8, not `10.0.0.0/8`")),
    ErrorCase("a CIDR that is a mapping", meshSidecar("    cidrs:", "      - {address: 10.0.0.0/8}"),
              (7, 9, "`spec.mesh.cidrs[0]` must be a CIDR such as 10.0.0.0/8, or one address, not a mapping")),
    ErrorCase("unknown mesh field", meshSidecar("    cidr: [10.0.0.0/8]"),
              (6, 5, "unknown field `spec.mesh.cidr` (did you mean `cidrs`?)")),
    ErrorCase("a destination without an identity", meshSidecar("    destinations:", "      - address: 10.1.2.3"),
              (7, 9, "`spec.mesh.destinations[0]` has no `identity`; a destination needs the address (a CIDR, or one address) and the SPIFFE id expected there (for mTLS without an expected id, list the range in spec.mesh.cidrs)")),
    ErrorCase("a destination without anything", meshSidecar("    destinations: [{}]"),
              (6, 20, "`spec.mesh.destinations[0]` has no `address` or `identity`")),
    ErrorCase("a destination that is a string", meshSidecar("    destinations: [10.1.2.3]"),
              (6, 20, "`spec.mesh.destinations[0]` must be a mapping of field names to values, not `10.1.2.3`")),
    ErrorCase("a destination in another trust domain", meshSidecar(
        "    destinations:", "      - address: 10.1.2.3", "        identity: spiffe://other.org/ns/a/sa/b"
    ), (8, 19, "`spec.mesh.destinations[0].identity` is \"spiffe://other.org/ns/a/sa/b\", outside the trust domain cluster.local of spec.identity; the proxy trusts only its own trust domain's roots, so no peer could prove this id")),
    ErrorCase("a destination outside a custom trust domain", sidecar(
        "  identity: {certificateChain: /c, privateKey: /k, trustBundle: /t, trustDomain: example.org}",
        "  mesh:", "    destinations:", "      - {address: 10.1.2.3, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (7, 39, "outside the trust domain example.org of spec.identity")),
    ErrorCase("a destination identity that is not SPIFFE", meshSidecar(
        "    destinations:", "      - {address: 10.1.2.3, identity: https://cluster.local/ns/a/sa/b}"
    ), (7, 39, "`spec.mesh.destinations[0].identity`: \"https://cluster.local/ns/a/sa/b\" is not a valid SPIFFE id: it must start with spiffe://")),
    ErrorCase("a destination identity with a bad path", meshSidecar(
        "    destinations:", "      - {address: 10.1.2.3, identity: \"spiffe://cluster.local/ns/a/sa/b/\"}"
    ), (7, 39, "is not a valid SPIFFE id: the path ends with '/'; remove it")),
    ErrorCase("a destination identity naming the trust domain", meshSidecar(
        "    destinations:", "      - {address: 10.1.2.3, identity: spiffe://cluster.local}"
    ), (7, 39, "`spec.mesh.destinations[0].identity` is \"spiffe://cluster.local\", which names the trust domain, not a workload; write a workload's id, such as spiffe://cluster.local/ns/<namespace>/sa/<service-account>")),
    ErrorCase("a destination port out of range", meshSidecar(
        "    destinations:", "      - {address: 10.1.2.3, port: 0, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (7, 35, "`spec.mesh.destinations[0].port` is 0; it must be an integer from 1 to 65535")),
    ErrorCase("a destination with host bits", meshSidecar(
        "    destinations:", "      - {address: 10.1.2.3/24, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (7, 19, "`spec.mesh.destinations[0].address` is \"10.1.2.3/24\": host bits are set below the /24 prefix; did you mean 10.1.2.0/24?")),
    ErrorCase("misspelt destination field", meshSidecar(
        "    destinations:", "      - {adress: 10.1.2.3, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (7, 9, "`spec.mesh.destinations[0]` has no `address`"),
       (7, 10, "unknown field `spec.mesh.destinations[0].adress` (did you mean `address`?)")),
    ErrorCase("the same destination twice", meshSidecar(
        "    destinations:",
        "      - {address: 10.1.2.3, identity: spiffe://cluster.local/ns/a/sa/b}",
        "      - {address: 10.1.2.4, identity: spiffe://cluster.local/ns/a/sa/b}",
        "      - {address: 10.1.2.3/32, identity: spiffe://cluster.local/ns/a/sa/c}"
    ), (9, 9, "`spec.mesh.destinations[2]` is for 10.1.2.3/32 and every port, as `spec.mesh.destinations[0]` (line 7) is; each range and port may have one expected identity, so remove one of them")),
    ErrorCase("the same destination and port twice", meshSidecar(
        "    destinations:",
        "      - {address: \"fd00::1\", port: 443, identity: spiffe://cluster.local/ns/a/sa/b}",
        "      - {address: \"fd00::1\", identity: spiffe://cluster.local/ns/a/sa/b}",
        "      - {address: \"fd00::1/128\", port: 443, identity: spiffe://cluster.local/ns/a/sa/b}"
    ), (9, 9, "`spec.mesh.destinations[2]` is for fd00::1/128 and port 443, as `spec.mesh.destinations[0]` (line 7) is")),

    // spec.tls.
    ErrorCase("zero handshake timeout", sidecar("  tls:", "    handshakeTimeout: 0s"),
              (5, 23, "`spec.tls.handshakeTimeout` is 0s; it must be longer than 0s, such as 5s")),
    ErrorCase("zero detection timeout", sidecar("  detection:", "    timeout: 0ms"),
              (5, 14, "`spec.detection.timeout` is 0ms; it must be longer than 0s")),
    ErrorCase("detection timeout without a unit", sidecar("  detection:", "    timeout: 300"),
              (5, 14, "`spec.detection.timeout`: \"300\" has no unit; write 300s for seconds")),
    ErrorCase("the detection timeout left the tls section", sidecar("  tls: {detectionTimeout: 300ms}"),
              (4, 9, "unknown field `spec.tls.detectionTimeout`; `spec.tls` has the fields handshakeTimeout")),
    ErrorCase("misspelt TLS field", sidecar("  tls:", "    handshake: 5s"),
              (5, 5, "unknown field `spec.tls.handshake` (did you mean `handshakeTimeout`?)")),

    // spec.ports.
    ErrorCase("health on the default outbound port", sidecar("  ports:", "    health: 15001"),
              (5, 13, "`spec.ports.health` is 15001, the same as `spec.ports.outbound` (its default); Weft's listeners (outbound, inbound, health, metrics) each need their own port")),
    ErrorCase("metrics on the health port", sidecar("  ports:", "    health: 16000", "    metrics: 16000"),
              (6, 14, "`spec.ports.metrics` is 16000, the same as `spec.ports.health`; Weft's listeners (outbound, inbound, health, metrics) each need their own port")),
    ErrorCase("metrics on the default health port", sidecar("  ports:", "    metrics: 15021"),
              (5, 14, "`spec.ports.metrics` is 15021, the same as `spec.ports.health` (its default)")),
    ErrorCase("a capture port moved onto the health port", sidecar("  ports:", "    inbound: 16021", "    health: 16021"),
              (6, 13, "`spec.ports.health` is 16021, the same as `spec.ports.inbound`; Weft's listeners")),
    ErrorCase("inbound on the default metrics port is still reserved", sidecar("  ports:", "    inbound: 15090"),
              (5, 14, "`spec.ports.inbound` is 15090, which Weft reserves for Prometheus metrics; choose another port")),
    ErrorCase("health on the admin port", sidecar("  ports:", "    health: 15000"),
              (5, 13, "`spec.ports.health` is 15000, which Weft's admin server listens on (127.0.0.1:15000); choose another port")),
    ErrorCase("every listener on one port", sidecar("  ports: {outbound: 17000, inbound: 17000, health: 17000, metrics: 17000}"),
              (4, 37, "`spec.ports.inbound` is 17000, the same as `spec.ports.outbound`; the outbound and inbound capture ports must differ"),
              (4, 52, "`spec.ports.health` is 17000, the same as `spec.ports.outbound`"),
              (4, 68, "`spec.ports.metrics` is 17000, the same as `spec.ports.outbound`")),
    ErrorCase("metrics port zero", sidecar("  ports:", "    metrics: 0"),
              (5, 14, "`spec.ports.metrics` is 0; it must be an integer from 1 to 65535")),
    ErrorCase("misspelt port", sidecar("  ports:", "    healthz: 15021"),
              (5, 5, "unknown field `spec.ports.healthz` (did you mean `health`?)")),

    // metadata.labels.
    ErrorCase("a label value starting with '-'", labelsHeader + "    app: -web\n",
              (5, 10, "`metadata.labels[app]` is \"-web\", which is not a label value: a value is empty, or letters, digits, '-', '_' and '.', starting and ending with a letter or digit")),
    ErrorCase("a label value that YAML reads as a number", labelsHeader + "    version: 2\n",
              (5, 14, "`metadata.labels[version]` must be a label value such as v1, not `2`; if you mean the text, quote it: \"2\"")),
    ErrorCase("a label value too long", labelsHeader + "    app: \(String(repeating: "a", count: 64))\n",
              (5, 10, "which is not a label value: it is 64 characters long; the longest allowed is 63")),
    ErrorCase("a label key with a space", labelsHeader + "    app name: web\n",
              (5, 5, "`metadata.labels` has the key \"app name\", which is not a label key: a name is letters, digits, '-', '_' and '.', starting and ending with a letter or digit")),
    ErrorCase("a label key with an uppercase prefix", labelsHeader + "    Example.com/app: web\n",
              (5, 5, "which is not a label key: the prefix before '/' must be a DNS subdomain")),
    ErrorCase("a label key with an empty name", labelsHeader + "    example.com/: web\n",
              (5, 5, "which is not a label key: the name is empty")),
    ErrorCase("a label key too long", labelsHeader + "    \(String(repeating: "k", count: 64)): web\n",
              (5, 5, "which is not a label key: the name is 64 characters long; the longest allowed is 63")),
    ErrorCase("the same label key twice", labelsHeader + "    7: a\n    \"7\": b\n",
              (6, 5, "the label key \"7\" appears twice in `metadata.labels`; a key may appear once, so remove one")),
    ErrorCase("labels as a list", labelsHeader + "    - app\n",
              (5, 5, "`metadata.labels` must be a mapping of label keys to values, such as {app: web}, not a list")),
    ErrorCase("a label key that is a list", labelsHeader + "    [a]: b\n",
              (5, 5, "a key of `metadata.labels` must be a scalar, not a list")),
]
