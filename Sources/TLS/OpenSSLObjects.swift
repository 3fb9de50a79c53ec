internal import COpenSSL
internal import COpenSSLShims
import Glibc
import Identity

/// An `SSL_CTX`, freed with it. Immutable once configured: OpenSSL allows `SSL_new` on one context
/// from many threads at once (its reference counts are atomic), which is how workers share it.
final class SSLContext: @unchecked Sendable {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { SSL_CTX_free(pointer) }
}

/// An `X509` certificate, freed with it.
final class X509Certificate {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    /// Every certificate of a PEM file, in file order. Throws `.malformed` naming `path` when a
    /// block is broken or there is no certificate at all.
    static func all(pem: [UInt8], path: String) throws(TLSError) -> [X509Certificate] {
        let bio = try MemoryBIO(copying: pem, path: path)
        OpenSSLErrors.clear()
        var certificates: [X509Certificate] = []
        while let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) {
            certificates.append(X509Certificate(takingOwnershipOf: certificate))
        }
        // The loop ends with PEM_R_NO_START_LINE once no block is left (pem(3)); any other entry
        // means a block that did not decode.
        let errors = OpenSSLErrors.drain().filter { !($0.library == ERR_LIB_PEM && $0.reason == PEM_R_NO_START_LINE) }
        if let error = errors.first {
            throw TLSError.file(.malformed, path, "a PEM certificate block does not decode (\(error.text))")
        }
        if certificates.isEmpty {
            throw TLSError.file(.malformed, path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")
        }
        return certificates
    }

    /// The certificate's fields, read in place.
    var view: CertificateView { CertificateView(pointer: pointer) }
}

/// A certificate OpenSSL owns (the peer's, during verification), read in place without taking a
/// reference: valid only as long as its owner keeps it.
struct CertificateView {
    let pointer: OpaquePointer

    /// notBefore as seconds since the epoch.
    var notBefore: Int { Self.seconds(X509_get0_notBefore(pointer)) }
    /// notAfter as seconds since the epoch.
    var notAfter: Int { Self.seconds(X509_get0_notAfter(pointer)) }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int {
        var parts = tm()
        // ASN1_TIME_to_tm(3) handles both UTCTime and GeneralizedTime (RFC 5280 §4.1.2.5).
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return WallClock.seconds(&parts)
    }

    /// The serial number in uppercase hex, as `openssl x509 -serial` prints it.
    var serial: String {
        guard let integer = X509_get0_serialNumber(pointer), let number = ASN1_INTEGER_to_BN(integer, nil) else { return "?" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "?" }
        defer { COpenSSLShims_tls_free(hex) }
        return String(cString: hex)
    }

    /// Whether the basic constraints mark this a CA (X509_check_ca(3) ≠ 0).
    var isCA: Bool { X509_check_ca(pointer) != 0 }

    /// The subject name in RFC 2253 form, most specific first (`CN=Weft root CA,O=cluster.local`);
    /// empty when there is none or it does not print. RFC 2253 printing escapes control and
    /// non-ASCII bytes (XN_FLAG_RFC2253 includes ASN1_STRFLGS_ESC_CTRL and _ESC_MSB).
    var subject: String {
        guard let name = X509_get_subject_name(pointer), let bio = try? MemoryBIO(copying: [], path: "") else { return "" }
        OpenSSLErrors.clear()
        guard X509_NAME_print_ex(bio.pointer, name, 0, COpenSSLShims_tls_name_flags_rfc2253()) >= 0 else {
            _ = OpenSSLErrors.drain()
            return ""
        }
        return bio.text
    }

    /// What an operator reads about this certificate, as plain values.
    var summary: TLSCertificateSummary {
        let uris = (try? uriNames().get()) ?? []
        return TLSCertificateSummary(
            subject: subject, serial: serial, notBefore: notBefore, notAfter: notAfter,
            uris: uris.map { Self.printable(String(decoding: $0, as: UTF8.self)) }, isCA: isCA)
    }

    /// The URI entries of the subjectAltName, as raw bytes.
    func uriNames() -> Result<[[UInt8]], IdentityProblem> {
        var state: Int32 = 0
        guard let names = COpenSSLShims_tls_subject_alt_names(pointer, &state) else {
            switch state {
            case -1: return .success([])
            case -2: return .failure(IdentityProblem("the subjectAltName extension occurs twice"))
            default: return .failure(IdentityProblem("the subjectAltName extension does not decode"))
            }
        }
        defer { COpenSSLShims_tls_general_names_free(names) }
        var uris: [[UInt8]] = []
        for index in 0..<COpenSSLShims_tls_general_names_count(names) {
            var data: UnsafePointer<UInt8>?
            var length: Int32 = 0
            if COpenSSLShims_tls_general_name_uri(names, index, &data, &length) == 1, let data, length >= 0 {
                uris.append(Array(UnsafeBufferPointer(start: data, count: Int(length))))
            }
        }
        return .success(uris)
    }

