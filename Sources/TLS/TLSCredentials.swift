internal import COpenSSL
internal import COpenSSLShims
import Glibc
import Identity
import LinuxSys
import Synchronization

/// Where a workload's identity lives on disk: the paths, not the contents.
public struct TLSIdentityFiles: Sendable, Hashable {
    /// PEM certificates, the leaf first, then the intermediates that lead to a trust anchor.
    public var certificateChain: String
    /// The leaf's private key, PEM, unencrypted.
    public var privateKey: String
    /// PEM trust anchors (roots) that peers' chains must lead to.
    public var trustBundle: String

    public init(certificateChain: String, privateKey: String, trustBundle: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustBundle = trustBundle
    }

    /// `cert-chain.pem`, `key.pem` and `root-cert.pem` in `directory` (the names `weft ca issue`
    /// writes and Istio mounts).
    public static func inDirectory(_ directory: String) -> TLSIdentityFiles {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return TLSIdentityFiles(certificateChain: base + "cert-chain.pem", privateKey: base + "key.pem", trustBundle: base + "root-cert.pem")
    }
}

/// One loaded workload identity, ready for handshakes: an OpenSSL server context (inbound) and a
/// client context (outbound), both TLS 1.3 only with ALPN `weft/1`, mutual authentication against
/// the trust bundle, and SPIFFE id checks in the trust domain.
///
/// Immutable once loaded and safe to share between worker threads (each connection gets its own
/// `SSL` from these contexts). Rotation makes a new `TLSCredentials`; connections made from the old
/// one keep it alive until they end. Session tickets issued under one `TLSCredentials` are only
/// accepted by it: its server context has its own random ticket keys, so resumption never
/// outlives a rotation (resumption skips chain validation, reference §4).
public final class TLSCredentials: @unchecked Sendable {
    /// Our own SPIFFE id, from the leaf's URI SAN.
    public let identity: SPIFFEID
    /// The trust domain peers must belong to.
    public let trustDomain: TrustDomain
    /// The leaf's serial number, uppercase hex.
    public let serial: String
    /// The start of the leaf's validity, seconds since the epoch (UTC).
    public let notBefore: Int
    /// The end of the leaf's validity, seconds since the epoch (UTC): renew before this.
    public let notAfter: Int
    /// How many trust anchors the bundle holds.
    public let trustAnchorCount: Int
    /// The certificates of the chain file as loaded: the leaf first, then the intermediates.
    public let chain: [TLSCertificateSummary]
    /// The trust anchors of the bundle, in file order.
    public let trustAnchors: [TLSCertificateSummary]
    /// The files this was loaded from.
    public let files: TLSIdentityFiles
    /// Unique per load in this process, so a session cache can tell credentials apart.
    let loadID: UInt64

    let serverContext: SSLContext
    let clientContext: SSLContext

    private static let loads = Atomic<UInt64>(0)

    /// The ALPN protocol every sidecar-to-sidecar connection negotiates.
    public static let applicationProtocol = "weft/1"

    /// The lifetime of the session tickets this server issues, at most (RFC 8446 §4.6.1 allows up
    /// to 7 days; an hour keeps a stolen ticket's value short while pooled connections still
    /// resume). Never longer than our certificate has left.
    public static let ticketLifetimeSeconds = 3600

    private init(
        identity: SPIFFEID, trustDomain: TrustDomain, serial: String, notBefore: Int, notAfter: Int,
        trustAnchorCount: Int, chain: [TLSCertificateSummary], trustAnchors: [TLSCertificateSummary], files: TLSIdentityFiles,
        serverContext: SSLContext, clientContext: SSLContext
    ) {
        self.identity = identity
        self.trustDomain = trustDomain
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.trustAnchorCount = trustAnchorCount
        self.chain = chain
        self.trustAnchors = trustAnchors
        self.files = files
        self.serverContext = serverContext
        self.clientContext = clientContext
        loadID = Self.loads.add(1, ordering: .relaxed).newValue
    }

    /// Whether `now` (seconds since the epoch) is within the leaf's validity.
    public func isValid(at now: Int) -> Bool { notBefore <= now && now < notAfter }

    /// Whether the leaf is valid right now (for readiness).
    public var isValidNow: Bool { isValid(at: WallClock.now()) }

    /// Reads and checks the three files and builds the contexts. Throws `TLSError` naming the file
    /// and the reason: unreadable (with errno), no PEM, key that does not match the leaf, a leaf
    /// that is expired or not yet valid, without exactly one SPIFFE id, in another trust domain,
    /// a CA certificate, or a chain that does not verify against the trust bundle.
    public static func load(_ files: TLSIdentityFiles, trustDomain: TrustDomain) throws(TLSError) -> TLSCredentials {
        let chainPEM = try read(files.certificateChain)
        let keyPEM = try read(files.privateKey)
        let bundlePEM = try read(files.trustBundle)
        return try build(chainPEM: chainPEM, keyPEM: keyPEM, bundlePEM: bundlePEM, files: files, trustDomain: trustDomain, now: WallClock.now())
    }

