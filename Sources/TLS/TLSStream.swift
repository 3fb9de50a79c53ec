internal import COpenSSL
internal import COpenSSLShims
import Glibc
import Identity
import LinuxSys

/// What a handshake or shutdown step did.
public enum TLSStep: Sendable, Hashable {
    /// Finished.
    case done
    /// Call again once the socket is readable.
    case wantRead
    /// Call again once the socket is writable.
    case wantWrite
    /// The connection is unusable; close it and log `TLSFailure.reason`.
    case failed(TLSFailure)
}

/// What a read or write did.
public enum TLSIO: Sendable, Hashable {
    /// This many plaintext bytes were read or written (a write may be partial).
    case bytes(Int)
    /// Nothing more until the socket is readable.
    case wantRead
    /// Nothing more until the socket is writable.
    case wantWrite
    /// Reading: the peer sent close_notify, it will send no more (RFC 8446 §6.1). Writing to the
    /// peer may continue.
    case closed
    /// The connection is unusable; close it and log `TLSFailure.reason`.
    case failed(TLSFailure)
}

/// The slot in every `SSL` that points back at its `TLSStream`, for OpenSSL's callbacks.
private let streamSlot: Int32 = COpenSSLShims_tls_ssl_ex_index()

/// One TLS connection (an OpenSSL `SSL`) over a connected, non-blocking TCP socket.
///
/// - The stream does not own the socket: the caller closes it, before or after dropping the
///   stream (nothing here touches the descriptor after `deinit` starts, and `SSL_free` does no
///   I/O).
/// - Nothing blocks. Every call returns `wantRead`/`wantWrite` when the socket is not ready; the
///   caller waits for that readiness (epoll) and calls again. No thread, timer or callback of its
///   own: a handshake timeout is the caller's (the stalled peer simply keeps returning `wantRead`).
/// - Not thread-safe: one worker drives it. `deinit` frees the `SSL`.
/// - Writes go straight to the socket (`write(2)` inside OpenSSL), so the process must ignore
///   SIGPIPE (`ProcessInfo.ignoreBrokenPipeSignal()`), as the proxy does.
///
/// Authentication happens in the handshake: the peer's chain must verify against the trust
/// bundle, its leaf must carry exactly one SPIFFE id in our trust domain (and equal `expectedPeer`
/// when given), and ALPN must agree on `weft/1`. A peer that fails is refused with an alert and the
/// step returns `.failed` with a specific `TLSFailure.Reason`.
public final class TLSStream {
    public enum Role: Sendable, Hashable {
        /// Outbound: we connect to a mesh destination.
        case client
        /// Inbound: a peer's ClientHello arrived on our listener.
        case server
    }

    private enum Phase {
        case handshaking
        case established
        case failed(TLSFailure)
    }

    private let ssl: OpaquePointer
    /// The credentials this connection authenticates with (kept alive while it lives).
    public let credentials: TLSCredentials
    public let role: Role
    /// The socket, owned by the caller.
    public let descriptor: Descriptor
    /// The identity the peer must have, beyond trust-domain membership (client side).
    public let expectedPeer: SPIFFEID?
    let sessionCache: TLSSessionCache?
    let sessionKey: String
    private var phase = Phase.handshaking
    /// The first failure a callback saw during the handshake: it explains the error OpenSSL
    /// returns afterwards better than the error itself ("certificate verify failed").
    fileprivate var callbackFailure: TLSFailure?
    private var sentCloseNotify = false

    /// The peer's SPIFFE id, once the handshake is done (also after resumption, from the session).
    public private(set) var peerIdentity: SPIFFEID?

    private init(
        ssl: OpaquePointer, credentials: TLSCredentials, role: Role, descriptor: Descriptor,
        expectedPeer: SPIFFEID?, sessionCache: TLSSessionCache?, sessionKey: String
    ) {
        self.ssl = ssl
        self.credentials = credentials
        self.role = role
        self.descriptor = descriptor
        self.expectedPeer = expectedPeer
        self.sessionCache = sessionCache
        self.sessionKey = sessionKey
        // Unretained: the SSL never outlives this object, which frees it in deinit.
        SSL_set_ex_data(ssl, streamSlot, Unmanaged.passUnretained(self).toOpaque())
        lastSocketReadShort.initialize(to: 0)
        _ = COpenSSLShims_tls_track_short_reads(ssl, lastSocketReadShort)
    }

