internal import COpenSSL
import Identity
import LinuxSys

/// A certificate authority of one trust domain: its certificate, its private key and its chain up
/// to the root. It issues intermediate CAs and workload X.509-SVIDs.
///
/// On disk a CA is a directory in Istio's `cacerts` layout, so operators of Istio recognise it:
/// `ca-cert.pem` (this CA), `ca-key.pem` (its key, mode 0600), `cert-chain.pem` (this CA up to
/// and including the root) and `root-cert.pem` (the root, the trust bundle). The trust domain is
/// the CA certificate's only URI SAN, `spiffe://<trust domain>` (X.509-SVID §3.2: a signing
/// certificate's SPIFFE id has no path).
public struct CertificateAuthority: Sendable {
    /// `ca-cert.pem`: the CA's certificate.
    public static let certificateFileName = "ca-cert.pem"
    /// `ca-key.pem`: the CA's private key (mode 0600).
    public static let keyFileName = "ca-key.pem"
    /// `cert-chain.pem`: the CA's certificate, then its issuers up to and including the root.
    public static let chainFileName = "cert-chain.pem"
    /// `root-cert.pem`: the root certificate, which every workload trusts.
    public static let rootFileName = "root-cert.pem"

    /// Ten years: a root is replaced rarely and by hand.
    public static let defaultRootLifetime: Duration = .seconds(87_600 * 3600)
    /// One year: an intermediate per node or cluster is rotated more often than its root.
    public static let defaultIntermediateLifetime: Duration = .seconds(8_760 * 3600)
    /// Every certificate starts this many seconds before it is made, so a peer whose clock is a
    /// little behind does not see it as not yet valid.
    public static let clockSkewAllowance: Int64 = 300

    /// The trust domain this CA speaks for.
    public let trustDomain: TrustDomain
    /// The CA's certificate.
    public let certificate: Certificate
    /// The CA's private key.
    public let key: PrivateKey
    /// The CA's certificate first, then its issuers, ending with the root (a root's chain is
    /// just itself).
    public let chain: [Certificate]

    /// The root at the end of `chain`.
    public var root: Certificate { chain[chain.count - 1] }

    /// Whether this CA is a (self-signed) root.
    public var isRoot: Bool { chain.count == 1 }

    /// The first moment (Unix seconds) a certificate of `chain` expires: nothing this CA issues
    /// may be valid longer, or its chain would stop verifying first.
    public var expiry: Int64 { chain.map(\.info.notAfter).min() ?? certificate.info.notAfter }

    private init(trustDomain: TrustDomain, certificate: Certificate, key: PrivateKey, chain: [Certificate]) {
        self.trustDomain = trustDomain
        self.certificate = certificate
        self.key = key
        self.chain = chain
    }

    /// Creates a self-signed root CA for `trustDomain`: a new EC P-256 key; subject
    /// `O=<trust domain>, CN=Weft root CA`; valid from `now` minus the clock-skew allowance
    /// for `lifetime` from `now` (Unix seconds). Throws `.invalidRequest` for a lifetime that is
    /// not positive or ends after 9999, `.cryptoFailure` if OpenSSL fails.
    public static func createRoot(
        trustDomain: TrustDomain,
        lifetime: Duration = defaultRootLifetime,
        now: Int64 = Int64(Clock.wallClock().seconds)
    ) throws(PKIError) -> CertificateAuthority {
        let notAfter = try validityEnd(lifetime: lifetime, now: now, of: "the root CA")
        let key = try PrivateKey.generateP256()
        let certificate = try issueCertificate(
            .root,
            subject: [(NID_organizationName, trustDomain.name), (NID_commonName, "Weft root CA")],
            id: trustDomain.id, subjectKey: key,
            notBefore: now - clockSkewAllowance, notAfter: notAfter, issuer: nil
        )
        return CertificateAuthority(trustDomain: trustDomain, certificate: certificate, key: key, chain: [certificate])
    }

