import Identity
import LinuxSys

/// A workload's identity: its private key, its X.509-SVID chain and the trust bundle to verify
/// peers with.
///
/// On disk it is a directory in Istio's workload layout: `key.pem` (mode 0600), `cert-chain.pem`
/// (the leaf, then intermediates; not the root) and `root-cert.pem` (the trust bundle).
public struct WorkloadCredentials: Sendable {
    /// `key.pem`: the workload's private key (mode 0600).
    public static let keyFileName = "key.pem"
    /// `cert-chain.pem`: the leaf certificate, then the intermediates up to (not including) the root.
    public static let chainFileName = "cert-chain.pem"
    /// `root-cert.pem`: the trust bundle, the roots a peer's chain must lead to.
    public static let trustBundleFileName = "root-cert.pem"
    /// 24 hours, Istio's default workload certificate lifetime: short enough that a leaked key
    /// soon stops working, long enough to ride out a control-plane outage.
    public static let defaultLifetime: Duration = .seconds(24 * 3600)

    /// The SPIFFE id, the leaf's only URI SAN.
    public let id: SPIFFEID
    /// The private key of the leaf.
    public let key: PrivateKey
    /// The leaf first, then the intermediates up to (not including) the root.
    public let chain: [Certificate]
    /// The roots that peers' chains (and this one) must lead to.
    public let trustBundle: [Certificate]

    /// The leaf certificate.
    public var certificate: Certificate { chain[0] }

    /// Credentials made of these parts; the caller vouches that they belong together
    /// (`CertificateAuthority.issueWorkload` and `init(loadingFrom:)` check it).
    init(id: SPIFFEID, key: PrivateKey, chain: [Certificate], trustBundle: [Certificate]) {
        self.id = id
        self.key = key
        self.chain = chain
        self.trustBundle = trustBundle
    }

    /// Loads the credentials in `directory`. Reads `cert-chain.pem` before `key.pem` (the reverse
    /// of the order `write(to:)` renames them), so a new certificate is never read with an old
    /// key; during a rotation the older certificate can be read with the newer key, which
    /// throws `.mismatchedKey`: read again. Also throws `.invalidInput` naming the file if one is
    /// missing or malformed, or the leaf is a CA or has not exactly one SPIFFE id URI SAN.
    /// Does not verify the chain (an expired certificate can still be inspected); see `verify(at:)`.
    public init(loadingFrom directory: String) throws(PKIError) {
        let chainPath = "\(directory)/\(Self.chainFileName)"
        let keyPath = "\(directory)/\(Self.keyFileName)"
        let bundlePath = "\(directory)/\(Self.trustBundleFileName)"
        let chain = try Certificate.all(pem: Files.read(chainPath), source: chainPath)
        let key = try PrivateKey(pem: Files.read(keyPath), source: keyPath)
        let trustBundle = try Certificate.all(pem: Files.read(bundlePath), source: bundlePath)
        let leaf = chain[0].info
        guard let id = leaf.spiffeID, !id.isTrustDomainID, !leaf.isCA else {
            throw PKIError(.invalidInput, path: chainPath, "the first certificate of \(chainPath) is not a workload X.509-SVID (it needs exactly one spiffe:// URI SAN with a path and cA:FALSE; found URI SANs: \(leaf.uriSANs.isEmpty ? "none" : leaf.uriSANs.joined(separator: ", ")), CA: \(leaf.isCA)): issue one with weft ca issue --id")
        }
        guard chain[0].matches(key) else {
            throw PKIError(.mismatchedKey, path: keyPath, "\(keyPath) is not the private key of the first certificate of \(chainPath): if the directory is being rotated, read it again; otherwise issue new credentials")
        }
        self.init(id: id, key: key, chain: chain, trustBundle: trustBundle)
    }

    /// Verifies the chain against the trust bundle at `time` (Unix seconds; now by default).
    /// Throws `.untrusted` with OpenSSL's reason.
    public func verify(at time: Int64? = nil) throws(PKIError) {
        try certificate.verify(intermediates: Array(chain.dropFirst()), roots: trustBundle, at: time)
    }

    /// Writes the credentials into `directory` (created, mode 0755, if missing), replacing any
    /// earlier ones so that a sidecar watching the directory never reads a half-written file or
    /// a new certificate with an old key:
    /// - all three files are first written completely to hidden temporary names
    ///   (`.<name>.<random>.tmp`, the key created 0600 from the start) and fsync'd;
    /// - then renamed into place in this order: `root-cert.pem` (a new root is trusted before
    ///   anything signed by it appears), `key.pem`, `cert-chain.pem`;
    /// - then the directory is fsync'd.
    /// Each rename is atomic, so each file is always either complete-old or complete-new. A
    /// reader that reads `cert-chain.pem` and then `key.pem` (as `init(loadingFrom:)` does) can
    /// only see a matching pair or the old certificate with the new key, which it detects
    /// (`.mismatchedKey`) and retries. A watcher should ignore names starting with `.`.
    /// Throws `.invalidRequest`, writing nothing, if `directory` holds a CA (`ca-key.pem` or
    /// `ca-cert.pem`): both layouts have a `cert-chain.pem` and a `root-cert.pem`, and replacing
    /// a CA's would break it. Returns the paths written, in rename order.
    @discardableResult
    public func write(to directory: String) throws(PKIError) -> [String] {
        for name in [CertificateAuthority.keyFileName, CertificateAuthority.certificateFileName] where Files.exists("\(directory)/\(name)") {
            throw PKIError(.invalidRequest, path: "\(directory)/\(name)", "\(directory) holds a CA (\(name)): writing a workload's \(Self.chainFileName) and \(Self.trustBundleFileName) there would replace the CA's; choose another directory")
        }
        try Files.makeDirectories(directory, mode: 0o755)
        return try Files.replace(in: directory, [
            FileContents(name: Self.trustBundleFileName, bytes: trustBundle.pemBundle(), mode: 0o644),
            FileContents(name: Self.keyFileName, bytes: key.pem(), mode: 0o600),
            FileContents(name: Self.chainFileName, bytes: chain.pemBundle(), mode: 0o644),
        ])
    }
}