    /// Set by the read BIO's callback: the last read of the socket came back short.
    private let lastSocketReadShort = UnsafeMutablePointer<Int32>.allocate(capacity: 1)

    /// Whether reading again now could only say EAGAIN: the last read of the socket came back
    /// short (it was empty then; whatever arrives later brings a new edge) and OpenSSL holds no
    /// record it has not processed. Lets a reader stop after the bytes it got instead of paying
    /// a read(2) that returns EAGAIN, as a short recv(2) does for plain sockets.
    public var socketDrained: Bool {
        lastSocketReadShort.pointee != 0 && SSL_has_pending(ssl) == 0
    }

    deinit {
        // SSL_free on a connection not shut down marks its session non-resumable — including the
        // ticket our cache holds (reference §4, Gotcha 2). Sending close_notify here could block
        // or write to a descriptor the caller already closed, so only the flag is set: the
        // session stays resumable after a clean relay end, and a failed connection (which never
        // gets here with the flag) poisons its session as it should.
        if case .established = phase {
            SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | COpenSSLShims_tls_SENT_SHUTDOWN)
        }
        SSL_free(ssl)
        lastSocketReadShort.deallocate()
    }

    /// An outbound connection on `descriptor` (connected or connecting, non-blocking).
    /// - `expectedPeer`: the exact SPIFFE id the server must present (nil: any id in the trust domain).
    /// - `session`/`sessionKey`: resume with a ticket from `session` stored under `sessionKey`
    ///   (typically the destination address plus `expectedPeer`), and store the tickets this
    ///   connection receives there. `session` must belong to the calling worker.
    /// - `serverName`: the SNI to send (RFC 6066 §3), if any; sidecars need none.
    /// Throws `TLSError` only when OpenSSL cannot allocate the connection.
    public static func client(
        _ credentials: TLSCredentials, descriptor: Descriptor, expectedPeer: SPIFFEID?,
        session: TLSSessionCache?, sessionKey: String, serverName: String? = nil
    ) throws(TLSError) -> TLSStream {
        let ssl = try makeSSL(credentials.clientContext, descriptor: descriptor)
        let stream = TLSStream(
            ssl: ssl, credentials: credentials, role: .client, descriptor: descriptor,
            expectedPeer: expectedPeer, sessionCache: session, sessionKey: sessionKey
        )
        SSL_set_connect_state(ssl)
        if let serverName, COpenSSLShims_tls_set_host_name(ssl, serverName) != 1 {
            throw TLSError.openSSL("set the server name \(serverName)")
        }
        if let ticket = session?.take(key: sessionKey, credentials: credentials), SSL_set_session(ssl, ticket.pointer) != 1 {
            // A session OpenSSL refuses (another protocol version) just means a full handshake.
            _ = OpenSSLErrors.drain()
        }
        return stream
    }

    /// An inbound connection on an accepted, non-blocking `descriptor` whose first bytes are a
    /// ClientHello (still unread: the handshake reads them). Throws `TLSError` only when OpenSSL
    /// cannot allocate the connection.
    public static func server(_ credentials: TLSCredentials, descriptor: Descriptor) throws(TLSError) -> TLSStream {
        let ssl = try makeSSL(credentials.serverContext, descriptor: descriptor)
        let stream = TLSStream(
            ssl: ssl, credentials: credentials, role: .server, descriptor: descriptor,
            expectedPeer: nil, sessionCache: nil, sessionKey: ""
        )
        SSL_set_accept_state(ssl)
        return stream
    }

    private static func makeSSL(_ context: SSLContext, descriptor: Descriptor) throws(TLSError) -> OpaquePointer {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context.pointer) else { throw TLSError.openSSL("create an SSL connection") }
        // A socket BIO without BIO_CLOSE: OpenSSL reads and writes the descriptor but never
        // closes it; it is also what kTLS needs (reference §4).
        guard SSL_set_fd(ssl, descriptor.rawValue) == 1 else {
            SSL_free(ssl)
            throw TLSError.openSSL("attach \(descriptor) to an SSL connection")
        }
        return ssl
    }

    fileprivate static func from(_ ssl: OpaquePointer) -> TLSStream? {
        guard let raw = SSL_get_ex_data(ssl, streamSlot) else { return nil }
        return Unmanaged<TLSStream>.fromOpaque(raw).takeUnretainedValue()
    }

    // MARK: - Handshake

    /// Advances the handshake. `.done` once it is complete and the peer is authenticated; call
    /// again after `.wantRead`/`.wantWrite` once the socket is ready. After `.done`, read at once:
    /// the peer's first application bytes may already sit in OpenSSL's buffer (read-ahead) with no
    /// epoll edge to come.
    ///
    /// In TLS 1.3 the client finishes before the server has checked the client's certificate; a
    /// server that refuses it shows up as `.failed(rejectedByPeer)` on the client's next read.
    public func handshake() -> TLSStep {
        switch phase {
        case .established: return .done
        case .failed(let failure): return .failed(failure)
        case .handshaking: break
        }
        OpenSSLErrors.clear()
        let result = SSL_do_handshake(ssl)
        let savedErrno = errno
        if result == 1 {
            let step = finishHandshake()
            // The checks after the handshake read certificate fields through OpenSSL, which may
            // queue errors of their own: `read` and `write` rely on an empty queue.
            OpenSSLErrors.clear()
            return step
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case let code: return .failed(fail(classify(code, errno: savedErrno, handshake: true)))
        }
    }

    /// The checks OpenSSL's callbacks cannot make for a resumed session (no certificate is
    /// exchanged, so the verify callback never runs): the session's peer certificate is checked
    /// again against this connection's expectations and the current time.
    private func finishHandshake() -> TLSStep {
        var selected: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &selected, &length)
        let alpn = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        guard alpn == TLSCredentials.applicationProtocol else {
            return .failed(fail(TLSFailure(.noALPN, role == .client
                ? "the server agreed on no application protocol (we offer \(TLSCredentials.applicationProtocol) only)"
                : "the client offered no \(TLSCredentials.applicationProtocol)")))
        }
        guard let certificate = SSL_get0_peer_certificate(ssl) else {
            return .failed(fail(TLSFailure(.noCertificate, "the peer presented no certificate")))
        }
        let view = CertificateView(pointer: certificate)
        let verifyResult = SSL_get_verify_result(ssl)
        if verifyResult != Int(X509_V_OK) {
            return .failed(fail(Self.failure(verifyError: Int32(verifyResult), depth: 0, certificate: view)))
        }
        switch checkPeerLeaf(view) {
        case .failure(let failure): return .failed(fail(failure))
        case .success(let id): peerIdentity = id
        }
        if resumed, WallClock.now() >= view.notAfter {
            return .failed(fail(TLSFailure(.expired, "resumed session: the peer certificate \(view.logName) expired at \(WallClock.format(view.notAfter))")))
        }
        phase = .established
        handshakeCompleted = true
        return .done
    }

    /// The SPIFFE rules for the peer's leaf certificate (X.509-SVID §2-§4), in the order that
    /// gives the most specific reason.
    fileprivate func checkPeerLeaf(_ leaf: CertificateView) -> Result<SPIFFEID, TLSFailure> {
        let id: SPIFFEID
        switch leaf.spiffeID() {
        case .success(let found): id = found
        case .failure(let problem): return .failure(TLSFailure(.noSPIFFEID, "peer certificate \(leaf.logName): \(problem.detail)"))
        }
        if leaf.isCA {
            return .failure(TLSFailure(.notWorkload, "peer certificate \(id) is a CA certificate"))
        }
        guard id.isMember(of: credentials.trustDomain) else {
            return .failure(TLSFailure(.wrongTrustDomain, "peer \(id) is not in the trust domain \(credentials.trustDomain)"))
        }
        if let expectedPeer, id != expectedPeer {
            return .failure(TLSFailure(.unexpectedIdentity, "peer is \(id), expected \(expectedPeer)"))
        }
        return .success(id)
    }

    /// Records the failure (the first one wins) and returns it.
    private func fail(_ failure: TLSFailure) -> TLSFailure {
        if case .failed(let first) = phase { return first }
        phase = .failed(failure)
        return failure
    }

    fileprivate func noteCallbackFailure(_ failure: TLSFailure) {
        if callbackFailure == nil { callbackFailure = failure }
    }

    // MARK: - Data

    // SSL_get_error(3) needs the thread's error queue empty before an I/O call. `read` and `write`
    // do not clear it first (ERR_clear_error fetches OpenSSL's thread state — OPENSSL_init_crypto,
    // a pthread_once, a thread-local lookup — and wipes its 16 slots, on every read and write of
    // every request): instead every path that can leave an entry empties it after itself —
    // a failed call is classified, which drains the queue; handshakes and `closeWrite` clear it
    // (once per connection); the other OpenSSL calls of this module drain on failure. A call that
    // succeeds, or that SSL_get_error calls WANT_READ, WANT_WRITE or ZERO_RETURN, leaves nothing:
    // SSL_get_error looks at the queue first and answers SSL_ERROR_SSL or SSL_ERROR_SYSCALL
    // whenever it holds an entry. Debug builds check the queue before each read and write.

    /// Reads decrypted bytes into `buffer`. `.bytes(n)` with n ≥ 1, `.wantRead` when nothing is
    /// buffered and the socket is empty, `.closed` after the peer's close_notify, `.failed` on a
    /// truncation, reset or protocol error. Session tickets that arrive here go to the session
    /// cache.
    ///
    /// Edge-triggered epoll: with read-ahead, OpenSSL may hold whole records the socket no longer
    /// has, and no edge will announce them (reference §4). Keep reading until `.wantRead` (or
    /// check `hasBufferedPlaintext`) before waiting for readiness.
    /// Precondition: `handshake()` returned `.done`.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) -> TLSIO {
        if let early = ioPrecheck() { return early }
        OpenSSLErrors.assertEmpty()
        var done = 0
        let result = SSL_read_ex(ssl, buffer, count, &done)
        let savedErrno = errno
        if result == 1 { return .bytes(done) }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case let code: return .failed(fail(classify(code, errno: savedErrno, handshake: false)))
        }
    }

    /// Encrypts and sends up to `count` bytes from `buffer`. `.bytes(n)` may be short (partial
    /// writes are on); after `.wantWrite` call again with the rest — the buffer may have moved
    /// (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). Writing after `closeWrite()` fails.
    /// Precondition: `handshake()` returned `.done`.
    public func write(from buffer: UnsafeRawPointer, count: Int) -> TLSIO {
        if let early = ioPrecheck() { return early }
        guard count > 0 else { return .bytes(0) }
        OpenSSLErrors.assertEmpty()
        var done = 0
        let result = SSL_write_ex(ssl, buffer, count, &done)
        let savedErrno = errno
        if result == 1 { return .bytes(done) }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case let code: return .failed(fail(classify(code, errno: savedErrno, handshake: false)))
        }
    }

    /// Sends close_notify: we will write no more, and reading continues until the peer's own
    /// close_notify (TLS 1.3 half-close, RFC 8446 §6.1). `.done` once it is on the socket; the
    /// caller may then shutdown(SHUT_WR) the TCP side. `.wantWrite`: call again when writable.
    public func closeWrite() -> TLSStep {
        if case .failed(let failure) = phase { return .failed(failure) }
        precondition(isEstablished, "closeWrite() before the handshake completed")
        if sentCloseNotify { return .done }
        OpenSSLErrors.clear()
        // SSL_shutdown(3): 0 = close_notify sent, the peer's not yet seen; 1 = both. Called only
        // until it succeeds once: a second call would wait for the peer's close_notify and drop
        // the application data before it.
        let result = SSL_shutdown(ssl)
        let savedErrno = errno
        if result >= 0 {
            sentCloseNotify = true
            return .done
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_WANT_READ: return .wantRead
        case let code: return .failed(fail(classify(code, errno: savedErrno, handshake: false)))
        }
    }

    /// The handshake finished at some point (the phase may have failed since).
    private var handshakeCompleted = false

    /// The handshake is done and nothing has failed since: reads, writes and `closeWrite` are
    /// allowed.
    public var isEstablished: Bool {
        if case .established = phase { return true }
        return false
    }

    private func ioPrecheck() -> TLSIO? {
        switch phase {
        case .established: return nil
        case .failed(let failure): return .failed(failure)
        case .handshaking: preconditionFailure("TLSStream read/write before handshake() returned .done")
        }
    }

    // MARK: - What the connection is

    /// Whether this connection resumed a session (a ticket; no certificate exchange).
    public var resumed: Bool { SSL_session_reused(ssl) == 1 }

    /// Whether the kernel does the record layer (kTLS, SSL_OP_ENABLE_KTLS) for sending and for
    /// receiving. Meaningful after the handshake. Where `send` is true, plaintext written or
    /// spliced to the socket is encrypted by the kernel; where `receive` is true, the socket
    /// yields plaintext (splice fails with EINVAL/EIO on non-data records). Drain
    /// `hasBufferedPlaintext` through `read` before bypassing OpenSSL. Without CONFIG_TLS both
    /// are false and OpenSSL encrypts in user space. OpenSSL 3.0 is reported to offload only the
    /// send side for TLS 1.3 (reference §4).
    public var kernelTLS: (send: Bool, receive: Bool) {
        (COpenSSLShims_tls_bio_ktls_send(SSL_get_wbio(ssl)) == 1, COpenSSLShims_tls_bio_ktls_recv(SSL_get_rbio(ssl)) == 1)
    }

    /// The record-layer path for logs: `ktls` (both directions in the kernel), `ktls-send`,
    /// `ktls-receive`, or `userspace`.
    public var dataPath: String {
        switch kernelTLS {
        case (true, true): return "ktls"
        case (true, false): return "ktls-send"
        case (false, true): return "ktls-receive"
        case (false, false): return "userspace"
        }
    }

    /// The serial number (uppercase hex) of the certificate the peer authenticated with, once the
    /// handshake is done: which of a rotating peer's certificates this connection used.
    public var peerSerial: String? {
        // Also after a later failure: the certificate the handshake verified is still the peer's.
        guard handshakeCompleted, let certificate = SSL_get0_peer_certificate(ssl) else { return nil }
        return CertificateView(pointer: certificate).serial
    }

    /// `TLSv1.3`.
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The negotiated cipher suite, `TLS_AES_256_GCM_SHA384`; empty before the handshake.
    public var cipher: String {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return "" }
        return String(cString: name)
    }

    /// Whether OpenSSL holds received bytes (decrypted or not) that the socket no longer has:
    /// then `read` must be called without waiting for an epoll edge (SSL_has_pending(3)).
    public var hasBufferedPlaintext: Bool { SSL_has_pending(ssl) == 1 }

    // MARK: - Failure reasons

    /// Turns an SSL_get_error code (and errno, and the error queue) into a stable reason.
    private func classify(_ code: Int32, errno savedErrno: Int32, handshake: Bool) -> TLSFailure {
        let errors = OpenSSLErrors.drain()
        if handshake, let recorded = callbackFailure { return recorded }
        switch code {
        case SSL_ERROR_ZERO_RETURN:
            return TLSFailure(.handshakeEOF, "the peer sent close_notify during the handshake")
        case SSL_ERROR_SYSCALL:
            // SSL_get_error(3): a socket error with errno set; or EOF (errno 0) in OpenSSL
            // versions that do not report unexpected EOF as SSL_ERROR_SSL.
            return Self.socketFailure(savedErrno, handshake: handshake)
        case SSL_ERROR_SSL:
            for error in errors {
                if error.library == COpenSSLShims_tls_ERR_LIB_SYS { return Self.socketFailure(error.reason, handshake: handshake) }
                if error.library == COpenSSLShims_tls_ERR_LIB_SSL, let failure = sslFailure(error, handshake: handshake) { return failure }
            }
            let text = errors.map(\.reasonText).joined(separator: "; ")
            return TLSFailure(.protocol, text.isEmpty ? "TLS error without a reason" : text)
        default:
            return TLSFailure(.protocol, "unexpected SSL_get_error \(code)")
        }
    }

    private static func socketFailure(_ code: Int32, handshake: Bool) -> TLSFailure {
        switch code {
        case 0:
            return handshake ? TLSFailure(.handshakeEOF, "the peer closed the connection during the handshake")
                : TLSFailure(.truncated, "the peer closed the connection without close_notify")
        case ECONNRESET, EPIPE:
            let errno = Errno(rawValue: code)
            return handshake ? TLSFailure(.handshakeEOF, "the connection was reset during the handshake (\(errno.name))")
                : TLSFailure(.reset, "the connection was reset (\(errno.name))")
        default:
            return TLSFailure(.protocol, "socket error \(Errno(rawValue: code))")
        }
    }

    /// The reasons OpenSSL's SSL library gives that have a stable token of their own; nil for the
    /// rest (reported as `protocol` with OpenSSL's text).
    private func sslFailure(_ error: OpenSSLError, handshake: Bool) -> TLSFailure? {
        let reason = error.reason
        switch reason {
        case SSL_R_WRONG_VERSION_NUMBER, SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST, SSL_R_UNKNOWN_PROTOCOL,
             SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_RECORD_LENGTH_MISMATCH:
            // The record layer did not see TLS records at all (ssl3_get_record).
            return handshake ? TLSFailure(.notTLS, "the peer's bytes are not TLS records (\(error.reasonText))") : nil
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return Self.socketFailure(0, handshake: handshake)
        case SSL_R_NO_APPLICATION_PROTOCOL, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
            return TLSFailure(.noALPN, "no common application protocol (\(error.reasonText))")
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            return TLSFailure(.noCertificate, "the peer presented no certificate")
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            return Self.failure(verifyError: Int32(SSL_get_verify_result(ssl)), depth: 0, certificate: nil)
        case 1000..<1256:
            // A received alert: OpenSSL reports alert N as reason SSL_AD_REASON_OFFSET + N.
            switch reason - 1000 {
            case 42, 43, 44, 45, 46, 48, 49, 116:
                // bad_certificate, unsupported/revoked/expired/unknown certificate, unknown_ca,
                // access_denied, certificate_required (RFC 8446 §6.2): the peer refused us.
                return TLSFailure(.rejectedByPeer, "the peer refused our certificate: \(error.reasonText)")
            default:
                return TLSFailure(.protocol, "the peer sent an alert: \(error.reasonText)")
            }
        default:
            return nil
        }
    }

    /// The reason for an X509_V_ERR_* code found while verifying the peer's chain.
    fileprivate static func failure(verifyError: Int32, depth: Int32, certificate: CertificateView?) -> TLSFailure {
        let which = certificate.map { depth == 0 ? "peer certificate \($0.logName)" : "certificate \($0.logName) at depth \(depth) of the peer's chain" }
            ?? "the peer's chain"
        let text = X509_verify_cert_error_string(Int(verifyError)).map { String(cString: $0) } ?? "error \(verifyError)"
        switch verifyError {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            let when = certificate.map { " at \(WallClock.format($0.notAfter))" } ?? ""
            return TLSFailure(.expired, "\(which) expired\(when)")
        case X509_V_ERR_CERT_NOT_YET_VALID:
            let when = certificate.map { " before \(WallClock.format($0.notBefore))" } ?? ""
            return TLSFailure(.notYetValid, "\(which) is not valid\(when)")
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_CERT_UNTRUSTED,
             X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
            return TLSFailure(.untrustedCA, "\(which): \(text)")
        case X509_V_ERR_INVALID_PURPOSE where depth == 0:
            // OpenSSL checks the leaf's purpose (sslclient/sslserver) before our SPIFFE checks
            // see it: a CA certificate, or one without the TLS client/server key usages, is not
            // a workload identity (X.509-SVID §4.1, §4.3).
            let what = certificate.map { $0.isCA ? "is a CA certificate" : "lacks the TLS client/server purpose" } ?? "has the wrong purpose"
            return TLSFailure(.notWorkload, "\(which) \(what): \(text)")
        default:
            return TLSFailure(.protocol, "\(which): \(text)")
        }
    }
}