    /// Issues an intermediate CA signed by this one, for the same trust domain: a new EC P-256
    /// key; subject `O=<trust domain>, CN=Weft intermediate CA`; pathLenConstraint 0 (it signs
    /// workloads only). Its chain is itself followed by this CA's chain, so the root's key is not
    /// needed where the intermediate issues. Throws `.invalidRequest` if this CA may not sign
    /// CAs (pathLenConstraint 0, as every Weft intermediate has), or if `lifetime` is not
    /// positive or would outlive this CA.
    public func issueIntermediate(
        lifetime: Duration = defaultIntermediateLifetime,
        now: Int64 = Int64(Clock.wallClock().seconds)
    ) throws(PKIError) -> CertificateAuthority {
        // RFC 5280 §4.2.1.9: below a pathLenConstraint of 0 only leaves verify, so a CA issued
        // here would be refused by every peer.
        if certificate.info.pathLengthConstraint == 0 {
            throw PKIError(.invalidRequest, "the issuing CA (\(certificate.info.subject), serial \(certificate.info.serialNumber)) has pathLenConstraint 0: it signs workload certificates only; issue the intermediate from the root CA")
        }
        let notAfter = try issuedValidityEnd(lifetime: lifetime, now: now, of: "the intermediate CA")
        let intermediateKey = try PrivateKey.generateP256()
        let intermediate = try issueCertificate(
            .intermediate,
            subject: [(NID_organizationName, trustDomain.name), (NID_commonName, "Weft intermediate CA")],
            id: trustDomain.id, subjectKey: intermediateKey,
            notBefore: now - Self.clockSkewAllowance, notAfter: notAfter, issuer: (certificate, key)
        )
        return CertificateAuthority(trustDomain: trustDomain, certificate: intermediate, key: intermediateKey, chain: [intermediate] + chain)
    }

    /// Issues a workload X.509-SVID for `id`: a new EC P-256 key and a leaf certificate whose only
    /// identity is the URI SAN `id` (subject `O=<trust domain>`, no other SAN), CA:FALSE,
    /// digitalSignature, serverAuth + clientAuth. Throws `.invalidRequest` if `id` is outside
    /// this CA's trust domain or has no path (X.509-SVID §3.1), or if `lifetime` is not positive
    /// or would outlive this CA (the message names the CA's expiry).
    public func issueWorkload(
        _ id: SPIFFEID,
        lifetime: Duration = WorkloadCredentials.defaultLifetime,
        now: Int64 = Int64(Clock.wallClock().seconds)
    ) throws(PKIError) -> WorkloadCredentials {
        guard id.isMember(of: trustDomain) else {
            throw PKIError(.invalidRequest, "\(id) is outside this CA's trust domain \(trustDomain) (the URI SAN \(trustDomain.id) of its certificate): a CA speaks only for its own trust domain (SPIFFE-ID §4.1.2); use an id spiffe://\(trustDomain)/..., or a CA of trust domain \(id.trustDomain)")
        }
        guard !id.isTrustDomainID else {
            throw PKIError(.invalidRequest, SPIFFEIDError(id.description, .missingPath).description)
        }
        let notAfter = try issuedValidityEnd(lifetime: lifetime, now: now, of: "the certificate for \(id)")
        let workloadKey = try PrivateKey.generateP256()
        let leaf = try issueCertificate(
            .workload,
            subject: [(NID_organizationName, trustDomain.name)],
            id: id, subjectKey: workloadKey,
            notBefore: now - Self.clockSkewAllowance, notAfter: notAfter, issuer: (certificate, key)
        )
        // Istio's workload layout: the chain a sidecar presents is the leaf and the
        // intermediates, not the root, which the peer already has in its trust bundle.
        return WorkloadCredentials(id: id, key: workloadKey, chain: [leaf] + chain.dropLast(), trustBundle: [root])
    }

