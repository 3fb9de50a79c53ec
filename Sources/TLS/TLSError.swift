internal import COpenSSL
internal import COpenSSLShims

/// Why credentials could not be loaded or a TLS object could not be made: which file, and why,
/// in one line an operator can act on ("cert-chain.pem: expired at 2026-11-28T01:02:03Z").
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong; the raw value is a stable token for logs and metrics.
    public enum Kind: String, Sendable, Hashable {
        /// A file cannot be opened or read (missing, permissions, a directory, too large).
        case unreadable
        /// A file is not the PEM it must be (no certificate, a broken block, an encrypted key).
        case malformed
        /// The private key is not the key of the leaf certificate.
        case keyMismatch = "key-mismatch"
        /// The leaf certificate's notAfter has passed.
        case expired
        /// The leaf certificate's notBefore is still to come.
        case notYetValid = "not-yet-valid"
        /// The leaf has no URI SAN, several, or one that is not a SPIFFE workload id.
        case noSPIFFEID = "no-spiffe-id"
        /// The leaf's SPIFFE id is in another trust domain than the configured one.
        case wrongTrustDomain = "wrong-trust-domain"
        /// The leaf is a CA certificate, which X.509-SVID §4.1 forbids as a workload identity.
        case notWorkload = "not-workload-certificate"
        /// The chain does not verify against the trust bundle.
        case untrusted
        /// OpenSSL refused an operation that should not fail (out of memory, broken install).
        case openSSL = "openssl"
    }

    public let kind: Kind
    /// The file concerned, when there is one.
    public let path: String?
    /// The whole explanation, starting with the file's name when there is one.
    public let message: String

    public init(_ kind: Kind, path: String?, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }

    /// `kind` on `path` with `reason`, the message prefixed by the file name.
    static func file(_ kind: Kind, _ path: String, _ reason: String) -> TLSError {
        TLSError(kind, path: path, "\(path): \(reason)")
    }

    /// An OpenSSL call that failed while doing `what`, with the drained error queue as the reason.
    static func openSSL(_ what: String, path: String? = nil, kind: Kind = .openSSL) -> TLSError {
        let reasons = OpenSSLErrors.drain().map(\.text)
        let detail = reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
        if let path { return TLSError(kind, path: path, "\(path): \(what) (\(detail))") }
        return TLSError(kind, path: nil, "OpenSSL failed to \(what) (\(detail))")
    }
}

/// Why one TLS connection failed. `reason` is a stable token for logs and metrics; `detail` is
/// the human-readable rest (OpenSSL's text, the offending SPIFFE id, an expiry date).
public struct TLSFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable reasons. Handshake failures judged by this side name what was wrong with the
    /// peer; a peer that refused us shows as `rejectedByPeer` with its alert in `detail`.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The peer's first bytes are not TLS (plaintext, an HTTP request, garbage).
        case notTLS = "not-tls"
        /// No `weft/1` agreed by ALPN: the client offered none or others, or the server chose none.
        case noALPN = "no-alpn"
        /// The peer's chain does not lead to our trust bundle (unknown issuer, bad signature,
        /// self-signed).
        case untrustedCA = "untrusted-ca"
        /// A certificate in the peer's chain is past notAfter (X509_V_ERR_CERT_HAS_EXPIRED), or a
        /// resumed session's peer certificate expired since.
        case expired
        /// A certificate in the peer's chain is before notBefore.
        case notYetValid = "not-yet-valid"
        /// The peer sent no certificate (a client without one; the server requires it).
        case noCertificate = "no-peer-certificate"
        /// The peer's leaf has no URI SAN, several, or one that is not a SPIFFE workload id.
        case noSPIFFEID = "no-spiffe-id"
        /// The peer's SPIFFE id is in another trust domain.
        case wrongTrustDomain = "wrong-trust-domain"
        /// The peer's SPIFFE id is valid but not the one this connection expected.
        case unexpectedIdentity = "unexpected-identity"
        /// The peer's leaf is a CA certificate (X.509-SVID §4.1: signing certificates are not
        /// workload identities).
        case notWorkload = "not-workload-certificate"
        /// The peer refused our certificate or parameters with an alert (`detail` names it).
        case rejectedByPeer = "rejected-by-peer"
        /// The peer closed or reset the connection before the handshake finished.
        case handshakeEOF = "handshake-eof"
        /// After the handshake, the connection ended without close_notify (RFC 8446 §6.1: a
        /// truncation an attacker could also cause).
        case truncated
        /// After the handshake, the connection was reset (ECONNRESET, EPIPE).
        case reset
        /// Any other TLS alert or error; `detail` holds OpenSSL's text.
        case `protocol`
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// `reason: detail`, e.g. `expired: certificate spiffe://... expired at 2026-11-28T01:02:03Z`.
    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// One entry of OpenSSL's per-thread error queue.
struct OpenSSLError {
    let code: UInt
    /// The text OpenSSL attached (ERR_add_error_data), e.g. `Verify error:unable to get local
    /// issuer certificate`; copied when drained, as the queue owns the original.
    let data: String?
    var library: Int32 { COpenSSLShims_tls_err_lib(code) }
    var reason: Int32 { COpenSSLShims_tls_err_reason(code) }

    /// `error:0A000086:SSL routines::certificate verify failed (Verify error:...)`.
    var text: String {
        // ERR_error_string_n(3) always NUL-terminates; 256 bytes is the size its manual suggests.
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let base = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return data.map { "\(base) (\($0))" } ?? base
    }

    /// Just the reason and its data, `certificate verify failed (Verify error:...)`.
    var reasonText: String {
        let base = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(reason)"
        return data.map { "\(base) (\($0))" } ?? base
    }
}

enum OpenSSLErrors {
    /// Empties this thread's OpenSSL error queue, oldest entry first. OpenSSL reports failures by
    /// pushing onto a per-thread queue (ERR_get_error(3)); a stale entry would make SSL_get_error
    /// misreport the next call on any connection of this thread, so every failure drains it.
    static func drain() -> [OpenSSLError] {
        var errors: [OpenSSLError] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { return errors }
            // A corrupt file read in a loop can push many entries; a few tell the story.
            guard errors.count < 8 else { continue }
            let text = (flags & ERR_TXT_STRING) != 0 ? data.map { String(cString: $0) } : nil
            errors.append(OpenSSLError(code: code, data: text?.isEmpty == false ? text : nil))
        }
    }

    /// Discards the queue before an SSL_* call whose failure is classified, as SSL_get_error(3)
    /// requires (handshake steps and shutdown: a few per connection).
    @inline(__always)
    static func clear() {
        ERR_clear_error()
    }

    /// Debug builds: stops when the queue holds an entry before a read or write, which would make
    /// SSL_get_error misreport that call (see `TLSStream`: every path that can leave one drains
    /// it). Release builds do not look.
    @inline(__always)
    static func assertEmpty() {
        assert(ERR_peek_error() == 0, "OpenSSL's error queue was left non-empty before an SSL read or write: \(drain().map(\.text))")
    }

    /// Whether this thread's queue is empty (tests).
    static var isEmpty: Bool { ERR_peek_error() == 0 }
}