// MARK: - OpenSSL callbacks (C function pointers: no captures; the stream comes from ex_data)

/// SSL_CTX_set_verify's callback (SSL_CTX_set_verify(3)): called for each certificate of the
/// peer's chain, root first, with OpenSSL's verdict. A failure is recorded with its specific
/// reason; at depth 0 a chain OpenSSL accepted must also pass the SPIFFE checks. Returning 0 makes
/// OpenSSL send the alert matching the store error (X509_V_ERR_CERT_REJECTED → bad_certificate).
func tlsVerifyCallback(_ preverified: Int32, _ storeContext: OpaquePointer?) -> Int32 {
    guard let storeContext,
          let raw = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
          let stream = TLSStream.from(OpaquePointer(raw)) else { return preverified }
    let depth = X509_STORE_CTX_get_error_depth(storeContext)
    let certificate = X509_STORE_CTX_get_current_cert(storeContext).map { CertificateView(pointer: $0) }
    if preverified == 0 {
        stream.noteCallbackFailure(TLSStream.failure(verifyError: X509_STORE_CTX_get_error(storeContext), depth: depth, certificate: certificate))
        return 0
    }
    guard depth == 0, let certificate else { return 1 }
    if case .failure(let failure) = stream.checkPeerLeaf(certificate) {
        stream.noteCallbackFailure(failure)
        X509_STORE_CTX_set_error(storeContext, X509_V_ERR_CERT_REJECTED)
        return 0
    }
    return 1
}

