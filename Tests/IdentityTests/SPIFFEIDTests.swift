import Identity
import Testing

/// Valid ids: the examples of SPIFFE-ID.md §2.2 and the edges of its character sets.
private let validIDs: [(text: String, trustDomain: String, path: String)] = [
    ("spiffe://staging.example.com/payments/mysql", "staging.example.com", "/payments/mysql"),
    ("spiffe://staging.example.com/payments/web-fe", "staging.example.com", "/payments/web-fe"),
    ("spiffe://k8s-west.example.com/ns/staging/sa/default", "k8s-west.example.com", "/ns/staging/sa/default"),
    ("spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", "example.com", "/9eebccd2-12bf-40a6-b262-65fe0487d453"),
    ("spiffe://cluster.local/ns/default/sa/default", "cluster.local", "/ns/default/sa/default"),
    // §2.1: a trust domain alone is an id (a CA's), and dotted quads are names like any other.
    ("spiffe://cluster.local", "cluster.local", ""),
    ("spiffe://192.168.0.1/x", "192.168.0.1", "/x"),
    ("spiffe://trust_domain-name.0/path", "trust_domain-name.0", "/path"),
    // §2.2: segments allow upper case, digits, '.', '-', '_'; dots are fine inside a longer segment.
    ("spiffe://td/Path/With.UPPER_case-9", "td", "/Path/With.UPPER_case-9"),
    ("spiffe://td/.../a..b/.hidden", "td", "/.../a..b/.hidden"),
]

/// Invalid ids, each with the rule it breaks (go-spiffe's table and SPIFFE-ID.md §2).
private let invalidIDs: [(text: String, reason: SPIFFEIDError.Reason)] = [
    ("", .empty),
    ("cluster.local/ns/default", .wrongScheme),
    ("http://cluster.local/ns/default", .wrongScheme),
    ("spiffe:/cluster.local/ns/default", .wrongScheme),
    ("SPIFFE://cluster.local/ns/default", .wrongScheme),
    ("spiffe://", .missingTrustDomain),
    ("spiffe:///path", .missingTrustDomain),
    ("spiffe://Cluster.local/x", .trustDomainCharacter(byte: UInt8(ascii: "C"), offset: 9)),
    ("spiffe://cluster.local:8080/x", .trustDomainCharacter(byte: UInt8(ascii: ":"), offset: 22)),
    ("spiffe://user@cluster.local/x", .trustDomainCharacter(byte: UInt8(ascii: "@"), offset: 13)),
    ("spiffe://%F0%9F%A4%AF/x", .trustDomainCharacter(byte: UInt8(ascii: "%"), offset: 9)),
    ("spiffe://[::1]/x", .trustDomainCharacter(byte: UInt8(ascii: "["), offset: 9)),
    ("spiffe://cluster.local?query", .trustDomainCharacter(byte: UInt8(ascii: "?"), offset: 22)),
    ("spiffe://cluster.local#frag", .trustDomainCharacter(byte: UInt8(ascii: "#"), offset: 22)),
    ("spiffe://clüster.local/x", .trustDomainCharacter(byte: 0xC3, offset: 11)),
    ("spiffe://cluster.local/", .trailingSlash),
    ("spiffe://cluster.local/ns/default/", .trailingSlash),
    ("spiffe://cluster.local//ns", .emptySegment),
    ("spiffe://cluster.local/ns//sa", .emptySegment),
    ("spiffe://cluster.local/./ns", .dotSegment(".")),
    ("spiffe://cluster.local/ns/..", .dotSegment("..")),
    ("spiffe://cluster.local/ns/default?x=1", .pathCharacter(byte: UInt8(ascii: "?"), offset: 33)),
    ("spiffe://cluster.local/ns/default#f", .pathCharacter(byte: UInt8(ascii: "#"), offset: 33)),
    ("spiffe://cluster.local/ns/de%20fault", .pathCharacter(byte: UInt8(ascii: "%"), offset: 28)),
    ("spiffe://cluster.local/ns/a b", .pathCharacter(byte: UInt8(ascii: " "), offset: 27)),
    ("spiffe://cluster.local/ns/a\u{0}b", .pathCharacter(byte: 0, offset: 27)),
    ("spiffe://cluster.local/ns/naïve", .pathCharacter(byte: 0xC3, offset: 28)),
    ("spiffe://cluster.local/a:b", .pathCharacter(byte: UInt8(ascii: ":"), offset: 24)),
]