    /// Credential files are a few KiB; anything larger is a wrong path (a log, a device).
    static let sizeLimit = 1 << 20

    private static func read(_ path: String) throws(TLSError) -> [UInt8] {
        do {
            return try FileSystem.readRegularFile(path, limit: sizeLimit)
        } catch {
            switch error {
            case .system(let failure):
                throw TLSError.file(.unreadable, path, "unreadable: \(failure.errno) in \(failure.call)")
            case .notRegularFile:
                throw TLSError.file(.unreadable, path, "unreadable: not a regular file (a directory or device?)")
            case .tooLarge(let limit):
                throw TLSError.file(.unreadable, path, "unreadable: larger than \(limit) bytes, so not a PEM file")
            }
        }
    }

    static func build(
        chainPEM: [UInt8], keyPEM: [UInt8], bundlePEM: [UInt8], files: TLSIdentityFiles,
        trustDomain: TrustDomain, now: Int
    ) throws(TLSError) -> TLSCredentials {
        let chainPath = files.certificateChain
        let chain = try X509Certificate.all(pem: chainPEM, path: chainPath)
        let key = try PrivateKey.read(pem: keyPEM, path: files.privateKey)
        let anchors = try X509Certificate.all(pem: bundlePEM, path: files.trustBundle)
        let leaf = chain[0]

        let identity: SPIFFEID
        switch leaf.view.spiffeID() {
        case .success(let id): identity = id
        case .failure(let problem): throw TLSError.file(.noSPIFFEID, chainPath, "no SPIFFE id in the leaf certificate: \(problem.detail)")
        }
        guard identity.isMember(of: trustDomain) else {
            throw TLSError.file(.wrongTrustDomain, chainPath, "the leaf's SPIFFE id \(identity) is not in the trust domain \(trustDomain)")
        }
        if leaf.view.isCA {
            throw TLSError.file(.notWorkload, chainPath, "the first certificate is a CA (\(identity)); the leaf (workload) certificate must come first")
        }
        let notBefore = leaf.view.notBefore
        let notAfter = leaf.view.notAfter
        if now >= notAfter {
            throw TLSError.file(.expired, chainPath, "the certificate of \(identity) expired at \(WallClock.format(notAfter))")
        }
        if now < notBefore {
            throw TLSError.file(.notYetValid, chainPath, "the certificate of \(identity) is not valid before \(WallClock.format(notBefore)) (check the clock)")
        }
        // X509_check_private_key(3) compares the public halves; SSL_CTX_check_private_key below
        // would say the same with a less specific message.
        OpenSSLErrors.clear()
        if X509_check_private_key(leaf.pointer, key.pointer) != 1 {
            _ = OpenSSLErrors.drain()
            throw TLSError.file(.keyMismatch, files.privateKey, "key does not match certificate \(chainPath)")
        }

        let store = try TrustStore(anchors: anchors, path: files.trustBundle)
        // Our own chain must verify against our own bundle, or every peer would refuse us with
        // "unknown ca" and nobody would know why.
        var intermediates: [OpaquePointer?] = chain.dropFirst().map(\.pointer)
        var error: Int32 = 0
        var depth: Int32 = 0
        if COpenSSLShims_tls_verify_chain(store.pointer, leaf.pointer, &intermediates, Int32(intermediates.count), time_t(now), &error, &depth) != 1 {
            _ = OpenSSLErrors.drain()
            let text = X509_verify_cert_error_string(Int(error)).map { String(cString: $0) } ?? "error \(error)"
            throw TLSError.file(.untrusted, chainPath, "the chain of \(identity) does not verify against the trust bundle \(files.trustBundle): \(text) (certificate \(depth) of the chain)")
        }
        let server = try makeContext(server: true, leaf: leaf, intermediates: Array(chain.dropFirst()), key: key, store: store, files: files)
        let client = try makeContext(server: false, leaf: leaf, intermediates: Array(chain.dropFirst()), key: key, store: store, files: files)
        // A session ticket must not outlive the certificate it authenticated.
        SSL_CTX_set_timeout(server.pointer, max(1, min(ticketLifetimeSeconds, notAfter - now)))

        return TLSCredentials(
            identity: identity, trustDomain: trustDomain, serial: leaf.view.serial, notBefore: notBefore, notAfter: notAfter,
            trustAnchorCount: store.count, chain: chain.map(\.view.summary), trustAnchors: anchors.map(\.view.summary), files: files,
            serverContext: server, clientContext: client
        )
    }