/// The server's ALPN choice (SSL_CTX_set_alpn_select_cb(3)): `weft/1` or a fatal
/// no_application_protocol alert (RFC 7301 §3.2).
func tlsSelectALPN(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
    _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let wanted = Array(TLSCredentials.applicationProtocol.utf8)
    let list = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
    var names: [String] = []
    var index = 0
    // The list is length-prefixed names (RFC 7301 §3.1), already checked by OpenSSL.
    while index < list.count {
        let length = Int(list[index])
        let start = index + 1
        guard start + length <= list.count else { break }
        if length == wanted.count, list[start..<start + length].elementsEqual(wanted) {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        names.append(CertificateView.printable(String(decoding: list[start..<start + length], as: UTF8.self)))
        index = start + length
    }
    if let ssl, let stream = TLSStream.from(ssl) {
        stream.noteCallbackFailure(TLSFailure(.noALPN, "the client offered \(names.joined(separator: ", ")), not \(TLSCredentials.applicationProtocol)"))
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL
}

/// The server's first look at a ClientHello (SSL_CTX_set_client_hello_cb(3)). A ClientHello
/// without ALPN never reaches the ALPN callback, so it is refused here with the same alert.
func tlsClientHelloCallback(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl else { return SSL_CLIENT_HELLO_ERROR }
    var data: UnsafePointer<UInt8>?
    var length = 0
    if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &data, &length) == 1 {
        return SSL_CLIENT_HELLO_SUCCESS
    }
    TLSStream.from(ssl)?.noteCallbackFailure(TLSFailure(.noALPN, "the client offered no ALPN (\(TLSCredentials.applicationProtocol) required)"))
    alert?.pointee = COpenSSLShims_tls_AD_NO_APPLICATION_PROTOCOL
    return SSL_CLIENT_HELLO_ERROR
}

/// A new client session (SSL_CTX_sess_set_new_cb(3)): a TLS 1.3 ticket that arrived after the
/// handshake, inside SSL_read. Returning 1 keeps OpenSSL's reference, now owned by the cache.
func tlsNewSessionCallback(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let session, let stream = TLSStream.from(ssl), let cache = stream.sessionCache else { return 0 }
    cache.insert(SSLSession(takingOwnershipOf: session), key: stream.sessionKey, credentials: stream.credentials)
    return 1
}
