import Addresses
import Config
import Testing

@Suite("Outbound mesh policy lookup")
struct MeshPolicyTests {
    static let mesh = meshSidecar(
        "    cidrs: [10.0.0.0/8, \"fd00::/8\"]",
        "    destinations:",
        "      - {address: 10.1.0.0/16, identity: spiffe://cluster.local/ns/shop/sa/wide}",
        "      - {address: 10.1.2.0/24, identity: spiffe://cluster.local/ns/shop/sa/narrow}",
        "      - {address: 10.1.2.0/24, port: 8080, identity: spiffe://cluster.local/ns/shop/sa/narrow-8080}",
        "      - {address: 10.1.2.3, identity: spiffe://cluster.local/ns/shop/sa/host}",
        "      - {address: 10.0.0.0/8, port: 9090, identity: spiffe://cluster.local/ns/shop/sa/metrics}",
        "      - {address: 192.168.1.0/24, identity: spiffe://cluster.local/ns/edge/sa/outside}",
        "      - {address: \"fd00:1::/32\", identity: spiffe://cluster.local/ns/shop/sa/v6}",
        "      - {address: \"fd00:1::5\", port: 443, identity: spiffe://cluster.local/ns/shop/sa/v6-host-443}",
        "      - {address: 0.0.0.0/0, port: 5432, identity: spiffe://cluster.local/ns/db/sa/postgres}"
    )

    static let cases: [(destination: String, expected: String)] = [
        // The longest prefix wins.
        ("10.1.2.3:80", "mtls spiffe://cluster.local/ns/shop/sa/host"),
        ("10.1.2.4:80", "mtls spiffe://cluster.local/ns/shop/sa/narrow"),
        ("10.1.3.1:80", "mtls spiffe://cluster.local/ns/shop/sa/wide"),
        // For the same range, the entry for the destination's port beats the one for every port...
        ("10.1.2.4:8080", "mtls spiffe://cluster.local/ns/shop/sa/narrow-8080"),
        // ...but a longer prefix beats a port-specific shorter one.
        ("10.1.2.3:8080", "mtls spiffe://cluster.local/ns/shop/sa/host"),
        ("10.1.3.1:9090", "mtls spiffe://cluster.local/ns/shop/sa/wide"),
        ("10.2.0.1:9090", "mtls spiffe://cluster.local/ns/shop/sa/metrics"),
        // Inside the CIDRs without a destination entry: mTLS, any identity of the trust domain.
        ("10.2.0.1:80", "mtls"),
        ("10.255.255.255:1", "mtls"),
        // A destination entry implies mTLS outside the CIDRs too.
        ("192.168.1.7:80", "mtls spiffe://cluster.local/ns/edge/sa/outside"),
        ("192.168.2.7:80", "plaintext"),
        ("9.255.255.255:80", "plaintext"),
        ("11.0.0.0:80", "plaintext"),
        // /0 with a port: every IPv4 destination on that port.
        ("172.16.0.1:5432", "mtls spiffe://cluster.local/ns/db/sa/postgres"),
        ("172.16.0.1:5433", "plaintext"),
        // IPv6.
        ("[fd00:1::5]:443", "mtls spiffe://cluster.local/ns/shop/sa/v6-host-443"),
        ("[fd00:1::5]:80", "mtls spiffe://cluster.local/ns/shop/sa/v6"),
        ("[fd00:1:ffff::1]:80", "mtls spiffe://cluster.local/ns/shop/sa/v6"),
        ("[fd00:2::1]:80", "mtls"),
        ("[fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:80", "mtls"),
        ("[fe80::1]:80", "plaintext"),
        ("[fc00::1]:80", "plaintext"),
        ("[2001:db8::1]:5432", "plaintext"),
        // An IPv4-mapped IPv6 destination is the IPv4 address it carries.
        ("[::ffff:10.1.2.3]:80", "mtls spiffe://cluster.local/ns/shop/sa/host"),
        ("[::ffff:192.168.2.7]:80", "plaintext"),
    ]