    /// One context with everything both roles share, then the role's own settings.
    private static func makeContext(
        server: Bool, leaf: X509Certificate, intermediates: [X509Certificate], key: PrivateKey,
        store: TrustStore, files: TLSIdentityFiles
    ) throws(TLSError) -> SSLContext {
        OpenSSLErrors.clear()
        guard let pointer = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.openSSL("create an SSL_CTX")
        }
        let context = SSLContext(takingOwnershipOf: pointer)
        // Sidecars talk only to sidecars: TLS 1.3 (RFC 8446) and nothing older.
        guard COpenSSLShims_tls_ctx_set_tls13_only(pointer) == 1 else { throw TLSError.openSSL("restrict the context to TLS 1.3") }
        // Renegotiation does not exist in TLS 1.3, the bit only keeps a future min-version change
        // safe; compression is off for CRIME; KTLS asks OpenSSL to hand the record layer to the
        // kernel after the handshake where the kernel has CONFIG_TLS (SSL_CTX_set_options(3)).
        _ = COpenSSLShims_tls_ctx_set_options(
            pointer, COpenSSLShims_tls_OP_NO_RENEGOTIATION | COpenSSLShims_tls_OP_NO_COMPRESSION | COpenSSLShims_tls_OP_ENABLE_KTLS
        )
        // The relay writes from a buffer whose position moves between retries and accepts partial
        // writes; idle connections give their 34 KiB of record buffers back; the chain sent is the
        // chain file as given, not one OpenSSL completes from the trust store (which would add the
        // root every peer already has) (SSL_CTX_set_mode(3)).
        _ = COpenSSLShims_tls_ctx_set_relay_modes(pointer)
        // Read whole TCP segments, not one record header at a time: fewer syscalls. The price is
        // plaintext buffered inside OpenSSL with no epoll edge (reference §4): see TLSStream.read.
        COpenSSLShims_tls_ctx_set_read_ahead(pointer, 1)

        // Takes its own reference to the store (SSL_CTX_set1_cert_store(3)); returns nothing.
        SSL_CTX_set1_cert_store(pointer, store.pointer)
        if SSL_CTX_use_certificate(pointer, leaf.pointer) != 1 { throw TLSError.openSSL("use the leaf certificate", path: files.certificateChain) }
        for intermediate in intermediates where COpenSSLShims_tls_ctx_add1_chain_cert(pointer, intermediate.pointer) != 1 {
            throw TLSError.openSSL("add an intermediate certificate", path: files.certificateChain)
        }
        if SSL_CTX_use_PrivateKey(pointer, key.pointer) != 1 { throw TLSError.openSSL("use the private key", path: files.privateKey) }
        if SSL_CTX_check_private_key(pointer) != 1 {
            throw TLSError.openSSL("match the key to the certificate", path: files.privateKey, kind: .keyMismatch)
        }

        // Both directions authenticate (mTLS): the peer must send a certificate, and the verify
        // callback adds the SPIFFE checks to OpenSSL's chain validation.
        SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tlsVerifyCallback)

        if server {
            // A verifying server without a session id context fails every resumption outright
            // instead of falling back to a full handshake (reference §4, Gotcha 1).
            let context: [UInt8] = Array("weft".utf8)
            if SSL_CTX_set_session_id_context(pointer, context, UInt32(context.count)) != 1 {
                throw TLSError.openSSL("set the session id context")
            }
            // TLS 1.3 tickets are stateless (encrypted with the context's ticket keys), so the
            // server needs no session cache — which would be a lock shared by all workers.
            _ = COpenSSLShims_tls_ctx_set_session_cache_mode(pointer, COpenSSLShims_tls_SESS_CACHE_OFF)
            SSL_CTX_set_alpn_select_cb(pointer, tlsSelectALPN, nil)
            SSL_CTX_set_client_hello_cb(pointer, tlsClientHelloCallback, nil)
        } else {
            // ALPN wire format (RFC 7301 §3.1): length-prefixed names. Returns 0 on success.
            let protocols: [UInt8] = [UInt8(applicationProtocol.utf8.count)] + Array(applicationProtocol.utf8)
            if SSL_CTX_set_alpn_protos(pointer, protocols, UInt32(protocols.count)) != 0 {
                throw TLSError.openSSL("set the ALPN protocols")
            }
            // Sessions go to the per-worker TLSSessionCache through the callback, never to
            // OpenSSL's internal store (reference §4 Resumption).
            _ = COpenSSLShims_tls_ctx_set_session_cache_mode(
                pointer, COpenSSLShims_tls_SESS_CACHE_CLIENT | COpenSSLShims_tls_SESS_CACHE_NO_INTERNAL_STORE
            )
            SSL_CTX_sess_set_new_cb(pointer, tlsNewSessionCallback)
        }
        _ = OpenSSLErrors.drain()
        return context
    }
}