@Suite struct SPIFFEIDParsingTests {
    @Test(arguments: validIDs.indices)
    func parsesValid(_ index: Int) throws {
        let (text, trustDomain, path) = validIDs[index]
        let id = try SPIFFEID(parsing: text)
        #expect(id.trustDomain.name == trustDomain)
        #expect(id.path == path)
        #expect(id.description == text)
        #expect(id.isMember(of: try TrustDomain(parsing: trustDomain)))
        #expect(try SPIFFEID(trustDomain: id.trustDomain, path: id.path) == id)
        #expect(try SPIFFEID(trustDomain: id.trustDomain, segments: id.segments.map(String.init)) == id)
    }

    @Test(arguments: invalidIDs.indices)
    func refusesInvalid(_ index: Int) {
        let (text, reason) = invalidIDs[index]
        #expect(throws: SPIFFEIDError(text, reason)) { try SPIFFEID(parsing: text) }
    }

    @Test func lengthLimitIs2048Bytes() throws {
        let prefix = "spiffe://cluster.local/"
        let longest = prefix + String(repeating: "a", count: SPIFFEID.maximumLength - prefix.utf8.count)
        #expect(try SPIFFEID(parsing: longest).description.utf8.count == 2048)
        let tooLong = longest + "a"
        #expect(throws: SPIFFEIDError(tooLong, .tooLong(length: 2049))) { try SPIFFEID(parsing: tooLong) }
        // Building one from parts obeys the same limit.
        let domain = try TrustDomain(parsing: "cluster.local")
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID(trustDomain: domain, path: "/" + String(repeating: "a", count: 2048)) }
    }

    @Test func trustDomainLimitIs255Bytes() throws {
        let longest = String(repeating: "a", count: 255)
        #expect(try TrustDomain(parsing: longest).name == longest)
        #expect(throws: SPIFFEIDError(longest + "a", .trustDomainTooLong(length: 256), subject: .trustDomain)) {
            try TrustDomain(parsing: longest + "a")
        }
        let id = "spiffe://" + longest + "a/x"
        #expect(throws: SPIFFEIDError(id, .trustDomainTooLong(length: 256))) { try SPIFFEID(parsing: id) }
    }

    @Test func parsesSubstrings() throws {
        let line = "peer=spiffe://cluster.local/ns/a/sa/b;"
        let slice = line.dropFirst(5).dropLast()
        #expect(try SPIFFEID(parsing: slice).description == "spiffe://cluster.local/ns/a/sa/b")
    }
}

@Suite struct TrustDomainTests {
    @Test func refusesSchemeAndBadNames() {
        #expect(throws: SPIFFEIDError("spiffe://cluster.local", .schemeInTrustDomain, subject: .trustDomain)) {
            try TrustDomain(parsing: "spiffe://cluster.local")
        }
        #expect(throws: SPIFFEIDError("", .missingTrustDomain, subject: .trustDomain)) { try TrustDomain(parsing: "") }
        #expect(throws: SPIFFEIDError("Cluster.local", .trustDomainCharacter(byte: UInt8(ascii: "C"), offset: 0), subject: .trustDomain)) {
            try TrustDomain(parsing: "Cluster.local")
        }
        #expect(throws: SPIFFEIDError("cluster.local/x", .trustDomainCharacter(byte: UInt8(ascii: "/"), offset: 13), subject: .trustDomain)) {
            try TrustDomain(parsing: "cluster.local/x")
        }
    }

    @Test func idOfATrustDomainHasNoPath() throws {
        let domain = try TrustDomain(parsing: "cluster.local")
        #expect(domain.id.description == "spiffe://cluster.local")
        #expect(domain.id.isTrustDomainID)
        #expect(domain.id.segments.isEmpty)
        #expect(try SPIFFEID(parsing: "spiffe://cluster.local") == domain.id)
    }

    @Test func membershipComparesTheWholeName() throws {
        let id = try SPIFFEID(parsing: "spiffe://cluster.local/ns/a/sa/b")
        #expect(id.isMember(of: try TrustDomain(parsing: "cluster.local")))
        #expect(!id.isMember(of: try TrustDomain(parsing: "local")))
        #expect(!id.isMember(of: try TrustDomain(parsing: "cluster.local2")))
        #expect(!id.isMember(of: try TrustDomain(parsing: "evil.cluster.local")))
    }
}