    /// The certificate's SPIFFE id: X.509-SVID §2 requires exactly one URI SAN, and it must parse
    /// as a SPIFFE id with a path (a workload, not a trust domain). Other SAN types are allowed.
    func spiffeID() -> Result<SPIFFEID, IdentityProblem> {
        let uris: [[UInt8]]
        switch uriNames() {
        case .success(let found): uris = found
        case .failure(let problem): return .failure(problem)
        }
        guard uris.count == 1 else {
            return .failure(IdentityProblem(uris.isEmpty ? "no URI SAN" : "\(uris.count) URI SANs where X.509-SVID allows one"))
        }
        let bytes = uris[0]
        // An embedded NUL would let "spiffe://a/x\0.evil" compare differently in C and Swift.
        if bytes.contains(0) { return .failure(IdentityProblem("the URI SAN contains a NUL byte")) }
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let id = try SPIFFEID(parsing: text)
            if id.isTrustDomainID {
                return .failure(IdentityProblem("\(id) names a trust domain, not a workload (X.509-SVID §3: a leaf id has a path)"))
            }
            return .success(id)
        } catch {
            return .failure(IdentityProblem("URI SAN \(Self.printable(text)) is not a SPIFFE id: \(error.reasonText)"))
        }
    }

    /// A short text naming the certificate in a log line: its URI SAN if it has one, else its
    /// serial number.
    var logName: String {
        if case .success(let uris) = uriNames(), let first = uris.first {
            return Self.printable(String(decoding: first, as: UTF8.self))
        }
        return "serial \(serial)"
    }

    /// `text` with anything but printable ASCII replaced and cut to 256 bytes: certificate
    /// contents come from the peer and go into log lines.
    static func printable(_ text: String) -> String {
        let bytes = text.utf8.prefix(256).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }
        return String(decoding: bytes, as: UTF8.self) + (text.utf8.count > 256 ? "…" : "")
    }
}

/// Why a certificate carries no usable SPIFFE id.
struct IdentityProblem: Error {
    let detail: String
    init(_ detail: String) { self.detail = detail }
}

/// An `EVP_PKEY`, freed with it.
final class PrivateKey {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(pointer) }

    /// The first private key of a PEM file (PKCS#8, or a traditional RSA/EC block). An encrypted
    /// key is refused: there is nobody to ask for a passphrase, and OpenSSL's default would read
    /// one from the terminal and block.
    static func read(pem: [UInt8], path: String) throws(TLSError) -> PrivateKey {
        // OpenSSL 3's decoders report a file without a key as "unsupported"; say it plainly.
        if !contains(pem, "PRIVATE KEY-----") {
            throw TLSError.file(.malformed, path, "no PEM private key (-----BEGIN PRIVATE KEY-----) in the file")
        }
        let bio = try MemoryBIO(copying: pem, path: path)
        OpenSSLErrors.clear()
        let refusePassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in -1 }
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, refusePassphrase, nil) else {
            let errors = OpenSSLErrors.drain()
            if errors.contains(where: { $0.library == ERR_LIB_PEM && $0.reason == PEM_R_NO_START_LINE }) {
                throw TLSError.file(.malformed, path, "no PEM private key (-----BEGIN PRIVATE KEY-----) in the file")
            }
            let detail = errors.map(\.text).joined(separator: "; ")
            throw TLSError.file(.malformed, path, "the private key does not decode (encrypted keys are not supported): \(detail)")
        }
        return PrivateKey(takingOwnershipOf: key)
    }
}

/// Whether `text` occurs in `bytes`.
private func contains(_ bytes: [UInt8], _ text: String) -> Bool {
    let needle = Array(text.utf8)
    guard bytes.count >= needle.count else { return false }
    return (0...(bytes.count - needle.count)).contains { start in bytes[start..<start + needle.count].elementsEqual(needle) }
}

/// A memory `BIO` holding its own copy of some bytes, freed with it.
final class MemoryBIO {
    let pointer: OpaquePointer

    init(copying bytes: [UInt8], path: String) throws(TLSError) {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSError.openSSL("allocate a memory BIO", path: path) }
        pointer = bio
        let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) || bytes.isEmpty else {
            throw TLSError.openSSL("copy \(bytes.count) bytes into a memory BIO", path: path)
        }
    }

    deinit { BIO_free(pointer) }

    /// Everything written so far, as text (RFC 2253 names print as ASCII).
    var text: String {
        var data: UnsafePointer<CChar>?
        let length = COpenSSLShims_tls_bio_contents(pointer, &data)
        guard length > 0, let data else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
    }
}

/// An `X509_STORE` of trust anchors, freed with it (contexts take their own references).
final class TrustStore {
    let pointer: OpaquePointer
    let count: Int

    init(anchors: [X509Certificate], path: String) throws(TLSError) {
        guard let store = X509_STORE_new() else { throw TLSError.openSSL("allocate a certificate store", path: path) }
        pointer = store
        for anchor in anchors where X509_STORE_add_cert(store, anchor.pointer) != 1 {
            throw TLSError.openSSL("add a trust anchor", path: path)
        }
        count = anchors.count
    }

    deinit { X509_STORE_free(pointer) }
}

/// An `SSL_SESSION` (a resumption ticket and its secrets), freed with it.
final class SSLSession {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { SSL_SESSION_free(pointer) }

    /// An independent copy (SSL_SESSION_dup) for one connection to resume with. OpenSSL marks the
    /// session a client resumed with as not resumable once that connection receives a newer
    /// ticket (SSL_CTX_remove_session in tls_process_new_session_ticket), so a ticket kept for
    /// reuse must never be handed to a connection itself. nil if OpenSSL cannot allocate.
    func copy() -> SSLSession? {
        SSL_SESSION_dup(pointer).map { SSLSession(takingOwnershipOf: $0) }
    }

    /// Whether the ticket's lifetime (RFC 8446 §4.6.1 ticket_lifetime) has passed at `now`.
    func isExpired(now: Int) -> Bool {
        Int(SSL_SESSION_get_time(pointer)) + Int(SSL_SESSION_get_timeout(pointer)) <= now
    }
}
