internal import COpenSSL
internal import COpenSSLShims
import Identity

/// The three kinds of certificate Weft issues, each with the extensions the X.509-SVID
/// specification asks for.
enum CertificateProfile {
    /// A self-signed root CA.
    case root
    /// A CA signed by another CA; pathLenConstraint 0, so it can sign only leaves.
    case intermediate
    /// A workload's leaf X.509-SVID.
    case workload

    /// Extensions written from OpenSSL configuration text (x509v3_config(5)), in order; the
    /// subjectAltName is built separately from the SPIFFE id.
    var extensions: [(nid: Int32, value: String)] {
        switch self {
        case .root:
            // X.509-SVID §4.1 and RFC 5280 §4.2.1.9: a signing certificate sets cA, critical.
            // §4.3: keyCertSign MUST, cRLSign MAY; key usage critical. RFC 5280 §4.2.1.1 lets a
            // self-signed certificate omit the authority key identifier.
            return [
                (NID_basic_constraints, "critical,CA:TRUE"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
            ]
        case .intermediate:
            // pathlen:0: this CA signs workloads only, so a stolen node key cannot mint further CAs.
            return [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        case .workload:
            // X.509-SVID §4.1: cA false; §4.3: digitalSignature MUST (ECDHE key exchange needs
            // nothing else from an EC key), keyCertSign/cRLSign MUST NOT; §4.4: serverAuth and
            // clientAuth, since every sidecar is both ends of mTLS.
            return [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature"),
                (NID_ext_key_usage, "serverAuth,clientAuth"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        }
    }
}

/// An owned `X509` being filled in; `Certificate` takes its own reference when it is signed.
private final class UnsignedCertificate {
    let pointer: OpaquePointer

    init() throws(PKIError) {
        guard let x509 = X509_new() else { throw PKIError.openSSL("allocate a certificate") }
        pointer = x509
    }

    deinit { X509_free(pointer) }
}

/// Earliest and latest Unix second X.509 can express: GeneralizedTime has four-digit years
/// (RFC 5280 §4.1.2.5), so 9999-12-31T23:59:59Z is the end of time.
let lastExpressibleSecond: Int64 = 253_402_300_799

/// Builds and signs one certificate of `profile` for `subjectKey`'s public key, naming `subject`
/// and carrying `id` as its only subjectAltName. `issuer` signs it; nil means self-signed with
/// `subjectKey`. `notBefore`/`notAfter` are Unix seconds.
func issueCertificate(
    _ profile: CertificateProfile,
    subject: [(nid: Int32, value: String)],
    id: SPIFFEID,
    subjectKey: PrivateKey,
    notBefore: Int64,
    notAfter: Int64,
    issuer: (certificate: Certificate, key: PrivateKey)?
) throws(PKIError) -> Certificate {
    let x509 = try UnsignedCertificate()
    let what = "\(profile) certificate for \(id)"
    // RFC 5280 §4.1.2.1: extensions require version 3 (encoded as 2).
    guard X509_set_version(x509.pointer, Int(X509_VERSION_3)) == 1 else { throw PKIError.openSSL("set the version of a \(what)") }

    // RFC 5280 §4.1.2.2: a positive integer of at most 20 octets, unique per CA. 16 random bytes
    // with the top bit cleared (positive, so DER needs no leading zero byte) and the next bit
    // set (always 16 octets, never a short or zero serial) leave 126 random bits: collisions are
    // out of the question, and the CA needs no serial database.
    var serial = [UInt8](repeating: 0, count: 16)
    guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw PKIError.openSSL("draw a random serial number") }
    serial[0] = (serial[0] & 0x7F) | 0x40
    let number = try BigNumber(bigEndian: serial)
    guard BN_to_ASN1_INTEGER(number.pointer, X509_get_serialNumber(x509.pointer)) != nil else {
        throw PKIError.openSSL("set the serial number of a \(what)")
    }

    let subjectName = try X509Name(subject)
    guard X509_set_subject_name(x509.pointer, subjectName.pointer) == 1 else { throw PKIError.openSSL("set the subject of a \(what)") }
    let issuerName = issuer.map { X509_get_subject_name($0.certificate.pointer) } ?? subjectName.pointer
    guard X509_set_issuer_name(x509.pointer, issuerName) == 1 else { throw PKIError.openSSL("set the issuer of a \(what)") }

    // ASN1_TIME_set(3) picks UTCTime through 2049 and GeneralizedTime after, as RFC 5280 §4.1.2.5
    // requires.
    guard ASN1_TIME_set(X509_getm_notBefore(x509.pointer), time_t(notBefore)) != nil,
          ASN1_TIME_set(X509_getm_notAfter(x509.pointer), time_t(notAfter)) != nil else {
        throw PKIError.openSSL("set the validity of a \(what)")
    }
    guard X509_set_pubkey(x509.pointer, subjectKey.pointer) == 1 else { throw PKIError.openSSL("set the public key of a \(what)") }

    // The extension context: the subject certificate (for the subject key identifier's hash of
    // its public key) and the issuer (for the authority key identifier).
    var context = X509V3_CTX()
    X509V3_set_ctx(&context, issuer?.certificate.pointer ?? x509.pointer, x509.pointer, nil, nil, 0)
    for (nid, value) in profile.extensions {
        guard let made = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw PKIError.openSSL("build the \(String(cString: OBJ_nid2sn(nid))) extension (\(value)) of a \(what)")
        }
        let ext = X509Extension(takingOwnershipOf: made)
        guard X509_add_ext(x509.pointer, ext.pointer, -1) == 1 else {
            throw PKIError.openSSL("add the \(String(cString: OBJ_nid2sn(nid))) extension of a \(what)")
        }
    }

    // X.509-SVID §2: exactly one URI SAN, the SPIFFE id, built as a GeneralName rather than
    // through configuration text so no character of the id is ever parsed as syntax. Not
    // critical: the subject is not empty (RFC 5280 §4.2.1.6 asks for critical only then).
    let names = try GeneralNames()
    try names.appendURI(id.description)
    guard X509_add1_ext_i2d(x509.pointer, NID_subject_alt_name, UnsafeMutableRawPointer(names.pointer), 0, UInt(X509V3_ADD_DEFAULT)) == 1 else {
        throw PKIError.openSSL("add the subjectAltName \(id) to a \(what)")
    }

    // ECDSA with SHA-256, the signature every P-256 verifier accepts (RFC 5758 §3.2).
    guard X509_sign(x509.pointer, (issuer?.key ?? subjectKey).pointer, EVP_sha256()) > 0 else {
        throw PKIError.openSSL("sign a \(what)")
    }
    X509_up_ref(x509.pointer)
    return try Certificate(takingOwnershipOf: x509.pointer, source: "the new \(what)")
}

/// How a lifetime is written in messages: `24h`, `1h30m`, `90s`, as `--ttl` reads it.
func lifetimeText(seconds: Int64) -> String {
    if seconds <= 0 { return "0s" }
    var text = ""
    let hours = seconds / 3600, minutes = seconds / 60 % 60, rest = seconds % 60
    if hours > 0 { text += "\(hours)h" }
    if minutes > 0 { text += "\(minutes)m" }
    if rest > 0 { text += "\(rest)s" }
    return text
}