@Suite struct KubernetesFormTests {
    @Test func readsNamespaceAndServiceAccount() throws {
        let id = try SPIFFEID(parsing: "spiffe://cluster.local/ns/payments/sa/web-fe")
        #expect(id.namespace == "payments")
        #expect(id.serviceAccount == "web-fe")
        #expect(id.segments == ["ns", "payments", "sa", "web-fe"])
    }

    @Test(arguments: [
        "spiffe://cluster.local",
        "spiffe://cluster.local/ns/payments",
        "spiffe://cluster.local/ns/payments/sa",
        "spiffe://cluster.local/ns/payments/sa/web/extra",
        "spiffe://cluster.local/sa/web/ns/payments",
        "spiffe://cluster.local/NS/payments/SA/web",
        "spiffe://cluster.local/payments/mysql",
    ])
    func otherPathsHaveNeither(_ text: String) throws {
        let id = try SPIFFEID(parsing: text)
        #expect(id.namespace == nil)
        #expect(id.serviceAccount == nil)
    }

    @Test func buildsTheKubernetesForm() throws {
        let domain = try TrustDomain(parsing: "cluster.local")
        let id = try SPIFFEID.kubernetes(trustDomain: domain, namespace: "default", serviceAccount: "web")
        #expect(id.description == "spiffe://cluster.local/ns/default/sa/web")
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID.kubernetes(trustDomain: domain, namespace: "", serviceAccount: "web") }
        #expect(throws: SPIFFEIDError("spiffe://cluster.local/ns/a/b/sa/web", .pathCharacter(byte: UInt8(ascii: "/"), offset: 27))) {
            try SPIFFEID.kubernetes(trustDomain: domain, namespace: "a/b", serviceAccount: "web")
        }
    }

    @Test func buildingRefusesARelativePath() throws {
        let domain = try TrustDomain(parsing: "cluster.local")
        #expect(throws: SPIFFEIDError("spiffe://cluster.localns/a", .pathCharacter(byte: UInt8(ascii: "n"), offset: 22))) {
            try SPIFFEID(trustDomain: domain, path: "ns/a")
        }
    }
}

@Suite struct ErrorMessageTests {
    @Test func namesTheInputTheRuleAndTheRemedy() {
        let error = SPIFFEIDError("spiffe://Cluster.local/x", .trustDomainCharacter(byte: UInt8(ascii: "C"), offset: 9))
        #expect(error.description == "\"spiffe://Cluster.local/x\" is not a valid SPIFFE id: 'C' at byte 9 is not allowed in a trust domain: trust domains are lowercase; write it in lowercase")
        let domain = SPIFFEIDError("", .missingTrustDomain, subject: .trustDomain)
        #expect(domain.description == "\"\" is not a valid trust domain name: it is empty; write a name such as cluster.local")
    }

    @Test func shortensLongAndControlInput() throws {
        let long = "spiffe://td/" + String(repeating: "x", count: 5000) + "?"
        let message = SPIFFEIDError(long, .pathCharacter(byte: UInt8(ascii: "?"), offset: 5012)).description
        #expect(message.count < 300)
        #expect(message.hasPrefix("\"spiffe://td/xxx"))
        let control = SPIFFEIDError("spiffe://td/a\nb", .pathCharacter(byte: 10, offset: 13)).description
        #expect(!control.contains("\n"))
        #expect(control.hasPrefix(#""spiffe://td/a\nb" is not"#))
        #expect(control.contains("byte 0x0A at byte 13"))
        // Escaping multiplies the length of non-ASCII input; the cut applies to the escaped form
        // (found by IdentityFuzz).
        let foreign = String(repeating: "\u{FFFD}", count: 200)
        let escaped = SPIFFEIDError(foreign, .wrongScheme).description
        let quoted = try #require(escaped.split(separator: " is not a valid").first)
        #expect(quoted.hasPrefix(#""\u{FFFD}\u{FFFD}"#))
        #expect(quoted.hasSuffix("\"…"))
        #expect(quoted.count <= 80 + 3)
    }
}
