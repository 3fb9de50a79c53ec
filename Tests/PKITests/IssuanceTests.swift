import Identity
import PKI
import Testing

/// The certificates themselves: every field and extension the X.509-SVID specification and
/// RFC 5280 ask of a root, an intermediate and a leaf, read back through `CertificateInfo`.
@Suite struct IssuanceTests {
    @Test func rootIsASelfSignedSigningCertificate() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(87_600), now: fixedNow)
        let info = root.certificate.info
        #expect(info.version == 3)
        #expect(info.subject == "CN=Weft root CA,O=cluster.local")
        #expect(info.issuer == info.subject)
        #expect(info.notBefore == fixedNow - 300)
        #expect(info.notAfter == fixedNow + 87_600 * 3600)
        #expect(info.isCA)
        #expect(info.pathLengthConstraint == nil)
        #expect(info.keyUsage == [.keyCertSign, .cRLSign])
        #expect(info.extendedKeyUsage == nil)
        #expect(info.isCritical("basicConstraints"))
        #expect(info.isCritical("keyUsage"))
        #expect(info.subjectKeyIdentifier?.count == 40)
        #expect(info.authorityKeyIdentifier == nil)
        #expect(info.subjectAlternativeNames == [.uri("spiffe://cluster.local")])
        #expect(info.spiffeID == clusterLocal.id)
        #expect(info.publicKey == "EC P-256")
        #expect(info.signatureAlgorithm == "ecdsa-with-SHA256")
        #expect(root.key.algorithmDescription == "EC P-256")
        #expect(root.certificate.matches(root.key))
        #expect(root.isRoot && root.chain.count == 1 && root.root.isSame(as: root.certificate))
        #expect(root.trustDomain == clusterLocal)
        try root.certificate.verify(roots: [root.certificate], at: fixedNow)
    }

    @Test func serialsAreRandomPositiveAndSixteenOctets() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        var serials: Set<String> = []
        for _ in 0..<20 {
            let serial = try root.issueWorkload(webID, now: fixedNow).certificate.info.serialNumber
            // Top bit clear (positive), next bit set (always 16 octets): the first hex digit is 4-7.
            #expect(serial.count == 32)
            #expect("4567".contains(serial.first!))
            serials.insert(serial)
        }
        #expect(serials.count == 20)
    }

    @Test func workloadCertificateIsAnX509SVID() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let credentials = try root.issueWorkload(webID, lifetime: hours(24), now: fixedNow)
        let info = credentials.certificate.info
        #expect(info.version == 3)
        // X.509-SVID §2: exactly one URI SAN, the id, and no other SAN.
        #expect(info.subjectAlternativeNames == [.uri(webID.description)])
        #expect(info.spiffeID == webID)
        #expect(info.subject == "O=cluster.local")
        #expect(info.issuer == root.certificate.info.subject)
        // §4.1, §4.3, §4.4.
        #expect(!info.isCA)
        #expect(info.extensions.contains { $0.name == "basicConstraints" && $0.isCritical })
        #expect(info.keyUsage == [.digitalSignature])
        #expect(info.isCritical("keyUsage"))
        #expect(info.extendedKeyUsage == [.serverAuth, .clientAuth])
        #expect(info.subjectKeyIdentifier != nil)
        #expect(info.authorityKeyIdentifier == root.certificate.info.subjectKeyIdentifier)
        #expect(info.notBefore == fixedNow - 300)
        #expect(info.notAfter == fixedNow + 24 * 3600)
        #expect(info.publicKey == "EC P-256")
        #expect(credentials.id == webID)
        #expect(credentials.certificate.matches(credentials.key))
        #expect(!credentials.certificate.matches(root.key))
        // Istio's workload layout: the root is in the bundle, not in the presented chain.
        #expect(credentials.chain.count == 1)
        #expect(credentials.trustBundle.count == 1 && credentials.trustBundle[0].isSame(as: root.certificate))
        try credentials.verify(at: fixedNow)
    }

    @Test func intermediateChainVerifiesToTheRoot() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let node = try root.issueIntermediate(lifetime: hours(8760), now: fixedNow)
        let nodeInfo = node.certificate.info
        #expect(nodeInfo.isCA)
        #expect(nodeInfo.pathLengthConstraint == 0)
        #expect(nodeInfo.keyUsage == [.keyCertSign, .cRLSign])
        #expect(nodeInfo.isCritical("basicConstraints") && nodeInfo.isCritical("keyUsage"))
        #expect(nodeInfo.subjectAlternativeNames == [.uri("spiffe://cluster.local")])
        #expect(nodeInfo.authorityKeyIdentifier == root.certificate.info.subjectKeyIdentifier)
        #expect(nodeInfo.subject == "CN=Weft intermediate CA,O=cluster.local")
        #expect(nodeInfo.issuer == root.certificate.info.subject)
        #expect(node.trustDomain == clusterLocal)
        #expect(!node.isRoot)
        #expect(node.chain.count == 2 && node.chain[1].isSame(as: root.certificate))
        try node.certificate.verify(roots: [root.certificate], at: fixedNow)

        let credentials = try node.issueWorkload(webID, now: fixedNow)
        #expect(credentials.chain.count == 2)
        #expect(credentials.chain[1].isSame(as: node.certificate))
        #expect(credentials.trustBundle[0].isSame(as: root.certificate))
        #expect(credentials.certificate.info.authorityKeyIdentifier == nodeInfo.subjectKeyIdentifier)
        try credentials.verify(at: fixedNow)
        // Without the intermediate there is no path to the root.
        #expect(throws: PKIError.self) { try credentials.certificate.verify(roots: [root.certificate], at: fixedNow) }
        // And the intermediate is not a trust anchor by itself.
        let error = try #require(throws: PKIError.self) { try credentials.certificate.verify(roots: [node.root], at: fixedNow) }
        #expect(error.kind == .untrusted)
    }

    @Test func intermediateCannotSignAnotherCA() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let node = try root.issueIntermediate(now: fixedNow)
        let error = try #require(throws: PKIError.self) { try node.issueIntermediate(now: fixedNow) }
        #expect(error.kind == .invalidRequest)
        #expect(error.message.contains("pathLenConstraint 0"))
    }

    @Test func leafOfAnotherCAFailsVerification() throws {
        let ours = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let theirs = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let foreign = try theirs.issueWorkload(webID, now: fixedNow)
        let error = try #require(throws: PKIError.self) {
            try foreign.certificate.verify(roots: [ours.certificate], at: fixedNow)
        }
        #expect(error.kind == .untrusted)
        #expect(error.message.contains("unable to get local issuer certificate"))
        #expect(error.message.contains(webID.description))
        // A foreign intermediate in the untrusted list does not help either.
        let foreignNode = try theirs.issueIntermediate(now: fixedNow)
        let viaNode = try foreignNode.issueWorkload(webID, now: fixedNow)
        #expect(throws: PKIError.self) {
            try viaNode.certificate.verify(intermediates: [foreignNode.certificate], roots: [ours.certificate], at: fixedNow)
        }
    }

    @Test func verificationHonoursValidity() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let credentials = try root.issueWorkload(webID, lifetime: hours(1), now: fixedNow)
        try credentials.verify(at: fixedNow - 299)
        let expired = try #require(throws: PKIError.self) { try credentials.verify(at: fixedNow + 3601) }
        #expect(expired.message.contains("certificate has expired"))
        let early = try #require(throws: PKIError.self) { try credentials.verify(at: fixedNow - 301) }
        #expect(early.message.contains("certificate is not yet valid"))
    }

    @Test func idOutsideTheTrustDomainIsRefused() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let outsider = try SPIFFEID(parsing: "spiffe://cluster.local.evil/ns/default/sa/web")
        let error = try #require(throws: PKIError.self) { try root.issueWorkload(outsider, now: fixedNow) }
        #expect(error.kind == .invalidRequest)
        #expect(error.message.contains("spiffe://cluster.local.evil/ns/default/sa/web is outside this CA's trust domain cluster.local"))
        let intermediate = try root.issueIntermediate(now: fixedNow)
        #expect(throws: PKIError.self) { try intermediate.issueWorkload(outsider, now: fixedNow) }
    }

    @Test func trustDomainIDIsNotAWorkloadID() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let error = try #require(throws: PKIError.self) { try root.issueWorkload(clusterLocal.id, now: fixedNow) }
        #expect(error.kind == .invalidRequest)
        #expect(error.message.contains("needs a path"))
    }

    @Test func lifetimeBeyondTheCAIsRefused() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(48), now: fixedNow)
        let error = try #require(throws: PKIError.self) { try root.issueWorkload(webID, lifetime: hours(49), now: fixedNow) }
        #expect(error.kind == .invalidRequest)
        // The message names the CA's expiry and the longest lifetime that fits.
        #expect(error.message.contains("after the issuing CA expires at 2026-11-30T00:00:00Z"))
        #expect(error.message.contains("at most 48h"))
        // Exactly up to the CA's expiry is fine.
        let fits = try root.issueWorkload(webID, lifetime: hours(48), now: fixedNow)
        #expect(fits.certificate.info.notAfter == root.certificate.info.notAfter)
        // An intermediate may not outlive the root, and a leaf not its intermediate or the root.
        #expect(throws: PKIError.self) { try root.issueIntermediate(lifetime: hours(49), now: fixedNow) }
        let node = try root.issueIntermediate(lifetime: hours(24), now: fixedNow)
        #expect(node.expiry == fixedNow + 24 * 3600)
        let beyondNode = try #require(throws: PKIError.self) { try node.issueWorkload(webID, lifetime: hours(25), now: fixedNow) }
        #expect(beyondNode.message.contains("2026-11-29T00:00:00Z"))
    }

    @Test func lifetimeMustBePositiveAndExpressible() throws {
        let zero = try #require(throws: PKIError.self) {
            try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: .zero, now: fixedNow)
        }
        #expect(zero.kind == .invalidRequest)
        #expect(zero.message.contains("at least 1s"))
        let forever = try #require(throws: PKIError.self) {
            try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(80_000_000), now: fixedNow)
        }
        #expect(forever.message.contains("9999-12-31"))
        // Dates after 2049 are encoded as GeneralizedTime (RFC 5280 §4.1.2.5) and read back exactly.
        let long = try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(87_600 * 5), now: fixedNow)
        #expect(long.certificate.info.notAfter == fixedNow + 87_600 * 5 * 3600)
    }

    @Test func anExpiredCAIssuesNothing() throws {
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(1), now: fixedNow)
        let error = try #require(throws: PKIError.self) { try root.issueWorkload(webID, lifetime: hours(1), now: fixedNow + 7200) }
        #expect(error.kind == .invalidRequest)
        #expect(error.message.contains("expired at 2026-11-28T01:00:00Z"))
    }

    @Test func otherTrustDomainsGetTheirOwnNames() throws {
        let domain = try TrustDomain(parsing: "prod.example.org")
        let root = try CertificateAuthority.createRoot(trustDomain: domain, now: fixedNow)
        let id = try SPIFFEID.kubernetes(trustDomain: domain, namespace: "payments", serviceAccount: "api")
        let info = try root.issueWorkload(id, now: fixedNow).certificate.info
        #expect(info.subject == "O=prod.example.org")
        #expect(info.spiffeID == id)
        #expect(root.certificate.info.spiffeID == domain.id)
    }
}