    /// The end of validity for a certificate this CA issues: `now + lifetime`, refused if it
    /// would outlive the CA (its chain would stop verifying before the certificate expires).
    private func issuedValidityEnd(lifetime: Duration, now: Int64, of what: String) throws(PKIError) -> Int64 {
        let notAfter = try Self.validityEnd(lifetime: lifetime, now: now, of: what)
        let expiry = self.expiry
        guard expiry > now else {
            throw PKIError(.invalidRequest, "the issuing CA (\(certificate.info.name), serial \(certificate.info.serialNumber)) expired at \(CertificateInfo.timestamp(expiry)): renew it before issuing")
        }
        guard notAfter <= expiry else {
            throw PKIError(.invalidRequest, "a lifetime of \(lifetimeText(seconds: lifetime.components.seconds)) would make \(what) valid until \(CertificateInfo.timestamp(notAfter)), after the issuing CA expires at \(CertificateInfo.timestamp(expiry)): choose a lifetime of at most \(lifetimeText(seconds: expiry - now)), or renew the CA first")
        }
        return notAfter
    }

    /// `now + lifetime`, refused if the lifetime is under a second or the end is past 9999.
    static func validityEnd(lifetime: Duration, now: Int64, of what: String) throws(PKIError) -> Int64 {
        let seconds = lifetime.components.seconds
        guard seconds > 0 else {
            throw PKIError(.invalidRequest, "the lifetime of \(what) must be at least 1s, such as 24h")
        }
        let (end, overflow) = now.addingReportingOverflow(seconds)
        guard !overflow, end <= lastExpressibleSecond else {
            throw PKIError(.invalidRequest, "a lifetime of \(lifetimeText(seconds: seconds)) would make \(what) valid past 9999-12-31, the last date X.509 can express (RFC 5280 §4.1.2.5): choose a shorter lifetime")
        }
        return end
    }

    /// Loads the CA in `directory` (the four files of the `cacerts` layout) and checks that they
    /// belong together: the key matches `ca-cert.pem`, which is a CA (cA TRUE, keyCertSign) with a
    /// `spiffe://<trust domain>` URI SAN, `cert-chain.pem` starts with it, and the chain verifies
    /// at `now` to `root-cert.pem`. Throws `.invalidInput` naming the file that is missing or
    /// wrong, `.mismatchedKey` if the key belongs to another certificate.
    public init(loadingFrom directory: String, now: Int64 = Int64(Clock.wallClock().seconds)) throws(PKIError) {
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func read(_ name: String) throws(PKIError) -> [UInt8] {
            do { return try Files.read(path(name)) } catch where error.kind == .invalidInput && !Files.exists(path(name)) {
                let hint = name == Self.keyFileName
                    ? "issuing needs the private key of the signing CA; a root whose key is kept offline signs intermediates only where its key is"
                    : "\(directory) is not a CA directory (weft ca init --out DIR makes one, weft ca issue --intermediate --out DIR an intermediate)"
                throw PKIError(.invalidInput, path: path(name), "\(path(name)) does not exist: \(hint)")
            }
        }
        let certificate = try Certificate(pem: read(Self.certificateFileName), source: path(Self.certificateFileName))
        let key = try PrivateKey(pem: read(Self.keyFileName), source: path(Self.keyFileName))
        let chain = try Certificate.all(pem: read(Self.chainFileName), source: path(Self.chainFileName))
        let roots = try Certificate.all(pem: read(Self.rootFileName), source: path(Self.rootFileName))

        let info = certificate.info
        guard info.isCA, info.keyUsage?.contains(.keyCertSign) ?? true else {
            throw PKIError(.invalidInput, path: path(Self.certificateFileName), "\(path(Self.certificateFileName)) is not a CA certificate (it needs basicConstraints cA:TRUE and keyCertSign): point --ca to a directory made by weft ca init or weft ca issue --intermediate")
        }
        guard let id = info.spiffeID, id.isTrustDomainID else {
            throw PKIError(.invalidInput, path: path(Self.certificateFileName), "\(path(Self.certificateFileName)) has no single spiffe://<trust domain> URI SAN (found: \(info.uriSANs.isEmpty ? "none" : info.uriSANs.joined(separator: ", "))), so its trust domain is unknown: Weft CAs carry their trust domain's SPIFFE id (X.509-SVID §3.2)")
        }
        guard certificate.matches(key) else {
            throw PKIError(.mismatchedKey, path: path(Self.keyFileName), "\(path(Self.keyFileName)) is not the private key of \(path(Self.certificateFileName)): restore the matching pair")
        }
        guard chain[0].isSame(as: certificate) else {
            throw PKIError(.invalidInput, path: path(Self.chainFileName), "\(path(Self.chainFileName)) does not start with \(path(Self.certificateFileName)) (it starts with \(chain[0].info.name), serial \(chain[0].info.serialNumber)): the files come from different CAs")
        }
        do {
            try certificate.verify(intermediates: Array(chain.dropFirst()), roots: roots, at: now)
        } catch {
            throw PKIError(.invalidInput, path: path(Self.chainFileName), "the CA in \(directory) does not verify against \(path(Self.rootFileName)): \(error.message)")
        }
        // Istio's cert-chain.pem ends with the root; one that stops below it gets the root that
        // issued its last certificate appended, so `chain` always ends with a root.
        var fullChain = chain
        if let last = chain.last, !roots.contains(where: { $0.isSame(as: last) }),
           let issuer = roots.first(where: { X509_check_issued($0.pointer, last.pointer) == X509_V_OK }) {
            fullChain.append(issuer)
        }
        self.init(trustDomain: id.trustDomain, certificate: certificate, key: key, chain: fullChain)
    }