    @Test("longest prefix, then port, then CIDRs decide", arguments: cases)
    func lookup(destination: String, expected: String) throws {
        let sidecar = try load(Self.mesh).sidecar
        #expect(text(sidecar.meshPolicy(for: try SocketAddress(parsing: destination))) == expected)
    }

    @Test("a peer address is in the mesh by the CIDRs or an every-port destination entry", arguments: [
        ("10.9.9.9", true), ("fd00::9", true), ("::ffff:10.0.0.1", true),
        ("192.168.1.7", true),    // an entry for every port of 192.168.1.0/24
        ("172.16.0.1", false),    // only 0.0.0.0/0 port 5432: hosts are not sidecars for that
        ("11.0.0.0", false), ("fe80::1", false),
    ])
    func peerInMesh(address: String, expected: Bool) throws {
        let mesh = try load(Self.mesh).sidecar.mesh
        #expect(mesh.contains(try IPAddress(parsing: address)) == expected)
    }

    @Test("overlapping and nested CIDRs cover exactly their union")
    func overlappingCIDRs() throws {
        let mesh = MeshConfig(cidrs: try ["10.1.0.0/16", "10.0.0.0/8", "10.2.0.0/16", "12.0.0.0/8", "12.0.0.0/8", "::/0"].map { try CIDR(parsing: $0) })
        let cases: [(String, String)] = [
            ("10.0.0.0:1", "mtls"), ("10.1.2.3:1", "mtls"), ("10.255.255.255:1", "mtls"), ("12.34.56.78:1", "mtls"),
            ("9.255.255.255:1", "plaintext"), ("11.0.0.0:1", "plaintext"), ("13.0.0.0:1", "plaintext"),
            ("[::]:1", "mtls"), ("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1", "mtls"),
        ]
        for (destination, expected) in cases {
            #expect(text(mesh.security(for: try SocketAddress(parsing: destination))) == expected, "\(destination)")
        }
    }

    @Test("the whole IPv4 space and single hosts at its edges")
    func edges() throws {
        let everything = MeshConfig(cidrs: [try CIDR(parsing: "0.0.0.0/0")])
        #expect(text(everything.security(for: try SocketAddress(parsing: "0.0.0.0:1"))) == "mtls")
        #expect(text(everything.security(for: try SocketAddress(parsing: "255.255.255.255:65535"))) == "mtls")
        #expect(text(everything.security(for: try SocketAddress(parsing: "[::1]:1"))) == "plaintext")
        let hosts = MeshConfig(cidrs: try ["0.0.0.0", "255.255.255.255"].map { try CIDR(parsing: $0) })
        #expect(text(hosts.security(for: try SocketAddress(parsing: "0.0.0.0:1"))) == "mtls")
        #expect(text(hosts.security(for: try SocketAddress(parsing: "0.0.0.1:1"))) == "plaintext")
        #expect(text(hosts.security(for: try SocketAddress(parsing: "255.255.255.254:1"))) == "plaintext")
        #expect(text(hosts.security(for: try SocketAddress(parsing: "255.255.255.255:1"))) == "mtls")
    }

    @Test("mesh values compare by what was written")
    func equality() throws {
        let sidecar = try load(Self.mesh).sidecar
        let rebuilt = MeshConfig(cidrs: sidecar.mesh.cidrs, destinations: sidecar.mesh.destinations)
        #expect(rebuilt == sidecar.mesh)
        #expect(MeshConfig(cidrs: sidecar.mesh.cidrs) != sidecar.mesh)
        #expect(MeshConfig() == .none)
    }

    @Test("a repeated destination built in code: the first one is used")
    func repeatedDestinationInCode() throws {
        let destinations = try load(meshSidecar(
            "    destinations:",
            "      - {address: 10.1.2.0/24, identity: spiffe://cluster.local/ns/a/sa/first}",
            "      - {address: 10.1.2.3, identity: spiffe://cluster.local/ns/a/sa/host}"
        )).sidecar.mesh.destinations
        var second = destinations[1]
        second.range = destinations[0].range
        let mesh = MeshConfig(destinations: [destinations[0], second])
        #expect(text(mesh.security(for: try SocketAddress(parsing: "10.1.2.3:80"))) == "mtls spiffe://cluster.local/ns/a/sa/first")
    }
}
