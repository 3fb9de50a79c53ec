internal import COpenSSL
internal import COpenSSLShims

/// An X.509 certificate held by OpenSSL (an owned `X509`, freed in deinit), with its fields
/// decoded once into `info`.
///
/// Immutable after creation; OpenSSL 3 allows concurrent read-only use of an `X509` from several
/// threads (openssl-threads(7)), which is what makes it `Sendable`.
public final class Certificate: @unchecked Sendable {
    let pointer: OpaquePointer
    /// The decoded fields: serial, validity, names, extensions.
    public let info: CertificateInfo

    /// Takes ownership of `pointer`; throws `.invalidInput` (and frees it) if its extensions are
    /// malformed. `source` names where it came from in errors.
    init(takingOwnershipOf pointer: OpaquePointer, source: String) throws(PKIError) {
        self.pointer = pointer
        info = try CertificateInfo(decoding: pointer, source: source)
    }

    deinit { X509_free(pointer) }

    /// Reads exactly one PEM certificate from `pem`; `source` names where it came from in errors.
    /// Throws `.invalidInput` if there is none, or more than one.
    public convenience init(pem: [UInt8], source: String) throws(PKIError) {
        let certificates = try Certificate.all(pem: pem, source: source)
        guard certificates.count == 1 else {
            throw PKIError(.invalidInput, path: source, "\(source) holds \(certificates.count) certificates where exactly one is expected: keep only the certificate itself in this file")
        }
        // A second reference to the one certificate read; the temporary array drops the first.
        X509_up_ref(certificates[0].pointer)
        try self.init(takingOwnershipOf: certificates[0].pointer, source: source)
    }

    /// Reads every PEM certificate in `pem`, in order (a chain file: leaf first). Text between
    /// PEM blocks is ignored, as OpenSSL ignores it. Throws `.invalidInput` if there is none or one
    /// is malformed.
    public static func all(pem: [UInt8], source: String) throws(PKIError) -> [Certificate] {
        let bio = try MemoryBIO(copying: pem)
        // The end of the loop is judged by the last queued error, so nothing stale may be queued.
        ERR_clear_error()
        var certificates: [Certificate] = []
        while true {
            guard let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) else { break }
            certificates.append(try Certificate(takingOwnershipOf: certificate, source: source))
        }
        // The loop ends on the first read that fails. At the end of the input that failure is
        // "no start line" (PEM_R_NO_START_LINE), which only means "no more blocks"; anything else
        // is a damaged block.
        let last = ERR_peek_last_error()
        if last != 0, !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
            throw PKIError.openSSL("read PEM certificate number \(certificates.count + 1) of \(source)", kind: .invalidInput, path: source)
        }
        ERR_clear_error()
        guard !certificates.isEmpty else {
            throw PKIError(.invalidInput, path: source, "\(source) holds no PEM certificate (no -----BEGIN CERTIFICATE----- block): point to the certificate file")
        }
        return certificates
    }

    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`).
    public func pem() throws(PKIError) -> [UInt8] {
        let bio = try MemoryBIO()
        guard PEM_write_bio_X509(bio.pointer, pointer) == 1 else { throw PKIError.openSSL("encode a certificate as PEM") }
        return bio.contents
    }

    /// Whether `key` is the private half of this certificate's public key (X509_check_private_key(3)).
    public func matches(_ key: PrivateKey) -> Bool {
        let matched = X509_check_private_key(pointer, key.pointer) == 1
        // A mismatch is an answer, not an error: leave nothing on the queue for a later call.
        ERR_clear_error()
        return matched
    }

    /// Whether both certificates have the same DER encoding.
    public func isSame(as other: Certificate) -> Bool {
        X509_cmp(pointer, other.pointer) == 0
    }

    /// Verifies this certificate as RFC 5280 §6 path validation does: a chain from it through
    /// `intermediates` (untrusted, in any order) to one of `roots` (trusted), every signature,
    /// validity period (at `time`, Unix seconds, or now), basic constraints and path length.
    /// It checks no purpose (extendedKeyUsage) and no SPIFFE id: a TLS handshake decides those.
    /// Throws `.untrusted` naming OpenSSL's reason and the certificate it concerns.
    public func verify(intermediates: [Certificate] = [], roots: [Certificate], at time: Int64? = nil) throws(PKIError) {
        let store = try X509Store()
        for root in roots where X509_STORE_add_cert(store.pointer, root.pointer) != 1 {
            throw PKIError.openSSL("add a root to a certificate store")
        }
        let untrusted = try CertificateStack(intermediates)
        let context = try X509StoreContext()
        guard X509_STORE_CTX_init(context.pointer, store.pointer, pointer, untrusted.pointer) == 1 else {
            throw PKIError.openSSL("start a certificate verification")
        }
        if let time { X509_STORE_CTX_set_time(context.pointer, 0, time_t(time)) }
        let result = X509_verify_cert(context.pointer)
        // X509_verify_cert(3) may push queue entries for a failed check; the verification error
        // below is the reason, so those entries are dropped.
        ERR_clear_error()
        guard result == 1 else {
            let code = X509_STORE_CTX_get_error(context.pointer)
            let depth = X509_STORE_CTX_get_error_depth(context.pointer)
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            // The certificate the error concerns: depth 0 is this one, 1 its issuer, and so on.
            let culprit = X509_STORE_CTX_get_current_cert(context.pointer).map { nameText(X509_get_subject_name($0)) } ?? "unknown"
            throw PKIError(.untrusted, "certificate \(info.name) does not verify: \(reason) (OpenSSL verify error \(code) at chain depth \(depth), subject \"\(culprit)\"); check that the chain and the trust bundle come from the same CA and that the clock is right")
        }
        withExtendedLifetime((store, untrusted, context)) {}
    }
}