    /// Writes the CA into `directory` (created, mode 0700, if missing) as `ca-key.pem` (0600),
    /// `ca-cert.pem`, `cert-chain.pem` and `root-cert.pem` (0644), each replaced atomically (see
    /// `WorkloadCredentials.write(to:)`), the key first. Unless `replacingExisting`, an existing
    /// `ca-key.pem` or `ca-cert.pem` is refused with `.invalidRequest` and nothing is written:
    /// replacing a CA orphans every certificate it issued. A directory holding a workload's
    /// `key.pem` is refused too, whatever `replacingExisting` says: its `cert-chain.pem` and
    /// `root-cert.pem` would be replaced by the CA's. Returns the paths written.
    @discardableResult
    public func write(to directory: String, replacingExisting: Bool = false) throws(PKIError) -> [String] {
        if Files.exists("\(directory)/\(WorkloadCredentials.keyFileName)") {
            throw PKIError(.invalidRequest, path: "\(directory)/\(WorkloadCredentials.keyFileName)", "\(directory) holds a workload identity (\(WorkloadCredentials.keyFileName)): writing a CA's \(Self.chainFileName) and \(Self.rootFileName) there would replace the workload's; choose another directory")
        }
        if !replacingExisting {
            for name in [Self.keyFileName, Self.certificateFileName] where Files.exists("\(directory)/\(name)") {
                throw PKIError(.invalidRequest, path: "\(directory)/\(name)", "\(directory)/\(name) already exists: refusing to replace a CA (every certificate it issued would lose its issuer); choose another directory, or replace it deliberately with --force")
            }
        }
        try Files.makeDirectories(directory, mode: 0o700)
        let chainPEM = try chain.pemBundle()
        return try Files.replace(in: directory, [
            FileContents(name: Self.keyFileName, bytes: key.pem(), mode: 0o600),
            FileContents(name: Self.certificateFileName, bytes: certificate.pem(), mode: 0o644),
            FileContents(name: Self.chainFileName, bytes: chainPEM, mode: 0o644),
            FileContents(name: Self.rootFileName, bytes: root.pem(), mode: 0o644),
        ], keepingExisting: replacingExisting ? [] : [Self.keyFileName])
    }
}

extension Array where Element == Certificate {
    /// The certificates as consecutive PEM blocks, in order.
    func pemBundle() throws(PKIError) -> [UInt8] {
        var bytes: [UInt8] = []
        for certificate in self { bytes += try certificate.pem() }
        return bytes
    }
}
